#include "hcs/uvm/network.hpp"

#include <algorithm>
#include <optional>

#include "hcs/core/error.hpp"
#include "hcs/core/guid.hpp"
#include "hcs/network/guest_adapter.hpp"
#include "hcs/network/hcn.hpp"
#include "hcs/network/registry.hpp"

namespace hcs::uvm {

namespace {

std::vector<std::string> endpoints_of(const network::Hcn& hcn, const VmNetwork& net) {
  std::vector<std::string> out = net.endpoints;
  if (net.network_namespace.empty()) return out;
  std::vector<std::string> members;
  for (const auto& r : hcn.namespace_(net.network_namespace).resources)
    if (r.type == "Endpoint" && r.data.is_object() && r.data.value("ID", Json()).is_string())
      members.push_back(r.data["ID"].get<std::string>());
  if (members.empty())
    throw Error(hr::ErrInvalidArg, "the namespace " + net.network_namespace + " holds no endpoints");
  std::sort(members.begin(), members.end());
  out.insert(out.end(), members.begin(), members.end());
  return out;
}

}  // namespace

void attach_endpoints(const std::string& state_root, const VmNetwork& net, Options& vm) {
  if (net.empty()) return;
  network::Hcn hcn(state_root);
  const auto keys = endpoints_of(hcn, net);
  try {
    // Each endpoint's tap must exist, on its bridge, before QEMU opens it.
    for (const auto& key : keys) {
      const auto e = hcn.attach_to_vm(key, vm.id);
      vm.network_adapters[Guid::random().str()] = schema::NetworkAdapter{e.id, e.mac_address, {}};
    }
  } catch (...) {
    release_endpoints(state_root, vm.id);
    throw;
  }
}

void release_endpoints(const std::string& state_root, const std::string& vm_id) {
  network::Hcn hcn(state_root);
  std::optional<Error> first;
  for (const auto& e : hcn.vm_endpoints(vm_id)) {
    try {
      hcn.detach_from_vm(e.id);
    } catch (const Error& err) {  // the others still go back
      if (!first) first = err;
    }
  }
  if (first) throw *first;
}

schema::ModificationRequest nic_request(state::Store& store, const std::string& nic_id,
                                        const schema::NetworkAdapter& nic) {
  network::Registry registry(store);
  const auto e = registry.endpoint(nic.endpoint_id);
  schema::ModificationRequest req;
  req.resource_type = std::string(schema::resource_type::Network);
  req.request_type = std::string(schema::request_type::Add);
  req.settings = Json(network::guest_adapter(e, registry.network(e.host_compute_network), nic_id,
                                             e.host_compute_namespace));
  return req;
}

}  // namespace hcs::uvm
