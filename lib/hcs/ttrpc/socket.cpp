#include "hcs/ttrpc/socket.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "hcs/core/error.hpp"

namespace hcs::ttrpc {

namespace {

struct UnixAddress {
  sockaddr_un addr{};
  socklen_t len = 0;
};

UnixAddress make_address(const std::string& path) {
  UnixAddress a;
  a.addr.sun_family = AF_UNIX;
  if (path.empty()) throw Error(hr::ErrInvalidArg, "empty unix socket address");
  if (path.size() >= sizeof a.addr.sun_path)
    throw Error(hr::ErrInvalidArg, "unix socket path too long (" + std::to_string(path.size()) + " bytes, at most " +
                                       std::to_string(sizeof a.addr.sun_path - 1) + "): " + path);
  std::memcpy(a.addr.sun_path, path.data(), path.size());
  if (path[0] == '@') {
    a.addr.sun_path[0] = '\0';  // abstract: the name is exactly path.size() bytes, no terminator
    a.len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size());
  } else {
    a.len = socklen_t(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  }
  return a;
}

UniqueFd new_socket() {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) throw_errno("create unix socket");
  return fd;
}

// 0 on success, else the errno of connect().
int try_connect(int fd, const UnixAddress& a) {
  int rc;
  do rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len);
  while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : errno;
}

}  // namespace

std::string socket_path(std::string_view address) {
  constexpr std::string_view scheme = "unix://";
  if (address.substr(0, scheme.size()) == scheme) address.remove_prefix(scheme.size());
  return std::string(address);
}

UniqueFd connect_unix(std::string_view address) {
  const std::string path = socket_path(address);
  UnixAddress a = make_address(path);
  UniqueFd fd = new_socket();
  if (int err = try_connect(fd.get(), a); err != 0) {
    const bool absent = err == ENOENT || err == ECONNREFUSED || err == ENOTDIR;
    Error e = Error::from_errno(err, "connect to ttrpc socket " + path);
    throw absent ? Error(hr::BridgeClosed, e.message()) : e;
  }
  return fd;
}

UniqueFd listen_unix(std::string_view address, int backlog) {
  const std::string path = socket_path(address);
  UnixAddress a = make_address(path);
  const bool abstract = path[0] == '@';
  if (!abstract) {
    struct stat st{};
    if (::lstat(path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) throw Error(hr::ErrInvalidArg, "refusing to replace " + path + ": not a socket");
      UniqueFd probe = new_socket();
      int err = try_connect(probe.get(), a);
      if (err == 0) throw Error::from_errno(EADDRINUSE, "listen on " + path + ": a server is already listening there");
      if (err != ECONNREFUSED) throw Error::from_errno(err, "listen on " + path + ": probe the existing socket");
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("remove stale socket " + path);
    }
  }
  UniqueFd fd = new_socket();
  // Private from the start: no window in which another user could connect. (umask is
  // per process; the chmod below also covers a thread racing with it.)
  mode_t old = ::umask(0177);
  int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&a.addr), a.len);
  int err = errno;
  ::umask(old);
  if (rc != 0) throw Error::from_errno(err, "bind " + path);
  if (!abstract && ::chmod(path.c_str(), 0600) != 0) {
    err = errno;
    ::unlink(path.c_str());
    throw Error::from_errno(err, "chmod " + path);
  }
  if (::listen(fd.get(), backlog) != 0) {
    err = errno;
    if (!abstract) ::unlink(path.c_str());
    throw Error::from_errno(err, "listen on " + path);
  }
  return fd;
}

std::optional<PeerCredentials> peer_credentials(int fd) noexcept {
  ucred c{};
  socklen_t len = sizeof c;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c, &len) != 0 || len != sizeof c) return std::nullopt;
  return PeerCredentials{c.pid, c.uid, c.gid};
}

}  // namespace hcs::ttrpc
