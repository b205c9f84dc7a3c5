// Unix socket plumbing for ttrpc: containerd-style addresses, a blocking connect, a
// listening socket that is private from birth and never steals a live one, and the
// peer's credentials.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "hcs/core/fd.hpp"

namespace hcs::ttrpc {

// "unix:///run/x.sock" or "/run/x.sock" → "/run/x.sock"; "@name" is kept and names an
// abstract socket.
std::string socket_path(std::string_view address);

// Connects a blocking-mode, close-on-exec stream socket. Throws hcs::Error naming the
// address: hr::BridgeClosed (UNAVAILABLE) when nothing listens there, as gRPC reports a
// failed dial; hr::ErrInvalidArg for an address that cannot be a unix socket.
UniqueFd connect_unix(std::string_view address);

// A listening socket at `path` with mode 0600 from the start. A stale socket file (no
// listener behind it) is replaced; a live one, or any other kind of file, is refused.
// Throws hcs::Error.
UniqueFd listen_unix(std::string_view address, int backlog = 128);

struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
};
std::optional<PeerCredentials> peer_credentials(int fd) noexcept;

}  // namespace hcs::ttrpc
