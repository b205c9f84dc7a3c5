// The HCN API on a Linux host. Each call holds one cross-process lock (kHostLock) from
// its first check to its last kernel change, so that the records and the kernel
// objects change together; the registry's own lock nests inside it.
//
// Order: records first, kernel objects next, and a failure undoes both. A process
// killed in between leaves a record whose delete still removes what exists (every
// removal here tolerates an object that is already gone).
#include "hcs/network/hcn.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <set>

#include "hcs/core/error.hpp"
#include "hcs/core/guid.hpp"
#include "hcs/core/log.hpp"
#include "hcs/network/dns.hpp"
#include "hcs/network/guest_adapter.hpp"
#include "hcs/network/ipam.hpp"
#include "hcs/network/linux/netlink.hpp"
#include "hcs/network/linux/netns.hpp"
#include "hcs/network/linux/nftables.hpp"
#include "hcs/network/names.hpp"
#include "hcs/network/registry.hpp"
#include "hcs/network/ruleset.hpp"

namespace hcs::network {

namespace hcn = schema::hcn;

namespace {

constexpr const char* kHostLock = "hcn-host";

void enable_forwarding() {
  UniqueFd fd(::open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC));
  if (!fd || ::write(fd.get(), "1", 1) != 1) throw_errno("enable IPv4 forwarding (net.ipv4.ip_forward)");
}

// Runs `undo` unless dismissed: the rollback of a half-done operation.
template <class F>
class Undo {
 public:
  explicit Undo(F f) : f_(std::move(f)) {}
  ~Undo() {
    if (armed_) try {
        f_();
      } catch (const std::exception& e) {
        spdlog::warn("hcn: undoing a failed change: {}", e.what());
      }
  }
  void dismiss() { armed_ = false; }
  Undo(const Undo&) = delete;
  Undo& operator=(const Undo&) = delete;

