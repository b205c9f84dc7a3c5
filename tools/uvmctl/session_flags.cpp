#include "hcs/core/error.hpp"
#include "hcs/transport/address.hpp"
#include "verbs.hpp"

namespace uvmctl {

void SessionFlags::add_to(CLI::App& cmd, const std::string& what, bool with_listen) {
  if (with_listen) cmd.add_option("--listen", listen, "where the gcs dials: unix:PATH, vsock, or mux+...")->required();
  cmd.add_flag("-i,--interactive", interactive, "relay this command's stdin to the " + what);
  cmd.add_flag("-t,--tty", tty, "give the " + what + " a terminal");
  cmd.add_option("-e,--env", env, "KEY=VALUE to set in the " + what + "'s environment (repeatable)")
      ->expected(1)
      ->allow_extra_args(false)  // else CLI11 swallows the "--" that ends the options
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd.add_option("--timeout", timeout_s, "seconds to wait for the gcs to connect")->capture_default_str();
  cmd.add_flag("--guest-log", guest_log, "copy the gcs's log (its port 109) to stderr");
}

std::map<std::string, std::string> SessionFlags::environment() const {
  std::map<std::string, std::string> out;
  for (const auto& kv : env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      throw hcs::Error(hcs::hr::ErrInvalidArg, "--env wants KEY=VALUE, got '" + kv + "'");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

void SessionFlags::apply(hcs::bridge::SessionOptions& options) const {
  if (!listen.empty()) options.listen = hcs::transport::Address::parse(listen);
  options.stdin_open = interactive;
  options.tty = tty;
  options.connect_timeout = std::chrono::seconds(timeout_s);
  options.forward_guest_log = guest_log;
}

}  // namespace uvmctl
