#include "hcs/transport/socket.hpp"

#include <linux/vm_sockets.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <cstring>

#include "hcs/core/error.hpp"

namespace hcs::transport {

namespace asio = boost::asio;
using generic_proto = asio::generic::stream_protocol;
using acceptor_t = asio::basic_socket_acceptor<generic_proto>;

namespace {

// Turns a connected socket into a Stream: the fd leaves Asio's socket object and
// is owned by an FdStream.
StreamPtr to_stream(asio::any_io_executor ex, generic_proto::socket& sock) {
  UniqueFd fd(sock.release());
  return FdStream::adopt(std::move(ex), std::move(fd), FdStream::Kind::Socket);
}

class SocketListener final : public Listener {
 public:
  SocketListener(asio::any_io_executor ex, generic_proto::endpoint ep, std::string unlink_path)
      : ex_(ex), acceptor_(std::make_shared<acceptor_t>(ex)), path_(std::move(unlink_path)) {
    acceptor_->open(ep.protocol());
    acceptor_->bind(ep);
    acceptor_->listen();
  }
  ~SocketListener() override { close(); }
  void async_accept(ConnectHandler handler) override {
    auto acc = acceptor_;
    auto ex = ex_;
    acc->async_accept([acc, ex, handler = std::move(handler)](const error_code& ec, generic_proto::socket sock) {
      if (ec) return handler(ec, nullptr);
      handler({}, to_stream(ex, sock));
    });
  }
  void close() override {
    error_code ignored;
    if (acceptor_->is_open()) acceptor_->close(ignored);
    if (!path_.empty()) {
      ::unlink(path_.c_str());
      path_.clear();
    }
  }

 private:
  asio::any_io_executor ex_;
  std::shared_ptr<acceptor_t> acceptor_;
  std::string path_;
};

generic_proto::endpoint unix_endpoint(const std::string& path) {
  asio::local::stream_protocol::endpoint ep(path);
  return generic_proto::endpoint(ep);
}

generic_proto::endpoint vsock_endpoint(uint32_t cid, uint32_t port) {
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = cid;
  addr.svm_port = port;
  return generic_proto::endpoint(&addr, sizeof addr, 0);
}

void dial(asio::any_io_executor ex, generic_proto::endpoint ep, ConnectHandler handler) {
  auto sock = std::make_shared<generic_proto::socket>(ex);
  sock->async_connect(ep, [sock, ex, handler = std::move(handler)](const error_code& ec) {
    if (ec) return handler(ec, nullptr);
    handler({}, to_stream(ex, *sock));
  });
}

std::unique_ptr<Listener> make_listener(asio::any_io_executor ex, generic_proto::endpoint ep, std::string path,
                                        const std::string& what) {
  try {
    return std::make_unique<SocketListener>(ex, ep, std::move(path));
  } catch (const boost::system::system_error& e) {
    throw Error(hr::Fail, "listen on " + what + ": " + e.code().message());
  }
}

}  // namespace

std::unique_ptr<Listener> listen_unix(asio::any_io_executor ex, const std::string& path) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path))
    throw Error(hr::ErrInvalidArg, "unix socket path too long: " + path);
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) throw Error(hr::ErrInvalidArg, "refusing to replace non-socket " + path);
    ::unlink(path.c_str());
  }
  // 0600 from the start: no window in which another user can connect.
  mode_t old = ::umask(0177);
  std::unique_ptr<Listener> l;
  try {
    l = make_listener(ex, unix_endpoint(path), path, path);
  } catch (...) {
    ::umask(old);
    throw;
  }
  ::umask(old);
  return l;
}

void dial_unix(asio::any_io_executor ex, const std::string& path, ConnectHandler handler) {
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    asio::post(ex, [handler] { handler(asio::error::invalid_argument, nullptr); });
    return;
  }
  dial(ex, unix_endpoint(path), std::move(handler));
}

std::string UnixTransport::path_for(uint32_t port) const {
  return port == kGcsPort ? base_ : base_ + "_" + std::to_string(port);
}

void UnixTransport::async_dial(uint32_t port, ConnectHandler handler) { dial_unix(ex_, path_for(port), std::move(handler)); }

std::unique_ptr<Listener> UnixTransport::listen(uint32_t port) { return listen_unix(ex_, path_for(port)); }

void VsockTransport::async_dial(uint32_t port, ConnectHandler handler) {
  dial(ex_, vsock_endpoint(cid_, port), std::move(handler));
}

std::unique_ptr<Listener> VsockTransport::listen(uint32_t port) {
  return make_listener(ex_, vsock_endpoint(VMADDR_CID_ANY, port), "", "vsock port " + std::to_string(port));
}

std::string encode_sockaddr_vm(const VsockAddress& a) {
  auto ep = vsock_endpoint(a.cid, a.port);
  return std::string(reinterpret_cast<const char*>(ep.data()), ep.size());
}

}  // namespace hcs::transport
