// uvm/network: HCN endpoints as a utility VM's NICs (hcsshim.md §4.6). Before QEMU
// starts, each endpoint is handed to the VM (its veth gives way to a tap) and becomes
// an entry of Devices.NetworkAdapters; once the gcs is up, each NIC's guest request
// carries the endpoint's addresses, routes, DNS and HCN namespace; when the VM is gone
// the endpoints go back to their networks. `uvmctl create` (through its vmhost) and
// `uvmctl run` share this.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hcs/bridge/guest_connection.hpp"
#include "hcs/core/error.hpp"
#include "hcs/schema/guest_resource.hpp"
#include "hcs/state/store.hpp"
#include "hcs/uvm/options.hpp"

namespace hcs::uvm {

// The endpoints a VM takes: those named (IDs or names), then every endpoint of an HCN
// namespace, sorted by ID as hcsshim gives a pod's endpoints to its VM. The guest puts
// the NICs of an endpoint in a Guest namespace into a network namespace of that ID.
struct VmNetwork {
  std::vector<std::string> endpoints;
  std::string network_namespace;
  bool empty() const noexcept { return endpoints.empty() && network_namespace.empty(); }
};

// Attaches them all to vm.id and adds their NICs to vm.network_adapters, in order. On
// failure those attached stay so until release_endpoints, which only works once the
// VM's record is gone (a VM that is alive keeps its NICs).
void attach_endpoints(const std::string& state_root, const VmNetwork& network, Options& vm);

// Gives a VM's endpoints back to their networks (after the VM is gone): each gets its
// veth pair again. Endpoints of no such VM: nothing to do. Tries every one; throws the
// first failure.
void release_endpoints(const std::string& state_root, const std::string& vm_id);
// The same after a failure: logs instead of throwing, so that the first error is the
// one reported.
void release_endpoints_quietly(const std::string& state_root, const std::string& vm_id) noexcept;

// The guest's `Network` Add for one NIC, built from its endpoint's HCN records.
schema::ModificationRequest nic_request(state::Store& store, const std::string& nic_id,
                                        const schema::NetworkAdapter& nic);
// Sends the guest each NIC's request, one after the other, then calls done (with the
// first failure, if any). `store` and `nics` must outlive the chain.
void configure_nics(state::Store& store, std::shared_ptr<bridge::GuestConnection> guest,
                    const std::map<std::string, schema::NetworkAdapter>& nics,
                    std::function<void(std::optional<Error>)> done, size_t next = 0);

}  // namespace hcs::uvm
