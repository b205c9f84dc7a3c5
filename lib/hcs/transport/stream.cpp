#include "hcs/transport/stream.hpp"

#include "hcs/core/error.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <boost/asio/error.hpp>
#include <string>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <vector>

namespace hcs::transport {

namespace asio = boost::asio;

struct FdStream::Impl {
  Impl(asio::any_io_executor ex, int fd, Kind k) : desc(ex, fd), kind(k) {}
  asio::posix::stream_descriptor desc;
  Kind kind;
};

FdStream::FdStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
std::shared_ptr<FdStream> FdStream::copy_of(boost::asio::any_io_executor ex, int fd) {
  int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) throw_errno("dup");
  return adopt(std::move(ex), UniqueFd(copy), Kind::Pipe);
}

std::shared_ptr<FdStream> FdStream::open_fifo(boost::asio::any_io_executor ex, const std::string& path, int flags) {
  // Checked before the open too: opening some devices has effects of its own.
  struct stat before{};
  if (::lstat(path.c_str(), &before) != 0 || !S_ISFIFO(before.st_mode))
    throw Error(hr::ErrInvalidArg, "'" + path + "' is not a FIFO");
  UniqueFd fd(::open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) throw_errno("open " + path);
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0 || !S_ISFIFO(st.st_mode)) throw Error(hr::ErrInvalidArg, "'" + path + "' is not a FIFO");
  return adopt(std::move(ex), std::move(fd), Kind::Pipe);
}

FdStream::~FdStream() = default;

std::shared_ptr<FdStream> FdStream::adopt(asio::any_io_executor ex, UniqueFd fd, Kind kind) {
  set_nonblocking(fd.get(), true);
  return std::shared_ptr<FdStream>(new FdStream(std::make_unique<Impl>(std::move(ex), fd.release(), kind)));
}

void FdStream::async_read_some(std::span<std::byte> buf, IoHandler handler) {
  auto self = shared_from_this();
  impl_->desc.async_read_some(asio::buffer(buf.data(), buf.size()),
                              [self, handler = std::move(handler)](error_code ec, std::size_t n) {
                                // A pty master reports the slave's hang-up as EIO: that is its EOF.
                                if (ec == asio::error::basic_errors(EIO) && self->impl_->kind == Kind::Tty)
                                  ec = asio::error::eof;
                                handler(ec, n);
                              });
}

void FdStream::async_write_some(std::span<const std::byte> buf, IoHandler handler) {
  auto self = shared_from_this();
  impl_->desc.async_write_some(asio::const_buffer(buf.data(), buf.size()),
                               [self, handler = std::move(handler)](error_code ec, std::size_t n) { handler(ec, n); });
}

std::size_t FdStream::try_write_some(std::span<const std::byte> buf) {
  if (!impl_->desc.is_open()) return 0;
  ssize_t n;
  do n = ::write(impl_->desc.native_handle(), buf.data(), buf.size());
  while (n < 0 && errno == EINTR);
  return n > 0 ? static_cast<std::size_t>(n) : 0;  // errors surface on the asynchronous path
}

void FdStream::shutdown_write() {
  if (!impl_->desc.is_open()) return;
  switch (impl_->kind) {
    case Kind::Socket: ::shutdown(impl_->desc.native_handle(), SHUT_WR); break;
    case Kind::Pipe: close(); break;
    case Kind::Tty: case Kind::Device: break;  // no half-close on a terminal or a port
  }
}

void FdStream::close() {
  error_code ignored;
  if (impl_->desc.is_open()) impl_->desc.close(ignored);
}

asio::any_io_executor FdStream::get_executor() { return impl_->desc.get_executor(); }
int FdStream::native_handle() { return impl_->desc.native_handle(); }

