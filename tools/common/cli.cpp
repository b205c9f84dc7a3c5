#include "cli.hpp"

#include <cstdio>
#include <iostream>

#include "hcs/core/error.hpp"
#include "hcs/core/json.hpp"
#include "hcs/core/log.hpp"
#include "hcs/state/store.hpp"

namespace hcs::cli {

int guard(const std::string& tool, bool json, const std::function<int()>& body) {
  auto report = [&](const std::string& msg, uint32_t code) {
    if (json) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%08x", code);
      std::cout << dump_json(Json{{"error", msg}, {"code", hex}}) << std::endl;
    } else {
      std::cerr << tool << ": " << msg << std::endl;
    }
    return kExitToolFailure;
  };
  try {
    return body();
  } catch (const Error& e) {
    return report(e.text(), e.code());
  } catch (const std::exception& e) {
    return report(e.what(), hr::Fail);
  }
}

std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitToolFailure;
  }
}

void add_globals(CLI::App& app, Globals& globals) {
  app.add_option("--root", globals.root, "the state root (default: $HCSKIT_ROOT or /run/hcskit)");
  app.add_option("--log-level", globals.log_level, "trace, debug, info, warn, error")->capture_default_str();
  app.add_option("--log-format", globals.log_format, "text or json")->capture_default_str();
  app.add_option("-o,--output", globals.output, "table or json (errors become a JSON object)")
      ->check(CLI::IsMember({"table", "json"}))
      ->capture_default_str();
}

int run_verb(const std::string& tool, const Globals& globals, const std::function<int()>& body) {
  return guard(tool, globals.json(), [&] {
    log::setup_stderr(log::parse_format(globals.log_format), log::parse_level(globals.log_level));
    return body();
  });
}

std::string state_root(const Globals& globals) {
  return globals.root.empty() ? state::default_root() : globals.root;
}

}  // namespace hcs::cli
