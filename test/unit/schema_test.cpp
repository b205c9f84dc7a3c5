#include <gtest/gtest.h>

#include "hcs/schema/bridge.hpp"
#include "hcs/schema/guest_resource.hpp"

namespace schema_test {

using namespace hcs;
using namespace hcs::schema;

namespace {

// decode -> encode gives back the same document, unknown fields included.
template <class T>
void expect_round_trip(const char* text) {
  Json in = Json::parse(text);
  Json out = encode(decode<T>(in));
  EXPECT_EQ(out, in) << "in:  " << in.dump() << "\nout: " << out.dump();
}

}  // namespace

TEST(SchemaRoundTrip, EveryBridgeMessage) {
  expect_round_trip<NegotiateProtocolRequest>(
      R"({"ContainerId":"00000000-0000-0000-0000-000000000000","ActivityId":"00000000-0000-0000-0000-000000000000","MinimumVersion":4,"MaximumVersion":4})");
  expect_round_trip<NegotiateProtocolResponse>(
      R"({"Result":0,"ActivityId":"a","Version":4,"Capabilities":{"SupportedSchemaVersions":[{"Major":2,"Minor":1}],"RuntimeOsType":"Linux","GuestDefinedCapabilities":{"SignalProcessSupported":true}}})");
  expect_round_trip<ContainerCreateRequest>(
      R"({"ContainerId":"c1","ActivityId":"a","ContainerConfig":"{\"SchemaVersion\":{\"Major\":2,\"Minor\":1},\"OciBundlePath\":\"/run/gcs/c/c1\",\"OciSpecification\":{\"ociVersion\":\"1.0.2\"},\"ScratchDirPath\":\"/run/gcs/c/c1/scratch/c1\"}"})");
  expect_round_trip<ContainerCreateResponse>(R"({"Result":0,"SelectedProtocolVersion":4})");
  expect_round_trip<ExecuteProcessRequest>(
      R"({"ContainerId":"00000000-0000-0000-0000-000000000000","ActivityId":"a","Settings":{"ProcessParameters":"{\"CommandArgs\":[\"sh\",\"-c\",\"echo hi\"],\"WorkingDirectory\":\"/\",\"Environment\":{\"PATH\":\"/bin\"},\"EmulateConsole\":true,\"CreateStdInPipe\":true,\"CreateStdOutPipe\":true}","VsockStdioRelaySettings":{"StdIn":1073741825,"StdOut":1073741826}}})");
  expect_round_trip<ExecuteProcessResponse>(R"({"Result":0,"ActivityId":"a","ProcessId":42})");
  expect_round_trip<WaitForProcessRequest>(R"({"ContainerId":"c","ActivityId":"a","ProcessId":42,"TimeoutInMs":4294967295})");
  expect_round_trip<WaitForProcessResponse>(R"({"Result":0,"ExitCode":137})");
  expect_round_trip<SignalProcessRequest>(R"({"ContainerId":"c","ActivityId":"a","ProcessId":42,"Options":{"Signal":15}})");
  expect_round_trip<SignalProcessRequest>(R"({"ContainerId":"c","ActivityId":"a","ProcessId":42})");
  expect_round_trip<ResizeConsoleRequest>(R"({"ContainerId":"c","ActivityId":"a","ProcessId":42,"Height":40,"Width":100})");
  expect_round_trip<GetPropertiesRequest>(
      R"({"ContainerId":"c","ActivityId":"a","Query":"{\"PropertyTypes\":[\"ProcessList\",\"Statistics\"]}"})");
  expect_round_trip<GetPropertiesResponse>(R"({"Result":0,"Properties":"{\"ProcessList\":[{\"ProcessId\":1}]}"})");
  expect_round_trip<ModifySettingsRequest>(
      R"({"ContainerId":"00000000-0000-0000-0000-000000000000","ActivityId":"a","Request":{"RequestType":"Add","ResourceType":"MappedVirtualDisk","Settings":{"MountPath":"/run/mounts/m1","Lun":1,"Controller":0,"ReadOnly":true}}})");
  expect_round_trip<DumpStacksResponse>(R"({"Result":0,"GuestStacks":"goroutine 1"})");
  expect_round_trip<Request>(R"({"ContainerId":"c","ActivityId":"a"})");  // Start, Shutdown*, DumpStacks, DeleteContainerState
  expect_round_trip<ContainerNotification>(
      R"({"ContainerId":"c","ActivityId":"a","Type":"GracefulExit","Operation":"None","Result":0})");
  expect_round_trip<Response>(
      R"({"Result":-2147024809,"ActivityId":"a","ErrorMessage":"bad","ErrorRecords":[{"Result":-2147024809,"Message":"bad","ModuleName":"gcs","FileName":"x.cpp","Line":7,"FunctionName":"f"}]})");
}

