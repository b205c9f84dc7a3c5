// network/guest_adapter: a network's gateways, and what a utility VM's guest is told about a NIC backed by an HCN
// endpoint (the `Network` ModifySettings, hcsshim.md §2.9 and §4.6): its addresses,
// routes (the gateway's default route unless the endpoint has its own), DNS and the
// encapsulation overhead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hcs/network/ipam.hpp"
#include "hcs/schema/guest_resource.hpp"
#include "hcs/schema/network.hpp"

namespace hcs::network {

// The gateway address of each subnet of a network, which its bridge carries (none on
// Private networks, which only connect their endpoints, nor for a subnet that keeps no
// gateway).
struct Gateway {
  uint32_t address;
  Prefix subnet;
};
std::vector<Gateway> gateways(const schema::hcn::HostComputeNetwork& network);
// The gateway of the network's subnet that holds `address`, if it has one.
std::optional<uint32_t> gateway_for(const schema::hcn::HostComputeNetwork& network, uint32_t address);

schema::LcowNetworkAdapter guest_adapter(const schema::hcn::HostComputeEndpoint& endpoint,
                                         const schema::hcn::HostComputeNetwork& network, const std::string& nic_id,
                                         const std::string& namespace_id);

}  // namespace hcs::network
