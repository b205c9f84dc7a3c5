// network/guest_adapter: what a utility VM's guest is told about a NIC backed by an HCN
// endpoint (the `Network` ModifySettings, hcsshim.md §2.9 and §4.6): its addresses,
// routes (the gateway's default route unless the endpoint has its own), DNS and the
// encapsulation overhead.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "hcs/schema/guest_resource.hpp"
#include "hcs/schema/network.hpp"

namespace hcs::network {

// The gateway of the network's subnet that holds `address` (none on a Private network,
// or when the subnet keeps no gateway).
std::optional<uint32_t> gateway_for(const schema::hcn::HostComputeNetwork& network, uint32_t address);

schema::LcowNetworkAdapter guest_adapter(const schema::hcn::HostComputeEndpoint& endpoint,
                                         const schema::hcn::HostComputeNetwork& network, const std::string& nic_id,
                                         const std::string& namespace_id);

}  // namespace hcs::network
