#include "cli.hpp"
#include "hcs/core/log.hpp"
#include "hcs/state/store.hpp"
#include "verbs.hpp"

namespace uvmctl {

int run_verb(const Globals& globals, const std::function<int()>& body) {
  return hcs::cli::guard("uvmctl", globals.json(), [&] {
    hcs::log::setup_stderr(hcs::log::parse_format(globals.log_format), hcs::log::parse_level(globals.log_level));
    return body();
  });
}

std::string state_root(const Globals& globals) {
  return globals.root.empty() ? hcs::state::default_root() : globals.root;
}

}  // namespace uvmctl
