// vmhost: the owner of a long-lived utility VM on a Linux host (hcsshim's HCS does
// this on Windows), run as its own small static program, hcs-vmhost (tools/hcs-vmhost), so
// that a VM's owner keeps only what it uses in memory. `uvmctl create` spawns it
// detached; it is QEMU's parent, holds the
// bridge to the gcs, keeps the VM's state record, and serves the compute service
// (lib/proto/compute.proto) on <vm dir>/compute.sock for later commands.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "hcs/uvm/network.hpp"
#include "hcs/uvm/options.hpp"

namespace hcs::uvm {

struct CreateVmOptions {
  Options vm;
  Accel accel = Accel::Auto;
  std::string state_root;
  std::string qemu = "qemu-system-x86_64";
  std::chrono::milliseconds boot_timeout = std::chrono::seconds(60);
  bool start = true;     // boot now; else the VM waits for Start
  // The owner program, run as `<vmhost> --root R --id ID`. Empty: $HCSKIT_VMHOST, else
  // hcs-vmhost found beside the running program (see find_companion).
  std::string vmhost;
  // HCN endpoints (recorded under the same state root) that become the VM's NICs: each
  // is handed to the VM before QEMU starts, and the guest configures it before create
  // returns. They come back on release_endpoints (uvm/network).
  VmNetwork network;
};

// Records the VM, starts its vmhost and waits until it has booted the VM to a connected
// gcs (or, without `start`, until it serves). Returns the VM's id. Throws with the
// vmhost's reason (e.g. a boot that never reached the gcs, with the console's tail).
std::string create_vm(const CreateVmOptions& options);

// The vmhost itself: takes over the owner lock at fd 3 and reports readiness on fd 4.
// Returns its exit code.
int run_vmhost(const std::string& state_root, const std::string& id);

}  // namespace hcs::uvm
