// ttrpc framing: a 10-byte big-endian header {length u32, stream id u32, type u8,
// flags u8} and `length` bytes of payload (the header is not counted). Payloads above
// kMaxPayload are refused by the receiver, which skips them and answers the stream.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace google::protobuf {
class MessageLite;
}

namespace hcs::ttrpc {

inline constexpr std::size_t kHeaderSize = 10;
inline constexpr uint32_t kMaxPayload = 4 << 20;

enum class MessageType : uint8_t { Request = 1, Response = 2, Data = 3 };

struct Header {
  uint32_t length = 0;
  uint32_t stream_id = 0;
  uint8_t type = 0;  // a MessageType, or anything a newer peer sends
  uint8_t flags = 0;
  bool operator==(const Header&) const = default;
};

Header decode_header(std::span<const std::byte, kHeaderSize> bytes) noexcept;
std::array<std::byte, kHeaderSize> encode_header(const Header& h) noexcept;

// Header + payload as one buffer, ready to write. Throws a RESOURCE_EXHAUSTED
// hcs::Error (see status.hpp) when the payload exceeds kMaxPayload.
std::string encode_frame(uint32_t stream_id, MessageType type, std::string_view payload, uint8_t flags = 0);
// The same for a message, serialized straight into the frame buffer.
std::string encode_frame(uint32_t stream_id, MessageType type, const google::protobuf::MessageLite& message,
                         uint8_t flags = 0);

}  // namespace hcs::ttrpc
