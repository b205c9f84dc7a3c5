#include "hcs/network/guest_adapter.hpp"


#include "hcs/core/error.hpp"
#include "hcs/network/ipam.hpp"
#include "hcs/network/names.hpp"

namespace hcs::network {

namespace hcn = schema::hcn;

std::vector<Gateway> gateways(const hcn::HostComputeNetwork& n) {
  std::vector<Gateway> out;
  if (n.type == hcn::network_type::Private) return out;
  for (const auto& ipam : n.ipams)
    for (const auto& s : ipam.subnets) {
      const Prefix p = Prefix::parse(s.ip_address_prefix);
      if (auto gw = gateway(p, s.flags)) out.push_back({*gw, p});
    }
  return out;
}

std::optional<uint32_t> gateway_for(const hcn::HostComputeNetwork& n, uint32_t address) {
  for (const auto& g : gateways(n))  // subnets never overlap
    if (g.subnet.contains(address)) return g.address;
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
    a.routes.push_back({r.next_hop, r.destination_prefix, r.metric, {}});  // the record's unknown keys stay home
    has_default = has_default || r.destination_prefix.empty() || r.destination_prefix == "0.0.0.0/0";
  }
  if (!has_default && !e.ip_configurations.empty())
    if (auto me = parse_ipv4(e.ip_configurations[0].ip_address))
      if (auto gw = gateway_for(n, *me)) a.routes.push_back({ipv4_text(*gw), "0.0.0.0/0", 0, {}});
  // As hcsshim: the domain, then the search list, comma-separated and lower-cased.
  std::string suffix = e.dns.domain;
  for (const auto& s : e.dns.search) suffix += (suffix.empty() ? "" : ",") + s;
  a.dns_suffix = names::fold_case(suffix);
  for (const auto& s : e.dns.server_list) a.dns_server_list += (a.dns_server_list.empty() ? "" : ",") + s;
  for (const auto& p : e.policies)
    if (p.type == "EncapOverhead" && p.settings.is_object())
      a.encap_overhead = p.settings.value("Overhead", uint16_t(0));
  return a;
}

}  // namespace hcs::network
