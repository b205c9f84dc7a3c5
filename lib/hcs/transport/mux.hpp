// mux: many vsock-style ports over one carrier byte stream (a virtio-serial port, a
// unix socket), for machines without AF_VSOCK. Each port connection is a mux stream
// with credit-based flow control, so one stalled stream never blocks another.
//
// Wire format: every frame is a 16-byte little-endian header, then `length` payload
// bytes (DATA frames only):
//   offset 0  u8   type      1 CONNECT  (arg = port)           dialer -> listener
//                            2 ACCEPT                           listener -> dialer
//                            3 REJECT   (arg = errno, e.g. ECONNREFUSED)
//                            4 DATA     (length = payload bytes, 1..kMaxData)
//                            5 CREDIT   (arg = bytes the receiver has consumed)
//                            6 SHUTDOWN the sender will send no more DATA (half-close)
//                            7 CLOSE    the sender has closed the stream entirely
//   offset 1  u8   flags     0
//   offset 2  u16  reserved  0
//   offset 4  u32  stream id chosen by the dialer: odd from the guest, even from the host
//   offset 8  u32  arg
//   offset 12 u32  length    0 except for DATA
// A sender may have at most kWindow bytes of DATA unacknowledged per stream; a peer
// that exceeds it, or sends a malformed frame, breaks the carrier (every stream fails).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>

#include "hcs/transport/transport.hpp"

namespace hcs::transport::mux {

enum class FrameType : uint8_t { Connect = 1, Accept = 2, Reject = 3, Data = 4, Credit = 5, Shutdown = 6, Close = 7 };

struct FrameHeader {
  FrameType type{};
  uint32_t stream = 0;
  uint32_t arg = 0;
  uint32_t length = 0;
};

inline constexpr std::size_t kHeaderSize = 16;
inline constexpr uint32_t kMaxData = 64 * 1024;
inline constexpr uint32_t kWindow = 256 * 1024;

// Validates and decodes a header (type known, flags/reserved zero, stream id non-zero,
// length 0 for non-DATA and 1..kMaxData for DATA); throws hcs::Error otherwise.
FrameHeader decode_header(std::span<const std::byte, kHeaderSize> bytes);
std::array<std::byte, kHeaderSize> encode_header(const FrameHeader& h);

enum class Role { Host, Guest };

// One mux session over a carrier. It is a Transport: async_dial(port) opens a stream to
// a listener on the peer; listen(port) accepts streams the peer dials.
class Session : public Transport {
 public:
  // Starts reading the carrier. `on_close` runs once, when the carrier fails or closes.
  // Destroying the Session closes it too, but without calling on_close.
  static std::shared_ptr<Session> start(StreamPtr carrier, Role role,
                                        std::function<void(const error_code&)> on_close = {});
  ~Session() override;

  void async_dial(uint32_t port, ConnectHandler handler) override;
  std::unique_ptr<Listener> listen(uint32_t port) override;
  boost::asio::any_io_executor get_executor() override;

  // Closes the carrier: every stream, dial and accept fails with connection_reset.
  void close();
  std::size_t open_streams() const;

  struct Impl;

 private:
  explicit Session(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace hcs::transport::mux
