// The GCS bridge payloads of protocol v4 (the JSON bodies of the frames), with the
// field names and omitempty rules of hcsshim's host and guest.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hcs/core/guid.hpp"
#include "hcs/schema/record.hpp"

namespace hcs::schema {

struct Version {
  int32_t major = 0;
  int32_t minor = 0;
  Json extra;
  bool operator==(const Version&) const = default;
  static auto fields() { return std::make_tuple(field("Major", &Version::major), field("Minor", &Version::minor)); }
};

// Sent with every request.
struct RequestBase {
  std::string container_id{kNullContainerId};
  std::string activity_id{kNullContainerId};  // the null GUID: hcsshim's host never sets it
  Json otsc;                                  // W3C trace context carrier
  static auto fields() {
    return std::make_tuple(field("ContainerId", &RequestBase::container_id),
                           field("ActivityId", &RequestBase::activity_id), omitempty("otsc", &RequestBase::otsc));
  }
};

struct ErrorRecord {
  int32_t result = 0;
  std::string message;
  std::string stack_trace;
  std::string module_name = "gcs";
  std::string file_name;
  uint32_t line = 0xFFFFFFFF;
  std::string function_name;
  Json extra;
  bool operator==(const ErrorRecord&) const = default;
  static auto fields() {
    return std::make_tuple(field("Result", &ErrorRecord::result), field("Message", &ErrorRecord::message),
                           omitempty("StackTrace", &ErrorRecord::stack_trace),
                           field("ModuleName", &ErrorRecord::module_name), field("FileName", &ErrorRecord::file_name),
                           field("Line", &ErrorRecord::line), omitempty("FunctionName", &ErrorRecord::function_name));
  }
};

// Sent with every response.
struct ResponseBase {
  int32_t result = 0;  // an HRESULT; 0 is success
  std::string activity_id;
  std::string error_message;
  std::vector<ErrorRecord> error_records;
  static auto fields() {
    return std::make_tuple(field("Result", &ResponseBase::result), omitempty("ActivityId", &ResponseBase::activity_id),
                           omitempty("ErrorMessage", &ResponseBase::error_message),
                           omitempty("ErrorRecords", &ResponseBase::error_records));
  }
};

// A request or response that carries only the base fields.
struct Request {
  RequestBase base;
  Json extra;
  static auto fields() { return std::make_tuple(embed(&Request::base)); }
};
struct Response {
  ResponseBase base;
  Json extra;
  static auto fields() { return std::make_tuple(embed(&Response::base)); }
};

struct NegotiateProtocolRequest {
  RequestBase base;
  uint32_t minimum_version = 0;
  uint32_t maximum_version = 0;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&NegotiateProtocolRequest::base),
                           field("MinimumVersion", &NegotiateProtocolRequest::minimum_version),
                           field("MaximumVersion", &NegotiateProtocolRequest::maximum_version));
  }
};

struct GcsCapabilities {
  bool send_host_create_message = false;
  bool send_host_start_message = false;
  bool hv_socket_config_on_startup = false;
  bool send_lifecycle_notifications = false;
  bool modify_service_settings_supported = false;
  std::vector<Version> supported_schema_versions;
  std::string runtime_os_type;
  Json guest_defined_capabilities;
  Json extra;
  static auto fields() {
    using C = GcsCapabilities;
    return std::make_tuple(omitempty("SendHostCreateMessage", &C::send_host_create_message),
                           omitempty("SendHostStartMessage", &C::send_host_start_message),
                           omitempty("HvSocketConfigOnStartup", &C::hv_socket_config_on_startup),
                           omitempty("SendLifecycleNotifications", &C::send_lifecycle_notifications),
                           omitempty("ModifyServiceSettingsSupported", &C::modify_service_settings_supported),
                           omitempty("SupportedSchemaVersions", &C::supported_schema_versions),
                           omitempty("RuntimeOsType", &C::runtime_os_type),
                           omitempty("GuestDefinedCapabilities", &C::guest_defined_capabilities));
  }
};

