#include "nics.hpp"

#include <spdlog/spdlog.h>

#include <fcntl.h>

#include <algorithm>
#include <cctype>
#include <fstream>

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
constexpr const char* kSkipPodNetworking = "io.microsoft.cri.skip-pod-networking";

std::string nic_with_mac(Netlink& nl, const std::string& mac) {
  const std::string want = hcs::network::names::kernel_mac(mac);
  for (const auto& l : nl.links())
    if (l.mac == want) return l.name;
  throw Error(hr::ErrNotFound, "no network adapter has the MAC address " + mac);
}

uint32_t ipv4(const std::string& text, const std::string& what) {
  if (auto a = hcs::network::parse_ipv4(text)) return *a;
  throw Error(hr::ErrInvalidArg, what + " '" + text + "' is not an IPv4 address");
}

// The network namespace kept for an HCN namespace ID (compared without case, as the
// host may spell a GUID either way); empty for none.
std::string netns_name(const std::string& namespace_id) {
  if (namespace_id.empty()) return "";
  std::string id = namespace_id;
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::tolower(c); });
  hcs::state::check_id(id, "NamespaceID");
  return hcs::network::names::netns(id);
}

hcs::UniqueFd this_netns() {
  hcs::UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!fd) hcs::throw_errno("open this thread's network namespace");
  return fd;
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
                          r.next_hop.empty() ? 0 : ipv4(r.next_hop, "NextHop"));
  for (const auto& ip : a.ip_configs) {
    if (ip.prefix_length > 32) throw Error(hr::ErrInvalidArg, "PrefixLength " + std::to_string(ip.prefix_length) + " is over 32");
    p.addresses.emplace_back(ipv4(ip.ip_address, "IPAddress"), ip.prefix_length);
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
      try {
        nl.add_route(nic, dst.network, dst.length, via, a.routes[i].metric);
      } catch (const Error& e) {
        // Each NIC of a subnet brings the gateway's default route: the namespace's
        // first NIC keeps it, as on the host.
        if (e.code() != hr::VmcomputeSystemAlreadyExists || dst.length != 0) throw;
        spdlog::info("{}: the namespace has its default route already", nic);
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
  try {
    nl.flush_addresses(nic);
    nl.set_down(nic);
    nl.move_to(nic, home);
  } catch (const std::exception& e) {
    spdlog::warn("bring {} back to the VM's namespace: {}", nic, e.what());
  }
}

void write_resolv_conf(const fs::path& path, const schema::LcowNetworkAdapter& a) {
  const auto servers = hcs::network::split_list(a.dns_server_list);
  if (servers.empty()) return;
  const std::string text = hcs::network::resolv_conf(hcs::network::split_list(a.dns_suffix), servers);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const auto tmp = path.string() + ".tmp";
  std::ofstream out(tmp);
  out << text;
  out.close();
  if (!out) throw Error(hr::Fail, "write " + tmp);
  fs::rename(tmp, path, ec);
  if (ec) throw Error(hr::Fail, "write " + path.string() + ": " + ec.message());
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
    write_resolv_conf(options_.etc / "resolv.conf", a);
  } else {
    const bool made = !netns::exists(ns);
    if (made) {
      netns::create(ns);
      made_.insert(ns);
    }
    try {
      write_resolv_conf(resolv_conf_of(ns), a);
      const hcs::UniqueFd target = netns::open(ns);
      const hcs::UniqueFd home = this_netns();
      nl.set_down(nic);  // a NIC moves only when down
      nl.move_to(nic, target.get());
      netns::Scope in(target.get());
      Netlink inside;
      try {
        configure(inside, nic, a, plan);
      } catch (...) {
        give_back(inside, nic, home.get());
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
  if (a.netns.empty()) {
    Netlink nl;
    const std::string nic = nic_with_mac(nl, a.settings.mac_address);
    nl.flush_addresses(nic);
    nl.set_down(nic);
  } else if (!netns::exists(a.netns)) {
    spdlog::warn("network adapter {}: its namespace {} is gone", a.settings.id, a.netns);
  } else {
    const hcs::UniqueFd home = this_netns();
    const hcs::UniqueFd target = netns::open(a.netns);
    netns::Scope in(target.get());
    Netlink inside;
    give_back(inside, nic_with_mac(inside, a.settings.mac_address), home.get());
  }
  adapters_.erase(it);
  if (!a.netns.empty()) forget_netns_if_unused(a.netns);
}

void Nics::join(Json& spec) const {
  if (!spec.is_object()) return;
  const Json* id = nullptr;
  if (auto w = spec.find("windows"); w != spec.end() && w->is_object())
    if (auto n = w->find("network"); n != w->end() && n->is_object())
      if (auto i = n->find("networkNamespace"); i != n->end() && i->is_string() && !i->get<std::string>().empty())
        id = &*i;
  if (!id) return;
  const std::string ns = netns_name(id->get<std::string>());
  if (!netns::exists(ns)) {
    const Json annotations = spec.value("annotations", Json::object());
    if (annotations.is_object() && annotations.value(kSkipPodNetworking, std::string()) == "true") return;
    throw Error(hr::ErrNotFound, "the network namespace " + id->get<std::string>() +
                                     " has no network adapter in this VM (annotation " + kSkipPodNetworking +
                                     "=true runs the container without it)");
  }
  Json& linux = spec["linux"];
  if (!linux.is_object()) linux = Json::object();
  Json& namespaces = linux["namespaces"];
  if (!namespaces.is_array()) namespaces = Json::array();
  namespaces.erase(std::remove_if(namespaces.begin(), namespaces.end(),
                                  [](const Json& n) { return n.is_object() && n.value("type", Json()) == "network"; }),
                   namespaces.end());
  namespaces.push_back(Json{{"type", "network"}, {"path", netns::path(ns)}});

  // The namespace's DNS, as hcsshim's guest gives a pod's containers theirs.
  const auto resolv = resolv_conf_of(ns);
  std::error_code ec;
  if (!fs::exists(resolv, ec)) return;
  Json& mounts = spec["mounts"];
  if (!mounts.is_array()) mounts = Json::array();
  for (const auto& m : mounts)
    if (m.is_object() && m.value("destination", Json()) == "/etc/resolv.conf") return;
  Json options = Json::array({"bind"});
  if (spec.value("root", Json::object()).value("readonly", false)) options.push_back("ro");
  mounts.push_back(Json{{"destination", "/etc/resolv.conf"}, {"type", "bind"}, {"source", resolv.string()},
                        {"options", options}});
}

fs::path Nics::resolv_conf_of(const std::string& ns) const { return options_.etc / "netns" / ns / "resolv.conf"; }

void Nics::forget_netns_if_unused(const std::string& ns) {
  for (const auto& [id, a] : adapters_)
    if (a.netns == ns) return;
  if (netns::in_use(ns)) return;  // a container still runs in it: prune() comes back
  try {
    netns::remove(ns);
    std::error_code ec;
    fs::remove_all(options_.etc / "netns" / ns, ec);
    made_.erase(ns);
  } catch (const Error& e) {
    spdlog::warn("remove the network namespace {}: {}", ns, e.text());
  }
}

void Nics::prune() {
  for (const auto& ns : std::set<std::string>(made_)) forget_netns_if_unused(ns);
}

}  // namespace gcs
