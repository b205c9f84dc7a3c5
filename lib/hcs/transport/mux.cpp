// Mux sessions. Everything here runs on the carrier's executor (no locks): the session
// reads frames one at a time, writes every frame through one WriteQueue, and keeps the
// streams in a table keyed by stream id. Dialers hand out ids in increasing order, so
// frames that arrive for a stream after it was closed here are simply dropped.
#include "hcs/transport/mux.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "hcs/core/error.hpp"

namespace hcs::transport::mux {

namespace asio = boost::asio;

namespace {

void put_u32(std::byte* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte(v >> (8 * i));
}
uint32_t get_u32(const std::byte* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t(p[i]) << (8 * i);
  return v;
}

[[noreturn]] void bad_frame(const std::string& why) { throw Error(hr::ErrInvalidArg, "mux: " + why); }

// Runs a completion handler later on `ex`: never inline from the initiating call, so
// callers don't see their own handler re-enter them.
template <class Handler, class... Args>
void complete(const asio::any_io_executor& ex, Handler h, Args... args) {
  asio::post(ex, [h = std::move(h), args...]() mutable { h(args...); });
}

const error_code kReset = asio::error::connection_reset;
const error_code kAborted = asio::error::operation_aborted;

}  // namespace

FrameHeader decode_header(std::span<const std::byte, kHeaderSize> b) {
  const auto type = uint8_t(b[0]);
  if (type < uint8_t(FrameType::Connect) || type > uint8_t(FrameType::Close))
    bad_frame("unknown frame type " + std::to_string(type));
  if (b[1] != std::byte{0} || b[2] != std::byte{0} || b[3] != std::byte{0})
    bad_frame("non-zero flags or reserved bytes in a frame header");
  FrameHeader h{FrameType(type), get_u32(&b[4]), get_u32(&b[8]), get_u32(&b[12])};
  if (h.stream == 0) bad_frame("frame with stream id 0");
  if (h.type == FrameType::Data) {
    if (h.length == 0 || h.length > kMaxData) bad_frame("DATA length " + std::to_string(h.length) + " out of range");
  } else if (h.length != 0) {
    bad_frame("non-DATA frame with length " + std::to_string(h.length));
  }
  return h;
}

std::array<std::byte, kHeaderSize> encode_header(const FrameHeader& h) {
  std::array<std::byte, kHeaderSize> b{};
  b[0] = std::byte(h.type);
  put_u32(&b[4], h.stream);
  put_u32(&b[8], h.arg);
  put_u32(&b[12], h.length);
  return b;
}

namespace {

// One mux port connection. The session's table holds it weakly, so an application
// that drops its last reference closes the stream (CLOSE goes to the peer).
class MuxStream final : public Stream {
 public:
  MuxStream(std::weak_ptr<Session::Impl> impl, asio::any_io_executor ex, uint32_t id)
      : impl_(std::move(impl)), ex_(std::move(ex)), id_(id) {}
  ~MuxStream() override { close(); }

  void async_read_some(std::span<std::byte> buf, IoHandler handler) override;
  void async_write_some(std::span<const std::byte> buf, IoHandler handler) override;
  std::size_t try_write_some(std::span<const std::byte> buf) override;
  void shutdown_write() override;
  void close() override;
  asio::any_io_executor get_executor() override { return ex_; }

  // Called by the session for frames addressed to this stream; throw on violations.
  void on_data(std::span<const std::byte> data);
  void on_credit(uint32_t bytes);
  void on_shutdown();
  void on_peer_close();
  void on_reset();
  void set_registered() { registered_ = true; }

 private:
  std::shared_ptr<Session::Impl> live() const;  // the session, if frames may still be sent
  std::size_t consume(std::span<std::byte> out);
  void send_data();

  std::weak_ptr<Session::Impl> impl_;
  asio::any_io_executor ex_;
  uint32_t id_;
  bool registered_ = false;  // in the session's table (accepted, not closed by either side)
  bool closed_ = false, shut_ = false, peer_shut_ = false, peer_closed_ = false, reset_ = false;