 private:
  F f_;
  bool armed_ = true;
};

// Re-applies a network's rules from its records (one nft transaction).
void apply_network_rules(const Registry& registry, const hcn::HostComputeNetwork& n) {
  nftables::run(network_ruleset(n, registry.endpoints(n.id)));
}

void apply_load_balancer_rules(const Registry& registry) {
  nftables::run(load_balancer_ruleset(registry.load_balancers(), registry.endpoints()));
}

bool is_member(const hcn::NamespaceResource& r, const std::string& endpoint_id) {
  return r.type == "Endpoint" && r.data.is_object() && r.data.contains("ID") && r.data["ID"].is_string() &&
         r.data["ID"].get<std::string>() == endpoint_id;
}

bool attached(const hcn::HostComputeNamespace& ns, const std::string& endpoint_id) {
  return std::any_of(ns.resources.begin(), ns.resources.end(), [&](const auto& r) { return is_member(r, endpoint_id); });
}

void forget_member(hcn::HostComputeNamespace& ns, const std::string& endpoint_id) {
  std::erase_if(ns.resources, [&](const auto& r) { return is_member(r, endpoint_id); });
}

// The records of an endpoint joining a namespace, on both sides.
void join(Registry& registry, hcn::HostComputeNamespace& ns, hcn::HostComputeEndpoint& e) {
  e.host_compute_namespace = ns.id;
  registry.update_endpoint(e);
  ns.resources.push_back({"Endpoint", Json{{"ID", e.id}}, {}});
  registry.update_namespace(ns);
}

// The endpoint's interface inside a namespace carries the endpoint ID as its alias
// (`ip link` shows it), which is how it is found again to be detached.
std::string interface_in(Netlink& nl, const std::string& endpoint_id) {
  for (const auto& l : nl.links())
    if (l.alias == endpoint_id) return l.name;
  return "";
}

std::string free_eth_name(Netlink& nl) {
  std::set<std::string> taken;
  for (const auto& l : nl.links()) taken.insert(l.name);
  for (int i = 0;; ++i)
    if (!taken.count("eth" + std::to_string(i))) return "eth" + std::to_string(i);
}

// The endpoint's port on its network's bridge: a veth pair (the peer waits, named
// names::peer, for a namespace) or, for a VM, a persistent tap that QEMU opens.
void make_port(Netlink& nl, const hcn::HostComputeEndpoint& e, const hcn::HostComputeNetwork& net, bool tap) {
  const std::string port = names::host_port(e.id), peer = names::peer(e.id);
  for (const auto& name : tap ? std::vector<std::string>{port} : std::vector<std::string>{port, peer})
    if (nl.index(name) != 0)
      throw Error(hr::VmcomputeSystemAlreadyExists, "the interface " + name + " (named from the endpoint ID) exists already");
  if (tap) nl.add_tap(port);
  else nl.add_veth(port, peer);
  try {
    if (!tap) nl.set_mac(peer, e.mac_address);
    // The alias goes with the peer into a namespace, where it finds the interface again.
    if (!tap) nl.set_alias(peer, e.id);
    nl.set_master(port, names::bridge(net.id));
    nl.set_up(port);
  } catch (...) {
    nl.remove(port);
    throw;
  }
}


// Taking a NIC's tap from under a running QEMU would leave the guest's NIC dead.
void check_vm_gone(state::Store& store, const hcn::HostComputeEndpoint& e) {
  const std::string vm = attached_vm(e);
  if (!vm.empty() && state::valid_id(vm) && store.alive("vm", vm))
    throw Error(hr::VmcomputeInvalidState, "the endpoint " + e.id + " is a NIC of the running VM " + vm +
                                               ": delete the VM first");
}

// The namespace's resolv.conf, which `ip netns exec` bind-mounts over /etc/resolv.conf,
// from the endpoint's DNS settings.
void write_namespace_dns(const hcn::Dns& dns, const std::string& ns_name) {
  if (dns.server_list.empty()) return;
  std::vector<std::string> search = dns.search;
  if (!dns.domain.empty()) search.insert(search.begin(), dns.domain);
  write_resolv_conf(netns_resolv_conf("/etc", ns_name), "# written by hcskit for the HCN namespace's first endpoint\n" +
                                                            resolv_conf(search, dns.server_list, dns.options));
}

// Moves the endpoint's peer into the namespace and configures it there.
void plumb_into(const hcn::HostComputeNetwork& net, const hcn::HostComputeEndpoint& e, const std::string& ns_name,
                bool first_in_namespace) {
  UniqueFd target = netns::open(ns_name);
  Netlink host;
  host.move_to(names::peer(e.id), target.get());
  netns::Scope inside(target.get());
  Netlink nl;
  const std::string ifname = free_eth_name(nl);
  nl.rename(names::peer(e.id), ifname);
  const auto& ip = e.ip_configurations.at(0);
  nl.add_address(ifname, ipv4_or_throw(ip.ip_address, "endpoint address"), ip.prefix_length);
  nl.set_up(ifname);
  for (const auto& r : e.routes) {
    const Prefix dst = Prefix::parse(r.destination_prefix.empty() ? "0.0.0.0/0" : r.destination_prefix);
    nl.add_route(ifname, dst.network, dst.length, r.next_hop.empty() ? 0 : ipv4_or_throw(r.next_hop, "NextHop"),
                 uint32_t(r.metric));
  }
  // The default route through the gateway of the endpoint's subnet, unless the endpoint
  // brings its own or another endpoint of the namespace already gave one.
  const bool own_default = std::any_of(e.routes.begin(), e.routes.end(), [](const auto& r) {
    return r.destination_prefix.empty() || r.destination_prefix == "0.0.0.0/0";
  });
  if (first_in_namespace && !own_default)
    if (auto gw = gateway_for(net, ipv4_or_throw(ip.ip_address, "endpoint address"))) nl.add_route(ifname, 0, 0, *gw, 0);
  if (first_in_namespace) write_namespace_dns(e.dns, ns_name);
}

// Brings the peer back to the host namespace under its parking name; addresses and
// routes go with the move. A namespace or interface already gone is not an error.
void unplumb_from(const hcn::HostComputeEndpoint& e, const std::string& ns_name) {
  if (!netns::exists(ns_name)) return;
  UniqueFd target = netns::open(ns_name);
  UniqueFd home(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!home) throw_errno("open this thread's network namespace");
  netns::Scope inside(target.get());
  Netlink nl;
  const std::string ifname = interface_in(nl, e.id);
  if (ifname.empty()) return;
  nl.set_down(ifname);
  nl.rename(ifname, names::peer(e.id));
  nl.move_to(names::peer(e.id), home.get());
}

}  // namespace

Hcn::Hcn(std::string state_root) : store_(state_root.empty() ? state::default_root() : std::move(state_root)) {}

// --- networks ------------------------------------------------------------------------

