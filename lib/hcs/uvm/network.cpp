#include "hcs/uvm/network.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "hcs/core/error.hpp"
#include "hcs/core/guid.hpp"
#include "hcs/network/guest_adapter.hpp"
#include "hcs/network/hcn.hpp"
#include "hcs/network/registry.hpp"

namespace hcs::uvm {

namespace {

// The endpoint IDs, in order, each once.
std::vector<std::string> endpoints_of(const network::Hcn& hcn, const VmNetwork& net) {
  std::vector<std::string> out;
  auto add = [&](const std::string& id) {
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  };
  for (const auto& key : net.endpoints) add(hcn.endpoint(key).id);
  if (net.network_namespace.empty()) return out;
  std::vector<std::string> members;
  for (const auto& r : hcn.namespace_(net.network_namespace).resources)
    if (r.type == "Endpoint" && r.data.is_object() && r.data.value("ID", Json()).is_string())
      members.push_back(r.data["ID"].get<std::string>());
  if (members.empty())
    throw Error(hr::ErrInvalidArg, "the namespace " + net.network_namespace + " holds no endpoints");
  std::sort(members.begin(), members.end());
  for (const auto& id : members) add(id);
  return out;
}

// A fresh NIC ID whose first group is `index`: the document keeps NICs sorted by ID,
// so QEMU's devices and the guest's requests follow the order the endpoints came in.
std::string nic_id(size_t index) {
  std::string id = Guid::random().str();
  char head[9];
  std::snprintf(head, sizeof head, "%08zx", index);
  return id.replace(0, 8, head);
}

}  // namespace

void attach_endpoints(const std::string& state_root, const VmNetwork& net, Options& vm) {
  if (net.empty()) return;
  network::Hcn hcn(state_root);
  // Each endpoint's tap must exist, on its bridge, before QEMU opens it. On failure the
  // caller gives back those attached, once the VM's record is gone.
  for (const auto& id : endpoints_of(hcn, net)) {
    const auto e = hcn.attach_to_vm(id, vm.id);
    vm.network_adapters[nic_id(vm.network_adapters.size())] = schema::NetworkAdapter{e.id, e.mac_address, {}};
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

void release_endpoints_quietly(const std::string& state_root, const std::string& vm_id) noexcept {
  try {
    release_endpoints(state_root, vm_id);
  } catch (const std::exception& e) {
    spdlog::warn("give the endpoints of the VM {} back: {}", vm_id, e.what());
  }
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

void configure_nics(state::Store& store, std::shared_ptr<bridge::GuestConnection> guest,
                    const std::map<std::string, schema::NetworkAdapter>& nics,
                    std::function<void(std::optional<Error>)> done, size_t next) {
  if (next >= nics.size()) return done(std::nullopt);
  const auto it = std::next(nics.begin(), std::ptrdiff_t(next));
  schema::ModificationRequest req;
  try {
    req = nic_request(store, it->first, it->second);
  } catch (const Error& e) {
    return done(e.wrapped("configure the network adapter " + it->first));
  }
  // `nics` outlives the chain: it is the document of the VM being booted.
  guest->async_modify(std::move(req), [&store, guest, &nics, done = std::move(done), next,
                                       id = it->first](Result<void> r) mutable {
    if (!r.ok()) return done(r.error().wrapped("configure the network adapter " + id));
    spdlog::debug("network adapter {} configured", id);
    configure_nics(store, std::move(guest), nics, std::move(done), next + 1);
  });
}

}  // namespace hcs::uvm
