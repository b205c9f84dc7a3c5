#include "hcs/core/process.hpp"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/close_range.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include "hcs/core/error.hpp"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace hcs {

static int sys_pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
static int sys_pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

static ExitStatus to_exit_status(const siginfo_t& info) {
  ExitStatus s;
  if (info.si_code == CLD_EXITED) {
    s.status = info.si_status;
  } else {
    s.signaled = true;
    s.signal = info.si_status;
  }
  return s;
}

bool Child::signal(int sig) const {
  if (!pidfd_) return false;
  return sys_pidfd_send_signal(pidfd_.get(), sig) == 0;
}

ExitStatus Child::wait_exit() {
  siginfo_t info{};
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, WEXITED) != 0) {
    if (errno != EINTR) throw_errno("waitid");
  }
  pidfd_.reset();
  return to_exit_status(info);
}

std::string find_executable(const std::string& name, const std::vector<std::string>& env) {
  if (name.empty()) throw Error(hr::ErrInvalidArg, "empty command");
  if (name.find('/') != std::string::npos) return name;
  std::string path = kDefaultPath;
  for (const auto& kv : env)
    if (kv.rfind("PATH=", 0) == 0) path = kv.substr(5);
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string::npos) end = path.size();
    std::string dir = path.substr(start, end - start);
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    struct stat st{};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0)
      return candidate;
    start = end + 1;
  }
  throw Error(hr::ErrNotFound, "exec: \"" + name + "\": executable file not found in $PATH");
}

std::string find_companion(const std::string& name, const std::string& build_subdir, const std::string& flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  std::vector<fs::path> candidates;
  if (!ec) {
    const fs::path d = self.parent_path();
    candidates = {d / build_subdir / name, d / "../lib/hcskit" / name, d / name};
  }
  for (const auto& c : candidates)
    if (fs::is_regular_file(c, ec)) return fs::weakly_canonical(c).string();
  std::string looked;
  for (const auto& c : candidates) looked += (looked.empty() ? "" : ", ") + c.lexically_normal().string();
  throw Error(hr::ErrNotFound, "no " + name + " binary found (looked at " + (looked.empty() ? "nothing" : looked) +
                                   "): build it or pass " + flag);
}

extern "C" char** environ;

Child spawn(const SpawnOptions& opts) {
  if (opts.argv.empty()) throw Error(hr::ErrInvalidArg, "spawn: no command");
  std::vector<std::string> env_strings;
  if (opts.env) {
    env_strings = *opts.env;
  } else {
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  }
  const std::string exe = find_executable(opts.argv[0], env_strings);

  // Everything the child touches is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<char*> argv, envp;
  for (const auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!devnull) throw_errno("open /dev/null");
  int fds[3] = {opts.stdin_fd, opts.stdout_fd, opts.stderr_fd};
  for (int& fd : fds)
    if (fd < 0) fd = devnull.get();
  Pipe err = make_pipe();
  const pid_t parent = ::getpid();
  std::vector<int> pass = opts.pass_fds;  // reserved before fork: the child may not allocate

  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    int err_fd = err.write.get();
    auto fail = [&](int e) {
      ssize_t r = ::write(err_fd, &e, sizeof e);
      (void)r;
      ::_exit(127);
    };
    if (opts.die_with_parent) {
      if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(errno);
      if (::getppid() != parent) ::_exit(127);
    }
    sigset_t all;
    ::sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    for (int s : {SIGPIPE, SIGCHLD, SIGTERM, SIGINT, SIGHUP}) ::signal(s, SIG_DFL);
    if (opts.new_session && ::setsid() < 0) fail(errno);
    if (!opts.hide_mounts.empty()) {
      if (::unshare(CLONE_NEWNS) != 0) fail(errno);
      if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(errno);
      for (const auto& m : opts.hide_mounts)
        if (::umount2(m.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) fail(errno);
    }
    // dup every source above the target range first so that the dup2s below cannot
    // clobber each other.
    const int targets = 3 + int(pass.size());
    if (!pass.empty()) {
      const int e = ::fcntl(err_fd, F_DUPFD_CLOEXEC, targets);
      if (e < 0) fail(errno);
      err_fd = e;
    }
    int moved[3];
    for (int i = 0; i < 3; ++i) {
      moved[i] = ::fcntl(fds[i], F_DUPFD_CLOEXEC, targets);
      if (moved[i] < 0) fail(errno);
    }
    for (size_t i = 0; i < pass.size(); ++i) {
      pass[i] = ::fcntl(pass[i], F_DUPFD_CLOEXEC, targets);
      if (pass[i] < 0) fail(errno);
    }
    for (int i = 0; i < 3; ++i)
      if (::dup2(moved[i], i) < 0) fail(errno);
    // Nothing of ours beyond stdio (and pass_fds) reaches the program (Asio's sockets
    // are not close-on-exec); marking rather than closing keeps the error pipe until exec.
    if (::syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) fail(errno);
    for (size_t i = 0; i < pass.size(); ++i)
      if (::dup2(pass[i], 3 + int(i)) < 0) fail(errno);
    if (opts.controlling_tty && ::ioctl(0, TIOCSCTTY, 0) < 0) fail(errno);
    if (!opts.cwd.empty() && ::chdir(opts.cwd.c_str()) != 0) fail(errno);
    ::execve(exe.c_str(), argv.data(), envp.data());
    fail(errno);
  }
  err.write.reset();
  int child_errno = 0;
  ssize_t n;
  do n = ::read(err.read.get(), &child_errno, sizeof child_errno);
  while (n < 0 && errno == EINTR);
  UniqueFd pidfd(sys_pidfd_open(pid));
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int st;
    ::waitpid(pid, &st, 0);
    throw Error::from_errno(child_errno, "exec " + exe);
  }
  if (!pidfd) {
    int e = errno;
    ::kill(pid, SIGKILL);
    int st;
    ::waitpid(pid, &st, 0);
    throw Error::from_errno(e, "pidfd_open");
  }
  return Child(pid, std::move(pidfd));
}