  std::deque<std::string> rx_;  // received DATA not yet read; rx_off_ into the front chunk
  std::size_t rx_off_ = 0, rx_size_ = 0;
  uint32_t rx_used_ = 0;     // bytes received and not yet credited back: the peer's view of our window
  uint32_t rx_unacked_ = 0;  // of which the application has consumed
  uint32_t tx_credit_ = kWindow;

  std::span<std::byte> read_buf_;
  IoHandler read_handler_;
  std::span<const std::byte> write_buf_;
  IoHandler write_handler_;
};

struct ListenState {
  asio::any_io_executor ex;
  std::deque<std::shared_ptr<MuxStream>> backlog;  // accepted, waiting for async_accept
  ConnectHandler waiting;
  error_code failed;  // set once the listener or its session is gone

  void deliver(std::shared_ptr<MuxStream> s) {
    if (waiting) return complete(ex, std::exchange(waiting, {}), error_code{}, StreamPtr(std::move(s)));
    backlog.push_back(std::move(s));
  }
  void fail(const error_code& ec) {
    failed = ec;
    if (waiting) complete(ex, std::exchange(waiting, {}), ec, StreamPtr{});
    auto streams = std::exchange(backlog, {});
    for (auto& s : streams) s->close();
  }
};

}  // namespace

struct Session::Impl : std::enable_shared_from_this<Session::Impl> {
  struct Dial {
    std::shared_ptr<MuxStream> stream;
    ConnectHandler handler;
  };

  asio::any_io_executor ex;
  StreamPtr carrier;
  Role role;
  std::function<void(const error_code&)> on_close;
  std::shared_ptr<WriteQueue> out;
  std::array<std::byte, kHeaderSize> header{};
  std::vector<std::byte> payload;
  bool closed = false;
  uint32_t next_id;
  std::map<uint32_t, std::weak_ptr<MuxStream>> streams;
  std::map<uint32_t, Dial> dials;
  std::map<uint32_t, std::shared_ptr<ListenState>> listeners;

  Impl(StreamPtr c, Role r, std::function<void(const error_code&)> cb)
      : ex(c->get_executor()), carrier(std::move(c)), role(r), on_close(std::move(cb)),
        next_id(r == Role::Guest ? 1 : 2) {}

  void send(FrameType type, uint32_t id, uint32_t arg, std::span<const std::byte> data = {}) {
    if (closed) return;
    const auto h = encode_header({type, id, arg, uint32_t(data.size())});
    std::string frame(kHeaderSize + data.size(), '\0');
    std::memcpy(frame.data(), h.data(), kHeaderSize);
    if (!data.empty()) std::memcpy(frame.data() + kHeaderSize, data.data(), data.size());
    out->send(std::move(frame));
  }

  void read_header() {
    async_read_exact(carrier, header, [self = shared_from_this()](const error_code& ec, std::size_t) {
      if (self->closed) return;
      if (ec) return self->fail(ec);
      FrameHeader h;
      try {
        h = decode_header(self->header);
      } catch (const Error& e) {
        return self->protocol_error(e);
      }
      if (h.length == 0) return self->handle(h);
      self->payload.resize(h.length);
      async_read_exact(self->carrier, self->payload, [self, h](const error_code& ec, std::size_t) {
        if (self->closed) return;
        if (ec) return self->fail(ec);
        self->handle(h);
      });
    });
  }

  void handle(const FrameHeader& h) {
    try {
      dispatch(h);
    } catch (const Error& e) {
      return protocol_error(e);
    }
    if (!closed) read_header();
  }

  void protocol_error(const Error& e) {
    spdlog::warn("mux: breaking the carrier: {}", e.what());
    fail(boost::system::errc::make_error_code(boost::system::errc::protocol_error));
  }

  bool from_peer(uint32_t id) const { return (id % 2 == 1) == (role == Role::Host); }

