// network/registry: HCN networks, endpoints, namespaces and load balancers as records
// under the state root (unowned records of kinds "network", "endpoint", "namespace"
// and "loadbalancer": they live on with no process behind them). Every change happens under one cross-process lock, so that subnets of
// two networks never overlap and no address is handed out twice, however many tools
// run at once. The registry validates and records; making the kernel objects is the
// backend's job.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "hcs/schema/network.hpp"
#include "hcs/state/store.hpp"

namespace hcs::network {

class Registry {
 public:
  explicit Registry(state::Store& store) : store_(store) {}

  // Records a network: a type with a meaning on Linux (NAT, ICS, Transparent,
  // L2Bridge, Private), IPv4 subnets that overlap neither each other nor another
  // network's, a name no other network has. Assigns the ID when empty. Throws
  // hcs::Error (ErrInvalidArg, NotImpl, VmcomputeSystemAlreadyExists) naming the problem.
  schema::hcn::HostComputeNetwork create_network(schema::hcn::HostComputeNetwork network);
  std::vector<schema::hcn::HostComputeNetwork> networks() const;
  // By ID or by name; hr::ErrNotFound naming what was asked for.
  schema::hcn::HostComputeNetwork network(const std::string& id_or_name) const;
  // Refuses (VmcomputeInvalidState) while endpoints of the network exist.
  void delete_network(const std::string& id);
  // What delete_network would refuse, checked without deleting (a backend removes its
  // kernel objects between the check and the delete).
  void check_network_deletable(const std::string& id) const;

  // Records an endpoint of `network`: the address it asks for (checked), or the
  // lowest free one of the network's first subnet; the prefix length and a MAC
  // address are filled in. Throws ErrInvalidArg for an address outside the subnet,
  // reserved or taken.
  schema::hcn::HostComputeEndpoint create_endpoint(schema::hcn::HostComputeEndpoint endpoint);
  std::vector<schema::hcn::HostComputeEndpoint> endpoints(const std::string& network_id = "") const;
  schema::hcn::HostComputeEndpoint endpoint(const std::string& id_or_name) const;
  // Replaces a recorded endpoint (its policies, its namespace); the ID must exist.
  void update_endpoint(const schema::hcn::HostComputeEndpoint& endpoint);
  // Refuses (VmcomputeInvalidState) while a load balancer names the endpoint.
  void delete_endpoint(const std::string& id);
  void check_endpoint_deletable(const std::string& id) const;

  // Records a namespace (its ID and NamespaceId already chosen by the backend).
  schema::hcn::HostComputeNamespace create_namespace(schema::hcn::HostComputeNamespace ns);
  std::vector<schema::hcn::HostComputeNamespace> namespaces() const;
  schema::hcn::HostComputeNamespace namespace_(const std::string& id) const;
  void update_namespace(const schema::hcn::HostComputeNamespace& ns);
  // Refuses (VmcomputeInvalidState) while endpoints are attached.
  void delete_namespace(const std::string& id);
  void check_namespace_deletable(const std::string& id) const;

  // Records a load balancer whose endpoints all exist; assigns the ID when empty.
  schema::hcn::HostComputeLoadBalancer create_load_balancer(schema::hcn::HostComputeLoadBalancer balancer);
  std::vector<schema::hcn::HostComputeLoadBalancer> load_balancers() const;
  schema::hcn::HostComputeLoadBalancer load_balancer(const std::string& id) const;
  void delete_load_balancer(const std::string& id);

 private:
  state::Store& store_;
};

// The utility VM that has the endpoint as a NIC ("" if none). HCN records it in the
// endpoint's Health.Extra.VirtualMachine; set_attached_vm("") clears it.
std::string attached_vm(const schema::hcn::HostComputeEndpoint& endpoint);
void set_attached_vm(schema::hcn::HostComputeEndpoint& endpoint, const std::string& vm_id);

// Network types HNS has that mean nothing on a Linux host (NotImpl), and the others.
bool linux_network_type(const std::string& type);

}  // namespace hcs::network
