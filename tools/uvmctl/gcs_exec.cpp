// uvmctl gcs exec --listen ADDR [-i] [-t] -- CMD...
#include "cli.hpp"
#include "hcs/bridge/run.hpp"
#include "hcs/core/log.hpp"
#include "verbs.hpp"

namespace uvmctl {

void add_gcs_exec(CLI::App& gcs, Globals& globals, int& exit_code) {
  struct Flags {
    std::string listen;
    bool interactive = false, tty = false, guest_log = false;
    std::string cwd = "/";
    std::vector<std::string> env, command;
    unsigned timeout_s = 120;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = gcs.add_subcommand("exec", "wait for a gcs to dial in, run CMD through it, exit with its exit code");
  cmd->add_option("--listen", flags->listen, "where the gcs dials: unix:PATH, vsock, or mux+...")->required();
  cmd->add_flag("-i,--interactive", flags->interactive, "relay this command's stdin to the process");
  cmd->add_flag("-t,--tty", flags->tty, "give the process a terminal");
  cmd->add_option("-w,--cwd", flags->cwd, "working directory in the guest")->capture_default_str();
  cmd->add_option("-e,--env", flags->env, "KEY=VALUE for the process's environment (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)  // else CLI11 swallows the "--" that ends the options
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--timeout", flags->timeout_s, "seconds to wait for the gcs to connect")->capture_default_str();
  cmd->add_flag("--guest-log", flags->guest_log, "copy the gcs's log (its port 109) to stderr");
  cmd->add_option("command", flags->command, "the command and its arguments")->required();
  cmd->callback([flags, &globals, &exit_code] {
    exit_code = hcs::cli::guard("uvmctl", globals.json(), [&] {
      hcs::log::setup_stderr(hcs::log::parse_format(globals.log_format), hcs::log::parse_level(globals.log_level));
      hcs::bridge::RunOptions opts;
      opts.listen = hcs::transport::Address::parse(flags->listen);
      opts.args = flags->command;
      opts.cwd = flags->cwd;
      for (const auto& kv : flags->env) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
          throw hcs::Error(hcs::hr::ErrInvalidArg, "--env wants KEY=VALUE, got '" + kv + "'");
        opts.env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      opts.stdin_open = flags->interactive;
      opts.tty = flags->tty;
      opts.connect_timeout = std::chrono::seconds(flags->timeout_s);
      opts.forward_guest_log = flags->guest_log;
      return hcs::bridge::run_guest_command(opts);
    });
  });
}

}  // namespace uvmctl
