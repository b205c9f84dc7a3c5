// The receiving end of an OCI runtime's --console-socket: a unix socket on which the
// runtime sends the master side of the container process's pty (SCM_RIGHTS).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <filesystem>
#include <functional>
#include <memory>

#include "hcs/core/error.hpp"
#include "hcs/core/fd.hpp"

namespace hcs::runtime {

class ConsoleSocket {
 public:
  // Listens at `path` (mode 0600); the file is removed again by the destructor.
  ConsoleSocket(boost::asio::any_io_executor ex, std::filesystem::path path);
  ~ConsoleSocket();
  ConsoleSocket(const ConsoleSocket&) = delete;
  ConsoleSocket& operator=(const ConsoleSocket&) = delete;
  const std::filesystem::path& path() const noexcept { return path_; }
  // Accepts one connection and takes the fd it carries. Not called back after the
  // object is destroyed.
  void async_receive(std::function<void(Result<UniqueFd>)> done);

 private:
  struct State;
  std::filesystem::path path_;
  std::shared_ptr<State> state_;
};

// Receives one fd sent with SCM_RIGHTS on a connected unix socket (blocking).
UniqueFd receive_fd(int socket);

}  // namespace hcs::runtime
