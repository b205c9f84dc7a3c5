// uvmctl exec [-i] [-t] [-e K=V]... [-w DIR] ID -- CMD...: run a command in a created VM.
#include "hcs/compute/exec.hpp"
#include "verbs.hpp"

namespace uvmctl {

void add_exec(CLI::App& app, Globals& globals, int& exit_code) {
  struct Flags : SessionFlags {
    std::string id, cwd = "/";
    std::vector<std::string> command;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("exec", "run a command in a running VM with this command's stdio; exit with its exit code");
  cmd->add_option("id", flags->id, "the VM")->required();
  cmd->add_flag("-i,--interactive", flags->interactive, "relay this command's stdin to the process");
  cmd->add_flag("-t,--tty", flags->tty, "give the process a terminal");
  cmd->add_option("-e,--env", flags->env, "KEY=VALUE to set in the process's environment (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("-w,--cwd", flags->cwd, "working directory in the guest")->capture_default_str();
  cmd->add_option("command", flags->command, "the command and its arguments")->required();
  cmd->callback([flags, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      hcs::state::Store store(state_root(globals));
      hcs::compute::ExecOptions o;
      o.id = flags->id;
      o.args = flags->command;
      o.env = flags->environment();
      o.cwd = flags->cwd;
      o.stdin_open = flags->interactive;
      o.tty = flags->tty;
      return hcs::compute::exec(store, o);
    });
  });
}

}  // namespace uvmctl
