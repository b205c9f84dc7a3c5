// network/ipam: subnet arithmetic and address choice, including the edges (/0, /31,
// /32, a full subnet) and the wrong inputs an operator types.
#include <gtest/gtest.h>

#include "hcs/core/error.hpp"
#include "hcs/network/ipam.hpp"

namespace {

using namespace hcs::network;

uint32_t ip(const char* text) { return parse_ipv4(text).value(); }

std::string refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const hcs::Error& e) {
    return e.text();
  }
  return "accepted";
}

TEST(Ipam, Ipv4TextBothWays) {
  EXPECT_EQ(ip("172.30.0.5"), 0xAC1E0005u);
  EXPECT_EQ(ipv4_text(0xAC1E0005u), "172.30.0.5");
  EXPECT_EQ(ip("0.0.0.0"), 0u);
  EXPECT_EQ(ip("255.255.255.255"), 0xFFFFFFFFu);
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "a.b.c.d", "1..2.3", "-1.2.3.4"})
    EXPECT_FALSE(parse_ipv4(bad).has_value()) << bad;
}

TEST(Ipam, PrefixesParseAndRefuseHostBits) {
  const Prefix p = Prefix::parse("172.30.0.0/24");
  EXPECT_EQ(p.network, ip("172.30.0.0"));
  EXPECT_EQ(p.length, 24);
  EXPECT_EQ(p.broadcast(), ip("172.30.0.255"));
  EXPECT_TRUE(p.contains(ip("172.30.0.77")));
  EXPECT_FALSE(p.contains(ip("172.30.1.0")));
  EXPECT_EQ(Prefix::parse("0.0.0.0/0").mask(), 0u);
  EXPECT_EQ(Prefix::parse("10.0.0.7/32").text(), "10.0.0.7/32");
  EXPECT_NE(refusal([] { Prefix::parse("172.30.0.5/24"); }).find("172.30.0.0/24"), std::string::npos);
  for (const char* bad : {"172.30.0.0", "172.30.0.0/33", "172.30.0.0/", "172.30.0.0/2x", "x/24"})
    EXPECT_NE(refusal([&] { Prefix::parse(bad); }).find("invalid subnet"), std::string::npos) << bad;
}

TEST(Ipam, OverlapIsSymmetric) {
  const auto a = Prefix::parse("10.0.0.0/16"), b = Prefix::parse("10.0.5.0/24"), c = Prefix::parse("10.1.0.0/16");
  EXPECT_TRUE(a.overlaps(b));
  EXPECT_TRUE(b.overlaps(a));
  EXPECT_FALSE(a.overlaps(c));
  EXPECT_TRUE(Prefix::parse("0.0.0.0/0").overlaps(c));
}

TEST(Ipam, AllocationSkipsReservedAndTakenAddresses) {
  const auto s = Prefix::parse("172.30.0.0/29");  // .0 network, .1 gateway, .7 broadcast
  const auto gw = gateway(s, 0);
  ASSERT_EQ(gw, ip("172.30.0.1"));
  std::set<uint32_t> taken;
  std::vector<std::string> got;
  for (int i = 0; i < 5; ++i) {
    const uint32_t a = allocate(s, taken, gw);
    taken.insert(a);
    got.push_back(ipv4_text(a));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"172.30.0.2", "172.30.0.3", "172.30.0.4", "172.30.0.5", "172.30.0.6"}));
  EXPECT_NE(refusal([&] { allocate(s, taken, gw); }).find("no free address"), std::string::npos);
  taken.erase(ip("172.30.0.4"));
  EXPECT_EQ(allocate(s, taken, gw), ip("172.30.0.4")) << "a freed address is used again";
  EXPECT_EQ(allocate(s, {}, gateway(s, 1)), ip("172.30.0.1")) << "DoNotReserveGatewayAddress";
}

TEST(Ipam, PointToPointSubnetsUseEveryAddress) {
  const auto s31 = Prefix::parse("10.9.0.0/31");
  EXPECT_FALSE(gateway(s31, 0).has_value());
  EXPECT_EQ(allocate(s31, {}, std::nullopt), ip("10.9.0.0"));
  EXPECT_EQ(allocate(s31, {ip("10.9.0.0")}, std::nullopt), ip("10.9.0.1"));
  const auto s32 = Prefix::parse("10.9.0.8/32");
  EXPECT_EQ(allocate(s32, {}, std::nullopt), ip("10.9.0.8"));
}

TEST(Ipam, ExplicitAddressesAreChecked) {
  const auto s = Prefix::parse("172.30.0.0/24");
  const auto gw = gateway(s, 0);
  check_address(s, ip("172.30.0.9"), {}, gw);
  EXPECT_NE(refusal([&] { check_address(s, ip("172.31.0.9"), {}, gw); }).find("outside"), std::string::npos);
  EXPECT_NE(refusal([&] { check_address(s, ip("172.30.0.1"), {}, gw); }).find("gateway"), std::string::npos);
  EXPECT_NE(refusal([&] { check_address(s, ip("172.30.0.255"), {}, gw); }).find("broadcast"), std::string::npos);
  EXPECT_NE(refusal([&] { check_address(s, ip("172.30.0.9"), {ip("172.30.0.9")}, gw); }).find("in use"),
            std::string::npos);
}

}  // namespace
