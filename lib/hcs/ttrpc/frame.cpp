#include "hcs/ttrpc/frame.hpp"

#include <google/protobuf/message_lite.h>

#include <cstring>

#include "hcs/core/error.hpp"
#include "hcs/ttrpc/status.hpp"

namespace hcs::ttrpc {

namespace {

uint32_t get_be32(const std::byte* p) noexcept {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | uint32_t(p[3]);
}

void put_be32(std::byte* p, uint32_t v) noexcept {
  p[0] = std::byte(v >> 24);
  p[1] = std::byte(v >> 16);
  p[2] = std::byte(v >> 8);
  p[3] = std::byte(v);
}

}  // namespace

Header decode_header(std::span<const std::byte, kHeaderSize> b) noexcept {
  return Header{get_be32(b.data()), get_be32(b.data() + 4), uint8_t(b[8]), uint8_t(b[9])};
}

std::array<std::byte, kHeaderSize> encode_header(const Header& h) noexcept {
  std::array<std::byte, kHeaderSize> b;
  put_be32(b.data(), h.length);
  put_be32(b.data() + 4, h.stream_id);
  b[8] = std::byte(h.type);
  b[9] = std::byte(h.flags);
  return b;
}

namespace {

void check_length(std::size_t n) {
  if (n > kMaxPayload)
    throw status_error(Code::ResourceExhausted, "ttrpc: message of " + std::to_string(n) +
                                                    " bytes exceeds the maximum of " + std::to_string(kMaxPayload));
}

}  // namespace

std::string encode_frame(uint32_t stream_id, MessageType type, std::string_view payload, uint8_t flags) {
  check_length(payload.size());
  std::string out(kHeaderSize + payload.size(), '\0');
  auto h = encode_header(Header{uint32_t(payload.size()), stream_id, uint8_t(type), flags});
  std::memcpy(out.data(), h.data(), kHeaderSize);
  if (!payload.empty()) std::memcpy(out.data() + kHeaderSize, payload.data(), payload.size());
  return out;
}

std::string encode_frame(uint32_t stream_id, MessageType type, const google::protobuf::MessageLite& message,
                         uint8_t flags) {
  const std::size_t n = message.ByteSizeLong();
  check_length(n);
  std::string out(kHeaderSize + n, '\0');
  auto h = encode_header(Header{uint32_t(n), stream_id, uint8_t(type), flags});
  std::memcpy(out.data(), h.data(), kHeaderSize);
  // ByteSizeLong() above cached every size, so this pass only writes.
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out.data() + kHeaderSize));
  return out;
}

}  // namespace hcs::ttrpc
