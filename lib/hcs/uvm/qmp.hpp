// Qmp: an asynchronous client of the QEMU Machine Protocol over QEMU's unix socket.
//
// QMP is newline-delimited JSON. The client tags each command with its own "id" and
// matches replies by it (never by order); asynchronous events go to on_event handlers.
// Everything runs on the connection's executor: callbacks and handlers are invoked
// there, and async_execute()/close() may be called from any thread. Register handlers
// from the executor (e.g. in the async_connect callback): events that arrive before a
// handler is registered are not replayed.
//
// Failure is always delivered, never a hang: when QEMU closes the socket (exits, crashes,
// is killed), sends a line over kMaxLine bytes or something that is not a JSON object,
// or close() is called, every pending command and device_del fails with
// hr::BridgeClosed and the on_close handlers run once.
//
// Lifetime: while the connection is open it keeps itself alive (its pending read holds a
// reference); it ends with QEMU or with close(). Handlers that capture an owner of the
// Qmp form a cycle that close() (or QEMU's exit) breaks.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hcs/core/error.hpp"
#include "hcs/core/json.hpp"
#include "hcs/transport/stream.hpp"

namespace hcs::uvm {

class Qmp : public std::enable_shared_from_this<Qmp> {
 public:
  static constexpr std::size_t kMaxLine = 1u << 20;
  // How long the greeting and qmp_capabilities may take once connected.
  static constexpr std::chrono::milliseconds kHandshakeTimeout{10000};

  using ConnectHandler = std::function<void(Result<std::shared_ptr<Qmp>>)>;
  using EventHandler = std::function<void(const std::string& name, const Json& data)>;
  using CloseHandler = std::function<void(const Error&)>;

  // Connects to QEMU's QMP unix socket, reads the greeting and sends qmp_capabilities.
  // A missing socket or a refused connection is retried until `wait` has passed (QEMU
  // creates the socket a few ms after it starts); then the handshake gets kHandshakeTimeout.
  static void async_connect(boost::asio::any_io_executor ex, std::string path, std::chrono::milliseconds wait,
                            ConnectHandler done);
  // The same handshake over a stream that is already connected (tests, inherited fds).
  static void async_handshake(transport::StreamPtr stream, std::chrono::milliseconds timeout, ConnectHandler done);

  // Runs a command; `done` gets its "return" value, or an hcs::Error whose message is
  // QMP's "<class>: <desc>" (e.g. "DeviceNotFound: Device 'x' not found"), wrapped with
  // "qmp <command>". DeviceNotFound maps to hr::ErrNotFound, CommandNotFound to
  // hr::NotImpl, other classes to hr::Fail. A null or empty-object `arguments` is omitted.
  // A positive `timeout` fails the command with hr::VmcomputeTimeout if no reply came by
  // then (a late reply is dropped); zero waits for as long as the connection lives.
  void async_execute(std::string command, Json arguments, std::function<void(Result<Json>)> done,
                     std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  // Adds a handler for every asynchronous event: its name ("SHUTDOWN", "DEVICE_DELETED")
  // and its "data" (an empty object when QEMU sent none).
  void on_event(EventHandler handler);

  // Runs device_del and completes once QEMU has both accepted the command and reported
  // DEVICE_DELETED for `id` (in either order), with QEMU's error if device_del fails, or
  // with hr::VmcomputeTimeout when the event does not come within `timeout` (e.g. a PCI
  // device whose guest ignores the unplug request). A zero timeout waits for as long as
  // the connection lives.
  void async_device_del(std::string id, std::chrono::milliseconds timeout, std::function<void(Result<void>)> done);

  // Adds a handler run once when the connection ends, with the reason. Registered after
  // the end, it runs (posted) with that same reason.
  void on_close(CloseHandler handler);
  // Ends the connection: every pending command fails with "closed by the host".
  void close();

  bool closed() const noexcept { return closed_; }
  // QEMU's greeting: {"QMP": {"version": ..., "capabilities": [...]}}.
  const Json& greeting() const noexcept { return greeting_; }
  boost::asio::any_io_executor get_executor() { return stream_->get_executor(); }

 private:
  explicit Qmp(transport::StreamPtr stream);
  void start_reading();
  void read_more();
  void on_line(std::string_view line);
  void on_reply(const Json& msg);
  void on_event_message(const Json& msg);
  void send(std::string command, Json arguments, std::function<void(Result<Json>)> done,
            std::chrono::milliseconds timeout);
  void device_del(std::string id, std::chrono::milliseconds timeout, std::function<void(Result<void>)> done);
  void finish_device_del(uint64_t key, std::optional<Error> error);
  void expire(uint64_t id, std::chrono::milliseconds after);
  void fail_all(const Error& why);

  struct Pending {
    std::string command;
    std::function<void(Result<Json>)> done;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  struct DeviceDel {
    std::string id;
    std::function<void(Result<void>)> done;
    std::unique_ptr<boost::asio::steady_timer> timer;
    bool accepted = false;  // device_del returned success
    bool deleted = false;   // DEVICE_DELETED seen
  };

  transport::StreamPtr stream_;
  std::shared_ptr<transport::WriteQueue> out_;
  std::string inbuf_;
  std::vector<char> chunk_;
  std::map<uint64_t, Pending> pending_;
  std::map<uint64_t, DeviceDel> device_dels_;
  std::vector<EventHandler> event_handlers_;
  std::vector<CloseHandler> close_handlers_;
  std::optional<Error> close_reason_;
  Json greeting_;
  std::function<void(const Json&)> on_greeting_;        // while waiting for the greeting
  std::function<void(const Error&)> on_handshake_error_;  // until the handshake is over
  uint64_t next_id_ = 1;
  uint64_t next_del_ = 1;
  std::atomic<bool> closed_{false};  // read by closed() from any thread
  bool reading_ = false;
};

}  // namespace hcs::uvm
