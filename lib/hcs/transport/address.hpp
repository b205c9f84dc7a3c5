// Addresses of a guest<->host connection, as the gcs and uvmctl spell them:
//   unix:PATH             the GCS port at PATH, port P at PATH_P
//   vsock[:CID]           AF_VSOCK; the guest dials CID (default 2, the host)
//   virtio-serial:NAME    the guest's virtio-serial port NAME (GCS port only)
//   mux+ADDR              every port multiplexed over the one stream ADDR gives
// A Connection is what both ends get: the bridge stream plus a Transport for the
// other ports (stdio relays, the log port).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "hcs/core/error.hpp"
#include "hcs/transport/transport.hpp"

namespace hcs::transport {

struct Address {
  enum class Kind { Unix, Vsock, VirtioSerial };
  Kind kind = Kind::Vsock;
  std::string path;  // unix socket path or virtio-serial port name
  uint32_t cid = 2;
  bool mux = false;
  // Throws hcs::Error(HrErrInvalidArg) with the accepted forms.
  static Address parse(std::string_view text);
  std::string str() const;
};

struct Connection {
  StreamPtr bridge;
  TransportPtr transport;
  std::function<void()> close;  // ends the bridge, the carrier and every port
};

// Guest side: dials the host once.
void async_connect(boost::asio::any_io_executor ex, const Address& address,
                   std::function<void(Result<Connection>)> done);

// Host side: waits for guests to dial in.
class HostListener {
 public:
  // Throws hcs::Error if the address cannot be listened on.
  HostListener(boost::asio::any_io_executor ex, const Address& address);
  ~HostListener();
  void async_accept(std::function<void(Result<Connection>)> done);
  void close();

 private:
  boost::asio::any_io_executor ex_;
  Address address_;
  std::unique_ptr<Listener> listener_;
};

}  // namespace hcs::transport
