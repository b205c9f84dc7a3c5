// uvmctl gcs exec --listen ADDR [-i] [-t] -- CMD...
#include "cli.hpp"
#include "hcs/bridge/run.hpp"
#include "hcs/core/log.hpp"
#include "verbs.hpp"

namespace uvmctl {

void add_gcs_exec(CLI::App& gcs, Globals& globals, int& exit_code) {
  struct Flags : SessionFlags {
    std::string cwd = "/";
    std::vector<std::string> command;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = gcs.add_subcommand("exec", "wait for a gcs to dial in, run CMD through it, exit with its exit code");
  flags->add_to(*cmd, "process");
  cmd->add_option("-w,--cwd", flags->cwd, "working directory in the guest")->capture_default_str();
  cmd->add_option("command", flags->command, "the command and its arguments")->required();
  cmd->callback([flags, &globals, &exit_code] {
    exit_code = hcs::cli::guard("uvmctl", globals.json(), [&] {
      hcs::log::setup_stderr(hcs::log::parse_format(globals.log_format), hcs::log::parse_level(globals.log_level));
      hcs::bridge::RunOptions opts;
      flags->apply(opts);
      opts.args = flags->command;
      opts.cwd = flags->cwd;
      opts.env = flags->environment();
      return hcs::bridge::run_guest_command(opts);
    });
  });
}

}  // namespace uvmctl
