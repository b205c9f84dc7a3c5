// What every hcskit tool shares at its edge: exit codes and how failures are printed.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <optional>
#include <string>

namespace hcs::cli {

// The tool itself failed (bad flags, no connection, ...), as `docker run` uses 125:
// any other exit code is the exit code of the process the tool ran.
inline constexpr int kExitToolFailure = 125;

// Runs `body`; an hcs::Error or other exception is printed as "tool: message" (or a
// JSON object {"error": ..., "code": ...} when `json` is set) and gives kExitToolFailure.
int guard(const std::string& tool, bool json, const std::function<int()>& body);

// Parses argv; a usage error is printed by CLI11 and gives kExitToolFailure (--help
// and --version give 0). Returns nullopt when the program should go on.
std::optional<int> parse(CLI::App& app, int argc, char** argv);

// The options every tool takes before its verb.
struct Globals {
  std::string root;  // the state root; empty: $HCSKIT_ROOT or /run/hcskit
  std::string log_level = "warn";
  std::string log_format = "text";
  std::string output = "table";  // table|json: how results and errors are printed
  bool json() const { return output == "json"; }
};

// Adds --root, --log-level, --log-format and -o/--output to a tool's top level.
void add_globals(CLI::App& app, Globals& globals);
// guard() with logging set up from the globals first.
int run_verb(const std::string& tool, const Globals& globals, const std::function<int()>& body);
std::string state_root(const Globals& globals);

}  // namespace hcs::cli
