#include "cli.hpp"

#include <cstdio>
#include <iostream>

#include "hcs/core/error.hpp"
#include "hcs/core/json.hpp"

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

}  // namespace hcs::cli
