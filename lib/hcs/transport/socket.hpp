// Socket transports. Unix: port P of base path B lives at B itself for the GCS port and
// at "B_P" (decimal) for any other port. Vsock: port P on a context id.
#pragma once

#include <string>

#include "hcs/transport/transport.hpp"

namespace hcs::transport {

inline constexpr uint32_t kVsockHostCid = 2;  // VMADDR_CID_HOST

class UnixTransport final : public Transport {
 public:
  UnixTransport(boost::asio::any_io_executor ex, std::string base) : ex_(std::move(ex)), base_(std::move(base)) {}
  std::string path_for(uint32_t port) const;
  void async_dial(uint32_t port, ConnectHandler handler) override;
  std::unique_ptr<Listener> listen(uint32_t port) override;
  boost::asio::any_io_executor get_executor() override { return ex_; }

 private:
  boost::asio::any_io_executor ex_;
  std::string base_;
};

class VsockTransport final : public Transport {
 public:
  // Dials `cid`; listens on any local cid.
  VsockTransport(boost::asio::any_io_executor ex, uint32_t cid) : ex_(std::move(ex)), cid_(cid) {}
  void async_dial(uint32_t port, ConnectHandler handler) override;
  std::unique_ptr<Listener> listen(uint32_t port) override;
  boost::asio::any_io_executor get_executor() override { return ex_; }

 private:
  boost::asio::any_io_executor ex_;
  uint32_t cid_;
};

// A listening unix socket at `path` (replacing a stale socket file, mode 0600), removed
// again when the listener closes.
std::unique_ptr<Listener> listen_unix(boost::asio::any_io_executor ex, const std::string& path);
void dial_unix(boost::asio::any_io_executor ex, const std::string& path, ConnectHandler handler);

// sockaddr_vm encoding, exposed for unit tests.
struct VsockAddress {
  uint32_t cid;
  uint32_t port;
};
std::string encode_sockaddr_vm(const VsockAddress& a);

}  // namespace hcs::transport
