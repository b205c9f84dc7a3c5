// Spawning child processes and reaping them through pidfds. Each process has exactly
// one reaper: either the Reaper of its event loop or a blocking wait_exit(), never both.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hcs/core/fd.hpp"

namespace hcs {

struct SpawnOptions {
  std::vector<std::string> argv;                 // argv[0] is looked up in the PATH of `env`
  std::optional<std::vector<std::string>> env;   // "K=V"; nullopt inherits ours
  std::string cwd;                               // empty: inherit
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // -1: /dev/null
  bool new_session = false;       // setsid()
  bool controlling_tty = false;   // stdin is a tty slave: make it the controlling terminal
  bool die_with_parent = false;   // PR_SET_PDEATHSIG(SIGKILL)
  // Runs the program in a private mount namespace from which these mounts are
  // detached (crun refuses hybrid cgroups unless it cannot see the cgroup2 mount).
  std::vector<std::string> hide_mounts;
  // Handed to the program as fds 3, 4, ... in this order (e.g. a lock it takes over).
  std::vector<int> pass_fds;
};

struct ExitStatus {
  int status = 0;  // exit status, when !signaled
  int signal = 0;  // terminating signal, when signaled
  bool signaled = false;
  // The conventional shell form: the status, or 128 + signal.
  int code() const noexcept { return signaled ? 128 + signal : status; }
};

class Child {
 public:
  Child() = default;
  Child(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  pid_t pid() const noexcept { return pid_; }
  int pidfd() const noexcept { return pidfd_.get(); }
  // Signals through the pidfd, so a recycled pid can never be hit. False once reaped.
  bool signal(int sig) const;
  // Blocks until the child exits and reaps it.
  ExitStatus wait_exit();
  UniqueFd release_pidfd() { return std::move(pidfd_); }

 private:
  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

// Forks and execs; exec failures (e.g. no such file) are reported as hcs::Error.
Child spawn(const SpawnOptions& opts);

// Takes a process that is already our child (e.g. re-parented to us as a subreaper)
// by pid, so that a Reaper can watch it. Throws when it does not exist.
Child adopt_child(pid_t pid);

// Resolves `name` against the PATH found in `env` (or the default PATH); throws when absent.
std::string find_executable(const std::string& name, const std::vector<std::string>& env);

// A program that ships with the running one (the gcs, hcs-init, hcs-vmhost): found at
// `<dir of /proc/self/exe>/<build_subdir>/<name>` in a build tree, or beside the running
// program or in ../lib/hcskit in an install. Throws, naming the places looked at and
// `flag` (the option that overrides it), when none holds it.
std::string find_companion(const std::string& name, const std::string& build_subdir, const std::string& flag);

inline constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The reaper of an event loop: watches each child's pidfd and reaps it when it exits.
class Reaper {
 public:
  explicit Reaper(boost::asio::any_io_executor ex);
  ~Reaper();
  using OnExit = std::function<void(ExitStatus)>;
  // Takes over reaping `child` (whose pidfd stays usable for signals until it exits).
  void watch(const Child& child, OnExit on_exit);
  size_t watched() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hcs
