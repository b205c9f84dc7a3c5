// Stream: one byte-stream connection (a socket, a pipe, a tty, a virtio-serial port or
// a mux port), driven asynchronously on an Asio executor. Everything above transport
// (bridge, stdio relay, logs) sees only this interface.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "hcs/core/fd.hpp"

namespace hcs::transport {

using error_code = boost::system::error_code;
using IoHandler = std::function<void(const error_code&, std::size_t)>;

class Stream {
 public:
  virtual ~Stream() = default;
  // At most one read and one write may be outstanding at a time. A read that reaches
  // the end of the stream completes with boost::asio::error::eof.
  virtual void async_read_some(std::span<std::byte> buf, IoHandler handler) = 0;
  virtual void async_write_some(std::span<const std::byte> buf, IoHandler handler) = 0;
  // Writes what can be written now without blocking, when no write is outstanding;
  // returns the count (0 when nothing could be, or the stream cannot do this).
  virtual std::size_t try_write_some(std::span<const std::byte>) { return 0; }
  // Half-close: the peer reads EOF; this side can still read.
  virtual void shutdown_write() = 0;
  // Ends the stream; outstanding operations complete with operation_aborted.
  virtual void close() = 0;
  virtual boost::asio::any_io_executor get_executor() = 0;
};
using StreamPtr = std::shared_ptr<Stream>;

// A Stream over a file descriptor. Sockets half-close with shutdown(SHUT_WR); other
// kinds (pipes, ttys, char devices) close their fd instead, or ignore it.
class FdStream final : public Stream, public std::enable_shared_from_this<FdStream> {
 public:
  enum class Kind { Socket, Pipe, Tty, Device };
  static std::shared_ptr<FdStream> adopt(boost::asio::any_io_executor ex, UniqueFd fd, Kind kind);
  // A stream over a copy of a caller's fd (e.g. our stdin), which stays the caller's.
  static std::shared_ptr<FdStream> copy_of(boost::asio::any_io_executor ex, int fd);
  // Opens the FIFO at `path` (O_RDONLY, O_WRONLY or O_RDWR) without blocking and without
  // following a symlink; anything but a FIFO there is ErrInvalidArg.
  static std::shared_ptr<FdStream> open_fifo(boost::asio::any_io_executor ex, const std::string& path, int flags);
  ~FdStream() override;

  void async_read_some(std::span<std::byte> buf, IoHandler handler) override;
  void async_write_some(std::span<const std::byte> buf, IoHandler handler) override;
  std::size_t try_write_some(std::span<const std::byte> buf) override;
  void shutdown_write() override;
  void close() override;
  boost::asio::any_io_executor get_executor() override;
  int native_handle();

 private:
  struct Impl;
  FdStream(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Reads exactly buf.size() bytes (eof before that is an error: eof if nothing was
// read, else boost::asio::error::misc_errors::eof too, with the partial count).
void async_read_exact(const StreamPtr& s, std::span<std::byte> buf, IoHandler done);
// Writes all of buf.
void async_write_all(const StreamPtr& s, std::span<const std::byte> buf, IoHandler done);

// Serialises writes to one stream: send() may be called at any time; data goes out
// in order. A write error is reported once to on_error and drops the rest.
class WriteQueue : public std::enable_shared_from_this<WriteQueue> {
 public:
  static std::shared_ptr<WriteQueue> create(StreamPtr stream, std::function<void(const error_code&)> on_error);
  void send(std::string bytes);
  // Runs `then` once everything queued so far is written (or the queue failed).
  void flush(std::function<void()> then);
  std::size_t pending_bytes() const noexcept { return pending_; }

 private:
  WriteQueue(StreamPtr s, std::function<void(const error_code&)> on_error)
      : stream_(std::move(s)), on_error_(std::move(on_error)) {}
  void pump();
  StreamPtr stream_;
  std::function<void(const error_code&)> on_error_;
  std::deque<std::string> queue_;
  std::deque<std::function<void()>> flushes_;  // run when queue_ drains
  std::size_t pending_ = 0;
  bool writing_ = false;
  bool failed_ = false;
};

// Copies `from` to `to` until EOF on `from`, then half-closes `to`. `done` gets the
// first error other than EOF (or success).
void relay(const StreamPtr& from, const StreamPtr& to, std::function<void(const error_code&)> done);

}  // namespace hcs::transport