Child adopt_child(pid_t pid) {
  UniqueFd pidfd(sys_pidfd_open(pid));
  if (!pidfd) throw_errno("pidfd_open " + std::to_string(pid));
  return Child(pid, std::move(pidfd));
}

struct Reaper::Impl : std::enable_shared_from_this<Reaper::Impl> {
  explicit Impl(boost::asio::any_io_executor e) : ex(std::move(e)) {}
  boost::asio::any_io_executor ex;
  std::map<int, std::unique_ptr<boost::asio::posix::stream_descriptor>> watches;  // by pidfd
  bool closed = false;
};

Reaper::Reaper(boost::asio::any_io_executor ex) : impl_(std::make_shared<Impl>(std::move(ex))) {}

Reaper::~Reaper() {
  impl_->closed = true;
  for (auto& [fd, d] : impl_->watches) {
    d->cancel();
    d->release();  // the pidfd belongs to the Child; its owner closes it
  }
  impl_->watches.clear();
}

size_t Reaper::watched() const noexcept { return impl_->watches.size(); }

void Reaper::watch(const Child& child, OnExit on_exit) {
  // A duplicate of the pidfd: the Child keeps its own for signals.
  int fd = ::fcntl(child.pidfd(), F_DUPFD_CLOEXEC, 0);
  if (fd < 0) throw_errno("dup pidfd");
  auto desc = std::make_unique<boost::asio::posix::stream_descriptor>(impl_->ex, fd);
  auto* d = desc.get();
  impl_->watches.emplace(fd, std::move(desc));
  std::weak_ptr<Impl> weak = impl_;
  d->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                [weak, fd, on_exit = std::move(on_exit)](const boost::system::error_code& ec) {
                  auto impl = weak.lock();
                  if (!impl || impl->closed || ec) return;
                  siginfo_t info{};
                  int r;
                  do r = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(fd), &info, WEXITED);
                  while (r != 0 && errno == EINTR);
                  auto it = impl->watches.find(fd);
                  std::unique_ptr<boost::asio::posix::stream_descriptor> owned;
                  if (it != impl->watches.end()) {
                    owned = std::move(it->second);
                    impl->watches.erase(it);
                  }
                  if (r != 0) {
                    ExitStatus lost;
                    lost.status = 255;
                    on_exit(lost);
                    return;
                  }
                  on_exit(to_exit_status(info));
                });
}

}  // namespace hcs
