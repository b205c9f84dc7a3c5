// uvmctl delete [-f] ID...: terminate each VM if it runs and remove it and its state.
#include <signal.h>

#include <iostream>
#include <thread>

#include "hcs/compute/service.hpp"
#include "hcs/uvm/vmhost.hpp"
#include "proto/compute.pb.h"
#include "verbs.hpp"

namespace uvmctl {

void add_delete(CLI::App& app, Globals& globals, int& exit_code) {
  struct Flags {
    std::vector<std::string> ids;
    bool force = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("delete", "terminate VMs and remove them");
  cmd->alias("rm");
  cmd->add_option("id", flags->ids, "the VMs")->required();
  cmd->add_flag("-f,--force", flags->force, "kill an owner that does not answer, and ignore VMs that do not exist");
  cmd->callback([flags, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      hcs::state::Store store(state_root(globals));
      for (const auto& id : flags->ids) {
        hcs::state::check_id(id);
        if (!store.alive("vm", id)) {
          const bool existed = store.read_record("vm", id).has_value();
          store.remove("vm", id);  // the remains of a dead owner
          hcs::uvm::release_endpoints(store.root(), id);
          if (!existed && !flags->force) throw hcs::Error(hcs::hr::VmcomputeSystemNotFound, "no VM '" + id + "'");
          continue;
        }
        try {
          hcskit::compute::v1::SystemRequest req;
          req.set_id(id);
          hcs::compute::call_owner<hcskit::compute::v1::Empty>(store, "vm", id, "Delete", req, std::chrono::seconds(30));
        } catch (const hcs::Error& e) {
          if (!flags->force) throw;
          auto rec = store.read_record("vm", id);
          if (rec && rec->value("OwnerPid", 0) > 0) ::kill(rec->value("OwnerPid", 0), SIGKILL);
        }
        // The owner removes the state as it exits; wait for that (briefly) so that the
        // VM is gone when this command returns.
        for (int i = 0; i < 100 && store.alive("vm", id); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        store.remove("vm", id);
        hcs::uvm::release_endpoints(store.root(), id);
      }
      return 0;
    });
  });
}

}  // namespace uvmctl
