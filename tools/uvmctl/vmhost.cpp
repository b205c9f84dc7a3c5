// uvmctl vmhost --id ID: the owner process of a VM (started by `uvmctl create`).
#include "hcs/uvm/vmhost.hpp"
#include "verbs.hpp"

namespace uvmctl {

void add_vmhost(CLI::App& app, Globals& globals, int& exit_code) {
  auto id = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("vmhost", "");  // no description: hidden, for uvmctl create only
  cmd->group("");
  cmd->add_option("--id", *id, "the VM")->required();
  cmd->callback([id, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] { return hcs::uvm::run_vmhost(state_root(globals), *id); });
  });
}

}  // namespace uvmctl