struct NegotiateProtocolResponse {
  ResponseBase base;
  uint32_t version = 0;
  GcsCapabilities capabilities;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&NegotiateProtocolResponse::base),
                           field("Version", &NegotiateProtocolResponse::version),
                           field("Capabilities", &NegotiateProtocolResponse::capabilities));
  }
};

// The container document inside Create's ContainerConfig string.
struct VmHostedContainerSettingsV2 {
  Version schema_version;
  std::string oci_bundle_path;
  Json oci_specification;
  std::string scratch_dir_path;
  Json extra;
  static auto fields() {
    using S = VmHostedContainerSettingsV2;
    return std::make_tuple(field("SchemaVersion", &S::schema_version), field("OciBundlePath", &S::oci_bundle_path),
                           field("OciSpecification", &S::oci_specification),
                           omitempty("ScratchDirPath", &S::scratch_dir_path));
  }
};

struct ContainerCreateRequest {
  RequestBase base;
  JsonString<VmHostedContainerSettingsV2> container_config;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&ContainerCreateRequest::base),
                           field("ContainerConfig", &ContainerCreateRequest::container_config));
  }
};

struct ContainerCreateResponse {
  ResponseBase base;
  uint32_t selected_protocol_version = 0;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&ContainerCreateResponse::base),
                           omitempty("SelectedProtocolVersion", &ContainerCreateResponse::selected_protocol_version));
  }
};

// hcsschema ProcessParameters, plus the guest-only OCI fields.
struct ProcessParameters {
  std::string command_line;
  std::vector<std::string> command_args;
  std::string user;
  std::string working_directory;
  std::map<std::string, std::string> environment;
  bool emulate_console = false;
  bool create_std_in_pipe = false;
  bool create_std_out_pipe = false;
  bool create_std_err_pipe = false;
  std::vector<int32_t> console_size;  // {height, width}
  bool create_in_utility_vm = false;
  Json oci_specification;
  Json oci_process;
  Json extra;
  static auto fields() {
    using P = ProcessParameters;
    return std::make_tuple(
        omitempty("CommandLine", &P::command_line), omitempty("CommandArgs", &P::command_args),
        omitempty("User", &P::user), omitempty("WorkingDirectory", &P::working_directory),
        omitempty("Environment", &P::environment), omitempty("EmulateConsole", &P::emulate_console),
        omitempty("CreateStdInPipe", &P::create_std_in_pipe), omitempty("CreateStdOutPipe", &P::create_std_out_pipe),
        omitempty("CreateStdErrPipe", &P::create_std_err_pipe), omitempty("ConsoleSize", &P::console_size),
        omitempty("CreateInUtilityVM", &P::create_in_utility_vm),
        omitempty("OciSpecification", &P::oci_specification), omitempty("OciProcess", &P::oci_process));
  }
};

struct VsockStdioRelaySettings {
  uint32_t std_in = 0;
  uint32_t std_out = 0;
  uint32_t std_err = 0;
  Json extra;
  bool operator==(const VsockStdioRelaySettings&) const = default;
  static auto fields() {
    using V = VsockStdioRelaySettings;
    return std::make_tuple(omitempty("StdIn", &V::std_in), omitempty("StdOut", &V::std_out),
                           omitempty("StdErr", &V::std_err));
  }
};

struct ExecuteProcessSettings {
  JsonString<ProcessParameters> process_parameters;
  VsockStdioRelaySettings vsock_stdio_relay_settings;
  Json stdio_relay_settings;  // hvsock GUIDs, for Windows guests
  Json extra;
  static auto fields() {
    using S = ExecuteProcessSettings;
    return std::make_tuple(field("ProcessParameters", &S::process_parameters),
                           omitempty("VsockStdioRelaySettings", &S::vsock_stdio_relay_settings),
                           omitempty("StdioRelaySettings", &S::stdio_relay_settings));
  }
};

struct ExecuteProcessRequest {
  RequestBase base;
  ExecuteProcessSettings settings;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&ExecuteProcessRequest::base), field("Settings", &ExecuteProcessRequest::settings));
  }
};

