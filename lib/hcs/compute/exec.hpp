// exec: a process in a compute system that its owner runs, with this process's stdio.
// The stdio travel through FIFOs made in the system's directory (as containerd hands a
// shim its FIFOs); signals and terminal resizes are passed on.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "hcs/state/store.hpp"

namespace hcs::compute {

struct ExecOptions {
  std::string kind = "vm";
  std::string id;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string cwd = "/";
  int in_fd = 0, out_fd = 1, err_fd = 2;
  bool stdin_open = false;  // -i
  bool tty = false;         // -t
};

// Returns the process's exit code; throws hcs::Error when it could not be run.
int exec(state::Store& store, const ExecOptions& options);

}  // namespace hcs::compute
