#include "hcs/uvm/bootfiles.hpp"
#include "verbs.hpp"

namespace uvmctl {

void VmFlags::add_to(CLI::App& cmd) {
  cmd.add_option("--id", id, "the VM's id (default: a new GUID)");
  cmd.add_option("-m,--memory", memory_mb, "memory in MB")->capture_default_str();
  cmd.add_option("-c,--cpus", cpus, "virtual processors (at most the host's)")->capture_default_str();
  cmd.add_option("--boot-files", boot_files,
                 "directory with vmlinux and initrd.img (default: $HCSKIT_BOOT_FILES or /var/lib/hcskit/boot)");
  cmd.add_option("--kernel", kernel, "the kernel (default: BOOT_FILES/vmlinux)");
  cmd.add_option("--initrd", initrd, "the initrd (default: BOOT_FILES/initrd.img)");
  cmd.add_option("--kernel-args", kernel_args, "extra kernel command line");
  cmd.add_option("--accel", accel, "auto (KVM if a probe VM boots with it), kvm or tcg")
      ->check(CLI::IsMember({"auto", "kvm", "tcg"}))
      ->capture_default_str();
  cmd.add_option("--qemu", qemu, "the QEMU binary")->capture_default_str();
  cmd.add_option("--endpoint", network.endpoints,
                 "an HCN endpoint (hnsctl) that becomes a NIC of the VM, configured in the guest (repeatable)");
  cmd.add_option("--network-namespace", network.network_namespace,
                 "an HCN namespace whose endpoints all become NICs; a Guest namespace's NICs go into a network "
                 "namespace of its ID in the guest, which containers naming it join");
}

hcs::uvm::Options VmFlags::options() const {
  hcs::uvm::Options o;
  o.id = id;
  o.memory_mb = memory_mb;
  o.cpus = cpus;
  o.boot_files_dir = boot_files.empty() ? hcs::uvm::default_boot_files_dir() : boot_files;
  o.kernel = kernel;
  o.initrd = initrd;
  o.kernel_args = kernel_args;
  return o;
}

}  // namespace uvmctl
