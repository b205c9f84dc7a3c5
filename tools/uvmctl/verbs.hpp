// uvmctl's verbs: each file adds its subcommand to the CLI and runs it.
#pragma once

#include <CLI/CLI.hpp>

namespace uvmctl {

struct Globals {
  std::string log_level = "warn";
  std::string log_format = "text";
  std::string output = "table";  // table|json: how results and errors are printed
  bool json() const { return output == "json"; }
};

// `uvmctl gcs exec`: run a command through a gcs that dials in.
void add_gcs_exec(CLI::App& gcs, Globals& globals, int& exit_code);
// `uvmctl gcs run`: run an OCI bundle as a container through a gcs that dials in.
void add_gcs_run(CLI::App& gcs, Globals& globals, int& exit_code);

}  // namespace uvmctl
