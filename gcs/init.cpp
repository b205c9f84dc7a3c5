// hcs-init: PID 1 of an hcskit utility VM (the initrd's /init).
//
// The kernel runs it with the words after " -- " on its command line as arguments: the
// command to run, normally `/bin/gcs --transport mux+virtio-serial:gcs ...`. It
//   1. answers a probe (`hcskit.probe` on the kernel command line: print
//      "hcskit-probe-ok" on the console and power off at once);
//   2. switches the root from the initramfs to a bind mount of it, as busybox's
//      switch_root does with a new root (pivot_root, which runc and crun use, fails when
//      the root is the initramfs itself);
//   3. mounts /dev (devtmpfs, pts, shm), /proc, /sys, /run, /tmp and cgroup2 with every
//      controller enabled for the cgroups below the root; brings up lo;
//   4. loads the kernel modules of /lib/modules/early.list (what the command needs to
//      reach the host), starts the command, then loads the rest of /lib/modules/load.list
//      in a background child at idle priority and creates /run/modules.ready when done;
//   5. reaps every orphan; when the command exits, syncs and powers the VM off.
// Progress lines go to the console only with `hcskit.debug` on the command line; errors
// always do. No arguments: the default command below runs.
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

namespace {

constexpr const char* kDefaultCommand[] = {"/bin/gcs", "--transport", "mux+virtio-serial:gcs", nullptr};
constexpr const char* kPath = "PATH=/sbin:/usr/sbin:/bin:/usr/bin";
constexpr const char* kNewRoot = "/.hcs-root";  // where the new root mount is made
constexpr const char* kEarlyModules = "/lib/modules/early.list";
constexpr const char* kAllModules = "/lib/modules/load.list";
constexpr const char* kModulesReady = "/run/modules.ready";

bool g_debug = false;

double uptime() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

void say(const char* fmt, va_list ap, int err) {
  char line[512];
  int n = g_debug ? std::snprintf(line, sizeof line, "hcs-init: [%.3f] ", uptime())
                  : std::snprintf(line, sizeof line, "hcs-init: ");
  n += std::vsnprintf(line + n, sizeof line - size_t(n), fmt, ap);
  if (err && n < int(sizeof line)) n += std::snprintf(line + n, sizeof line - size_t(n), ": %s", std::strerror(err));
  std::string out = std::string(line) + "\n";
  if (::write(STDERR_FILENO, out.data(), out.size()) < 0) {
    // Nowhere else to say it.
  }
}

// A progress line: only with hcskit.debug.
__attribute__((format(printf, 1, 2))) void debug(const char* fmt, ...) {
  if (!g_debug) return;
  va_list ap;
  va_start(ap, fmt);
  say(fmt, ap, 0);
  va_end(ap);
}

// An error line: always.
__attribute__((format(printf, 1, 2))) void error(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say(fmt, ap, 0);
  va_end(ap);
}

// An error line for a failed call, with errno's text appended.
__attribute__((format(printf, 1, 2))) void fail(const char* fmt, ...) {
  int err = errno;
  va_list ap;
  va_start(ap, fmt);
  say(fmt, ap, err);
  va_end(ap);
}

void power_off() {
  ::sync();
  ::reboot(RB_POWER_OFF);
  fail("power off");
  // PID 1 must not return: exiting panics the kernel, which (panic=-1, -no-reboot)
  // ends the VM too, but only as the last resort.
  for (;;) ::pause();
}

std::string read_file(const char* path) {
  std::string out;
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  ::close(fd);
  return out;
}

bool write_file(const char* path, const std::string& data) {
  int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, data.data(), data.size()) == ssize_t(data.size());
  ::close(fd);
  return ok;
}

// How many arguments the kernel gives init from the words after " -- " (split at blanks
// outside double quotes, as the kernel's parser splits them), or -1 without " -- ".
int init_arg_count(const std::string& cmdline) {
  size_t dashes = (" " + cmdline).find(" -- ");
  if (dashes == std::string::npos) return -1;
  int count = 0;
  bool quoted = false, in_word = false;
  for (size_t i = dashes + 3; i < cmdline.size(); ++i) {
    char c = cmdline[i];
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == ' ' || c == '\n' || c == '\t')) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++count;
    }
  }
  return count;
}

