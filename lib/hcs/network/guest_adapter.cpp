#include "hcs/network/guest_adapter.hpp"

#include <algorithm>
#include <cctype>

#include "hcs/core/error.hpp"
#include "hcs/network/ipam.hpp"

namespace hcs::network {

namespace hcn = schema::hcn;

std::optional<uint32_t> gateway_for(const hcn::HostComputeNetwork& n, uint32_t address) {
  if (n.type == hcn::network_type::Private) return std::nullopt;
  for (const auto& ipam : n.ipams)
    for (const auto& s : ipam.subnets) {
      const Prefix p = Prefix::parse(s.ip_address_prefix);
      if (p.contains(address)) return gateway(p, s.flags);
    }
  return std::nullopt;
}

schema::LcowNetworkAdapter guest_adapter(const hcn::HostComputeEndpoint& e, const hcn::HostComputeNetwork& n,
                                         const std::string& nic_id, const std::string& namespace_id) {
  schema::LcowNetworkAdapter a;
  a.namespace_id = namespace_id;
  a.id = nic_id;
  a.mac_address = e.mac_address;
  for (const auto& ip : e.ip_configurations) a.ip_configs.push_back({ip.ip_address, ip.prefix_length, {}});
  bool has_default = false;
  for (const auto& r : e.routes) {
    a.routes.push_back({r.next_hop, r.destination_prefix, uint16_t(r.metric), {}});
    has_default = has_default || r.destination_prefix.empty() || r.destination_prefix == "0.0.0.0/0";
  }
  if (!has_default && !e.ip_configurations.empty())
    if (auto me = parse_ipv4(e.ip_configurations[0].ip_address))
      if (auto gw = gateway_for(n, *me)) a.routes.push_back({ipv4_text(*gw), "0.0.0.0/0", 0, {}});
  // As hcsshim: the domain, then the search list, comma-separated and lower-cased.
  std::string suffix = e.dns.domain;
  for (const auto& s : e.dns.search) suffix += (suffix.empty() ? "" : ",") + s;
  std::transform(suffix.begin(), suffix.end(), suffix.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  a.dns_suffix = suffix;
  for (const auto& s : e.dns.server_list) a.dns_server_list += (a.dns_server_list.empty() ? "" : ",") + s;
  for (const auto& p : e.policies)
    if (p.type == "EncapOverhead" && p.settings.is_object())
      a.encap_overhead = p.settings.value("Overhead", uint16_t(0));
  return a;
}

}  // namespace hcs::network
