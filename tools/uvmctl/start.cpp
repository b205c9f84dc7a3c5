// uvmctl start ID [--timeout S]: boot a created or stopped VM.
#include "hcs/compute/service.hpp"
#include "proto/compute.pb.h"
#include "verbs.hpp"

namespace uvmctl {

void add_start(CLI::App& app, Globals& globals, int& exit_code) {
  struct Flags {
    std::string id;
    unsigned timeout_s = 0;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("start", "boot a created or stopped VM; return once its gcs is connected");
  cmd->add_option("id", flags->id, "the VM")->required();
  cmd->add_option("--timeout", flags->timeout_s, "seconds the boot may take (default: the VM's own)");
  cmd->callback([flags, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      hcs::state::Store store(state_root(globals));
      hcskit::compute::v1::StartRequest req;
      req.set_id(flags->id);
      req.set_timeout_ms(flags->timeout_s * 1000);
      hcs::compute::call_owner<hcskit::compute::v1::Empty>(store, "vm", flags->id, "Start", req);
      return 0;
    });
  });
}

}  // namespace uvmctl
