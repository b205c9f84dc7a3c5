#include "hcs/network/ipam.hpp"

#include <charconv>

#include "hcs/core/error.hpp"

namespace hcs::network {

std::optional<uint32_t> parse_ipv4(std::string_view text) {
  uint32_t value = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text[0] != '.') return std::nullopt;
      text.remove_prefix(1);
    }
    size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == 0 || digits > 3 || (digits > 1 && text[0] == '0')) return std::nullopt;
    unsigned octet = 0;
    std::from_chars(text.data(), text.data() + digits, octet);
    if (octet > 255) return std::nullopt;
    value = value << 8 | octet;
    text.remove_prefix(digits);
  }
  if (!text.empty()) return std::nullopt;
  return value;
}

uint32_t ipv4_or_throw(std::string_view text, const std::string& what) {
  if (auto a = parse_ipv4(text)) return *a;
  throw Error(hr::ErrInvalidArg, what + " '" + std::string(text) + "' is not an IPv4 address");
}

std::string ipv4_text(uint32_t a) {
  return std::to_string(a >> 24) + "." + std::to_string(a >> 16 & 255) + "." + std::to_string(a >> 8 & 255) + "." +
         std::to_string(a & 255);
}

Prefix Prefix::parse(std::string_view text) {
  const auto bad = [&](const std::string& why) {
    return Error(hr::ErrInvalidArg, "invalid subnet '" + std::string(text) + "': " + why);
  };
  const auto slash = text.find('/');
  if (slash == std::string_view::npos) throw bad("expected a.b.c.d/length");
  const auto address = parse_ipv4(text.substr(0, slash));
  if (!address) throw bad("not an IPv4 address");
  const auto len_text = text.substr(slash + 1);
  unsigned length = 0;
  auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), length);
  if (ec != std::errc() || end != len_text.data() + len_text.size() || len_text.empty() || length > 32)
    throw bad("the length must be 0 to 32");
  Prefix p{*address, uint8_t(length)};
  if ((*address & p.mask()) != *address) {
    p.network = *address & p.mask();
    throw bad("host bits are set (the subnet is " + p.text() + ")");
  }
  return p;
}

bool Prefix::overlaps(const Prefix& other) const noexcept {
  const Prefix& wider = length <= other.length ? *this : other;
  const Prefix& narrower = length <= other.length ? other : *this;
  return wider.contains(narrower.network);
}

std::string Prefix::text() const { return ipv4_text(network) + "/" + std::to_string(length); }

std::optional<uint32_t> gateway(const Prefix& subnet, uint32_t subnet_flags) {
  constexpr uint32_t kDoNotReserveGateway = 1;
  if ((subnet_flags & kDoNotReserveGateway) || subnet.length > 30) return std::nullopt;
  return subnet.network + 1;
}

// Network and broadcast addresses exist from /30 down; /31 and /32 use every address.
static bool reserved(const Prefix& s, uint32_t a, std::optional<uint32_t> gw) {
  if (s.length <= 30 && (a == s.network || a == s.broadcast())) return true;
  return gw && a == *gw;
}

uint32_t allocate(const Prefix& s, const std::set<uint32_t>& taken, std::optional<uint32_t> gw) {
  // Walks the subnet in order, jumping over runs of taken addresses through the set.
  uint64_t a = s.network;
  const uint64_t last = s.broadcast();
  auto it = taken.lower_bound(s.network);
  for (; a <= last; ++a) {
    while (it != taken.end() && *it < a) ++it;
    if (it != taken.end() && *it == a) continue;
    if (reserved(s, uint32_t(a), gw)) continue;
    return uint32_t(a);
  }
  throw Error(hr::Fail, "the subnet " + s.text() + " has no free address left");
}

void check_address(const Prefix& s, uint32_t a, const std::set<uint32_t>& taken, std::optional<uint32_t> gw) {
  const std::string what = "the address " + ipv4_text(a);
  if (!s.contains(a)) throw Error(hr::ErrInvalidArg, what + " is outside the subnet " + s.text());
  if (gw && a == *gw) throw Error(hr::ErrInvalidArg, what + " is the gateway of " + s.text());
  if (reserved(s, a, gw)) throw Error(hr::ErrInvalidArg, what + " is the network or broadcast address of " + s.text());
  if (taken.contains(a)) throw Error(hr::ErrInvalidArg, what + " is already in use");
}

}  // namespace hcs::network
