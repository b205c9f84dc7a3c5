// uvmctl run [VM flags] [-i] [-t] [-e K=V]... [--bundle DIR] [-- CMD ARGS...]
// Boots a utility VM owned by this command, runs CMD in it (or the bundle as a
// container), exits with its exit code and tears the VM down.
#include "cli.hpp"
#include "hcs/container/run.hpp"
#include "hcs/core/log.hpp"
#include "hcs/uvm/vm_session.hpp"
#include "verbs.hpp"

namespace uvmctl {

void add_run(CLI::App& app, Globals& globals, int& exit_code) {
  struct Flags : SessionFlags {
    VmFlags vm;
    std::string cwd = "/", bundle;
    std::vector<std::string> command;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("run", "boot a utility VM, run a command (or an OCI bundle) in it, then remove it");
  flags->vm.add_to(*cmd);
  flags->add_to(*cmd, "process", false);
  cmd->add_option("-w,--cwd", flags->cwd, "working directory in the guest")->capture_default_str();
  cmd->add_option("--bundle", flags->bundle,
                  "run this OCI bundle as a container in the VM (its rootfs goes in as an ext4 disk)");
  cmd->add_option("command", flags->command, "the command and its arguments (with --bundle: instead of process.args)");
  cmd->callback([flags, &globals, &exit_code] {
    exit_code = hcs::cli::guard("uvmctl", globals.json(), [&] {
      hcs::log::setup_stderr(hcs::log::parse_format(globals.log_format), hcs::log::parse_level(globals.log_level));
      if (flags->bundle.empty() && flags->command.empty())
        throw hcs::Error(hcs::hr::ErrInvalidArg, "nothing to run: give a command after '--', or --bundle");
      hcs::uvm::VmSessionOptions vopts;
      vopts.vm = flags->vm.options();
      vopts.vm.owner = "uvmctl run";
      vopts.accel = hcs::uvm::parse_accel(flags->vm.accel);
      vopts.qemu = flags->vm.qemu;
      if (!globals.root.empty()) vopts.state_root = globals.root;
      vopts.boot_timeout = std::chrono::seconds(flags->timeout_s);
      vopts.network = flags->vm.network;
      const std::string rootfs_mount = "/run/mounts/scsi/m0";
      if (!flags->bundle.empty()) vopts.disks.push_back({"", flags->bundle + "/rootfs", rootfs_mount, true});
      hcs::uvm::VmSession vm(std::move(vopts));

      if (flags->bundle.empty()) {
        hcs::bridge::RunOptions opts;
        flags->apply(opts);
        opts.listen = vm.listen_address();
        opts.connect_timeout = vm.connect_timeout();
        opts.hooks = &vm;
        opts.args = flags->command;
        opts.cwd = flags->cwd;
        opts.env = flags->environment();
        return hcs::bridge::run_guest_command(opts);
      }
      hcs::container::RunContainerOptions opts;
      flags->apply(opts);
      opts.listen = vm.listen_address();
      opts.connect_timeout = vm.connect_timeout();
      opts.hooks = &vm;
      opts.bundle = flags->bundle;
      opts.layers = {rootfs_mount};
      opts.args = flags->command;
      opts.env = flags->environment();
      return hcs::container::run_container(opts);
    });
  });
}

}  // namespace uvmctl