  void dispatch(const FrameHeader& h) {
    switch (h.type) {
      case FrameType::Connect: return on_connect(h);
      case FrameType::Accept:
      case FrameType::Reject: {
        auto it = dials.find(h.stream);
        if (it == dials.end()) bad_frame("ACCEPT/REJECT for stream " + std::to_string(h.stream) + " that was not dialed");
        Dial d = std::move(it->second);
        dials.erase(it);
        if (h.type == FrameType::Reject) {
          const int err = h.arg ? int(h.arg) : ECONNREFUSED;
          return complete(ex, std::move(d.handler), error_code(err, boost::system::system_category()), StreamPtr{});
        }
        d.stream->set_registered();
        streams[h.stream] = d.stream;
        return complete(ex, std::move(d.handler), error_code{}, StreamPtr(std::move(d.stream)));
      }
      default: break;
    }
    // Frames for a stream this side already closed may still be in flight: drop them.
    auto it = streams.find(h.stream);
    if (it == streams.end()) return;
    auto s = it->second.lock();
    if (!s) return;
    switch (h.type) {
      case FrameType::Data: return s->on_data(std::span(payload.data(), h.length));
      case FrameType::Credit: return s->on_credit(h.arg);
      case FrameType::Shutdown: return s->on_shutdown();
      case FrameType::Close:
        streams.erase(it);
        return s->on_peer_close();
      default: return;
    }
  }

  void on_connect(const FrameHeader& h) {
    if (!from_peer(h.stream) || streams.contains(h.stream))
      bad_frame("CONNECT with invalid or in-use stream id " + std::to_string(h.stream));
    auto l = listeners.find(h.arg);
    if (l == listeners.end()) return send(FrameType::Reject, h.stream, ECONNREFUSED);
    auto s = std::make_shared<MuxStream>(weak_from_this(), ex, h.stream);
    s->set_registered();
    streams[h.stream] = s;
    send(FrameType::Accept, h.stream, 0);
    l->second->deliver(std::move(s));
  }

  uint32_t alloc_id() {
    for (;;) {
      const uint32_t id = next_id;
      next_id += 2;  // wraps; 0 is never used
      if (id != 0 && !streams.contains(id) && !dials.contains(id)) return id;
    }
  }

  // Ends the session: every stream, dial and accept fails with connection_reset.
  void fail(const error_code& why) {
    if (closed) return;
    closed = true;
    // Take the tables first: callbacks below may drop streams, which touch them.
    auto s = std::exchange(streams, {});
    auto d = std::exchange(dials, {});
    auto l = std::exchange(listeners, {});
    for (auto& [id, weak] : s)
      if (auto stream = weak.lock()) stream->on_reset();
    for (auto& [id, dial] : d) complete(ex, std::move(dial.handler), kReset, StreamPtr{});
    for (auto& [port, state] : l) state->fail(kReset);
    carrier->close();
    if (on_close) complete(ex, std::exchange(on_close, {}), why);
  }
};

namespace {

class MuxListener final : public Listener {
 public:
  MuxListener(std::weak_ptr<Session::Impl> impl, uint32_t port, std::shared_ptr<ListenState> st)
      : impl_(std::move(impl)), port_(port), st_(std::move(st)) {}
  ~MuxListener() override { close(); }

  void async_accept(ConnectHandler handler) override {
    if (!st_->backlog.empty()) {
      auto s = std::move(st_->backlog.front());
      st_->backlog.pop_front();
      return complete(st_->ex, std::move(handler), error_code{}, StreamPtr(std::move(s)));
    }
    if (st_->failed) return complete(st_->ex, std::move(handler), st_->failed, StreamPtr{});
    if (st_->waiting) return complete(st_->ex, std::move(handler), error_code(asio::error::already_started), StreamPtr{});
    st_->waiting = std::move(handler);
  }

  void close() override {
    if (st_->failed) return;
    if (auto impl = impl_.lock()) {  // later CONNECTs to the port are rejected
      auto it = impl->listeners.find(port_);
      if (it != impl->listeners.end() && it->second == st_) impl->listeners.erase(it);
    }
    st_->fail(kAborted);
  }