struct ExecuteProcessResponse {
  ResponseBase base;
  uint32_t process_id = 0;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&ExecuteProcessResponse::base),
                           field("ProcessId", &ExecuteProcessResponse::process_id));
  }
};

inline constexpr uint32_t kInfiniteTimeout = 0xFFFFFFFF;

struct WaitForProcessRequest {
  RequestBase base;
  uint32_t process_id = 0;
  uint32_t timeout_in_ms = kInfiniteTimeout;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&WaitForProcessRequest::base), field("ProcessId", &WaitForProcessRequest::process_id),
                           field("TimeoutInMs", &WaitForProcessRequest::timeout_in_ms));
  }
};

struct WaitForProcessResponse {
  ResponseBase base;
  uint32_t exit_code = 0;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&WaitForProcessResponse::base), field("ExitCode", &WaitForProcessResponse::exit_code));
  }
};

struct SignalProcessRequest {
  RequestBase base;
  uint32_t process_id = 0;
  Json options;  // LCOW {"Signal": int}; WCOW {"Signal": "CtrlC"...}; absent means kill
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&SignalProcessRequest::base), field("ProcessId", &SignalProcessRequest::process_id),
                           omitempty("Options", &SignalProcessRequest::options));
  }
};

struct ResizeConsoleRequest {
  RequestBase base;
  uint32_t process_id = 0;
  uint16_t height = 0;
  uint16_t width = 0;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&ResizeConsoleRequest::base), field("ProcessId", &ResizeConsoleRequest::process_id),
                           field("Height", &ResizeConsoleRequest::height), field("Width", &ResizeConsoleRequest::width));
  }
};

struct PropertyQuery {
  std::vector<std::string> property_types;
  Json queries;
  Json extra;
  bool operator==(const PropertyQuery&) const = default;
  static auto fields() {
    return std::make_tuple(omitempty("PropertyTypes", &PropertyQuery::property_types),
                           omitempty("Queries", &PropertyQuery::queries));
  }
};

struct GetPropertiesRequest {
  RequestBase base;
  JsonString<PropertyQuery> query;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&GetPropertiesRequest::base), field("Query", &GetPropertiesRequest::query));
  }
};

struct GetPropertiesResponse {
  ResponseBase base;
  JsonString<Json> properties;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&GetPropertiesResponse::base),
                           field("Properties", &GetPropertiesResponse::properties));
  }
};

struct ModificationRequest {
  std::string request_type;  // Add (the default when absent), Remove, Update, PreAdd
  std::string resource_type;
  Json settings;
  Json extra;
  static auto fields() {
    return std::make_tuple(omitempty("RequestType", &ModificationRequest::request_type),
                           omitempty("ResourceType", &ModificationRequest::resource_type),
                           omitempty("Settings", &ModificationRequest::settings));
  }
};

struct ModifySettingsRequest {
  RequestBase base;
  ModificationRequest request;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&ModifySettingsRequest::base), field("Request", &ModifySettingsRequest::request));
  }
};

struct DumpStacksResponse {
  ResponseBase base;
  std::string guest_stacks;
  Json extra;
  static auto fields() {
    return std::make_tuple(embed(&DumpStacksResponse::base), field("GuestStacks", &DumpStacksResponse::guest_stacks));
  }
};

// Guest -> host when a container's init process exits.
struct ContainerNotification {
  RequestBase base;
  std::string type;       // None, GracefulExit, ForcedExit, UnexpectedExit, ...
  std::string operation;  // None, Construct, Start, Pause, Resume, Shutdown, Terminate
  int32_t result = 0;
  JsonString<Json> result_info;
  Json extra;
  static auto fields() {
    using N = ContainerNotification;
    return std::make_tuple(embed(&N::base), field("Type", &N::type), field("Operation", &N::operation),
                           field("Result", &N::result), omitempty("ResultInfo", &N::result_info));
  }
};

}  // namespace hcs::schema
