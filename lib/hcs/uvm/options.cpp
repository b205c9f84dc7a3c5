#include "hcs/uvm/options.hpp"

#include <unistd.h>

#include <algorithm>

#include "hcs/core/error.hpp"

namespace hcs::uvm {

Accel parse_accel(const std::string& text) {
  if (text == "auto") return Accel::Auto;
  if (text == "kvm") return Accel::Kvm;
  if (text == "tcg") return Accel::Tcg;
  throw Error(hr::ErrInvalidArg, "unknown acceleration '" + text + "' (auto, kvm or tcg)");
}

const char* accel_name(Accel a) {
  switch (a) {
    case Accel::Kvm: return "kvm";
    case Accel::Tcg: return "tcg";
    default: return "auto";
  }
}

void validate(const Options& o) {
  if (o.memory_mb < 64) throw Error(hr::ErrInvalidArg, "memory must be at least 64 MB, not " + std::to_string(o.memory_mb));
  if (o.cpus == 0) throw Error(hr::ErrInvalidArg, "a VM needs at least one processor");
  if (o.scsi_controllers < 1 || o.scsi_controllers > schema::scsi_controller_keys().size())
    throw Error(hr::ErrInvalidArg, "SCSI controllers must be 1 to 4, not " + std::to_string(o.scsi_controllers));
  if (o.kernel.empty() && o.boot_files_dir.empty()) throw Error(hr::ErrInvalidArg, "no kernel and no boot files directory");
  // The command line is handed to the kernel as it is: keep " -- " ours.
  if (o.kernel_args.find(" -- ") != std::string::npos || o.kernel_args.starts_with("--"))
    throw Error(hr::ErrInvalidArg, "kernel arguments must not contain '--': init's arguments are hcskit's");
}

static uint32_t host_cpus() {
  const long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? uint32_t(n) : 1;
}

std::string kernel_command_line(const Options& o) {
  const uint32_t cpus = std::min(o.cpus, host_cpus());
  std::string line = "panic=-1 quiet";
  if (!o.kernel_args.empty()) line += " " + o.kernel_args;
  line += " nr_cpus=" + std::to_string(cpus);
  line += " -- /bin/gcs --transport mux+virtio-serial:" + std::string(kGcsPortName) +
          " --log-level " + o.gcs_log_level + " --wait-for /run/modules.ready";
  for (const auto& a : o.gcs_args) line += " " + a;
  return line;
}

schema::ComputeSystem make_document(const Options& o) {
  validate(o);
  schema::ComputeSystem doc;
  doc.owner = o.owner;
  doc.schema_version = {2, 1};
  doc.should_terminate_on_last_handle_closed = true;
  auto& vm = doc.virtual_machine.emplace();
  vm.stop_on_reset = true;
  auto& kd = vm.chipset.linux_kernel_direct.emplace();
  kd.kernel_file_path = o.kernel.empty() ? o.boot_files_dir + "/vmlinux" : o.kernel;
  kd.initrd_path = o.initrd.empty() ? o.boot_files_dir + "/initrd.img" : o.initrd;
  kd.kernel_cmd_line = kernel_command_line(o);
  vm.compute_topology.memory.size_in_mb = (o.memory_mb + 1) / 2 * 2;
  vm.compute_topology.memory.allow_overcommit = true;
  vm.compute_topology.processor.count = std::min(o.cpus, host_cpus());
  for (uint32_t i = 0; i < o.scsi_controllers; ++i) vm.devices.scsi[schema::scsi_controller_keys()[i]] = {};
  vm.devices.plan9.emplace();
  vm.devices.network_adapters = o.network_adapters;
  if (!o.console_log.empty()) vm.devices.com_ports["0"].named_pipe = o.console_log;
  vm.devices.hv_socket = Json{{"HvSocketConfig", {{"DefaultBindSecurityDescriptor", "D:P(A;;FA;;;SY)(A;;FA;;;BA)"}}}};
  return doc;
}

}  // namespace hcs::uvm