hcn::HostComputeNetwork Hcn::create_network(hcn::HostComputeNetwork n) {
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  n = registry.create_network(std::move(n));
  Undo forget([&] { registry.delete_network(n.id); });
  const std::string br = names::bridge(n.id);
  Netlink nl;
  if (nl.index(br) != 0)
    throw Error(hr::VmcomputeSystemAlreadyExists, "the interface " + br + " (named from the network ID) exists already");
  nl.add_bridge(br);
  Undo unbridge([&] { nl.remove(br); });
  for (const auto& g : gateways(n)) nl.add_address(br, g.address, g.subnet.length);
  nl.set_up(br);
  if (n.type == hcn::network_type::NAT || n.type == hcn::network_type::ICS) enable_forwarding();
  Undo unrule([&] { nftables::run(network_ruleset_removal(n.id)); });
  apply_network_rules(registry, n);
  unrule.dismiss();
  unbridge.dismiss();
  forget.dismiss();
  spdlog::debug("hcn: network {} ({}) is bridge {}", n.id, n.name, br);
  return n;
}

std::vector<hcn::HostComputeNetwork> Hcn::networks() const { return Registry(store_).networks(); }

hcn::HostComputeNetwork Hcn::network(const std::string& key) const { return Registry(store_).network(key); }

void Hcn::delete_network(const std::string& key) {
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  const auto n = registry.network(key);
  registry.check_network_deletable(n.id);
  nftables::run(network_ruleset_removal(n.id));
  Netlink().remove(names::bridge(n.id));
  registry.delete_network(n.id);
}

// --- endpoints -----------------------------------------------------------------------

hcn::HostComputeEndpoint Hcn::create_endpoint(hcn::HostComputeEndpoint e) {
  check_endpoint_policies(e.policies);
  const std::string ns_id = e.host_compute_namespace;
  e.host_compute_namespace.clear();  // recorded by the attach below
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  if (!ns_id.empty()) registry.namespace_(ns_id);  // ErrNotFound before anything is made
  if (e.dns.server_list.empty() && e.dns.domain.empty()) e.dns = registry.network(e.host_compute_network).dns;
  e = registry.create_endpoint(std::move(e));
  Undo forget([&] { registry.delete_endpoint(e.id); });
  const auto net = registry.network(e.host_compute_network);
  Netlink nl;
  const std::string port = names::host_port(e.id);
  make_port(nl, e, net, /*tap=*/false);
  Undo unlink([&] { nl.remove(port); });
  apply_network_rules(registry, net);  // one transaction: on failure the old rules stay
  unlink.dismiss();
  forget.dismiss();
  lock.unlock();
  if (!ns_id.empty()) {
    try {
      add_namespace_endpoint(ns_id, e.id);
    } catch (...) {
      delete_endpoint(e.id);
      throw;
    }
    e = endpoint(e.id);
  }
  return e;
}

std::vector<hcn::HostComputeEndpoint> Hcn::endpoints(const std::string& network) const {
  Registry registry(store_);
  return registry.endpoints(network.empty() ? "" : registry.network(network).id);
}

hcn::HostComputeEndpoint Hcn::endpoint(const std::string& key) const { return Registry(store_).endpoint(key); }

void Hcn::delete_endpoint(const std::string& key) {
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  const auto e = registry.endpoint(key);
  registry.check_endpoint_deletable(e.id);
  check_vm_gone(store_, e);
  // The rules go first (one transaction): a failure leaves the endpoint whole.
  const auto net = registry.network(e.host_compute_network);
  auto others = registry.endpoints(net.id);
  std::erase_if(others, [&](const auto& o) { return o.id == e.id; });
  nftables::run(network_ruleset(net, others));
  if (!e.host_compute_namespace.empty()) {
    // Detach from the record too, so the namespace can be deleted afterwards.
    try {
      auto ns = registry.namespace_(e.host_compute_namespace);
      forget_member(ns, e.id);
      registry.update_namespace(ns);
    } catch (const Error& err) {
      if (err.code() != hr::ErrNotFound) throw;
    }
  }
  // Removing the host end removes the pair, wherever the peer is.
  Netlink().remove(names::host_port(e.id));
  registry.delete_endpoint(e.id);
}

hcn::HostComputeEndpoint Hcn::modify_endpoint_policies(const std::string& key, const std::string& request_type,
                                                       const std::vector<hcn::Policy>& policies) {
  check_endpoint_policies(policies);
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  auto e = registry.endpoint(key);
  const auto before = e;
  if (request_type == "Add") {
    e.policies.insert(e.policies.end(), policies.begin(), policies.end());
  } else if (request_type == "Remove") {
    for (const auto& p : policies) {
      auto it = std::find(e.policies.begin(), e.policies.end(), p);
      if (it == e.policies.end())
        throw Error(hr::ErrNotFound, "the endpoint " + e.id + " has no such " + p.type + " policy");
      e.policies.erase(it);
    }
  } else if (request_type == "Update") {
    e.policies = policies;
  } else {
    throw Error(hr::ErrInvalidArg, "policy request type '" + request_type + "' is not Add, Remove or Update");
  }
  const auto net = registry.network(e.host_compute_network);
  registry.update_endpoint(e);
  Undo restore([&] { registry.update_endpoint(before); });
  apply_network_rules(registry, net);
  restore.dismiss();
  return e;
}

