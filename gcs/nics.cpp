#include "nics.hpp"

#include <spdlog/spdlog.h>

#include <fstream>

#include "hcs/core/error.hpp"
#include "hcs/network/dns.hpp"
#include "hcs/network/ipam.hpp"
#include "hcs/network/linux/netlink.hpp"
#include "hcs/network/names.hpp"

namespace gcs {

namespace schema = hcs::schema;
namespace hr = hcs::hr;
using hcs::Error;

namespace {

constexpr uint32_t kEthernetMtu = 1500;
constexpr uint32_t kMinimumMtu = 68;  // IPv4's

std::string nic_with_mac(hcs::network::Netlink& nl, const std::string& mac) {
  const std::string want = hcs::network::names::kernel_mac(mac);
  for (const auto& l : nl.links())
    if (l.mac == want) return l.name;
  throw Error(hr::ErrNotFound, "no network adapter has the MAC address " + mac);
}

uint32_t ipv4(const std::string& text, const std::string& what) {
  if (auto a = hcs::network::parse_ipv4(text)) return *a;
  throw Error(hr::ErrInvalidArg, what + " '" + text + "' is not an IPv4 address");
}

}  // namespace

void Nics::modify(const schema::ModificationRequest& r) {
  const std::string type = r.request_type.empty() ? "Add" : r.request_type;
  schema::LcowNetworkAdapter a;
  try {
    a = schema::decode<schema::LcowNetworkAdapter>(r.settings.is_null() ? hcs::Json::object() : r.settings);
  } catch (Error& e) {
    throw e.wrap("failed to unmarshal settings as Network");
  }
  if (type == "Add") return add(a);
  if (type == "Remove") return remove(a);
  throw Error(hr::Fail, "the RequestType \"" + type + "\" is not supported");
}

void Nics::add(const schema::LcowNetworkAdapter& a) {
  if (a.id.empty()) throw Error(hr::ErrInvalidArg, "a Network adapter needs its ID");
  if (adapters_.count(a.id)) throw Error(hr::VmcomputeSystemAlreadyExists, "the network adapter " + a.id + " is configured");
  if (a.vpci_assigned) throw Error(hr::NotImpl, "VPCI-assigned network adapters are not supported");
  if (a.encap_overhead > kEthernetMtu - kMinimumMtu)
    throw Error(hr::ErrInvalidArg, "EncapOverhead " + std::to_string(a.encap_overhead) + " leaves no usable MTU");
  hcs::network::Netlink nl;
  const std::string nic = nic_with_mac(nl, a.mac_address);
  // Checked before the NIC is touched: a bad request changes nothing.
  std::vector<std::pair<hcs::network::Prefix, uint32_t>> routes;
  for (const auto& r : a.routes)
    routes.emplace_back(hcs::network::Prefix::parse(r.destination_prefix.empty() ? "0.0.0.0/0" : r.destination_prefix),
                        r.next_hop.empty() ? 0 : ipv4(r.next_hop, "NextHop"));
  for (const auto& ip : a.ip_configs) {
    ipv4(ip.ip_address, "IPAddress");
    if (ip.prefix_length > 32) throw Error(hr::ErrInvalidArg, "PrefixLength " + std::to_string(ip.prefix_length) + " is over 32");
  }
  try {
    if (a.encap_overhead) nl.set_mtu(nic, kEthernetMtu - a.encap_overhead);
    nl.set_up(nic);
    for (const auto& ip : a.ip_configs) nl.add_address(nic, ipv4(ip.ip_address, "IPAddress"), ip.prefix_length);
    for (size_t i = 0; i < routes.size(); ++i)
      nl.add_route(nic, routes[i].first.network, routes[i].first.length, routes[i].second, a.routes[i].metric);
  } catch (...) {
    try {  // back as it was; the first error is the one to report
      nl.flush_addresses(nic);
      nl.set_down(nic);
    } catch (const std::exception& e) {
      spdlog::warn("undoing the configuration of {}: {}", nic, e.what());
    }
    throw;
  }
  write_resolv_conf(a);
  adapters_[a.id] = a;
  spdlog::info("network adapter {} is {} ({} address(es))", a.id, nic, a.ip_configs.size());
}

void Nics::remove(const schema::LcowNetworkAdapter& request) {
  auto it = adapters_.find(request.id);
  if (it == adapters_.end()) throw Error(hr::ErrNotFound, "no network adapter " + request.id + " is configured");
  hcs::network::Netlink nl;
  const std::string nic = nic_with_mac(nl, it->second.mac_address);
  nl.flush_addresses(nic);
  nl.set_down(nic);
  adapters_.erase(it);
}

void Nics::write_resolv_conf(const schema::LcowNetworkAdapter& a) const {
  const auto servers = hcs::network::split_list(a.dns_server_list);
  if (servers.empty()) return;
  const std::string text = hcs::network::resolv_conf(hcs::network::split_list(a.dns_suffix), servers);
  const auto tmp = options_.resolv_conf.string() + ".tmp";
  std::ofstream out(tmp);
  out << text;
  out.close();
  if (!out) throw Error(hr::Fail, "write " + tmp);
  std::error_code ec;
  std::filesystem::rename(tmp, options_.resolv_conf, ec);
  if (ec) throw Error(hr::Fail, "write " + options_.resolv_conf.string() + ": " + ec.message());
}

}  // namespace gcs
