// network/ruleset: the nftables rules of HCN networks, endpoint policies and load
// balancers, as nft scripts. A network's rules are a pure function of its records (the
// network and its endpoints), and each script replaces its tables wholesale in one
// transaction (`add table; delete table; table {...}`), so that the kernel holds
// exactly what the records say after any change, and nothing after a delete.
//
// Per network (tables named by names::table):
//   ip nat     prerouting/output: DNAT of PortMapping policies (to local addresses, or
//              to their VIP); postrouting: masquerade of a NAT/ICS network's subnet
//              leaving by another interface, and OutBoundNAT policies.
//   bridge     forward/input/output: ACL policies on the endpoint's bridge port, in
//              Priority order; what no rule matches is allowed.
// Load balancers share one ip table (names::kLoadBalancerTable): DNAT from the frontend
// VIPs (or local addresses) to the endpoints, spread at random or by source address.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hcs/schema/network.hpp"

namespace hcs::network {

std::string network_ruleset(const schema::hcn::HostComputeNetwork& network,
                            const std::vector<schema::hcn::HostComputeEndpoint>& endpoints);
// Removes the network's tables (whether or not they exist).
std::string network_ruleset_removal(const std::string& network_id);

// `endpoints`: every endpoint a balancer may name (their addresses are looked up here).
std::string load_balancer_ruleset(const std::vector<schema::hcn::HostComputeLoadBalancer>& balancers,
                                  const std::vector<schema::hcn::HostComputeEndpoint>& endpoints);

// Checks policies as this host would apply them: PortMapping, ACL and OutBoundNAT are
// applied; other known HCN types are NotImpl; unknown types and malformed settings are
// ErrInvalidArg. Throws hcs::Error naming the policy.
void check_endpoint_policies(const std::vector<schema::hcn::Policy>& policies);

// The largest EncapOverhead: what leaves IPv4's minimum MTU (68) of Ethernet's 1500.
inline constexpr uint64_t kMaxEncapOverhead = 1500 - 68;
void check_load_balancer(const schema::hcn::HostComputeLoadBalancer& balancer);

}  // namespace hcs::network
