// uvmctl gcs run --listen ADDR --bundle DIR [--id ID] [--layer PATH]... [-i] [-t] [-e K=V]... [-- ARGS...]
#include "cli.hpp"
#include "hcs/container/run.hpp"
#include "hcs/core/log.hpp"
#include "verbs.hpp"

namespace uvmctl {

void add_gcs_run(CLI::App& gcs, Globals& globals, int& exit_code) {
  struct Flags {
    std::string listen, bundle, id, scratch;
    std::vector<std::string> layers, env, args;
    bool interactive = false, tty = false, guest_log = false;
    unsigned timeout_s = 120, stop_timeout_s = 10;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = gcs.add_subcommand(
      "run", "wait for a gcs to dial in, run an OCI bundle as a container through it, exit with its init's exit code");
  cmd->add_option("--listen", flags->listen, "where the gcs dials: unix:PATH, vsock, or mux+...")->required();
  cmd->add_option("--bundle", flags->bundle, "the OCI bundle: a directory with config.json and its rootfs")
      ->required();
  cmd->add_option("--id", flags->id, "container id (default: 64 random hex digits)");
  cmd->add_option("--layer", flags->layers,
                  "a read-only layer as a guest path, first on top (repeatable; default: the bundle's rootfs)")
      ->expected(1)
      ->allow_extra_args(false)  // else CLI11 swallows the "--" that ends the options
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--scratch", flags->scratch, "scratch directory in the guest (default: /run/gcs/c/ID/scratch)");
  cmd->add_flag("-i,--interactive", flags->interactive, "relay this command's stdin to the container");
  cmd->add_flag("-t,--tty", flags->tty, "give the container a terminal");
  cmd->add_option("-e,--env", flags->env, "KEY=VALUE to set in the container's environment (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)  // else CLI11 swallows the "--" that ends the options
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--timeout", flags->timeout_s, "seconds to wait for the gcs to connect")->capture_default_str();
  cmd->add_option("--stop-timeout", flags->stop_timeout_s,
                  "seconds a graceful shutdown (on SIGINT or SIGTERM) may take before the container is killed")
      ->capture_default_str();
  cmd->add_flag("--guest-log", flags->guest_log, "copy the gcs's log (its port 109) to stderr");
  cmd->add_option("args", flags->args, "the command and arguments to run instead of the bundle's process.args");
  cmd->callback([flags, &globals, &exit_code] {
    exit_code = hcs::cli::guard("uvmctl", globals.json(), [&] {
      hcs::log::setup_stderr(hcs::log::parse_format(globals.log_format), hcs::log::parse_level(globals.log_level));
      hcs::container::RunContainerOptions opts;
      opts.listen = hcs::transport::Address::parse(flags->listen);
      opts.bundle = flags->bundle;
      opts.id = flags->id;
      opts.layers = flags->layers;
      opts.scratch = flags->scratch;
      opts.args = flags->args;
      for (const auto& kv : flags->env) {
        auto eq = kv.find('=');
        if (eq == std::string::npos || eq == 0)
          throw hcs::Error(hcs::hr::ErrInvalidArg, "--env wants KEY=VALUE, got '" + kv + "'");
        opts.env[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
      opts.stdin_open = flags->interactive;
      opts.tty = flags->tty;
      opts.connect_timeout = std::chrono::seconds(flags->timeout_s);
      opts.stop_timeout = std::chrono::seconds(flags->stop_timeout_s);
      opts.forward_guest_log = flags->guest_log;
      return hcs::container::run_container(opts);
    });
  });
}

}  // namespace uvmctl