// --- namespaces ----------------------------------------------------------------------

hcn::HostComputeNamespace Hcn::create_namespace(hcn::HostComputeNamespace ns) {
  if (ns.type.empty()) ns.type = hcn::namespace_type::Host;
  if (!hcn::is_guest(ns) && ns.type != hcn::namespace_type::Host && ns.type != hcn::namespace_type::HostDefault)
    throw Error(hr::ErrInvalidArg, "unknown namespace type '" + ns.type + "' (Host, HostDefault, Guest, GuestDefault)");
  if (!ns.resources.empty()) throw Error(hr::ErrInvalidArg, "a new namespace starts empty: add endpoints to it afterwards");
  if (ns.id.empty()) ns.id = Guid::random().str();
  state::check_id(ns.id, "namespace ID");
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  // IDs differing only in case would be one namespace in a guest (and on Windows).
  for (const auto& other : registry.namespaces())
    if (names::fold_case(other.id) == names::fold_case(ns.id))
      throw Error(hr::VmcomputeSystemAlreadyExists, "a namespace with ID " + other.id + " exists");
  // A Guest namespace is only a record here: the gcs of the VM that takes its endpoints
  // as NICs makes the network namespace (hcsshim.md §7.4).
  if (hcn::is_guest(ns)) return registry.create_namespace(std::move(ns));
  const std::string name = names::netns(ns.id);
  netns::create(name);
  Undo unmake([&] { netns::remove(name); });
  ns.namespace_id = netns::inode(name);
  ns = registry.create_namespace(std::move(ns));
  unmake.dismiss();
  return ns;
}

std::vector<hcn::HostComputeNamespace> Hcn::namespaces() const { return Registry(store_).namespaces(); }

hcn::HostComputeNamespace Hcn::namespace_(const std::string& id) const { return Registry(store_).namespace_(id); }

void Hcn::delete_namespace(const std::string& id) {
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  const auto ns = registry.namespace_(id);
  registry.check_namespace_deletable(ns.id);
  if (!hcn::is_guest(ns)) {
    netns::remove(names::netns(ns.id));
    remove_netns_resolv_conf("/etc", names::netns(ns.id));
  }
  registry.delete_namespace(ns.id);
}

void Hcn::add_namespace_endpoint(const std::string& namespace_id, const std::string& key) {
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  auto ns = registry.namespace_(namespace_id);
  auto e = registry.endpoint(key);
  if (!e.host_compute_namespace.empty())
    throw Error(hr::VmcomputeInvalidState, "the endpoint " + e.id + " is in the namespace " +
                                               e.host_compute_namespace + " already");
  if (const auto vm = attached_vm(e); !vm.empty())
    throw Error(hr::VmcomputeInvalidState, "the endpoint " + e.id + " belongs to the VM " + vm);
  if (hcn::is_guest(ns)) return join(registry, ns, e);  // the VM it goes to configures it
  const auto net = registry.network(e.host_compute_network);
  const bool first = std::none_of(ns.resources.begin(), ns.resources.end(),
                                  [](const auto& r) { return r.type == "Endpoint"; });
  try {
    plumb_into(net, e, names::netns(ns.id), first);
  } catch (...) {
    unplumb_from(e, names::netns(ns.id));  // the peer comes home, bare
    throw;
  }
  join(registry, ns, e);
}

void Hcn::remove_namespace_endpoint(const std::string& namespace_id, const std::string& key) {
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  auto ns = registry.namespace_(namespace_id);
  auto e = registry.endpoint(key);
  if (e.host_compute_namespace != ns.id || !attached(ns, e.id))
    throw Error(hr::ErrNotFound, "the endpoint " + e.id + " is not in the namespace " + ns.id);
  if (hcn::is_guest(ns)) {
    // Its VM's guest has the NIC in this namespace: the NIC goes with the VM.
    if (const auto vm = attached_vm(e); !vm.empty())
      throw Error(hr::VmcomputeInvalidState, "the endpoint " + e.id + " is a NIC of the VM " + vm + ": delete the VM first");
  } else {
    unplumb_from(e, names::netns(ns.id));
  }
  e.host_compute_namespace.clear();
  registry.update_endpoint(e);
  forget_member(ns, e.id);
  registry.update_namespace(ns);
}

