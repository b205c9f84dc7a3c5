// The settings of ModifySettings requests that a Linux guest handles (hcsshim's
// internal/protocol/guestresource, LCOW forms), with its JSON keys and omitempty rules,
// and the names of the resource and request types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hcs/schema/network.hpp"
#include "hcs/schema/record.hpp"

namespace hcs::schema {

// ModificationRequest.ResourceType values.
namespace resource_type {
inline constexpr std::string_view MappedVirtualDisk = "MappedVirtualDisk";
inline constexpr std::string_view MappedVirtualDiskForContainerScratch = "MappedVirtualDiskForContainerScratch";
inline constexpr std::string_view SCSIDevice = "SCSIDevice";
inline constexpr std::string_view MappedDirectory = "MappedDirectory";
inline constexpr std::string_view VPMemDevice = "VPMemDevice";
inline constexpr std::string_view VPCIDevice = "VPCIDevice";
inline constexpr std::string_view CombinedLayers = "CombinedLayers";
inline constexpr std::string_view CWCOWCombinedLayers = "CWCOWCombinedLayers";
inline constexpr std::string_view WCOWBlockCims = "WCOWBlockCims";
inline constexpr std::string_view Network = "Network";
inline constexpr std::string_view NetworkNamespace = "NetworkNamespace";
inline constexpr std::string_view ContainerConstraints = "ContainerConstraints";
inline constexpr std::string_view HvSocket = "HvSocket";
inline constexpr std::string_view SecurityPolicy = "SecurityPolicy";
inline constexpr std::string_view SecurityPolicyFragment = "SecurityPolicyFragment";
inline constexpr std::string_view PodCgroupMemoryLimit = "PodCgroupMemoryLimit";
}  // namespace resource_type

// ModificationRequest.RequestType values; an absent one means Add.
namespace request_type {
inline constexpr std::string_view Add = "Add";
inline constexpr std::string_view Remove = "Remove";
inline constexpr std::string_view Update = "Update";
inline constexpr std::string_view PreAdd = "PreAdd";
}  // namespace request_type

// dm-verity metadata of a read-only device (deprecated by hcsshim: newer guests read it
// from the device itself).
struct DeviceVerityInfo {
  int64_t ext4_size_in_bytes = 0;
  int32_t version = 0;
  std::string algorithm;
  bool super_block = false;
  std::string root_digest;  // hex
  std::string salt;         // hex
  int32_t block_size = 0;
  Json extra;
  bool operator==(const DeviceVerityInfo&) const = default;
  static auto fields() {
    using V = DeviceVerityInfo;
    return std::make_tuple(omitempty("Ext4SizeInBytes", &V::ext4_size_in_bytes), omitempty("Version", &V::version),
                           omitempty("Algorithm", &V::algorithm), omitempty("SuperBlock", &V::super_block),
                           omitempty("RootDigest", &V::root_digest), omitempty("Salt", &V::salt),
                           omitempty("BlockSize", &V::block_size));
  }
};

// A SCSI disk the host attached, to mount at MountPath (LCOWMappedVirtualDisk).
struct MappedVirtualDisk {
  std::string mount_path;
  uint8_t lun = 0;
  uint8_t controller = 0;
  uint64_t partition = 0;  // 0: the whole disk
  bool read_only = false;
  bool encrypted = false;
  std::vector<std::string> options;  // mount options
  bool block_dev = false;            // expose the device at MountPath instead of mounting it
  std::optional<DeviceVerityInfo> verity_info;
  bool ensure_filesystem = false;  // format when the device lacks `filesystem`
  std::string filesystem;          // ext4 (the default) or xfs
  Json extra;
  bool operator==(const MappedVirtualDisk&) const = default;
  static auto fields() {
    using M = MappedVirtualDisk;
    return std::make_tuple(omitempty("MountPath", &M::mount_path), omitempty("Lun", &M::lun),
                           omitempty("Controller", &M::controller), omitempty("Partition", &M::partition),
                           omitempty("ReadOnly", &M::read_only), omitempty("Encrypted", &M::encrypted),
                           omitempty("Options", &M::options), omitempty("BlockDev", &M::block_dev),
                           omitempty("VerityInfo", &M::verity_info),
                           omitempty("EnsureFilesystem", &M::ensure_filesystem),
                           omitempty("Filesystem", &M::filesystem));
  }
};

// A SCSI device as such (only Remove: hot-unplug).
struct ScsiDevice {
  uint8_t controller = 0;
  uint8_t lun = 0;
  Json extra;
  bool operator==(const ScsiDevice&) const = default;
  static auto fields() {
    return std::make_tuple(omitempty("Controller", &ScsiDevice::controller), omitempty("Lun", &ScsiDevice::lun));
  }
};

// A Plan9 share of a host directory (LCOWMappedDirectory).
struct MappedDirectory {
  std::string mount_path;
  int32_t port = 0;        // 564 from hcsshim's host
  std::string share_name;  // a decimal counter
  bool read_only = false;
  Json extra;
  bool operator==(const MappedDirectory&) const = default;
  static auto fields() {
    using M = MappedDirectory;
    return std::make_tuple(omitempty("MountPath", &M::mount_path), omitempty("Port", &M::port),
                           omitempty("ShareName", &M::share_name), omitempty("ReadOnly", &M::read_only));
  }
};

// The guest's `Network` resource (LCOW): one NIC of the VM, configured as the host's
// HCN endpoint describes it. Lists in DNSSuffix and DNSServerList are comma-separated.
struct NetworkIpConfig {
  std::string ip_address;
  uint8_t prefix_length = 0;
  Json extra;
  bool operator==(const NetworkIpConfig&) const = default;
  static auto fields() {
    return std::make_tuple(omitempty("IPAddress", &NetworkIpConfig::ip_address),
                           omitempty("PrefixLength", &NetworkIpConfig::prefix_length));
  }
};

// The guest's routes have HCN's keys and types: one struct serves both.
using NetworkRoute = hcn::Route;

struct LcowNetworkAdapter {
  std::string namespace_id;  // the HCN namespace's ID
  std::string id;            // the NIC's ID (the VM document's NetworkAdapters key)
  std::string mac_address;
  std::string dns_suffix, dns_server_list;
  uint16_t encap_overhead = 0;
  bool vpci_assigned = false;
  std::vector<NetworkIpConfig> ip_configs;
  std::vector<NetworkRoute> routes;
  bool policy_based_routing = false, enable_low_metric = false;
  Json extra;
  bool operator==(const LcowNetworkAdapter&) const = default;
  static auto fields() {
    using A = LcowNetworkAdapter;
    return std::make_tuple(omitempty("NamespaceID", &A::namespace_id), omitempty("ID", &A::id),
                           omitempty("MacAddress", &A::mac_address), omitempty("DNSSuffix", &A::dns_suffix),
                           omitempty("DNSServerList", &A::dns_server_list),
                           omitempty("EncapOverhead", &A::encap_overhead), omitempty("VPCIAssigned", &A::vpci_assigned),
                           omitempty("IPConfigs", &A::ip_configs), omitempty("Routes", &A::routes),
                           omitempty("PolicyBasedRouting", &A::policy_based_routing),
                           omitempty("EnableLowMetric", &A::enable_low_metric));
  }
};

// Where one of several layers packed onto one VPMem device lies.
struct VPMemMappingInfo {
  uint64_t device_offset_in_bytes = 0;
  uint64_t device_size_in_bytes = 0;
  Json extra;
  bool operator==(const VPMemMappingInfo&) const = default;
  static auto fields() {
    return std::make_tuple(omitempty("DeviceOffsetInBytes", &VPMemMappingInfo::device_offset_in_bytes),
                           omitempty("DeviceSizeInBytes", &VPMemMappingInfo::device_size_in_bytes));
  }
};

// A read-only layer on a VPMem device (LCOWMappedVPMemDevice).
struct VPMemDevice {
  uint32_t device_number = 0;
  std::string mount_path;
  std::optional<VPMemMappingInfo> mapping_info;
  std::optional<DeviceVerityInfo> verity_info;
  Json extra;
  bool operator==(const VPMemDevice&) const = default;
  static auto fields() {
    using V = VPMemDevice;
    return std::make_tuple(omitempty("DeviceNumber", &V::device_number), omitempty("MountPath", &V::mount_path),
                           omitempty("MappingInfo", &V::mapping_info), omitempty("VerityInfo", &V::verity_info));
  }
};

// hcsschema Layer; a Linux guest uses only Path.
struct Layer {
  std::string id;
  std::string path;
  std::string path_type;
  std::string cache;
  Json extra;
  bool operator==(const Layer&) const = default;
  static auto fields() {
    return std::make_tuple(omitempty("Id", &Layer::id), omitempty("Path", &Layer::path),
                           omitempty("PathType", &Layer::path_type), omitempty("Cache", &Layer::cache));
  }
};

// Read-only layers and an optional scratch, united into a container's root
// (LCOWCombinedLayers). The layers' order is the overlay's lowerdir order: first on top.
struct CombinedLayers {
  std::string container_id;
  std::string container_root_path;
  std::vector<Layer> layers;
  std::string scratch_path;
  Json extra;
  bool operator==(const CombinedLayers&) const = default;
  static auto fields() {
    using C = CombinedLayers;
    return std::make_tuple(omitempty("ContainerID", &C::container_id),
                           omitempty("ContainerRootPath", &C::container_root_path), omitempty("Layers", &C::layers),
                           omitempty("ScratchPath", &C::scratch_path));
  }
};

// Resource limits of a running container (LCOWContainerConstraints): OCI
// WindowsResources and LinuxResources, kept as JSON.
struct ContainerConstraints {
  // Not `linux`: GNU C++ predefines that name as a macro.
  Json windows_resources;
  Json linux_resources;
  Json extra;
  bool operator==(const ContainerConstraints&) const = default;
  static auto fields() {
    return std::make_tuple(omitempty("Windows", &ContainerConstraints::windows_resources),
                           omitempty("Linux", &ContainerConstraints::linux_resources));
  }
};

}  // namespace hcs::schema
