#include "hcs/uvm/machine.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <spdlog/spdlog.h>
#include <sstream>
#include <thread>

#include "hcs/core/json.hpp"
#include "hcs/uvm/qemu.hpp"

namespace hcs::uvm {
namespace fs = std::filesystem;

std::string tail_of(const std::string& path, size_t lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  const auto size = static_cast<std::streamoff>(in.tellg());
  const std::streamoff start = size > 16384 ? size - 16384 : 0;
  in.seekg(start);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::deque<std::string> kept;
  std::istringstream s(text);
  std::string line;
  bool first = start > 0;  // a partial first line is dropped
  while (std::getline(s, line)) {
    if (first) { first = false; continue; }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    kept.push_back(line);
    if (kept.size() > lines) kept.pop_front();
  }
  std::string out;
  for (const auto& l : kept) out += l + "\n";
  return out;
}

Machine::Machine(boost::asio::any_io_executor ex, Reaper& reaper, MachineConfig config)
    : ex_(ex), reaper_(reaper), config_(std::move(config)), watchdog_(ex) {
  auto& vm = config_.document.virtual_machine;
  if (!vm) throw Error(hr::ErrInvalidArg, "the document has no VirtualMachine");
  auto& port = vm->devices.com_ports["0"];
  if (port.named_pipe.empty()) port.named_pipe = console_path(config_.dir);
}

Machine::~Machine() {
  // Never leave a QEMU behind, not even for a moment.
  if (running_ && child_.signal(SIGKILL)) {
    siginfo_t info{};
    while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(child_.pidfd()), &info, WEXITED) != 0 &&
           errno == EINTR) {
    }
  }
}

std::string Machine::console_file() const { return config_.document.virtual_machine->devices.com_ports.at("0").named_pipe; }

std::string Machine::console_tail(size_t lines) const { return tail_of(console_file(), lines); }