 private:
  std::weak_ptr<Session::Impl> impl_;
  uint32_t port_;
  std::shared_ptr<ListenState> st_;
};

std::shared_ptr<Session::Impl> MuxStream::live() const {
  if (!registered_ || reset_) return nullptr;
  auto impl = impl_.lock();
  return impl && !impl->closed ? impl : nullptr;
}

std::size_t MuxStream::consume(std::span<std::byte> out) {
  std::size_t n = 0;
  while (n < out.size() && !rx_.empty()) {
    const std::string& chunk = rx_.front();
    const std::size_t take = std::min(out.size() - n, chunk.size() - rx_off_);
    std::memcpy(out.data() + n, chunk.data() + rx_off_, take);
    n += take;
    rx_off_ += take;
    if (rx_off_ == chunk.size()) {
      rx_.pop_front();
      rx_off_ = 0;
    }
  }
  rx_size_ -= n;
  rx_unacked_ += uint32_t(n);
  // Return credit in batches, not per read, to keep CREDIT traffic low while the
  // sender always has at least half a window to work with.
  if (rx_unacked_ >= kWindow / 2 && !peer_shut_) {
    if (auto impl = live()) {
      impl->send(FrameType::Credit, id_, rx_unacked_);
      rx_used_ -= rx_unacked_;
      rx_unacked_ = 0;
    }
  }
  return n;
}

void MuxStream::async_read_some(std::span<std::byte> buf, IoHandler handler) {
  if (read_handler_) return complete(ex_, std::move(handler), error_code(asio::error::already_started), std::size_t{0});
  if (closed_) return complete(ex_, std::move(handler), error_code(asio::error::bad_descriptor), std::size_t{0});
  if (buf.empty()) return complete(ex_, std::move(handler), error_code{}, std::size_t{0});
  if (rx_size_ > 0) {
    const std::size_t n = consume(buf);
    return complete(ex_, std::move(handler), error_code{}, n);
  }
  if (peer_shut_) return complete(ex_, std::move(handler), error_code(asio::error::eof), std::size_t{0});
  if (reset_) return complete(ex_, std::move(handler), kReset, std::size_t{0});
  read_buf_ = buf;
  read_handler_ = std::move(handler);
}

void MuxStream::async_write_some(std::span<const std::byte> buf, IoHandler handler) {
  if (write_handler_) return complete(ex_, std::move(handler), error_code(asio::error::already_started), std::size_t{0});
  if (closed_) return complete(ex_, std::move(handler), error_code(asio::error::bad_descriptor), std::size_t{0});
  if (reset_) return complete(ex_, std::move(handler), kReset, std::size_t{0});
  if (peer_closed_ || shut_) return complete(ex_, std::move(handler), error_code(asio::error::broken_pipe), std::size_t{0});
  if (!live()) return complete(ex_, std::move(handler), kReset, std::size_t{0});
  if (buf.empty()) return complete(ex_, std::move(handler), error_code{}, std::size_t{0});
  write_buf_ = buf;
  write_handler_ = std::move(handler);
  if (tx_credit_ > 0) send_data();  // else wait for CREDIT
}

std::size_t MuxStream::try_write_some(std::span<const std::byte> buf) {
  // Queued on the carrier at once, as far as credit allows; no completion to run.
  if (write_handler_ || closed_ || reset_ || peer_closed_ || shut_ || tx_credit_ == 0 || buf.empty()) return 0;
  auto impl = live();
  if (!impl) return 0;
  const auto n = std::min<std::size_t>({buf.size(), tx_credit_, kMaxData});
  impl->send(FrameType::Data, id_, 0, buf.first(n));
  tx_credit_ -= uint32_t(n);
  return n;
}

void MuxStream::send_data() {
  const auto n = std::min<std::size_t>({write_buf_.size(), tx_credit_, kMaxData});
  live()->send(FrameType::Data, id_, 0, write_buf_.first(n));
  tx_credit_ -= uint32_t(n);
  write_buf_ = {};
  complete(ex_, std::exchange(write_handler_, {}), error_code{}, n);
}

void MuxStream::shutdown_write() {
  if (shut_ || closed_) return;
  shut_ = true;
  if (auto impl = live()) impl->send(FrameType::Shutdown, id_, 0);
  if (write_handler_) complete(ex_, std::exchange(write_handler_, {}), kAborted, std::size_t{0});
}

void MuxStream::close() {
  if (closed_) return;
  closed_ = true;
  if (auto impl = live()) {
    impl->send(FrameType::Close, id_, 0);
    impl->streams.erase(id_);
  }
  registered_ = false;
  rx_.clear();
  rx_size_ = 0;
  if (read_handler_) complete(ex_, std::exchange(read_handler_, {}), kAborted, std::size_t{0});
  if (write_handler_) complete(ex_, std::exchange(write_handler_, {}), kAborted, std::size_t{0});
}

void MuxStream::on_data(std::span<const std::byte> data) {
  if (peer_shut_) bad_frame("DATA after SHUTDOWN on stream " + std::to_string(id_));
  if (data.size() > kWindow - rx_used_) bad_frame("peer exceeded the flow-control window on stream " + std::to_string(id_));
  rx_used_ += uint32_t(data.size());
  rx_.emplace_back(reinterpret_cast<const char*>(data.data()), data.size());
  rx_size_ += data.size();
  if (read_handler_) {
    const std::size_t n = consume(read_buf_);
    complete(ex_, std::exchange(read_handler_, {}), error_code{}, n);
  }
}

void MuxStream::on_credit(uint32_t bytes) {
  if (bytes > kWindow - tx_credit_) bad_frame("CREDIT beyond the window on stream " + std::to_string(id_));
  tx_credit_ += bytes;
  if (write_handler_ && tx_credit_ > 0) send_data();
}

void MuxStream::on_shutdown() {
  peer_shut_ = true;
  if (read_handler_) complete(ex_, std::exchange(read_handler_, {}), error_code(asio::error::eof), std::size_t{0});
}

void MuxStream::on_peer_close() {
  peer_closed_ = true;
  registered_ = false;
  on_shutdown();
  if (write_handler_) complete(ex_, std::exchange(write_handler_, {}), error_code(asio::error::broken_pipe), std::size_t{0});
}

void MuxStream::on_reset() {
  reset_ = true;
  registered_ = false;
  if (read_handler_) complete(ex_, std::exchange(read_handler_, {}), kReset, std::size_t{0});
  if (write_handler_) complete(ex_, std::exchange(write_handler_, {}), kReset, std::size_t{0});
}

}  // namespace

std::shared_ptr<Session> Session::start(StreamPtr carrier, Role role, std::function<void(const error_code&)> on_close) {
  auto impl = std::make_shared<Impl>(std::move(carrier), role, std::move(on_close));
  // The queue must not keep the session alive: it reports to it only while it exists.
  impl->out = WriteQueue::create(impl->carrier, [weak = std::weak_ptr<Impl>(impl)](const error_code& ec) {
    if (auto self = weak.lock()) self->fail(ec);
  });
  impl->read_header();
  return std::shared_ptr<Session>(new Session(std::move(impl)));
}

Session::Session(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Session::~Session() {
  // The owner is gone, so nobody is left to tell: don't call on_close.
  impl_->on_close = nullptr;
  impl_->fail(kAborted);
}

void Session::async_dial(uint32_t port, ConnectHandler handler) {
  if (impl_->closed) return complete(impl_->ex, std::move(handler), kReset, StreamPtr{});
  const uint32_t id = impl_->alloc_id();
  impl_->dials[id] = {std::make_shared<MuxStream>(impl_, impl_->ex, id), std::move(handler)};
  impl_->send(FrameType::Connect, id, port);
}

std::unique_ptr<Listener> Session::listen(uint32_t port) {
  if (impl_->listeners.contains(port)) throw Error(hr::Fail, "mux: port " + std::to_string(port) + " already has a listener");
  auto st = std::make_shared<ListenState>();
  st->ex = impl_->ex;
  if (impl_->closed)
    st->failed = kReset;
  else
    impl_->listeners[port] = st;
  return std::make_unique<MuxListener>(impl_, port, std::move(st));
}

boost::asio::any_io_executor Session::get_executor() { return impl_->ex; }

void Session::close() { impl_->fail(kAborted); }

std::size_t Session::open_streams() const { return impl_->streams.size(); }

}  // namespace hcs::transport::mux
