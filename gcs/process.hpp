// A process the gcs runs directly in the utility VM (the null container): spawned with
// its stdio on pipes or a pty, relayed to streams the host listens on, and waited for.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "hcs/core/process.hpp"
#include "hcs/schema/bridge.hpp"
#include "hcs/transport/stream.hpp"

namespace gcs {

using hcs::transport::StreamPtr;

struct StdioStreams {
  StreamPtr in, out, err;  // null when the host asked for no such pipe
};

// A process of the utility VM or of a container: its stdio (pipes or a pty) relayed
// to streams the host listens on, and its exit.
//
// The gcs spawns utility VM processes itself (start()); a runtime starts container
// processes, so for those the stdio is prepared first (prepare()), handed to the
// runtime, and the process is adopted once the runtime reports its pid.
class GuestProcess : public std::enable_shared_from_this<GuestProcess> {
 public:
  // Spawns `params` with `stdio` relayed; the reaper reports its exit. Throws hcs::Error.
  static std::shared_ptr<GuestProcess> start(boost::asio::any_io_executor ex, hcs::Reaper& reaper,
                                             const hcs::schema::ProcessParameters& params, StdioStreams stdio);

  struct Pipes {
    bool in = true, out = true, err = true;
  };
  // Stdio for a process someone else starts: a pipe per wanted stream, or, with a tty,
  // nothing until set_console() hands over the pty master.
  static std::shared_ptr<GuestProcess> prepare(boost::asio::any_io_executor ex, bool tty, Pipes pipes);
  // The process's ends of the pipes (-1 when absent), for the runtime to inherit.
  int child_fd(int stdio_index) const noexcept { return child_ends_[stdio_index].get(); }
  void set_console(hcs::UniqueFd master);
  // Takes the started process over: our copies of its ends are closed, its exit watched.
  void adopt(hcs::Child child, hcs::Reaper& reaper);
  // Starts relaying to the host's streams; a missing output stream is drained, a
  // missing input is closed.
  void connect(StdioStreams host);

  ~GuestProcess();

  uint32_t pid() const noexcept { return static_cast<uint32_t>(child_.pid()); }
  bool has_console() const noexcept { return static_cast<bool>(pty_master_); }
  // Runs `done` with the exit code once the process has exited and its output is
  // relayed (or a grace period for lingering output holders has passed).
  void on_finished(std::function<void(int exit_code)> done);
  std::optional<int> exit_code() const noexcept { return finished_ ? std::optional(exit_code_) : std::nullopt; }
  bool exited() const noexcept { return exited_; }
  // Returns false when the process is gone.
  bool signal(int sig);
  void resize(uint16_t height, uint16_t width);
  // Ends the relays (e.g. when the gcs shuts down).
  void close_stdio();

 private:
  explicit GuestProcess(boost::asio::any_io_executor ex) : ex_(std::move(ex)) {}
  void open_pty(const std::vector<int32_t>& console_size);
  void relay_done();
  void maybe_finish();
  void drain(const StreamPtr& from);

  boost::asio::any_io_executor ex_;
  hcs::Child child_;
  hcs::UniqueFd pty_master_;
  hcs::UniqueFd child_ends_[3];
  StreamPtr ends_[3];               // our ends: stdin writer, stdout and stderr readers (a tty: 0 and 1 alike)
  std::vector<StreamPtr> streams_;  // every stream we own, closed at the end
  int outputs_running_ = 0;         // output relays not yet at EOF
  bool exited_ = false;
  bool finished_ = false;
  int exit_code_ = 0;
  std::vector<std::function<void(int)>> waiters_;
  std::shared_ptr<boost::asio::steady_timer> grace_timer_;
};

// The shell form of an environment map, with PATH defaulted.
std::vector<std::string> environment_strings(const std::map<std::string, std::string>& env);

}  // namespace gcs
