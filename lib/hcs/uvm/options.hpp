// A utility VM's options and the HCS VirtualMachine document they become (hcsshim's
// uvm.Options / OptionsLCOW and MakeLCOWDoc, schema 2.1). The document is what every
// backend consumes: uvm/qemu turns it into a QEMU command line on a Linux host.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hcs/schema/virtual_machine.hpp"

namespace hcs::uvm {

enum class Accel { Auto, Kvm, Tcg };
Accel parse_accel(const std::string& text);  // auto|kvm|tcg; throws ErrInvalidArg
const char* accel_name(Accel a);

// The virtio-serial port the gcs dials the host over (carrying mux ports).
inline constexpr const char* kGcsPortName = "gcs";
// The mount tag of the one 9p device every VM gets at boot for shares added later:
// virtio-mmio has no hot-plug, so the owner bind-mounts a hot-added share's directory
// under this device's root and the guest binds <root>/<share name> to its mount path.
inline constexpr const char* kPlan9StagingTag = "hcskit-plan9";

struct Options {
  std::string id;
  std::string owner = "uvmctl";
  uint64_t memory_mb = 1024;     // hcsshim's default; rounded up to an even number
  uint32_t cpus = 2;             // clamped to the host's processors
  std::string boot_files_dir;    // holds vmlinux and initrd.img
  std::string kernel, initrd;    // override the boot files
  std::string kernel_args;       // extra kernel command line (KernelBootOptions)
  std::vector<std::string> gcs_args;  // extra arguments to the gcs
  std::string gcs_log_level = "debug";
  std::string console_log;       // where the serial console goes (ComPorts "0")
  uint32_t scsi_controllers = 1; // 1..4
  // NICs present from boot (microvm has no hot-plug), keyed by NIC ID: each is the HCN
  // endpoint's tap device (network::Hcn::attach_to_vm made it) behind a virtio-net NIC.
  std::map<std::string, schema::NetworkAdapter> network_adapters;
};

// Throws hcs::Error(ErrInvalidArg) naming the bad option.
void validate(const Options& options);

// The kernel command line: hcsshim's order, with init's arguments after " -- ".
std::string kernel_command_line(const Options& options);

// MakeLCOWDoc for a Linux host: kernel-direct boot, SCSI controllers keyed as hcsshim
// keys them, an empty Plan9 device, the console on ComPorts "0".
schema::ComputeSystem make_document(const Options& options);

}  // namespace hcs::uvm