void Machine::start(std::function<void(ExitStatus, std::optional<Error>)> on_stopped) {
  on_stopped_ = std::move(on_stopped);
  QemuLaunch launch;
  launch.binary = config_.qemu;
  launch.accel = config_.accel;
  launch.gcs_socket = gcs_socket(config_.dir);
  launch.qmp_socket = qmp_socket(config_.dir);
  launch.plan9_staging = plan9_dir(config_.dir);
  if (::mkdir(launch.plan9_staging.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("create " + launch.plan9_staging);
  const auto argv = qemu_argv(config_.document, launch);
  {
    // A fresh console per boot, readable only by the owner (it may hold secrets).
    UniqueFd con(::open(console_file().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!con) throw_errno("create the console log " + console_file());
  }
  const std::string qemu_log = config_.dir + "/qemu.log";
  UniqueFd log(::open(qemu_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!log) throw_errno("create " + qemu_log);
  SpawnOptions o;
  o.argv = argv;
  o.stdout_fd = log.get();
  o.stderr_fd = log.get();
  o.die_with_parent = true;  // the owner is gone: so is its VM
  {
    std::string line;
    for (const auto& a : argv) line += (line.empty() ? "" : " ") + a;
    spdlog::debug("starting {}", line);
  }
  child_ = spawn(o);
  running_ = true;
  started_at_ = std::chrono::system_clock::now();
  std::weak_ptr<Machine> weak = weak_from_this();
  reaper_.watch(child_, [weak](ExitStatus st) {
    if (auto self = weak.lock()) self->on_exit(st);
  });
  watchdog_.expires_after(config_.boot_timeout);
  watchdog_.async_wait([weak](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->booted_ || !self->running_) return;
    self->failure_ = Error(hr::VmcomputeTimeout,
                           "the VM did not reach its gcs within " +
                               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(self->config_.boot_timeout).count()) +
                               " s; the console ends with:\n" + self->console_tail());
    self->child_.signal(SIGKILL);
  });
}

void Machine::booted() {
  booted_ = true;
  watchdog_.cancel();
}

void Machine::terminate() {
  if (!running_) return;
  terminating_ = true;
  child_.signal(SIGKILL);
}

static std::string describe(ExitStatus st) {
  return st.signaled ? "killed by signal " + std::to_string(st.signal) : "exit status " + std::to_string(st.status);
}

std::optional<Error> Machine::reason(ExitStatus st) const {
  if (failure_) return failure_;
  if (terminating_) return std::nullopt;
  const std::string tail = console_tail();
  if (tail.find("Kernel panic") != std::string::npos)
    return Error(hr::Fail, "the guest kernel panicked; the console ends with:\n" + tail);
  if (!booted_) {
    std::string qemu_says = tail_of(config_.dir + "/qemu.log", 5);
    return Error(hr::Fail, "the VM stopped during boot (QEMU " + describe(st) + ")" +
                               (qemu_says.empty() ? "" : "; QEMU said:\n" + qemu_says) +
                               "; the console ends with:\n" + tail);
  }
  if (st.signaled || st.status != 0) return Error(hr::Fail, "QEMU stopped unexpectedly (" + describe(st) + ")");
  return std::nullopt;
}

void Machine::on_exit(ExitStatus st) {
  running_ = false;
  watchdog_.cancel();
  auto why = reason(st);
  spdlog::info("QEMU {} ({})", describe(st), why ? why->text().substr(0, 200) : std::string("clean"));
  if (auto cb = std::move(on_stopped_)) cb(st, std::move(why));
}

std::optional<Error> Machine::settle(std::chrono::milliseconds grace) {
  if (!running_) return std::nullopt;
  pollfd p{child_.pidfd(), POLLIN, 0};
  if (::poll(&p, 1, int(grace.count())) <= 0) return std::nullopt;
  siginfo_t info{};
  if (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(child_.pidfd()), &info, WEXITED | WNOHANG) != 0 ||
      info.si_pid == 0)
    return std::nullopt;
  running_ = false;
  watchdog_.cancel();
  ExitStatus st;
  if (info.si_code == CLD_EXITED) st.status = info.si_status;
  else {
    st.signaled = true;
    st.signal = info.si_status;
  }
  return reason(st);
}

static bool kvm_usable() {
  UniqueFd fd(::open("/dev/kvm", O_RDWR | O_CLOEXEC));
  return fd.valid();
}

Accel resolve_accel(Accel requested, const schema::ComputeSystem& doc, const std::string& cache_file,
                    const std::string& qemu) {
  if (requested != Accel::Auto) return requested;
  if (!kvm_usable()) return Accel::Tcg;
  const auto& kd = doc.virtual_machine.value().chipset.linux_kernel_direct.value();
  std::error_code ec;
  const auto mtime = fs::last_write_time(kd.kernel_file_path, ec).time_since_epoch().count();
  const std::string key = kd.kernel_file_path + "@" + std::to_string(mtime);
  try {
    std::ifstream in(cache_file);
    if (in) {
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      auto j = parse_json(text, cache_file);
      if (j.value("kernel", "") == key) return parse_accel(j.value("accel", "tcg"));
    }
  } catch (const std::exception&) {
    // A damaged cache is re-probed.
  }

  // The probe: the same kernel and initrd with KVM; its init prints a marker and powers
  // off at once when the command line says hcskit.probe.
  const std::string dir = fs::path(cache_file).parent_path().string();
  const std::string console = dir + "/accel-probe." + std::to_string(::getpid()) + ".log";
  SpawnOptions o;
  o.argv = {qemu, "-M", "microvm", "-accel", "kvm", "-cpu", "host", "-m", "256", "-nodefaults", "-no-user-config",
            "-nographic", "-no-reboot", "-kernel", kd.kernel_file_path, "-initrd", kd.initrd_path, "-append",
            "console=ttyS0 reboot=t panic=-1 quiet tsc_early_khz=" + std::to_string(host_tsc_khz()) + " hcskit.probe",
            "-serial", "file:" + console};
  o.die_with_parent = true;
  Accel verdict = Accel::Tcg;
  try {
    Child c = spawn(o);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    bool exited = false;
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{c.pidfd(), POLLIN, 0};
      if (::poll(&p, 1, 100) > 0) { exited = true; }
      std::ifstream in(console);
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text.find("hcskit-probe-ok") != std::string::npos) { verdict = Accel::Kvm; break; }
      if (exited) break;
    }
    c.signal(SIGKILL);
    c.wait_exit();
  } catch (const Error& e) {
    spdlog::warn("KVM probe failed to start: {}", e.text());
  }
  fs::remove(console, ec);
  spdlog::info("acceleration probe: {}", accel_name(verdict));
  const std::string tmp = cache_file + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << dump_json(Json{{"kernel", key}, {"accel", accel_name(verdict)}}) << "\n";
  }
  fs::rename(tmp, cache_file, ec);
  return verdict;
}

}  // namespace hcs::uvm
