#include "nics.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>

#include <algorithm>
#include <fstream>

#include "hcs/container/pod_network.hpp"
#include "hcs/core/error.hpp"
#include "hcs/network/dns.hpp"
#include "hcs/network/ipam.hpp"
#include "hcs/network/linux/netlink.hpp"
#include "hcs/network/linux/netns.hpp"
#include "hcs/network/names.hpp"
#include "hcs/state/store.hpp"

namespace gcs {

namespace fs = std::filesystem;
namespace schema = hcs::schema;
namespace netns = hcs::network::netns;
namespace hr = hcs::hr;
using hcs::Error;
using hcs::Json;
using hcs::network::Netlink;

namespace {

constexpr uint32_t kEthernetMtu = 1500;
constexpr uint32_t kMinimumMtu = 68;  // IPv4's
constexpr uint32_t kMaxDefaultRoutes = 64;  // NICs of one subnet in one namespace

std::string nic_with_mac(Netlink& nl, const std::string& mac) {
  const std::string want = hcs::network::names::kernel_mac(mac);
  for (const auto& l : nl.links())
    if (l.mac == want) return l.name;
  throw Error(hr::ErrNotFound, "no network adapter has the MAC address " + mac);
}

// The network namespace kept for an HCN namespace ID (compared without case, as the
// host may spell a GUID either way); empty for none.
std::string netns_name(const std::string& namespace_id) {
  if (namespace_id.empty()) return "";
  const std::string id = hcs::network::names::fold_case(namespace_id);
  hcs::state::check_id(id, "NamespaceID");
  return hcs::network::names::netns(id);
}

// A request's routes and addresses, parsed: nothing is configured from a bad one.
struct Plan {
  std::vector<std::pair<hcs::network::Prefix, uint32_t>> routes;  // destination, next hop
  std::vector<std::pair<uint32_t, uint32_t>> addresses;          // address, prefix length
};

Plan plan_for(const schema::LcowNetworkAdapter& a) {
  Plan p;
  for (const auto& r : a.routes)
    p.routes.emplace_back(hcs::network::Prefix::parse(r.destination_prefix.empty() ? "0.0.0.0/0" : r.destination_prefix),
                          r.next_hop.empty() ? 0 : hcs::network::ipv4_or_throw(r.next_hop, "NextHop"));
  for (const auto& ip : a.ip_configs) {
    if (ip.prefix_length > 32) throw Error(hr::ErrInvalidArg, "PrefixLength " + std::to_string(ip.prefix_length) + " is over 32");
    p.addresses.emplace_back(hcs::network::ipv4_or_throw(ip.ip_address, "IPAddress"), ip.prefix_length);
  }
  return p;
}

// Configures the NIC in `nl`'s namespace; a failure leaves it bare and down again.
void configure(Netlink& nl, const std::string& nic, const schema::LcowNetworkAdapter& a, const Plan& plan) {
  try {
    if (a.encap_overhead) nl.set_mtu(nic, kEthernetMtu - a.encap_overhead);
    nl.set_up(nic);
    for (const auto& [address, length] : plan.addresses) nl.add_address(nic, address, length);
    for (size_t i = 0; i < plan.routes.size(); ++i) {
      const auto& [dst, via] = plan.routes[i];
      // Each NIC of a subnet brings the gateway's default route. The namespace's first
      // keeps the metric asked for; the others take the next free one, so that the
      // namespace keeps a default route whichever NIC goes first.
      for (uint32_t metric = a.routes[i].metric;; ++metric) {
        try {
          nl.add_route(nic, dst.network, dst.length, via, metric);
          break;
        } catch (const Error& e) {
          if (e.code() != hr::VmcomputeSystemAlreadyExists || dst.length != 0 ||
              metric >= a.routes[i].metric + kMaxDefaultRoutes)
            throw;
        }
      }
    }
  } catch (...) {
    try {  // back as it was; the first error is the one to report
      nl.flush_addresses(nic);
      nl.set_down(nic);
    } catch (const std::exception& e) {
      spdlog::warn("undoing the configuration of {}: {}", nic, e.what());
    }
    throw;
  }
}

// Takes a NIC's settings away and moves it from `nl`'s namespace back to `home`.
void give_back(Netlink& nl, const std::string& nic, int home) {
  nl.flush_addresses(nic);
  nl.set_down(nic);
  nl.move_to(nic, home);
}

// The adapter's DNS settings as resolv.conf; none without servers.
void write_dns(const fs::path& file, const schema::LcowNetworkAdapter& a) {
  const auto servers = hcs::network::split_list(a.dns_server_list);
  if (!servers.empty())
    hcs::network::write_resolv_conf(file, hcs::network::resolv_conf(hcs::network::split_list(a.dns_suffix), servers));
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
  const std::string ns = netns_name(a.namespace_id);
  // Checked before the NIC is touched: a bad request changes nothing.
  const Plan plan = plan_for(a);
  Netlink nl;
  const std::string nic = nic_with_mac(nl, a.mac_address);
  if (ns.empty()) {
    configure(nl, nic, a, plan);
    try {
      write_dns(options_.etc / "resolv.conf", a);
    } catch (...) {
      nl.flush_addresses(nic);
      nl.set_down(nic);
      throw;
    }
  } else {
    const bool made = !netns::exists(ns);
    if (made) {
      netns::create(ns);
      made_.insert(ns);
    }
    try {
      const hcs::UniqueFd target = netns::open(ns);
      const hcs::UniqueFd home = netns::current();
      nl.set_down(nic);  // a NIC moves only when down
      nl.move_to(nic, target.get());
      try {
        netns::Scope in(target.get());
        Netlink inside;
        configure(inside, nic, a, plan);
        try {
          write_dns(resolv_conf_of(ns), a);
        } catch (...) {
          give_back(inside, nic, home.get());
          throw;
        }
      } catch (...) {
        // Whatever failed after the move, the NIC must not stay there unrecorded.
        try {
          netns::Scope in(target.get());
          Netlink inside;
          if (inside.index(nic) != 0) give_back(inside, nic, home.get());
        } catch (const std::exception& e) {
          spdlog::error("network adapter {}: {} is left in {}: {}", a.id, nic, ns, e.what());
        }
        throw;
      }
    } catch (...) {
      if (made) forget_netns_if_unused(ns);
      throw;
    }
  }
  adapters_[a.id] = Adapter{a, ns};
  spdlog::info("network adapter {} is {} in {} ({} address(es))", a.id, nic, ns.empty() ? "the VM's namespace" : ns,
               a.ip_configs.size());
}

void Nics::remove(const schema::LcowNetworkAdapter& request) {
  auto it = adapters_.find(request.id);
  if (it == adapters_.end()) throw Error(hr::ErrNotFound, "no network adapter " + request.id + " is configured");
  const Adapter a = it->second;
  try {
    if (a.netns.empty()) {
      Netlink nl;
      const std::string nic = nic_with_mac(nl, a.settings.mac_address);
      nl.flush_addresses(nic);
      nl.set_down(nic);
    } else if (!netns::exists(a.netns)) {
      spdlog::warn("network adapter {}: its namespace {} is gone", a.settings.id, a.netns);
    } else {
      // Failing to bring it home keeps the record: the host hears why, and may retry.
      const hcs::UniqueFd home = netns::current();
      const hcs::UniqueFd target = netns::open(a.netns);
      netns::Scope in(target.get());
      Netlink inside;
      give_back(inside, nic_with_mac(inside, a.settings.mac_address), home.get());
    }
  } catch (const Error& e) {
    if (e.code() != hr::ErrNotFound) throw;
    // The NIC itself is gone (unplugged): there is nothing left to take back.
    spdlog::warn("network adapter {}: {}", a.settings.id, e.text());
  }
  adapters_.erase(it);
  if (!a.netns.empty()) forget_netns_if_unused(a.netns);
}

void Nics::join(Json& spec) const {
  const std::string id = hcs::container::network_namespace_of(spec);
  if (id.empty()) return;
  const std::string ns = netns_name(id);
  if (!netns::exists(ns)) {
    if (hcs::container::skips_pod_networking(spec)) return;
    throw Error(hr::ErrNotFound, "the network namespace " + id + " has no network adapter in this VM (annotation " +
                                     hcs::container::kSkipPodNetworking + "=true runs the container without it)");
  }
  // The namespace's DNS, as hcsshim's guest gives a pod's containers theirs.
  std::error_code ec;
  const auto resolv = resolv_conf_of(ns);
  hcs::container::join_network_namespace(spec, netns::path(ns), fs::exists(resolv, ec) ? resolv.string() : "");
}

fs::path Nics::resolv_conf_of(const std::string& ns) const { return hcs::network::netns_resolv_conf(options_.etc, ns); }

void Nics::forget_netns_if_unused(const std::string& ns) {
  for (const auto& [id, a] : adapters_)
    if (a.netns == ns) return;
  if (netns::in_use(ns)) return;  // a container still runs in it: prune() comes back
  try {
    netns::remove(ns);
    hcs::network::remove_netns_resolv_conf(options_.etc, ns);
    made_.erase(ns);
  } catch (const Error& e) {
    spdlog::warn("remove the network namespace {}: {}", ns, e.text());
  }
}

void Nics::prune() {
  for (const auto& ns : std::set<std::string>(made_)) forget_netns_if_unused(ns);
}

}  // namespace gcs