// True when `word` is one of the kernel's own words on its command line, before " -- "
// (dotted words never reach init as arguments, so they are read from /proc/cmdline).
bool cmdline_has(std::string cmdline, const std::string& word) {
  cmdline = cmdline.substr(0, (" " + cmdline).find(" -- "));
  size_t pos = 0;
  while ((pos = cmdline.find(word, pos)) != std::string::npos) {
    bool starts = pos == 0 || cmdline[pos - 1] == ' ';
    size_t end = pos + word.size();
    bool ends = end == cmdline.size() || cmdline[end] == ' ' || cmdline[end] == '\n';
    if (starts && ends) return true;
    pos = end;
  }
  return false;
}

void mount_or_say(const char* source, const char* target, const char* type, unsigned long flags,
                  const char* data) {
  ::mkdir(target, 0755);
  if (::mount(source, target, type, flags, data) != 0) fail("mount %s on %s", type, target);
}

// --- switch root -------------------------------------------------------------------

// Gives us a root that pivot_root accepts. The initramfs is the root of the initial
// mount tree (rootfs, a mount with no parent), and pivot_root refuses to move such a
// root: runc and crun pivot into every container. A bind mount of it moved onto / (as
// busybox's switch_root moves a new root there) is a mount with a parent, holding the
// same files: no copy, no second helping of memory, nothing to delete.
bool switch_root() {
  if (::mkdir(kNewRoot, 0755) != 0 && errno != EEXIST) return fail("mkdir %s", kNewRoot), false;
  if (::mount("/", kNewRoot, nullptr, MS_BIND, nullptr) != 0) return fail("bind / on %s", kNewRoot), false;
  if (::chdir(kNewRoot) != 0 || ::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0 || ::chroot(".") != 0 ||
      ::chdir("/") != 0) {
    fail("move the new root onto /");
    return false;
  }
  ::rmdir(kNewRoot);
  return true;
}

// --- the rest of the system --------------------------------------------------------

