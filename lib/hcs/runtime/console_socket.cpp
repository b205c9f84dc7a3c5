#include "hcs/runtime/console_socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstring>

namespace hcs::runtime {

namespace asio = boost::asio;

struct ConsoleSocket::State {
  std::unique_ptr<asio::posix::stream_descriptor> listener, conn;
  bool closed = false;
};

ConsoleSocket::ConsoleSocket(asio::any_io_executor ex, std::filesystem::path path)
    : path_(std::move(path)), state_(std::make_shared<State>()) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const auto s = path_.string();
  if (s.size() >= sizeof addr.sun_path) throw Error(hr::ErrInvalidArg, "console socket path too long: " + s);
  std::memcpy(addr.sun_path, s.c_str(), s.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) throw_errno("console socket");
  ::unlink(s.c_str());
  // Only root may hand us a terminal.
  mode_t old = ::umask(0077);
  int r = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::umask(old);
  if (r != 0) throw_errno("bind console socket " + s);
  if (::listen(fd.get(), 1) != 0) throw_errno("listen on console socket " + s);
  state_->listener = std::make_unique<asio::posix::stream_descriptor>(ex, fd.release());
}

ConsoleSocket::~ConsoleSocket() {
  state_->closed = true;
  boost::system::error_code ec;
  if (state_->listener) state_->listener->close(ec);
  if (state_->conn) state_->conn->close(ec);
  ::unlink(path_.c_str());
}

UniqueFd receive_fd(int socket) {
  char data[1];
  iovec iov{data, sizeof data};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do n = ::recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) throw_errno("receive the console fd");
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return UniqueFd(fd);
    }
  }
  throw Error(hr::Fail, "the runtime sent no console fd");
}

void ConsoleSocket::async_receive(std::function<void(Result<UniqueFd>)> done) {
  auto st = state_;
  st->listener->async_wait(asio::posix::stream_descriptor::wait_read, [st, done](const boost::system::error_code& ec) {
    if (st->closed) return;
    if (ec) return done(Error(hr::Fail, "console socket: " + ec.message()));
    int c = ::accept4(st->listener->native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) return done(Error::from_errno(errno, "accept on the console socket"));
    st->conn = std::make_unique<asio::posix::stream_descriptor>(st->listener->get_executor(), c);
    // The runtime sends right after connecting; wait for it without blocking the loop.
    st->conn->async_wait(asio::posix::stream_descriptor::wait_read, [st, done](const boost::system::error_code& ec2) {
      if (st->closed) return;
      if (ec2) return done(Error(hr::Fail, "console socket: " + ec2.message()));
      try {
        done(receive_fd(st->conn->native_handle()));
      } catch (const Error& e) {
        done(e);
      }
    });
  });
}

}  // namespace hcs::runtime
