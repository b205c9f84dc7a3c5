// gcs/nics: the utility VM's network adapters, configured as the host's `Network`
// requests say (hcsshim.md §2.9, §7.4). The NIC with the request's MAC gets its
// addresses, routes, MTU (less the encapsulation overhead) and DNS settings:
//  - with no NamespaceID, in the VM's own network namespace (its /etc/resolv.conf);
//  - with one, in a network namespace kept for that HCN namespace ID (named as the host
//    names its own, /run/netns/hcn-<id>, with /etc/netns/hcn-<id>/resolv.conf), made on
//    its first NIC. A container whose spec names the namespace
//    (windows.network.networkNamespace) joins it and sees that resolv.conf.
// Remove brings the NIC back to the VM's namespace, bare and down; a namespace left with
// no NICs goes as soon as no process is in it either.
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "hcs/core/json.hpp"
#include "hcs/schema/bridge.hpp"
#include "hcs/schema/guest_resource.hpp"

namespace gcs {

struct NicOptions {
  // <etc>/resolv.conf for the VM's namespace, <etc>/netns/<name>/resolv.conf for others.
  std::filesystem::path etc = "/etc";
};

class Nics {
 public:
  explicit Nics(NicOptions options) : options_(std::move(options)) {}
  // Add or Remove of a `Network` resource; throws hcs::Error (ErrNotFound for a MAC no
  // NIC has, VmcomputeSystemAlreadyExists for an ID added twice).
  void modify(const hcs::schema::ModificationRequest& request);

  // Points an OCI spec that names an HCN namespace at that namespace's network
  // namespace here, and mounts its resolv.conf (unless the spec mounts one). Annotation
  // io.microsoft.cri.skip-pod-networking=true tolerates a namespace with no NICs (the
  // container then gets a namespace of its own). Throws ErrNotFound otherwise.
  void join(hcs::Json& spec) const;
  // Removes the network namespaces made here that have no NIC and no process left.
  void prune();

 private:
  struct Adapter {
    hcs::schema::LcowNetworkAdapter settings;
    std::string netns;  // the network namespace's name; empty: the VM's own
  };
  void add(const hcs::schema::LcowNetworkAdapter& adapter);
  void remove(const hcs::schema::LcowNetworkAdapter& adapter);
  std::filesystem::path resolv_conf_of(const std::string& netns) const;
  void forget_netns_if_unused(const std::string& netns);

  NicOptions options_;
  std::map<std::string, Adapter> adapters_;  // by ID
  std::set<std::string> made_;                // the network namespaces made here
};

}  // namespace gcs