void mount_system() {
  mount_or_say("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  mount_or_say("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666");
  mount_or_say("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  ::symlink("/proc/self/fd", "/dev/fd");
  ::symlink("/proc/self/fd/0", "/dev/stdin");
  ::symlink("/proc/self/fd/1", "/dev/stdout");
  ::symlink("/proc/self/fd/2", "/dev/stderr");
  mount_or_say("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  mount_or_say("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  mount_or_say("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
  mount_or_say("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  mount_or_say("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate");

  // Every available controller, for the cgroups the gcs and the runtimes create. One at
  // a time, so that one the kernel refuses does not keep the others off.
  std::string controllers = read_file("/sys/fs/cgroup/cgroup.controllers");
  size_t pos = 0;
  while (pos < controllers.size()) {
    size_t end = controllers.find_first_of(" \n", pos);
    if (end == std::string::npos) end = controllers.size();
    if (end > pos && !write_file("/sys/fs/cgroup/cgroup.subtree_control", "+" + controllers.substr(pos, end - pos)))
      fail("enable cgroup controller %s", controllers.substr(pos, end - pos).c_str());
    pos = end + 1;
  }
}

void loopback_up() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq req{};
  std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
  if (s < 0 || ::ioctl(s, SIOCGIFFLAGS, &req) != 0 ||
      (req.ifr_flags |= IFF_UP | IFF_RUNNING, ::ioctl(s, SIOCSIFFLAGS, &req) != 0))
    fail("bring up lo");
  if (s >= 0) ::close(s);
}

std::vector<std::string> read_lines(const char* path) {
  std::vector<std::string> lines;
  std::string text = read_file(path), line;
  for (char c : text + "\n") {
    if (c != '\n') {
      line += c;
      continue;
    }
    if (!line.empty() && line[0] != '#') lines.push_back(line);
    line.clear();
  }
  return lines;
}

// Loads each module not in `skip`; returns how many failed (an already loaded or built-in
// module is no failure).
int load_modules(const std::vector<std::string>& paths, const std::set<std::string>& skip) {
  int failed = 0;
  for (const auto& path : paths) {
    if (skip.count(path)) continue;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (::syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST)) {
      fail("load module %s", path.c_str());
      ++failed;
    } else {
      debug("loaded %s", path.c_str());
    }
    if (fd >= 0) ::close(fd);
  }
  return failed;
}

// The modules nobody needs before the command starts, loaded by a child at idle
// priority so that they take no CPU from the boot path. Creates kModulesReady (holding
// the number of modules that failed to load) when done.
pid_t load_modules_in_background(const std::vector<std::string>& all, const std::set<std::string>& loaded) {
  pid_t pid = ::fork();
  if (pid != 0) {
    if (pid < 0) fail("fork the module loader");
    return pid;
  }
  sched_param param{};
  ::sched_setscheduler(0, SCHED_IDLE, &param);
  int failed = load_modules(all, loaded);
  std::string tmp = std::string(kModulesReady) + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  std::string text = std::to_string(failed) + "\n";
  if (fd < 0 || ::write(fd, text.data(), text.size()) != ssize_t(text.size()) || ::close(fd) != 0 ||
      ::rename(tmp.c_str(), kModulesReady) != 0)
    fail("create %s", kModulesReady);
  debug("background modules loaded (%d failed)", failed);
  ::_exit(failed == 0 ? 0 : 1);
}

pid_t start_command(char** argv) {
  pid_t pid = ::fork();
  if (pid != 0) {
    if (pid < 0) fail("fork");
    return pid;
  }
  sigset_t all;
  ::sigfillset(&all);
  ::sigprocmask(SIG_UNBLOCK, &all, nullptr);
  ::setsid();
  ::putenv(const_cast<char*>(kPath));
  ::execvp(argv[0], argv);
  fail("exec %s", argv[0]);
  ::_exit(127);
}

}  // namespace

int main(int argc, char** argv) {
  if (::getpid() != 1) {
    std::fprintf(stderr, "hcs-init: must run as PID 1 (the /init of a utility VM)\n");
    return 2;
  }
  // Every signal waits for the loop below; none may kill PID 1 by surprise.
  sigset_t all;
  ::sigfillset(&all);
  ::sigprocmask(SIG_BLOCK, &all, nullptr);
  ::reboot(RB_DISABLE_CAD);  // Ctrl-Alt-Del becomes a SIGINT: a graceful stop
  ::umask(022);

  mount_or_say("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
  std::string cmdline = read_file("/proc/cmdline");
  g_debug = cmdline_has(cmdline, "hcskit.debug");
  if (cmdline_has(cmdline, "hcskit.probe")) {
    int console = ::open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
    const char ok[] = "hcskit-probe-ok\n";
    if (::write(console >= 0 ? console : STDOUT_FILENO, ok, sizeof ok - 1) < 0) fail("write the probe answer");
    power_off();
  }
  debug("started");
  ::umount2("/proc", MNT_DETACH);  // mounted again on the new root, which does not carry it

  if (switch_root()) debug("root switched");
  mount_system();
  if (::fcntl(STDERR_FILENO, F_GETFD) < 0) {  // the kernel found no console to give us
    int console = ::open("/dev/console", O_RDWR | O_NOCTTY);
    for (int fd = 0; fd < 3 && console >= 0; ++fd)
      if (console != fd) ::dup2(console, fd);
    if (console > 2) ::close(console);
  }
  rlimit files{1 << 20, 1 << 20};
  if (::setrlimit(RLIMIT_NOFILE, &files) != 0) fail("raise RLIMIT_NOFILE");
  loopback_up();
  debug("mounted");

  std::vector<std::string> early = read_lines(kEarlyModules);
  load_modules(early, {});
  debug("early modules loaded");

  // The kernel puts the words it does not know (a bare "nokaslr" under PVH, say) before
  // the ones after " -- ": the command is the last init_arg_count() arguments.
  int count = init_arg_count(cmdline);
  char** command = count > 0 && count < argc ? argv + argc - count : const_cast<char**>(kDefaultCommand);
  pid_t main_pid = start_command(command);
  debug("started %s (pid %d)", command[0], int(main_pid));
  if (main_pid < 0) power_off();

  std::set<std::string> skip(early.begin(), early.end());
  pid_t loader = load_modules_in_background(read_lines(kAllModules), skip);

  // Reap every child (orphans come to PID 1); stop when the command is gone.
  sigset_t wanted;
  ::sigemptyset(&wanted);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGPWR, SIGHUP, SIGUSR1, SIGUSR2}) ::sigaddset(&wanted, sig);
  for (;;) {
    siginfo_t info{};
    int sig = ::sigwaitinfo(&wanted, &info);
    if (sig == SIGTERM || sig == SIGINT || sig == SIGPWR) {
      debug("signal %d: stopping %s", sig, command[0]);
      ::kill(main_pid, SIGTERM);
      continue;
    }
    if (sig != SIGCHLD) continue;
    int status = 0;
    for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
      if (pid == loader) {
        loader = -1;
      } else if (pid == main_pid) {
        if (WIFSIGNALED(status)) error("%s killed by signal %d; powering off", command[0], WTERMSIG(status));
        else if (WEXITSTATUS(status) != 0) error("%s exited with status %d; powering off", command[0], WEXITSTATUS(status));
        else debug("%s exited; powering off", command[0]);
        power_off();
      }
    }
  }
}
