// GCS bridge framing: a 16-byte little-endian header {Type u32, Size u32, ID u64} and
// a JSON body. Size counts the header. Sizes below 16 or above kMaxMessageSize are
// refused before anything is allocated.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace hcs::bridge {

inline constexpr std::size_t kHeaderSize = 16;
inline constexpr uint32_t kMaxMessageSize = 4 * 1024 * 1024;

struct Header {
  uint32_t type = 0;
  uint32_t size = 0;
  uint64_t id = 0;
  bool operator==(const Header&) const = default;
};

Header decode_header(std::span<const std::byte, kHeaderSize> bytes) noexcept;
std::array<std::byte, kHeaderSize> encode_header(const Header& h) noexcept;

enum class SizeCheck { Ok, TooSmall, TooLarge };
SizeCheck check_size(uint32_t size) noexcept;
// "invalid message size N: ..." for a failed check.
std::string size_error(uint32_t size);

// Header + body as one buffer, ready to write.
std::string encode_frame(uint32_t type, uint64_t id, std::string_view body);

}  // namespace hcs::bridge
