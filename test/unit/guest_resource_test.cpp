#include <gtest/gtest.h>

#include "hcs/schema/bridge.hpp"
#include "hcs/schema/guest_resource.hpp"

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
