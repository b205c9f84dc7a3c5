#include "hcs/ttrpc/server.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "hcs/transport/deadlines.hpp"
#include "hcs/transport/stream.hpp"
#include "hcs/ttrpc/frame.hpp"
#include "hcs/ttrpc/reader.hpp"
#include "hcs/ttrpc/socket.hpp"
#include "proto/ttrpc.pb.h"

namespace hcs::ttrpc {

namespace asio = boost::asio;
using transport::error_code;
using Clock = std::chrono::steady_clock;

namespace server_detail {

// Deadlines beyond this are treated as this far away (and cannot overflow the clock).
constexpr int64_t kMaxTimeoutNs = int64_t(10) * 365 * 24 * 3600 * 1'000'000'000;

// One listening socket.
struct Listener {
  Listener(asio::any_io_executor ex, int fd) : desc(ex, fd), retry(ex) {}
  asio::posix::stream_descriptor desc;
  asio::steady_timer retry;  // backs off while the process is out of fds
  std::string path;          // the socket file to remove on close ("" for none)
  dev_t dev = 0;
  ino_t ino = 0;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::weak_ptr<Server::Impl> server, transport::StreamPtr stream, PeerCredentials peer)
      : server_(std::move(server)),
        stream_(std::move(stream)),
        peer_(peer),
        deadlines_(*this, stream_->get_executor(), [this](uint64_t id) { expire(uint32_t(id)); }) {}
  void start();
  void finish();  // hangs up now; pending handlers' replies are dropped
  void answer(uint32_t id, uint64_t token, Result<std::string> result);

 private:
  void on_frame(const Header& h, std::string_view payload);
  void on_request(uint32_t id, std::string_view bytes);
  void on_oversized(const Header& h);
  void on_end(const error_code& ec, bool inside_frame);
  void send_payload(uint32_t id, std::string payload);
  void send_error(uint32_t id, const Error& e);
  void expire(uint32_t id);

  struct Pending {
    uint64_t token;  // tells this request from a later one reusing its stream id
    std::optional<transport::Deadlines::Handle> deadline;
    std::string what;  // "service/method", for the deadline message
  };
  std::weak_ptr<Server::Impl> server_;
  transport::StreamPtr stream_;
  PeerCredentials peer_;
  std::shared_ptr<transport::WriteQueue> out_;
  std::shared_ptr<FrameReader> reader_;
  std::unordered_map<uint32_t, Pending> pending_;
  transport::Deadlines deadlines_;
  uint64_t next_token_ = 1;
  bool closed_ = false;
};

}  // namespace server_detail

using server_detail::Connection;
using server_detail::Listener;

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  Impl(asio::any_io_executor e, ServerOptions o) : ex(std::move(e)), options(o) {}
  void add_listener(UniqueFd fd, std::string path);
  void accept(const std::shared_ptr<Listener>& l);
  void adopt(UniqueFd fd);
  void close();
  // The handler, or null and why not ("service x" / "method y", as ttrpc words it).
  std::pair<std::shared_ptr<Handler>, std::string> find(const std::string& service, const std::string& method) const;

  asio::any_io_executor ex;
  ServerOptions options;
  std::map<std::string, std::map<std::string, std::shared_ptr<Handler>, std::less<>>, std::less<>> services;
  std::vector<std::shared_ptr<Listener>> listeners;
  std::unordered_set<std::shared_ptr<Connection>> connections;
};

// ---- connection ----------------------------------------------------------------------