std::string Hcn::netns_path(const std::string& namespace_id) const {
  const auto ns = namespace_(namespace_id);
  if (hcn::is_guest(ns))
    throw Error(hr::ErrInvalidArg, "the namespace " + ns.id + " is a " + ns.type +
                                       " namespace: it exists inside the utility VM its endpoints are NICs of");
  return netns::path(names::netns(ns.id));
}

// --- utility VMs -----------------------------------------------------------------------

hcn::HostComputeEndpoint Hcn::attach_to_vm(const std::string& key, const std::string& vm_id) {
  state::check_id(vm_id, "VM ID");
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  auto e = registry.endpoint(key);
  if (!e.host_compute_namespace.empty() && !hcn::is_guest(registry.namespace_(e.host_compute_namespace)))
    throw Error(hr::VmcomputeInvalidState, "the endpoint " + e.id + " is in the host namespace " + e.host_compute_namespace);
  if (const auto vm = attached_vm(e); !vm.empty())
    throw Error(hr::VmcomputeInvalidState, "the endpoint " + e.id + " belongs to the VM " + vm + " already");
  const auto net = registry.network(e.host_compute_network);
  Netlink nl;
  nl.remove(names::host_port(e.id));  // the veth pair
  try {
    make_port(nl, e, net, /*tap=*/true);
  } catch (...) {
    make_port(nl, e, net, /*tap=*/false);
    throw;
  }
  set_attached_vm(e, vm_id);
  registry.update_endpoint(e);
  return e;
}

void Hcn::detach_from_vm(const std::string& key) {
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  auto e = registry.endpoint(key);
  if (attached_vm(e).empty()) throw Error(hr::VmcomputeInvalidState, "the endpoint " + e.id + " belongs to no VM");
  check_vm_gone(store_, e);
  Netlink nl;
  nl.remove(names::host_port(e.id));  // the tap
  make_port(nl, e, registry.network(e.host_compute_network), /*tap=*/false);
  set_attached_vm(e, "");
  registry.update_endpoint(e);
}

std::vector<hcn::HostComputeEndpoint> Hcn::vm_endpoints(const std::string& vm_id) const {
  auto all = Registry(store_).endpoints();
  std::erase_if(all, [&](const auto& e) { return attached_vm(e) != vm_id; });
  return all;
}

// --- load balancers ------------------------------------------------------------------

hcn::HostComputeLoadBalancer Hcn::create_load_balancer(hcn::HostComputeLoadBalancer lb) {
  check_load_balancer(lb);
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  lb = registry.create_load_balancer(std::move(lb));
  Undo forget([&] {
    registry.delete_load_balancer(lb.id);
    apply_load_balancer_rules(registry);
  });
  apply_load_balancer_rules(registry);
  forget.dismiss();
  return lb;
}

std::vector<hcn::HostComputeLoadBalancer> Hcn::load_balancers() const { return Registry(store_).load_balancers(); }

hcn::HostComputeLoadBalancer Hcn::load_balancer(const std::string& id) const {
  return Registry(store_).load_balancer(id);
}

void Hcn::delete_load_balancer(const std::string& id) {
  auto lock = store_.lock(kHostLock);
  Registry registry(store_);
  registry.delete_load_balancer(registry.load_balancer(id).id);
  apply_load_balancer_rules(registry);
}

// --- features ------------------------------------------------------------------------

Json Hcn::features() const {
  return Json{{"Version", Json{{"Major", 0}, {"Minor", 1}}},
              {"SupportedFeatures",
               Json{{"ACL", Json{{"AclAddressLists", true}, {"AclHostRulePriority", true},
                                 {"AclPortRanges", true}, {"AclRuleId", false}}},
                    {"API", Json{{"V1", false}, {"V2", true}}},
                    {"RemoteSubnet", false},
                    {"HostRoute", false},
                    {"DSR", false},
                    {"Slash32EndpointPrefixes", true},
                    {"AclSupportForProtocol252", false},
                    {"SessionAffinity", true},
                    {"IPv6DualStack", false},
                    {"SetPolicy", false},
                    {"VxlanPort", false},
                    {"L4Proxy", false},
                    {"L4WfpProxy", false},
                    {"TierAcl", false},
                    {"NetworkACL", false},
                    {"NestedIpSet", false},
                    {"DisableHostPort", false},
                    {"ModifyLoadbalancer", false},
                    {"Accelnet", false}}}};
}

}  // namespace hcs::network
