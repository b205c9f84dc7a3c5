// run_guest_command: the whole of "run this command in the guest with my stdio":
// wait for a gcs to dial in, negotiate, start the process, relay the caller's stdio
// (or a terminal), and return the process's exit code.
//
// GuestSession is the part of that every such front end shares (the container runner
// in hcs/container/run.hpp too): the event loop, the one accepted gcs, the caller's
// fds relayed to a guest process, the terminal and the caller's signals.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "hcs/core/error.hpp"
#include "hcs/schema/bridge.hpp"
#include "hcs/transport/address.hpp"

namespace hcs::bridge {

class GuestConnection;
class GuestProcess;
class GuestSession;

// What a front end adds around a session, e.g. booting the VM whose gcs dials in.
class SessionHooks {
 public:
  virtual ~SessionHooks() = default;
  // The session listens: start what will dial in. Report failures with session.fail().
  virtual void listening(GuestSession& session) { (void)session; }
  // The gcs has negotiated; call `ready` (once) to go on with the run.
  virtual void connected(GuestSession& session, std::shared_ptr<GuestConnection> guest, std::function<void()> ready) {
    (void)session, (void)guest;
    ready();
  }
  // The run is over: release what listening() started, on the session's thread, before
  // the session's event loop goes away. `error` is how the run failed, if it did; a
  // returned error replaces it (e.g. the VM's own reason for a dropped connection).
  virtual std::optional<Error> finished(GuestSession& session, const std::optional<Error>& error) {
    (void)session, (void)error;
    return std::nullopt;
  }
};

// What a session with one gcs needs: where it dials in, and the caller's stdio.
struct SessionOptions {
  transport::Address listen;                 // where the gcs dials in
  std::chrono::milliseconds connect_timeout = std::chrono::minutes(2);
  int in_fd = 0, out_fd = 1, err_fd = 2;
  bool stdin_open = false;                   // -i: relay our stdin
  bool tty = false;                          // -t: a pty in the guest, our terminal raw
  bool forward_guest_log = false;            // copy the gcs's log port to err_fd
  SessionHooks* hooks = nullptr;             // not owned; outlives the session
};

struct RunOptions : SessionOptions {
  std::vector<std::string> args;
  std::map<std::string, std::string> env;    // PATH defaults in the guest
  std::string cwd = "/";
};

// Returns the exit code of the process; throws hcs::Error when it could not be run.
int run_guest_command(const RunOptions& options);


class GuestSession {
 public:
  // Listens at options.listen (throws when it cannot); with tty and stdin_open the
  // caller's terminal is raw until destruction.
  explicit GuestSession(const SessionOptions& options);
  ~GuestSession();
  GuestSession(const GuestSession&) = delete;
  GuestSession& operator=(const GuestSession&) = delete;

  boost::asio::any_io_executor get_executor();
  // Runs the loop: waits for one gcs, negotiates, hands it to on_ready, and returns
  // when stop() or fail() is called. Throws the first error given to fail(), or the
  // failure to connect. SIGINT and SIGTERM before on_signal() end the run as a failure.
  void run(std::function<void(std::shared_ptr<GuestConnection>)> on_ready);
  void stop();
  void fail(Error e);  // the first error wins
  bool failed() const;

  // Sets the CreateStd*Pipe flags the options ask for (no stderr with a terminal).
  void request_stdio(schema::ProcessParameters& p) const;
  // {rows, columns} of the caller's terminal, when tty and there is one.
  std::optional<std::pair<uint16_t, uint16_t>> terminal_size() const;
  // Relays `process`'s streams to and from the caller's fds; outputs_done runs once its
  // stdout and stderr have ended. Its terminal then follows the caller's (SIGWINCH).
  void attach(std::shared_ptr<GuestProcess> process, std::function<void()> outputs_done);
  // Sends the caller's terminal size to the attached process now.
  void resize();
  // SIGINT and SIGTERM from now on go to `handler`.
  void on_signal(std::function<void(int signal)> handler);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hcs::bridge