namespace server_detail {

void Connection::start() {
  std::weak_ptr<Connection> weak = shared_from_this();
  out_ = transport::WriteQueue::create(stream_, [weak](const error_code& ec) {
    if (auto self = weak.lock()) {
      spdlog::debug("ttrpc: write to pid {} failed: {}", self->peer_.pid, ec.message());
      self->finish();
    }
  });
  FrameReader::Events ev;
  ev.frame = [weak](const Header& h, std::string_view payload) {
    if (auto self = weak.lock()) self->on_frame(h, payload);
  };
  ev.oversized = [weak](const Header& h) {
    if (auto self = weak.lock()) self->on_oversized(h);
  };
  ev.end = [weak](const error_code& ec, bool inside_frame) {
    if (auto self = weak.lock()) self->on_end(ec, inside_frame);
  };
  reader_ = FrameReader::start(stream_, std::move(ev));
}

void Connection::finish() {
  if (closed_) return;
  closed_ = true;
  auto self = shared_from_this();  // the server's set may hold the last reference
  if (reader_) reader_->stop();
  stream_->close();
  pending_.clear();
  deadlines_.clear();
  if (auto server = server_.lock()) server->connections.erase(self);
}

void Connection::on_frame(const Header& h, std::string_view payload) {
  if (h.type == uint8_t(MessageType::Request)) return on_request(h.stream_id, payload);
  // Responses, data and any newer type: ignored, so that newer peers keep working.
  spdlog::debug("ttrpc: ignoring frame of type {} on stream {}", h.type, h.stream_id);
}

void Connection::on_oversized(const Header& h) {
  spdlog::debug("ttrpc: pid {} sent a frame of {} bytes on stream {}; discarding it", peer_.pid, h.length,
                h.stream_id);
  send_error(h.stream_id, status_error(Code::ResourceExhausted,
                                       "message length " + std::to_string(h.length) +
                                           " exceeds maximum message size of " + std::to_string(kMaxPayload)));
}

void Connection::on_request(uint32_t id, std::string_view bytes) {
  if (id % 2 == 0)
    return send_error(id, status_error(Code::InvalidArgument, "stream id " + std::to_string(id) +
                                                                  " is even: client-initiated streams must be odd"));
  if (pending_.count(id))
    return send_error(id, status_error(Code::InvalidArgument, "stream id " + std::to_string(id) + " is already in use"));
  hcskit::ttrpc::Request req;
  if (!req.ParseFromArray(bytes.data(), int(bytes.size())))
    return send_error(id, status_error(Code::InvalidArgument, "unmarshal request error: not a ttrpc Request"));
  auto server = server_.lock();
  if (!server) return send_error(id, status_error(Code::Unavailable, "ttrpc: server is closing"));
  auto handler = server->find(req.service(), req.method());
  if (!handler.first) return send_error(id, status_error(Code::Unimplemented, std::move(handler.second)));

  Call call;
  call.service = std::move(*req.mutable_service());
  call.method = std::move(*req.mutable_method());
  call.payload = std::move(*req.mutable_payload());
  for (auto& kv : *req.mutable_metadata())
    call.metadata.emplace(std::move(*kv.mutable_key()), std::move(*kv.mutable_value()));
  call.stream_id = id;
  call.peer_uid = peer_.uid;
  call.peer_pid = peer_.pid;

  const uint64_t token = next_token_++;
  Pending p{token, std::nullopt, {}};
  if (req.timeout_nano() > 0) {
    auto deadline = Clock::now() + std::chrono::nanoseconds(std::min(req.timeout_nano(), kMaxTimeoutNs));
    call.deadline = deadline;
    p.deadline = deadlines_.add(deadline, id);
    p.what = call.service + "/" + call.method;
  }
  pending_.emplace(id, std::move(p));

  // The reply hops to the loop (inline when already on it) and finds its request by
  // stream id and token, so a late, repeated or stray answer changes nothing.
  Reply reply = [weak = weak_from_this(), ex = stream_->get_executor(), id, token](Result<std::string> r) {
    asio::dispatch(ex, [weak, id, token, r = std::move(r)]() mutable {
      if (auto self = weak.lock()) self->answer(id, token, std::move(r));
    });
  };
  try {
    (*handler.first)(std::move(call), reply);
  } catch (const Error& e) {
    reply(e);
  } catch (const std::exception& e) {
    reply(status_error(Code::Unknown, e.what()));
  }
}

void Connection::answer(uint32_t id, uint64_t token, Result<std::string> result) {
  if (closed_) return;
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second.token != token) {
    spdlog::debug("ttrpc: dropping a late reply on stream {}", id);
    return;
  }
  if (it->second.deadline) deadlines_.erase(*it->second.deadline);
  pending_.erase(it);
  if (result.ok())
    send_payload(id, std::move(result).value());
  else
    send_error(id, result.error());
}

void Connection::send_payload(uint32_t id, std::string payload) {
  hcskit::ttrpc::Response resp;  // success: the status stays absent
  resp.set_payload(std::move(payload));
  std::string frame;
  try {
    frame = encode_frame(id, MessageType::Response, resp);
  } catch (const Error& e) {
    return send_error(id, e);  // too large for a frame
  }
  out_->send(std::move(frame));
}

void Connection::send_error(uint32_t id, const Error& e) {
  if (closed_) return;
  hcskit::ttrpc::Response resp;
  to_status(e, *resp.mutable_status());
  std::string frame;
  try {
    frame = encode_frame(id, MessageType::Response, resp);
  } catch (const Error&) {
    resp.Clear();
    to_status(status_error(Code::ResourceExhausted, "ttrpc: error message too large to send"), *resp.mutable_status());
    frame = encode_frame(id, MessageType::Response, resp);
  }
  out_->send(std::move(frame));
}

void Connection::on_end(const error_code& ec, bool inside_frame) {
  if (closed_) return;
  if (inside_frame)
    spdlog::debug("ttrpc: connection from pid {} ended inside a frame", peer_.pid);
  else if (ec != asio::error::eof)
    spdlog::debug("ttrpc: connection from pid {} failed: {}", peer_.pid, ec.message());
  // Nobody is left to read answers to what is pending; what is already queued still goes.
  reader_->stop();
  pending_.clear();
  deadlines_.clear();
  auto self = shared_from_this();
  out_->flush([self] { self->finish(); });
}

void Connection::expire(uint32_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  std::string what = std::move(it->second.what);
  pending_.erase(it);
  send_error(id, status_error(Code::DeadlineExceeded, "context deadline exceeded: " + what));
}

}  // namespace server_detail

