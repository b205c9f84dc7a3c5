// uvmctl stop ID [--timeout S] (the guest powers off) and uvmctl kill ID (QEMU is
// terminated). The VM stays listed, stopped, until deleted.
#include "hcs/compute/service.hpp"
#include "proto/compute.pb.h"
#include "verbs.hpp"

namespace uvmctl {

namespace pb = hcskit::compute::v1;

void add_stop_and_kill(CLI::App& app, Globals& globals, int& exit_code) {
  struct Flags {
    std::string id;
    unsigned timeout_s = 30;
  };
  auto stop = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("stop", "shut a VM down gracefully (terminated after --timeout)");
  cmd->add_option("id", stop->id, "the VM")->required();
  cmd->add_option("--timeout", stop->timeout_s, "seconds the guest may take to power off")->capture_default_str();
  cmd->callback([stop, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      hcs::state::Store store(state_root(globals));
      pb::ShutdownRequest req;
      req.set_id(stop->id);
      req.set_timeout_ms(stop->timeout_s * 1000);
      hcs::compute::call_owner<pb::Empty>(store, "vm", stop->id, "Shutdown", req);
      return 0;
    });
  });

  auto kill = std::make_shared<Flags>();
  auto* kcmd = app.add_subcommand("kill", "terminate a VM at once");
  kcmd->add_option("id", kill->id, "the VM")->required();
  kcmd->callback([kill, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      hcs::state::Store store(state_root(globals));
      pb::SystemRequest req;
      req.set_id(kill->id);
      hcs::compute::call_owner<pb::Empty>(store, "vm", kill->id, "Terminate", req);
      return 0;
    });
  });
}

void add_pause_and_resume(CLI::App& app, Globals& globals, int& exit_code) {
  for (auto [verb, method, help] : {std::tuple{"pause", "Pause", "pause a running VM's processors"},
                                    {"resume", "Resume", "resume a paused VM"}}) {
    auto id = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand(verb, help);
    cmd->add_option("id", *id, "the VM")->required();
    cmd->callback([id, method = std::string(method), &globals, &exit_code] {
      exit_code = run_verb(globals, [&] {
        hcs::state::Store store(state_root(globals));
        pb::SystemRequest req;
        req.set_id(*id);
        hcs::compute::call_owner<pb::Empty>(store, "vm", *id, method, req);
        return 0;
      });
    });
  }
}

}  // namespace uvmctl