TEST(SchemaRecord, UnknownFieldsAreKeptAndWrittenBack) {
  auto req = decode<ExecuteProcessRequest>(Json::parse(
      R"({"ContainerId":"c","Future":{"x":1},"Settings":{"ProcessParameters":"{\"CommandArgs\":[\"true\"],\"NewThing\":7}","Extra":[1]}})"));
  EXPECT_EQ(req.extra.at("Future").at("x"), 1);
  EXPECT_EQ(req.settings.extra.at("Extra"), Json::array({1}));
  EXPECT_EQ(req.settings.process_parameters.value.extra.at("NewThing"), 7);
  auto back = encode(req);
  EXPECT_EQ(back.at("Future").at("x"), 1);
  auto params = Json::parse(back.at("Settings").at("ProcessParameters").get<std::string>());
  EXPECT_EQ(params.at("NewThing"), 7);
}

TEST(SchemaRecord, OmitEmptyFollowsGo) {
  ExecuteProcessRequest req;
  req.settings.process_parameters.value.command_args = {"true"};
  Json j = encode(req);
  EXPECT_FALSE(j.at("Settings").contains("VsockStdioRelaySettings"));
  EXPECT_EQ(j.at("Settings").at("ProcessParameters"), R"({"CommandArgs":["true"]})");
  Response ok;
  EXPECT_EQ(encode(ok), Json::parse(R"({"Result":0})"));
}

