// network/names: the kernel objects an HCN object owns on a Linux host, named from its
// ID alone, so that any process (and a later delete) finds them without a lookup table.
// Interface names have 15 characters at most, so they carry an 8-hex-digit hash of the
// ID; creating one whose name is already taken is refused, never shared.
#pragma once

#include <string>

namespace hcs::network::names {

std::string tag(const std::string& id);              // 8 hex digits (FNV-1a of the ID)
std::string bridge(const std::string& network_id);   // "hcnbr" + tag
std::string host_port(const std::string& endpoint_id);  // the veth end on the bridge: "hcnv" + tag
std::string peer(const std::string& endpoint_id);    // the other end while it is in no namespace: "hcnp" + tag
std::string table(const std::string& network_id);    // nftables tables (ip and bridge): "hcskit-" + tag
inline constexpr const char* kLoadBalancerTable = "hcskit-lb";  // ip table of every load balancer
std::string netns(const std::string& namespace_id);  // under /run/netns: "hcn-" + ID

// ASCII lower case: how HCN IDs (GUIDs, which Windows compares without case) and DNS
// names compare.
std::string fold_case(std::string text);

// A MAC as the kernel and QEMU spell it: HNS writes 00-15-5D-01-02-03, they take
// 00:15:5d:01:02:03. Throws ErrInvalidArg for anything that is not six hex bytes.
std::string kernel_mac(const std::string& mac);

}  // namespace hcs::network::names
