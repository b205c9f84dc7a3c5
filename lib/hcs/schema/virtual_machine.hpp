// HCS schema v2 for a utility VM: ComputeSystem { VirtualMachine { Chipset,
// ComputeTopology, Devices } }, with hcsshim's JSON keys and omitempty rules. Only the
// parts a Linux utility VM uses are typed; everything else rides along in `extra`, so
// a document passes through unharmed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "hcs/schema/bridge.hpp"
#include "hcs/schema/record.hpp"

namespace hcs::schema {

struct LinuxKernelDirect {
  std::string kernel_file_path, initrd_path, kernel_cmd_line;
  Json extra;
  static auto fields() {
    using T = LinuxKernelDirect;
    return std::make_tuple(omitempty("KernelFilePath", &T::kernel_file_path), omitempty("InitRdPath", &T::initrd_path),
                           omitempty("KernelCmdLine", &T::kernel_cmd_line));
  }
};

struct Chipset {
  std::optional<LinuxKernelDirect> linux_kernel_direct;
  Json extra;  // Uefi, UseUtc, ... (no meaning on QEMU)
  static auto fields() { return std::make_tuple(field("LinuxKernelDirect", &Chipset::linux_kernel_direct)); }
};

struct VirtualMachineMemory {
  uint64_t size_in_mb = 0;
  bool allow_overcommit = false;
  Json extra;
  static auto fields() {
    using T = VirtualMachineMemory;
    return std::make_tuple(omitempty("SizeInMB", &T::size_in_mb), omitempty("AllowOvercommit", &T::allow_overcommit));
  }
};

struct VirtualMachineProcessor {
  uint32_t count = 0;
  Json extra;
  static auto fields() { return std::make_tuple(omitempty("Count", &VirtualMachineProcessor::count)); }
};

struct Topology {
  VirtualMachineMemory memory;
  VirtualMachineProcessor processor;
  Json extra;
  static auto fields() {
    return std::make_tuple(field("Memory", &Topology::memory), field("Processor", &Topology::processor));
  }
};

// A disk on a SCSI controller.
struct Attachment {
  std::string type = "VirtualDisk";  // VirtualDisk, PassThru, ExtensibleVirtualDisk
  std::string path;
  bool read_only = false;
  Json extra;
  static auto fields() {
    using T = Attachment;
    return std::make_tuple(omitempty("Type", &T::type), omitempty("Path", &T::path),
                           omitempty("ReadOnly", &T::read_only));
  }
};

struct Scsi {
  std::map<std::string, Attachment> attachments;  // LUN ("0".."63") -> disk
  Json extra;
  static auto fields() { return std::make_tuple(field("Attachments", &Scsi::attachments)); }
};

struct VirtualPMemDevice {
  std::string host_path;
  bool read_only = false;
  std::string image_format;  // Vhd1, Vhdx; a raw image on QEMU
  Json extra;
  static auto fields() {
    using T = VirtualPMemDevice;
    return std::make_tuple(omitempty("HostPath", &T::host_path), omitempty("ReadOnly", &T::read_only),
                           omitempty("ImageFormat", &T::image_format));
  }
};

struct VirtualPMemController {
  std::map<std::string, VirtualPMemDevice> devices;  // "0", "1", ... -> /dev/pmem<n>
  uint32_t maximum_count = 0;
  uint64_t maximum_size_bytes = 0;
  Json extra;
  static auto fields() {
    using T = VirtualPMemController;
    return std::make_tuple(omitempty("Devices", &T::devices), omitempty("MaximumCount", &T::maximum_count),
                           omitempty("MaximumSizeBytes", &T::maximum_size_bytes));
  }
};

// Plan9Share.Flags bits.
namespace plan9_flags {
inline constexpr int32_t ReadOnly = 0x1;
inline constexpr int32_t LinuxMetadata = 0x4;
inline constexpr int32_t CaseSensitive = 0x8;
inline constexpr int32_t RestrictFileAccess = 0x80;
}  // namespace plan9_flags
inline constexpr int32_t kPlan9Port = 564;

struct Plan9Share {
  std::string name, access_name, path;
  int32_t port = 0;
  int32_t flags = 0;
  std::vector<std::string> allowed_files;
  Json extra;
  static auto fields() {
    using T = Plan9Share;
    return std::make_tuple(omitempty("Name", &T::name), omitempty("AccessName", &T::access_name),
                           omitempty("Path", &T::path), omitempty("Port", &T::port), omitempty("Flags", &T::flags),
                           omitempty("AllowedFiles", &T::allowed_files));
  }
};

struct Plan9 {
  std::vector<Plan9Share> shares;
  Json extra;
  static auto fields() { return std::make_tuple(omitempty("Shares", &Plan9::shares)); }
};

struct ComPort {
  std::string named_pipe;  // on a Linux host: the file the console is written to
  Json extra;
  static auto fields() { return std::make_tuple(omitempty("NamedPipe", &ComPort::named_pipe)); }
};

struct NetworkAdapter {
  std::string endpoint_id, mac_address;
  Json extra;
  static auto fields() {
    return std::make_tuple(omitempty("EndpointId", &NetworkAdapter::endpoint_id),
                           omitempty("MacAddress", &NetworkAdapter::mac_address));
  }
};

struct Devices {
  std::map<std::string, ComPort> com_ports;
  std::map<std::string, Scsi> scsi;  // controller key (hcsshim: a GUID per controller) -> disks
  std::optional<VirtualPMemController> virtual_pmem;
  std::optional<Plan9> plan9;
  std::map<std::string, NetworkAdapter> network_adapters;
  Json hv_socket;
  Json extra;
  static auto fields() {
    using T = Devices;
    return std::make_tuple(omitempty("ComPorts", &T::com_ports), omitempty("Scsi", &T::scsi),
                           field("VirtualPMem", &T::virtual_pmem), field("Plan9", &T::plan9),
                           omitempty("NetworkAdapters", &T::network_adapters), omitempty("HvSocket", &T::hv_socket));
  }
};

struct VirtualMachine {
  bool stop_on_reset = false;
  Chipset chipset;
  Topology compute_topology;
  Devices devices;
  Json extra;
  static auto fields() {
    using T = VirtualMachine;
    return std::make_tuple(omitempty("StopOnReset", &T::stop_on_reset), field("Chipset", &T::chipset),
                           field("ComputeTopology", &T::compute_topology), field("Devices", &T::devices));
  }
};

struct ComputeSystem {
  std::string owner;
  Version schema_version;
  std::string hosting_system_id;
  std::optional<VirtualMachine> virtual_machine;
  bool should_terminate_on_last_handle_closed = false;
  Json extra;  // Container, HostedSystem, ...
  static auto fields() {
    using T = ComputeSystem;
    return std::make_tuple(omitempty("Owner", &T::owner), field("SchemaVersion", &T::schema_version),
                           omitempty("HostingSystemId", &T::hosting_system_id),
                           field("VirtualMachine", &T::virtual_machine),
                           omitempty("ShouldTerminateOnLastHandleClosed", &T::should_terminate_on_last_handle_closed));
  }
};

// hcsshim's SCSI controller keys, controllers 0..3 in order.
inline const std::vector<std::string>& scsi_controller_keys() {
  static const std::vector<std::string> keys = {
      "df6d0690-79e5-55b6-a5ec-c1e2f77f580a", "0110f83b-de10-5172-a266-78bca56bf50a",
      "b5d2d8d4-3a75-51bf-945b-3444dc6b8579", "305891a9-b251-5dfe-91a2-c25d9212275b"};
  return keys;
}

}  // namespace hcs::schema
