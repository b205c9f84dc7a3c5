// uvmctl: utility VMs and their guest agents, from the shell.
#include <signal.h>

#include "cli.hpp"
#include "hcs/core/log.hpp"
#include "verbs.hpp"

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  uvmctl::Globals globals;
  int exit_code = 0;
  CLI::App app{"uvmctl: utility VMs and their guest agents", "uvmctl"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "uvmctl " HCSKIT_VERSION);
  hcs::cli::add_globals(app, globals);

  uvmctl::add_run(app, globals, exit_code);
  uvmctl::add_create(app, globals, exit_code);
  uvmctl::add_start(app, globals, exit_code);
  uvmctl::add_exec(app, globals, exit_code);
  uvmctl::add_list(app, globals, exit_code);
  uvmctl::add_inspect(app, globals, exit_code);
  uvmctl::add_console_and_logs(app, globals, exit_code);
  uvmctl::add_stop_and_kill(app, globals, exit_code);
  uvmctl::add_pause_and_resume(app, globals, exit_code);
  uvmctl::add_delete(app, globals, exit_code);
  uvmctl::add_disk(app, globals, exit_code);
  uvmctl::add_share(app, globals, exit_code);
  uvmctl::add_bootfiles(app, globals, exit_code);

  auto* gcs = app.add_subcommand("gcs", "talk to a gcs directly (the guest agent dials in)");
  gcs->require_subcommand(1);
  uvmctl::add_gcs_exec(*gcs, globals, exit_code);
  uvmctl::add_gcs_run(*gcs, globals, exit_code);

  if (auto rc = hcs::cli::parse(app, argc, argv)) return *rc;
  return exit_code;
}
