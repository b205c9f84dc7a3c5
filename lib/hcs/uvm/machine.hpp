// Machine: one utility VM's QEMU process, owned by the process that starts it (uvmctl
// run, or a vmhost). It launches QEMU from the VM document, kills it if its owner dies,
// turns a boot that never reaches the gcs into an error that shows the console, and
// reports QEMU's exit exactly once.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "hcs/core/error.hpp"
#include "hcs/core/process.hpp"
#include "hcs/schema/virtual_machine.hpp"
#include "hcs/uvm/options.hpp"

namespace hcs::uvm {

struct MachineConfig {
  schema::ComputeSystem document;
  std::string dir;            // the VM's directory: sockets, console.log, qemu.log
  Accel accel = Accel::Tcg;   // resolved (see resolve_accel)
  std::string qemu = "qemu-system-x86_64";
  std::chrono::milliseconds boot_timeout = std::chrono::seconds(60);
};

class Machine : public std::enable_shared_from_this<Machine> {
 public:
  // Paths inside `dir`.
  static std::string gcs_socket(const std::string& dir) { return dir + "/gcs.sock"; }
  static std::string qmp_socket(const std::string& dir) { return dir + "/qmp.sock"; }
  // The root of the staging 9p device, where the owner binds shares added later.
  static std::string plan9_dir(const std::string& dir) { return dir + "/plan9"; }
  static std::string console_path(const std::string& dir) { return dir + "/console.log"; }

  // The console goes to ComPorts "0" when the document names a file, else to
  // console_path(dir) (the document is updated to say so).
  Machine(boost::asio::any_io_executor ex, Reaper& reaper, MachineConfig config);
  ~Machine();

  // Launches QEMU (throws when it cannot be started). The host must already listen on
  // gcs_socket(dir). on_stopped runs once, when QEMU has exited: `why` is empty after
  // terminate() or a guest power-off, and otherwise says what went wrong (with the
  // console's tail when the VM died during boot or panicked).
  void start(std::function<void(ExitStatus, std::optional<Error> why)> on_stopped);
  // The gcs connected: the boot watchdog stops.
  void booted();
  // SIGKILL to QEMU; on_stopped follows.
  void terminate();

  // For an owner whose event loop has stopped: waits up to `grace` for QEMU to exit
  // and returns why it did, as on_stopped would have said (nullopt if it still runs or
  // stopped cleanly). on_stopped is not called.
  std::optional<Error> settle(std::chrono::milliseconds grace);

  bool running() const noexcept { return running_; }
  pid_t pid() const noexcept { return child_.pid(); }
  const schema::ComputeSystem& document() const noexcept { return config_.document; }
  const std::string& dir() const noexcept { return config_.dir; }
  std::chrono::system_clock::time_point started_at() const noexcept { return started_at_; }
  // The last `lines` lines of the console.
  std::string console_tail(size_t lines = 20) const;

 private:
  void on_exit(ExitStatus status);
  std::optional<Error> reason(ExitStatus status) const;
  std::string console_file() const;

  boost::asio::any_io_executor ex_;
  Reaper& reaper_;
  MachineConfig config_;
  Child child_;
  boost::asio::steady_timer watchdog_;
  std::function<void(ExitStatus, std::optional<Error>)> on_stopped_;
  std::optional<Error> failure_;  // set by the watchdog before it kills QEMU
  bool running_ = false, booted_ = false, terminating_ = false;
  std::chrono::system_clock::time_point started_at_{};
};

// Resolves Auto: KVM only if a probe VM really boots with it (opening /dev/kvm proves
// nothing on nested hosts), else TCG. The verdict is cached in `cache_file` (keyed by
// the kernel) because a failing probe costs its timeout. Blocks; call before the loop.
Accel resolve_accel(Accel requested, const schema::ComputeSystem& doc, const std::string& cache_file,
                    const std::string& qemu = "qemu-system-x86_64");

// The last `lines` lines of a text file (at most its last 16 KiB), "" when unreadable.
std::string tail_of(const std::string& path, size_t lines);

}  // namespace hcs::uvm
