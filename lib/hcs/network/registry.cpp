#include "hcs/network/registry.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "hcs/core/error.hpp"
#include "hcs/core/guid.hpp"
#include "hcs/network/ipam.hpp"
#include "hcs/network/names.hpp"

namespace hcs::network {

namespace hcn = schema::hcn;

namespace {

constexpr const char* kNetworks = "network";
constexpr const char* kEndpoints = "endpoint";
constexpr const char* kNamespaces = "namespace";
constexpr const char* kLoadBalancers = "loadbalancer";
constexpr const char* kLock = "hcn";  // one critical section for every HCN change

template <class T>
std::vector<T> read_all(state::Store& store, const char* kind) {
  std::vector<T> out;
  for (const auto& r : store.list(kind)) out.push_back(r.record.get<T>());
  return out;
}

std::vector<Prefix> prefixes(const hcn::HostComputeNetwork& n) {
  std::vector<Prefix> out;
  for (const auto& ipam : n.ipams)
    for (const auto& s : ipam.subnets) out.push_back(Prefix::parse(s.ip_address_prefix));
  return out;
}

template <class T>
std::optional<T> find_by_id(state::Store& store, const char* kind, const std::string& id) {
  if (state::valid_id(id))
    if (auto r = store.get(kind, id)) return r->get<T>();
  return std::nullopt;
}

// An object by ID (its record) or, failing that, by name; hr::ErrNotFound naming `what`.
template <class T>
T find_by_id_or_name(state::Store& store, const char* kind, const std::string& key, const char* what) {
  if (auto o = find_by_id<T>(store, kind, key)) return *o;
  for (auto& o : read_all<T>(store, kind))
    if (o.name == key) return o;
  throw Error(hr::ErrNotFound, std::string("no ") + what + " '" + key + "'");
}

// A unicast, non-zero MAC in a form the kernel takes (names::kernel_mac).
void check_mac(const std::string& mac) {
  const std::string k = names::kernel_mac(mac);
  if (std::stoi(k.substr(0, 2), nullptr, 16) & 1) throw Error(hr::ErrInvalidArg, "the MAC address " + mac + " is multicast");
  if (k == "00:00:00:00:00:00") throw Error(hr::ErrInvalidArg, "the MAC address " + mac + " is all zeros");
}

// HNS's own MAC prefix (00-15-5D) and the address's low three bytes: unique on the
// network, since addresses are, and stable for the endpoint's life.
std::string mac_for(uint32_t address) {
  char mac[18];
  std::snprintf(mac, sizeof mac, "00-15-5D-%02X-%02X-%02X", address >> 16 & 255, address >> 8 & 255, address & 255);
  return mac;
}

}  // namespace

std::string attached_vm(const hcn::HostComputeEndpoint& e) {
  if (!e.health.is_object() || !e.health.contains("Extra") || !e.health["Extra"].is_object()) return "";
  const auto& vm = e.health["Extra"].value("VirtualMachine", Json());
  return vm.is_string() ? vm.get<std::string>() : "";
}

void set_attached_vm(hcn::HostComputeEndpoint& e, const std::string& vm_id) {
  if (!e.health.is_object()) e.health = Json::object();
  if (!e.health["Extra"].is_object()) e.health["Extra"] = Json::object();
  if (!vm_id.empty()) return void(e.health["Extra"]["VirtualMachine"] = vm_id);
  e.health["Extra"].erase("VirtualMachine");
  if (e.health["Extra"].empty()) e.health.erase("Extra");
  if (e.health.empty()) e.health = Json();
}

bool linux_network_type(const std::string& type) {
  using namespace hcn::network_type;
  return type == NAT || type == ICS || type == Transparent || type == L2Bridge || type == Private;
}

hcn::HostComputeNetwork Registry::create_network(hcn::HostComputeNetwork n) {
  if (n.type.empty()) n.type = hcn::network_type::NAT;
  if (n.type == hcn::network_type::L2Tunnel || n.type == hcn::network_type::Overlay)
    throw Error(hr::NotImpl, "network type '" + n.type + "' has no meaning on a Linux host (NAT, ICS, Transparent, " +
                                 "L2Bridge and Private do)");
  if (!linux_network_type(n.type))
    throw Error(hr::ErrInvalidArg, "unknown network type '" + n.type + "' (NAT, ICS, Transparent, L2Bridge, Private)");
  if (n.name.empty()) throw Error(hr::ErrInvalidArg, "a network needs a Name");
  if (n.id.empty()) n.id = Guid::random().str();
  state::check_id(n.id, "network ID");
  const auto mine = prefixes(n);  // throws on a malformed subnet
  for (size_t i = 0; i < mine.size(); ++i)
    for (size_t j = i + 1; j < mine.size(); ++j)
      if (mine[i].overlaps(mine[j]))
        throw Error(hr::ErrInvalidArg, "the subnets " + mine[i].text() + " and " + mine[j].text() + " overlap");
  if ((n.type == hcn::network_type::NAT || n.type == hcn::network_type::ICS) && mine.empty())
    throw Error(hr::ErrInvalidArg, "a " + n.type + " network needs a subnet (Ipams[].Subnets[].IpAddressPrefix)");

  auto lock = store_.lock(kLock);
  for (const auto& other : read_all<hcn::HostComputeNetwork>(store_, kNetworks)) {
    if (other.id == n.id) throw Error(hr::VmcomputeSystemAlreadyExists, "a network with ID " + n.id + " exists");
    if (other.name == n.name) throw Error(hr::VmcomputeSystemAlreadyExists, "a network named '" + n.name + "' exists");
    for (const auto& theirs : prefixes(other))
      for (const auto& p : mine)
        if (p.overlaps(theirs))
          throw Error(hr::ErrInvalidArg, "the subnet " + p.text() + " overlaps " + theirs.text() + " of network '" +
                                             other.name + "'");
  }
  store_.put(kNetworks, n.id, Json(n));
  return n;
}

std::vector<hcn::HostComputeNetwork> Registry::networks() const {
  return read_all<hcn::HostComputeNetwork>(store_, kNetworks);
}

hcn::HostComputeNetwork Registry::network(const std::string& key) const {
  return find_by_id_or_name<hcn::HostComputeNetwork>(store_, kNetworks, key, "network");
}

void Registry::check_network_deletable(const std::string& id) const {
  if (!find_by_id<hcn::HostComputeNetwork>(store_, kNetworks, id)) throw Error(hr::ErrNotFound, "no network '" + id + "'");
  const auto eps = endpoints(id);
  if (!eps.empty())
    throw Error(hr::VmcomputeInvalidState, "the network " + id + " still has " + std::to_string(eps.size()) +
                                               " endpoint(s), e.g. " + eps.front().id);
}

void Registry::delete_network(const std::string& id) {
  auto lock = store_.lock(kLock);
  check_network_deletable(id);
  store_.erase(kNetworks, id);
}

hcn::HostComputeEndpoint Registry::create_endpoint(hcn::HostComputeEndpoint e) {
  if (e.host_compute_network.empty()) throw Error(hr::ErrInvalidArg, "an endpoint needs its HostComputeNetwork");
  if (e.ip_configurations.size() > 1)
    throw Error(hr::NotImpl, "an endpoint takes one IPv4 address on this host, not " +
                                 std::to_string(e.ip_configurations.size()));
  if (e.id.empty()) e.id = Guid::random().str();
  state::check_id(e.id, "endpoint ID");
  if (!e.mac_address.empty()) check_mac(e.mac_address);

  auto lock = store_.lock(kLock);
  if (store_.get(kEndpoints, e.id)) throw Error(hr::VmcomputeSystemAlreadyExists, "an endpoint with ID " + e.id + " exists");
  const auto net = network(e.host_compute_network);
  e.host_compute_network = net.id;
  struct Candidate {
    const hcn::Subnet* subnet;
    Prefix prefix;
  };
  std::vector<Candidate> subnets;
  for (const auto& ipam : net.ipams)
    for (const auto& s : ipam.subnets) subnets.push_back({&s, Prefix::parse(s.ip_address_prefix)});
  if (subnets.empty()) throw Error(hr::ErrInvalidArg, "the network '" + net.name + "' has no subnet to address from");
  std::set<uint32_t> taken;
  for (const auto& other : endpoints(net.id)) {
    if (other.id == e.id) throw Error(hr::VmcomputeSystemAlreadyExists, "an endpoint with ID " + e.id + " exists");
    if (!e.name.empty() && other.name == e.name)
      throw Error(hr::VmcomputeSystemAlreadyExists, "an endpoint named '" + e.name + "' exists on this network");
    for (const auto& ip : other.ip_configurations)
      if (auto a = parse_ipv4(ip.ip_address)) taken.insert(*a);
  }
  // The address asked for, in whichever subnet holds it; else the lowest free one of
  // the first subnet. A subnet's flags say whether its gateway address is kept.
  Candidate chosen = subnets.front();
  uint32_t address = 0;
  const std::string asked = e.ip_configurations.empty() ? "" : e.ip_configurations[0].ip_address;
  if (!asked.empty()) {
    const auto a = parse_ipv4(asked);
    if (!a) throw Error(hr::ErrInvalidArg, "'" + asked + "' is not an IPv4 address");
    auto it = std::find_if(subnets.begin(), subnets.end(), [&](const auto& c) { return c.prefix.contains(*a); });
    if (it == subnets.end())
      throw Error(hr::ErrInvalidArg, "the address " + asked + " is outside the subnets of network '" + net.name + "'");
    chosen = *it;
    check_address(chosen.prefix, *a, taken, gateway(chosen.prefix, chosen.subnet->flags));
    address = *a;
  } else {
    address = allocate(chosen.prefix, taken, gateway(chosen.prefix, chosen.subnet->flags));
  }
  e.ip_configurations = {hcn::IpConfig{ipv4_text(address), chosen.prefix.length, {}}};
  if (e.mac_address.empty()) e.mac_address = mac_for(address);
  store_.put(kEndpoints, e.id, Json(e));
  return e;
}

std::vector<hcn::HostComputeEndpoint> Registry::endpoints(const std::string& network_id) const {
  auto all = read_all<hcn::HostComputeEndpoint>(store_, kEndpoints);
  if (!network_id.empty())
    std::erase_if(all, [&](const auto& e) { return e.host_compute_network != network_id; });
  return all;
}

hcn::HostComputeEndpoint Registry::endpoint(const std::string& key) const {
  return find_by_id_or_name<hcn::HostComputeEndpoint>(store_, kEndpoints, key, "endpoint");
}

void Registry::update_endpoint(const hcn::HostComputeEndpoint& e) {
  auto lock = store_.lock(kLock);
  if (!state::valid_id(e.id) || !store_.get(kEndpoints, e.id)) throw Error(hr::ErrNotFound, "no endpoint '" + e.id + "'");
  store_.put(kEndpoints, e.id, Json(e));
}

void Registry::check_endpoint_deletable(const std::string& id) const {
  if (!find_by_id<hcn::HostComputeEndpoint>(store_, kEndpoints, id)) throw Error(hr::ErrNotFound, "no endpoint '" + id + "'");
  for (const auto& lb : load_balancers())
    if (std::count(lb.host_compute_endpoints.begin(), lb.host_compute_endpoints.end(), id))
      throw Error(hr::VmcomputeInvalidState, "the load balancer " + lb.id + " still uses the endpoint " + id);
}

void Registry::delete_endpoint(const std::string& id) {
  auto lock = store_.lock(kLock);
  check_endpoint_deletable(id);
  store_.erase(kEndpoints, id);
}

hcn::HostComputeNamespace Registry::create_namespace(hcn::HostComputeNamespace ns) {
  state::check_id(ns.id, "namespace ID");
  auto lock = store_.lock(kLock);
  if (store_.get(kNamespaces, ns.id)) throw Error(hr::VmcomputeSystemAlreadyExists, "a namespace with ID " + ns.id + " exists");
  store_.put(kNamespaces, ns.id, Json(ns));
  return ns;
}

std::vector<hcn::HostComputeNamespace> Registry::namespaces() const {
  return read_all<hcn::HostComputeNamespace>(store_, kNamespaces);
}

hcn::HostComputeNamespace Registry::namespace_(const std::string& id) const {
  if (auto ns = find_by_id<hcn::HostComputeNamespace>(store_, kNamespaces, id)) return *ns;
  throw Error(hr::ErrNotFound, "no namespace '" + id + "'");
}

void Registry::update_namespace(const hcn::HostComputeNamespace& ns) {
  auto lock = store_.lock(kLock);
  namespace_(ns.id);
  store_.put(kNamespaces, ns.id, Json(ns));
}

void Registry::check_namespace_deletable(const std::string& id) const {
  const auto ns = namespace_(id);
  for (const auto& r : ns.resources)
    if (r.type == "Endpoint")
      throw Error(hr::VmcomputeInvalidState, "the namespace " + id + " still holds the endpoint " +
                                                 r.data.value("ID", std::string("?")) + ": remove it first");
}

void Registry::delete_namespace(const std::string& id) {
  auto lock = store_.lock(kLock);
  check_namespace_deletable(id);
  store_.erase(kNamespaces, id);
}

hcn::HostComputeLoadBalancer Registry::create_load_balancer(hcn::HostComputeLoadBalancer lb) {
  if (lb.id.empty()) lb.id = Guid::random().str();
  state::check_id(lb.id, "load balancer ID");
  auto lock = store_.lock(kLock);
  if (store_.get(kLoadBalancers, lb.id))
    throw Error(hr::VmcomputeSystemAlreadyExists, "a load balancer with ID " + lb.id + " exists");
  for (auto& e : lb.host_compute_endpoints) e = endpoint(e).id;  // by name too; ErrNotFound
  store_.put(kLoadBalancers, lb.id, Json(lb));
  return lb;
}

std::vector<hcn::HostComputeLoadBalancer> Registry::load_balancers() const {
  return read_all<hcn::HostComputeLoadBalancer>(store_, kLoadBalancers);
}

hcn::HostComputeLoadBalancer Registry::load_balancer(const std::string& id) const {
  if (auto lb = find_by_id<hcn::HostComputeLoadBalancer>(store_, kLoadBalancers, id)) return *lb;
  throw Error(hr::ErrNotFound, "no load balancer '" + id + "'");
}

void Registry::delete_load_balancer(const std::string& id) {
  auto lock = store_.lock(kLock);
  if (!state::valid_id(id) || !store_.erase(kLoadBalancers, id))
    throw Error(hr::ErrNotFound, "no load balancer '" + id + "'");
}

}  // namespace hcs::network
