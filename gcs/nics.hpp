// gcs/nics: the utility VM's network adapters, configured as the host's `Network`
// requests say (hcsshim.md §2.9): the NIC with the request's MAC gets its addresses,
// routes, MTU (less the encapsulation overhead) and the DNS settings; Remove takes
// them away again. NICs stay in the VM's own network namespace, which its processes
// and containers share.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "hcs/schema/bridge.hpp"
#include "hcs/schema/guest_resource.hpp"

namespace gcs {

struct NicOptions {
  std::filesystem::path resolv_conf = "/etc/resolv.conf";
};

class Nics {
 public:
  explicit Nics(NicOptions options) : options_(std::move(options)) {}
  // Add or Remove of a `Network` resource; throws hcs::Error (ErrNotFound for a MAC no
  // NIC has, VmcomputeSystemAlreadyExists for an ID added twice).
  void modify(const hcs::schema::ModificationRequest& request);

 private:
  void add(const hcs::schema::LcowNetworkAdapter& adapter);
  void remove(const hcs::schema::LcowNetworkAdapter& adapter);
  void write_resolv_conf(const hcs::schema::LcowNetworkAdapter& adapter) const;

  NicOptions options_;
  std::map<std::string, hcs::schema::LcowNetworkAdapter> adapters_;  // by ID
};

}  // namespace gcs
