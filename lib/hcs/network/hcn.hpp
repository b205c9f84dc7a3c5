// network/hcn: the HCN API (computenetwork.dll's operations, hcsshim.md §4.1) on this
// host: networks, endpoints, namespaces, policies and load balancers as HCN v2
// documents. Programs call only this; the backend makes the objects real — on Linux
// (linux/hcn.cpp) a bridge per network, a veth pair per endpoint, a named network
// namespace per namespace and nftables rules, recorded under the state root; on
// Windows it will be computenetwork.dll behind the same class.
//
// Every call is one critical section across processes: concurrent tools never see a
// half-made object, and an operation that fails undoes what it did.
#pragma once

#include <string>
#include <vector>

#include "hcs/core/json.hpp"
#include "hcs/schema/network.hpp"
#include "hcs/state/store.hpp"

namespace hcs::network {

class Hcn {
 public:
  explicit Hcn(std::string state_root);

  // Networks: by ID or name. Delete refuses while endpoints remain.
  schema::hcn::HostComputeNetwork create_network(schema::hcn::HostComputeNetwork network);
  std::vector<schema::hcn::HostComputeNetwork> networks() const;
  schema::hcn::HostComputeNetwork network(const std::string& id_or_name) const;
  void delete_network(const std::string& id_or_name);

  // Endpoints: an address from the network (or the one asked for), a MAC, the network's
  // DNS settings unless it brings its own, the policies (checked before anything is made). A HostComputeNamespace in the document attaches
  // it at once. Delete detaches it first; it refuses while a load balancer uses it.
  schema::hcn::HostComputeEndpoint create_endpoint(schema::hcn::HostComputeEndpoint endpoint);
  std::vector<schema::hcn::HostComputeEndpoint> endpoints(const std::string& network = "") const;
  schema::hcn::HostComputeEndpoint endpoint(const std::string& id_or_name) const;
  void delete_endpoint(const std::string& id_or_name);
  // ApplyPolicy: "Add" appends policies, "Remove" drops equal ones, "Update" replaces
  // them all. The rules change in one transaction, or not at all.
  schema::hcn::HostComputeEndpoint modify_endpoint_policies(const std::string& id_or_name,
                                                            const std::string& request_type,
                                                            const std::vector<schema::hcn::Policy>& policies);

  // Namespaces: a Host namespace is a network namespace on this host (see netns_path); a
  // Guest one is a record, made real inside the utility VM that takes its endpoints as
  // NICs. Delete refuses while endpoints are attached.
  schema::hcn::HostComputeNamespace create_namespace(schema::hcn::HostComputeNamespace ns);
  std::vector<schema::hcn::HostComputeNamespace> namespaces() const;
  schema::hcn::HostComputeNamespace namespace_(const std::string& id) const;
  void delete_namespace(const std::string& id);
  // Moves the endpoint's interface into the namespace (as eth0, eth1, ...) with its
  // address, MAC, routes and a default route through the gateway, and writes the first
  // endpoint's DNS settings to /etc/netns/<name>/resolv.conf (where `ip netns exec`
  // finds them); and back out.
  void add_namespace_endpoint(const std::string& namespace_id, const std::string& endpoint);
  void remove_namespace_endpoint(const std::string& namespace_id, const std::string& endpoint);
  // Where a runtime finds a Host namespace (an OCI linux.namespaces path).
  std::string netns_path(const std::string& namespace_id) const;

  // Hands an endpoint (in no namespace, or in a Guest one) to a utility VM: its veth pair gives way to a
  // persistent tap device of the same host-side name on the same bridge, so that its
  // rules still apply, and QEMU opens the tap by that name. The endpoint records the VM
  // in Health.Extra.VirtualMachine. Returns the endpoint as recorded.
  schema::hcn::HostComputeEndpoint attach_to_vm(const std::string& endpoint, const std::string& vm_id);
  // Gives it back: the tap goes, the veth pair returns. An endpoint of no VM is refused.
  void detach_from_vm(const std::string& endpoint);
  // The endpoints attached to a VM.
  std::vector<schema::hcn::HostComputeEndpoint> vm_endpoints(const std::string& vm_id) const;

  schema::hcn::HostComputeLoadBalancer create_load_balancer(schema::hcn::HostComputeLoadBalancer balancer);
  std::vector<schema::hcn::HostComputeLoadBalancer> load_balancers() const;
  schema::hcn::HostComputeLoadBalancer load_balancer(const std::string& id) const;
  void delete_load_balancer(const std::string& id);

  // {"Version": {...}, "SupportedFeatures": {...}} with hcsshim.md §4.4's keys, true
  // for what this host applies.
  Json features() const;

 private:
  mutable state::Store store_;
};

}  // namespace hcs::network