TEST(SchemaRecord, TypeErrorsNameTheFieldAndCarryInvalidJson) {
  try {
    decode<WaitForProcessRequest>(Json::parse(R"({"ProcessId":"seven"})"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), hr::VmcomputeInvalidJSON);
    EXPECT_NE(e.text().find("ProcessId"), std::string::npos) << e.text();
  }
  try {
    decode<ExecuteProcessRequest>(Json::parse(R"({"Settings":{"ProcessParameters":"{oops"}})"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), hr::VmcomputeInvalidJSON);
    EXPECT_NE(e.text().find("Settings"), std::string::npos) << e.text();
  }
  EXPECT_THROW(decode<Request>(Json::array()), Error);
  // Out-of-range numbers are type errors too, not silent truncation.
  EXPECT_THROW(decode<ResizeConsoleRequest>(Json::parse(R"({"Height":-1})")), Error);
}

// ---- guest resources (ModifySettings settings) ----

namespace {

template <class T>
uint32_t decode_error(const char* text) {
  try {
    decode<T>(Json::parse(text));
  } catch (const Error& e) {
    return e.code();
  }
  ADD_FAILURE() << "decoded: " << text;
  return 0;
}

}  // namespace

TEST(GuestResourceRoundTrip, MappedVirtualDisk) {
  expect_round_trip<MappedVirtualDisk>(
      R"({"MountPath":"/run/mounts/scsi/m1","Lun":3,"Controller":1,"Partition":2,"ReadOnly":true,"Encrypted":true,"Options":["ro","noatime"],"BlockDev":true,"VerityInfo":{"Ext4SizeInBytes":8388608,"Version":1,"Algorithm":"sha256","SuperBlock":true,"RootDigest":"ab12","Salt":"cd34","BlockSize":4096},"EnsureFilesystem":true,"Filesystem":"xfs"})");
  // Every field is omitempty: zero values vanish, and so does an absent VerityInfo.
  expect_round_trip<MappedVirtualDisk>(R"({})");
  expect_round_trip<MappedVirtualDisk>(R"({"MountPath":"/m","VerityInfo":{},"Future":[1,2]})");
  auto mvd = decode<MappedVirtualDisk>(Json::parse(R"({"MountPath":"/m","Lun":0,"ReadOnly":false,"Options":[]})"));
  EXPECT_EQ(encode(mvd), Json::parse(R"({"MountPath":"/m"})"));
  EXPECT_FALSE(mvd.verity_info.has_value());
}

TEST(GuestResourceRoundTrip, EveryOtherResource) {
  expect_round_trip<ScsiDevice>(R"({"Controller":2,"Lun":7})");
  expect_round_trip<ScsiDevice>(R"({})");
  expect_round_trip<MappedDirectory>(R"({"MountPath":"/run/gcs/c/x/mounts/m0","Port":564,"ShareName":"17","ReadOnly":true})");
  expect_round_trip<VPMemDevice>(
      R"({"DeviceNumber":3,"MountPath":"/run/layers/p3","MappingInfo":{"DeviceOffsetInBytes":4096,"DeviceSizeInBytes":1048576},"VerityInfo":{"RootDigest":"ff"}})");
  expect_round_trip<VPMemDevice>(R"({"MountPath":"/run/layers/p0"})");
  expect_round_trip<Layer>(R"({"Id":"abc","Path":"/run/layers/p0","PathType":"AbsolutePath","Cache":"x"})");
  expect_round_trip<CombinedLayers>(
      R"({"ContainerID":"c1","ContainerRootPath":"/run/gcs/c/c1/rootfs","Layers":[{"Path":"/run/layers/p0"},{"Path":"/run/layers/p1","Extra":true}],"ScratchPath":"/run/gcs/c/c1/scratch/c1"})");
  expect_round_trip<ContainerConstraints>(R"({"Linux":{"cpu":{"shares":512}}})");
  expect_round_trip<ContainerConstraints>(R"({"Windows":{"memory":{"limit":1}}})");
}

TEST(GuestResourceRoundTrip, InsideAModifySettingsRequest) {
  auto req = decode<ModifySettingsRequest>(Json::parse(
      R"({"ContainerId":"00000000-0000-0000-0000-000000000000","ActivityId":"a","Request":{"ResourceType":"CombinedLayers","Settings":{"ContainerRootPath":"/r","Layers":[{"Path":"/l0"}]}}})"));
  EXPECT_EQ(req.request.resource_type, resource_type::CombinedLayers);
  EXPECT_EQ(req.request.request_type, "");  // absent: the guest takes it as Add
  auto cl = decode<CombinedLayers>(req.request.settings);
  ASSERT_EQ(cl.layers.size(), 1u);
  EXPECT_EQ(cl.layers[0].path, "/l0");
  EXPECT_EQ(cl.container_root_path, "/r");
}

TEST(GuestResourceDecode, WrongTypesAreInvalidJson) {
  EXPECT_EQ(decode_error<MappedVirtualDisk>(R"({"Lun":256})"), hr::VmcomputeInvalidJSON);
  EXPECT_EQ(decode_error<MappedVirtualDisk>(R"({"Lun":-1})"), hr::VmcomputeInvalidJSON);
  EXPECT_EQ(decode_error<MappedVirtualDisk>(R"({"MountPath":7})"), hr::VmcomputeInvalidJSON);
  EXPECT_EQ(decode_error<MappedVirtualDisk>(R"({"Options":"ro"})"), hr::VmcomputeInvalidJSON);
  EXPECT_EQ(decode_error<MappedVirtualDisk>(R"({"VerityInfo":"x"})"), hr::VmcomputeInvalidJSON);
  EXPECT_EQ(decode_error<VPMemDevice>(R"({"DeviceNumber":4294967296})"), hr::VmcomputeInvalidJSON);
  EXPECT_EQ(decode_error<CombinedLayers>(R"({"Layers":[{"Path":1}]})"), hr::VmcomputeInvalidJSON);
  EXPECT_EQ(decode_error<CombinedLayers>(R"({"Layers":{}})"), hr::VmcomputeInvalidJSON);
  EXPECT_EQ(decode_error<MappedDirectory>(R"([])"), hr::VmcomputeInvalidJSON);
  try {
    decode<CombinedLayers>(Json::parse(R"({"Layers":[{"Path":1}]})"));
  } catch (const Error& e) {
    EXPECT_NE(e.text().find("Layers"), std::string::npos) << e.text();
  }
}

}  // namespace schema_test
