#include "hcs/bridge/frame.hpp"

#include <cstring>

#include "hcs/core/error.hpp"

namespace hcs::bridge {

static uint64_t load_le(const std::byte* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = v << 8 | static_cast<uint8_t>(p[i]);
  return v;
}

static void store_le(std::byte* p, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) p[i] = static_cast<std::byte>(v >> (8 * i));
}

Header decode_header(std::span<const std::byte, kHeaderSize> b) noexcept {
  return Header{static_cast<uint32_t>(load_le(b.data(), 4)), static_cast<uint32_t>(load_le(b.data() + 4, 4)),
                load_le(b.data() + 8, 8)};
}

std::array<std::byte, kHeaderSize> encode_header(const Header& h) noexcept {
  std::array<std::byte, kHeaderSize> b{};
  store_le(b.data(), h.type, 4);
  store_le(b.data() + 4, h.size, 4);
  store_le(b.data() + 8, h.id, 8);
  return b;
}

SizeCheck check_size(uint32_t size) noexcept {
  if (size < kHeaderSize) return SizeCheck::TooSmall;
  if (size > kMaxMessageSize) return SizeCheck::TooLarge;
  return SizeCheck::Ok;
}

std::string size_error(uint32_t size) {
  switch (check_size(size)) {
    case SizeCheck::TooSmall:
      return "invalid message size " + std::to_string(size) + ": smaller than the 16-byte header";
    case SizeCheck::TooLarge:
      return "invalid message size " + std::to_string(size) + ": larger than the limit of " +
             std::to_string(kMaxMessageSize) + " bytes";
    case SizeCheck::Ok: break;
  }
  return {};
}

std::string encode_frame(uint32_t type, uint64_t id, std::string_view body) {
  const std::size_t total = kHeaderSize + body.size();
  if (total > kMaxMessageSize)
    throw Error(hr::ErrInvalidArg, "message of " + std::to_string(total) + " bytes exceeds the limit of " +
                                       std::to_string(kMaxMessageSize) + " bytes");
  std::string out(total, '\0');
  auto h = encode_header(Header{type, static_cast<uint32_t>(total), id});
  std::memcpy(out.data(), h.data(), kHeaderSize);
  std::memcpy(out.data() + kHeaderSize, body.data(), body.size());
  return out;
}

}  // namespace hcs::bridge
