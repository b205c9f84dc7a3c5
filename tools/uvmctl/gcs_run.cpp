// uvmctl gcs run --listen ADDR --bundle DIR [--id ID] [--layer PATH]... [-i] [-t] [-e K=V]... [-- ARGS...]
#include "cli.hpp"
#include "hcs/container/run.hpp"
#include "hcs/core/log.hpp"
#include "verbs.hpp"

namespace uvmctl {

void add_gcs_run(CLI::App& gcs, Globals& globals, int& exit_code) {
  struct Flags : SessionFlags {
    std::string bundle, id, scratch;
    std::vector<std::string> layers, args;
    unsigned stop_timeout_s = 10;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = gcs.add_subcommand(
      "run", "wait for a gcs to dial in, run an OCI bundle as a container through it, exit with its init's exit code");
  flags->add_to(*cmd, "container");
  cmd->add_option("--bundle", flags->bundle, "the OCI bundle: a directory with config.json and its rootfs")
      ->required();
  cmd->add_option("--id", flags->id, "container id (default: 64 random hex digits)");
  cmd->add_option("--layer", flags->layers,
                  "a read-only layer as a guest path, first on top (repeatable; default: the bundle's rootfs)")
      ->expected(1)
      ->allow_extra_args(false)  // else CLI11 swallows the "--" that ends the options
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--scratch", flags->scratch, "scratch directory in the guest (default: /run/gcs/c/ID/scratch)");
  cmd->add_option("--stop-timeout", flags->stop_timeout_s,
                  "seconds a graceful shutdown (on SIGINT or SIGTERM) may take before the container is killed")
      ->capture_default_str();
  cmd->add_option("args", flags->args, "the command and arguments to run instead of the bundle's process.args");
  cmd->callback([flags, &globals, &exit_code] {
    exit_code = hcs::cli::guard("uvmctl", globals.json(), [&] {
      hcs::log::setup_stderr(hcs::log::parse_format(globals.log_format), hcs::log::parse_level(globals.log_level));
      hcs::container::RunContainerOptions opts;
      flags->apply(opts);
      opts.bundle = flags->bundle;
      opts.id = flags->id;
      opts.layers = flags->layers;
      opts.scratch = flags->scratch;
      opts.args = flags->args;
      opts.env = flags->environment();
      opts.stop_timeout = std::chrono::seconds(flags->stop_timeout_s);
      return hcs::container::run_container(opts);
    });
  });
}

}  // namespace uvmctl
