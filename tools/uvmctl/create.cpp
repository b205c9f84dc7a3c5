// uvmctl create [VM flags] [--timeout S] [--no-start]: a VM owned by a detached vmhost.
#include <iostream>

#include "hcs/uvm/vmhost.hpp"
#include "verbs.hpp"

namespace uvmctl {

void add_create(CLI::App& app, Globals& globals, int& exit_code) {
  struct Flags {
    VmFlags vm;
    unsigned timeout_s = 120;
    bool no_start = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("create", "create a utility VM owned by a background vmhost; print its id once its gcs is connected");
  flags->vm.add_to(*cmd);
  cmd->add_option("--timeout", flags->timeout_s, "seconds the VM may take to boot to its gcs")->capture_default_str();
  cmd->add_flag("--no-start", flags->no_start, "record the VM and its owner, but boot it only on `uvmctl start`");
  cmd->callback([flags, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      hcs::uvm::CreateVmOptions o;
      o.vm = flags->vm.options();
      o.vm.owner = "uvmctl";
      o.accel = hcs::uvm::parse_accel(flags->vm.accel);
      o.qemu = flags->vm.qemu;
      o.state_root = state_root(globals);
      o.boot_timeout = std::chrono::seconds(flags->timeout_s);
      o.start = !flags->no_start;
      o.network = flags->vm.network;
      const auto id = hcs::uvm::create_vm(o);
      if (globals.json()) std::cout << hcs::dump_json(hcs::Json{{"Id", id}}) << "\n";
      else std::cout << id << "\n";
      return 0;
    });
  });
}

}  // namespace uvmctl
