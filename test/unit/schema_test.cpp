#include <gtest/gtest.h>

#include "hcs/schema/bridge.hpp"

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
