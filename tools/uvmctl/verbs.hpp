// uvmctl's verbs: each file adds its subcommand to the CLI and runs it.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <string>
#include <vector>

#include "hcs/bridge/run.hpp"

namespace uvmctl {

struct Globals {
  std::string log_level = "warn";
  std::string log_format = "text";
  std::string output = "table";  // table|json: how results and errors are printed
  bool json() const { return output == "json"; }
};

// The flags of every verb that waits for a gcs and relays the caller's stdio to it.
struct SessionFlags {
  std::string listen;
  bool interactive = false, tty = false, guest_log = false;
  std::vector<std::string> env;
  unsigned timeout_s = 120;
  // Adds --listen, -i, -t, -e, --timeout and --guest-log; `what` names what runs.
  void add_to(CLI::App& cmd, const std::string& what);
  // Fills the session part of a verb's options.
  void apply(hcs::bridge::SessionOptions& options) const;
  // The -e KEY=VALUE pairs; throws ErrInvalidArg for one without '='.
  std::map<std::string, std::string> environment() const;
};

// `uvmctl gcs exec`: run a command through a gcs that dials in.
void add_gcs_exec(CLI::App& gcs, Globals& globals, int& exit_code);
// `uvmctl gcs run`: run an OCI bundle as a container through a gcs that dials in.
void add_gcs_run(CLI::App& gcs, Globals& globals, int& exit_code);

}  // namespace uvmctl
