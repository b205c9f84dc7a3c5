// network/ipam: IPv4 subnets as HCN's Ipams give them ("172.30.0.0/24") and the
// choice of endpoint addresses in them. Pure arithmetic: the caller holds the
// cross-process lock and knows which addresses are taken.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace hcs::network {

// "a.b.c.d" as a host-order number; std::nullopt for anything else (no leading
// zeros, no shorthand forms).
std::optional<uint32_t> parse_ipv4(std::string_view text);
// The same, or Error(ErrInvalidArg) naming the field `what`.
uint32_t ipv4_or_throw(std::string_view text, const std::string& what);
std::string ipv4_text(uint32_t address);

struct Prefix {
  uint32_t network = 0;  // host bits clear
  uint8_t length = 0;    // 0..32

  // Throws hcs::Error(ErrInvalidArg) naming the text: not a.b.c.d/n, or host bits set.
  static Prefix parse(std::string_view text);
  uint32_t mask() const noexcept { return length == 0 ? 0 : ~uint32_t(0) << (32 - length); }
  uint32_t broadcast() const noexcept { return network | ~mask(); }
  bool contains(uint32_t address) const noexcept { return (address & mask()) == network; }
  bool overlaps(const Prefix& other) const noexcept;
  std::string text() const;
  bool operator==(const Prefix&) const = default;
};

// The address HNS keeps for the subnet's gateway: the first one after the network
// address, unless the subnet's flags say DoNotReserveGatewayAddress (or it has none).
std::optional<uint32_t> gateway(const Prefix& subnet, uint32_t subnet_flags);

// The lowest address of `subnet` that endpoints may have and that is not in `taken`:
// never the network or broadcast address (a /31 or /32 has neither), nor the gateway.
// Throws hcs::Error(hr::Fail) when the subnet is full.
uint32_t allocate(const Prefix& subnet, const std::set<uint32_t>& taken, std::optional<uint32_t> gateway);

// Checks an address asked for explicitly; throws hcs::Error(ErrInvalidArg) saying why it
// cannot be an endpoint's (outside the subnet, reserved, or already taken).
void check_address(const Prefix& subnet, uint32_t address, const std::set<uint32_t>& taken,
                   std::optional<uint32_t> gateway);

}  // namespace hcs::network
