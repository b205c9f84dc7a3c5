// run_guest_command: the whole of "run this command in the guest with my stdio":
// wait for a gcs to dial in, negotiate, start the process, relay the caller's stdio
// (or a terminal), and return the process's exit code.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "hcs/transport/address.hpp"

namespace hcs::bridge {

struct RunOptions {
  transport::Address listen;                 // where the gcs dials in
  std::vector<std::string> args;
  std::map<std::string, std::string> env;    // PATH defaults in the guest
  std::string cwd = "/";
  bool stdin_open = false;                   // -i: relay our stdin
  bool tty = false;                          // -t: a pty in the guest, our terminal raw
  std::chrono::milliseconds connect_timeout = std::chrono::minutes(2);
  int in_fd = 0, out_fd = 1, err_fd = 2;
  bool forward_guest_log = false;            // copy the gcs's log port to err_fd
};

// Returns the exit code of the process; throws hcs::Error when it could not be run.
int run_guest_command(const RunOptions& options);

}  // namespace hcs::bridge