// ---- server ----------------------------------------------------------------------------

std::pair<std::shared_ptr<Handler>, std::string> Server::Impl::find(const std::string& service,
                                                                   const std::string& method) const {
  auto s = services.find(service);
  if (s == services.end()) return {nullptr, "service " + service};
  auto m = s->second.find(method);
  if (m == s->second.end()) return {nullptr, "method " + method};
  return {m->second, {}};
}

void Server::Impl::add_listener(UniqueFd fd, std::string path) {
  // Children (runtimes, QEMU) must not inherit the listening socket.
  ::fcntl(fd.get(), F_SETFD, FD_CLOEXEC);
  set_nonblocking(fd.get(), true);
  struct stat st{};
  const bool have_inode = !path.empty() && ::stat(path.c_str(), &st) == 0;
  auto l = std::make_shared<Listener>(ex, fd.release());
  if (have_inode) {
    l->path = std::move(path);
    l->dev = st.st_dev;
    l->ino = st.st_ino;
  }
  listeners.push_back(l);
  accept(l);
}

void Server::Impl::accept(const std::shared_ptr<Listener>& l) {
  std::weak_ptr<Impl> weak = shared_from_this();
  l->desc.async_wait(asio::posix::stream_descriptor::wait_read, [weak, l](const error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || !l->desc.is_open()) return;
    // Take every connection that is waiting, then wait again.
    for (;;) {
      int fd = ::accept4(l->desc.native_handle(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd >= 0) {
        self->adopt(UniqueFd(fd));
        continue;
      }
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      if (err == EINTR || err == ECONNABORTED || err == EPROTO) continue;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        spdlog::warn("ttrpc: accept: {}; retrying in 100 ms", std::strerror(err));
        l->retry.expires_after(std::chrono::milliseconds(100));
        l->retry.async_wait([weak, l](const error_code& tec) {
          if (auto s = weak.lock(); s && !tec && l->desc.is_open()) s->accept(l);
        });
        return;
      }
      spdlog::error("ttrpc: accept: {}; no longer accepting on this socket", std::strerror(err));
      return;
    }
    self->accept(l);
  });
}

void Server::Impl::adopt(UniqueFd fd) {
  auto cred = peer_credentials(fd.get());
  if (!cred) {
    spdlog::warn("ttrpc: cannot read the peer's credentials: {}; hanging up", std::strerror(errno));
    return;
  }
  if (options.require_same_user && (cred->uid != ::geteuid() || cred->gid != ::getegid())) {
    spdlog::warn("ttrpc: refusing a connection from pid {} (uid {}, gid {}): not our user", cred->pid, cred->uid,
                 cred->gid);
    return;
  }
  auto stream = transport::FdStream::adopt(ex, std::move(fd), transport::FdStream::Kind::Socket);
  auto conn = std::make_shared<Connection>(weak_from_this(), std::move(stream), *cred);
  connections.insert(conn);
  conn->start();
}

void Server::Impl::close() {
  for (auto& l : listeners) {
    error_code ignored;
    l->retry.cancel();
    l->desc.close(ignored);
    // Remove the socket file only if it is still ours: a successor may have replaced it.
    struct stat st{};
    if (!l->path.empty() && ::lstat(l->path.c_str(), &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
      ::unlink(l->path.c_str());
  }
  listeners.clear();
  auto conns = std::move(connections);
  connections.clear();
  for (auto& c : conns) c->finish();
}

Server::Server(asio::any_io_executor ex, ServerOptions options)
    : impl_(std::make_shared<Impl>(std::move(ex), options)) {}

Server::~Server() { impl_->close(); }

void Server::register_method(std::string service, std::string method, Handler handler) {
  impl_->services[std::move(service)][std::move(method)] = std::make_shared<Handler>(std::move(handler));
}

void Server::listen(const std::string& address) {
  const std::string path = socket_path(address);
  UniqueFd fd = listen_unix(path);
  impl_->add_listener(std::move(fd), path[0] == '@' ? std::string() : path);
}

void Server::serve(UniqueFd fd) {
  int domain = 0, type = 0, listening = 0;
  socklen_t len = sizeof(int);
  if (!fd || ::getsockopt(fd.get(), SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0)
    throw Error(hr::ErrInvalidArg, "ttrpc: serve: fd " + std::to_string(fd.get()) + " is not a socket");
  len = sizeof(int);
  ::getsockopt(fd.get(), SOL_SOCKET, SO_TYPE, &type, &len);
  len = sizeof(int);
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
  if (domain != AF_UNIX || type != SOCK_STREAM || !listening)
    throw Error(hr::ErrInvalidArg,
                "ttrpc: serve: fd " + std::to_string(fd.get()) + " is not a listening unix stream socket");
  impl_->add_listener(std::move(fd), "");
}

void Server::close() { impl_->close(); }

std::size_t Server::connections() const { return impl_->connections.size(); }

asio::any_io_executor Server::get_executor() const { return impl_->ex; }

}  // namespace hcs::ttrpc
