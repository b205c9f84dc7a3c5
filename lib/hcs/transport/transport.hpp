// Transport: connections addressed by port, as vsock and hvsock address them. The
// guest dials ports on the host; the host listens on them. Implementations: unix
// sockets (one socket file per port), AF_VSOCK, a virtio-serial port (one stream, the
// GCS port only) and mux (every port over one carrier stream).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "hcs/transport/stream.hpp"

namespace hcs::transport {

// hcsshim's port numbers.
inline constexpr uint32_t kGcsPort = 0x40000000;
inline constexpr uint32_t kFirstStdioPort = 0x40000001;
inline constexpr uint32_t kLogPort = 109;

using ConnectHandler = std::function<void(const error_code&, StreamPtr)>;

class Listener {
 public:
  virtual ~Listener() = default;
  virtual void async_accept(ConnectHandler handler) = 0;
  // Stops listening; a pending accept completes with operation_aborted.
  virtual void close() = 0;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual void async_dial(uint32_t port, ConnectHandler handler) = 0;
  // Throws hcs::Error when the port cannot be listened on.
  virtual std::unique_ptr<Listener> listen(uint32_t port) = 0;
  virtual boost::asio::any_io_executor get_executor() = 0;
};
using TransportPtr = std::shared_ptr<Transport>;

}  // namespace hcs::transport