namespace {

struct ExactOp : std::enable_shared_from_this<ExactOp> {
  StreamPtr s;
  std::byte* data;
  std::size_t size, done = 0;
  bool writing;
  IoHandler handler;
  void step() {
    if (done == size) return handler({}, done);
    auto self = shared_from_this();
    auto cb = [self](const error_code& ec, std::size_t n) {
      self->done += n;
      if (ec) return self->handler(ec, self->done);
      self->step();
    };
    if (writing)
      s->async_write_some(std::span<const std::byte>(data + done, size - done), cb);
    else
      s->async_read_some(std::span<std::byte>(data + done, size - done), cb);
  }
};

}  // namespace

void async_read_exact(const StreamPtr& s, std::span<std::byte> buf, IoHandler done) {
  auto op = std::make_shared<ExactOp>();
  op->s = s;
  op->data = buf.data();
  op->size = buf.size();
  op->writing = false;
  op->handler = std::move(done);
  op->step();
}

void async_write_all(const StreamPtr& s, std::span<const std::byte> buf, IoHandler done) {
  auto op = std::make_shared<ExactOp>();
  op->s = s;
  op->data = const_cast<std::byte*>(buf.data());
  op->size = buf.size();
  op->writing = true;
  op->handler = std::move(done);
  op->step();
}

std::shared_ptr<WriteQueue> WriteQueue::create(StreamPtr stream, std::function<void(const error_code&)> on_error) {
  return std::shared_ptr<WriteQueue>(new WriteQueue(std::move(stream), std::move(on_error)));
}

void WriteQueue::send(std::string bytes) {
  if (failed_ || bytes.empty()) return;
  if (!writing_ && queue_.empty()) {
    // The common case of a small message on an idle stream: straight to the kernel,
    // with no asynchronous operation and no completion to run.
    std::size_t n = stream_->try_write_some(std::as_bytes(std::span(bytes.data(), bytes.size())));
    if (n == bytes.size()) return;
    bytes.erase(0, n);
  }
  pending_ += bytes.size();
  queue_.push_back(std::move(bytes));
  if (!writing_) pump();
}

void WriteQueue::flush(std::function<void()> then) {
  if (failed_ || (!writing_ && queue_.empty())) return then();
  flushes_.push_back(std::move(then));
}

void WriteQueue::pump() {
  if (queue_.empty()) {
    writing_ = false;
    auto flushes = std::move(flushes_);
    flushes_.clear();
    for (auto& f : flushes) f();
    return;
  }
  writing_ = true;
  auto self = shared_from_this();
  const std::string& front = queue_.front();
  async_write_all(stream_, std::as_bytes(std::span(front.data(), front.size())),
                  [self](const error_code& ec, std::size_t) {
                    self->pending_ -= self->queue_.front().size();
                    self->queue_.pop_front();
                    if (ec) {
                      self->failed_ = true;
                      self->writing_ = false;
                      self->queue_.clear();
                      self->pending_ = 0;
                      auto flushes = std::move(self->flushes_);
                      self->flushes_.clear();
                      if (self->on_error_) self->on_error_(ec);
                      for (auto& f : flushes) f();
                      return;
                    }
                    self->pump();
                  });
}

namespace {

struct RelayOp : std::enable_shared_from_this<RelayOp> {
  StreamPtr from, to;
  std::vector<std::byte> buf = std::vector<std::byte>(64 * 1024);
  std::function<void(const error_code&)> done;
  void step() {
    auto self = shared_from_this();
    from->async_read_some(buf, [self](const error_code& ec, std::size_t n) {
      if (ec) {
        if (ec == asio::error::eof) {
          self->to->shutdown_write();
          return self->done({});
        }
        return self->done(ec);
      }
      async_write_all(self->to, std::span<const std::byte>(self->buf.data(), n),
                      [self](const error_code& wec, std::size_t) {
                        if (wec) return self->done(wec);
                        self->step();
                      });
    });
  }
};

}  // namespace

void relay(const StreamPtr& from, const StreamPtr& to, std::function<void(const error_code&)> done) {
  auto op = std::make_shared<RelayOp>();
  op->from = from;
  op->to = to;
  op->done = std::move(done);
  op->step();
}

}  // namespace hcs::transport
