#include "hcs/core/guid.hpp"

#include <sys/random.h>

#include <cstdio>

#include "hcs/core/error.hpp"

namespace hcs {

Guid Guid::random() {
  Guid g;
  if (::getrandom(g.b_.data(), g.b_.size(), 0) != static_cast<ssize_t>(g.b_.size())) throw_errno("getrandom");
  g.b_[6] = static_cast<uint8_t>((g.b_[6] & 0x0F) | 0x40);  // version 4
  g.b_[8] = static_cast<uint8_t>((g.b_[8] & 0x3F) | 0x80);  // RFC 4122 variant
  return g;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<Guid> Guid::parse(std::string_view t) {
  if (t.size() == 38 && t.front() == '{' && t.back() == '}') t = t.substr(1, 36);
  if (t.size() != 36) return std::nullopt;
  Guid g;
  size_t n = 0;
  for (size_t i = 0; i < t.size();) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (t[i] != '-') return std::nullopt;
      ++i;
      continue;
    }
    int hi = hexval(t[i]), lo = hexval(t[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    g.b_[n++] = static_cast<uint8_t>(hi << 4 | lo);
    i += 2;
  }
  return g;
}

std::string Guid::str() const {
  char buf[37];
  std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b_[0],
                b_[1], b_[2], b_[3], b_[4], b_[5], b_[6], b_[7], b_[8], b_[9], b_[10], b_[11], b_[12], b_[13], b_[14],
                b_[15]);
  return buf;
}

bool Guid::is_null() const noexcept {
  for (auto b : b_)
    if (b) return false;
  return true;
}

}  // namespace hcs
