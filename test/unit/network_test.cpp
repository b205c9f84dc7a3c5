// The network module's logic: ipam (subnet arithmetic and address choice, including
// the edges: /0, /31, /32, a full subnet, and the wrong inputs an operator types) and
// the registry (validation, persistence, and no address given twice across processes).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "hcs/core/error.hpp"
#include "hcs/network/guest_adapter.hpp"
#include "hcs/network/ipam.hpp"
#include "hcs/network/registry.hpp"

namespace network_test {

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

// ---- network/registry: records under a temporary state root ----

namespace {

namespace hcn = hcs::schema::hcn;

struct TempState {
  std::string dir;
  TempState() {
    char tmpl[] = "/tmp/hcskit-net-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir = tmpl;
  }
  ~TempState() { std::filesystem::remove_all(dir); }
};

hcn::HostComputeNetwork nat(const std::string& name, const std::string& subnet) {
  hcn::HostComputeNetwork n;
  n.name = name;
  n.type = "NAT";
  hcn::Ipam ipam;
  ipam.type = "Static";
  ipam.subnets.push_back({.ip_address_prefix = subnet});
  n.ipams.push_back(ipam);
  return n;
}

hcn::HostComputeEndpoint on(const std::string& network, const std::string& address = "") {
  hcn::HostComputeEndpoint e;
  e.host_compute_network = network;
  if (!address.empty()) e.ip_configurations.push_back({.ip_address = address});
  return e;
}

TEST(NetworkRegistry, NetworksAreValidatedAndPersist) {
  TempState t;
  hcs::state::Store store(t.dir);
  Registry reg(store);
  const auto a = reg.create_network(nat("a", "172.30.0.0/24"));
  EXPECT_FALSE(a.id.empty());
  EXPECT_NE(refusal([&] { reg.create_network(nat("b", "172.30.0.128/25")); }).find("overlaps 172.30.0.0/24"),
            std::string::npos);
  EXPECT_NE(refusal([&] { reg.create_network(nat("a", "172.31.0.0/24")); }).find("named 'a'"), std::string::npos);
  auto tunnel = nat("t", "10.5.0.0/24");
  tunnel.type = "Overlay";
  EXPECT_NE(refusal([&] { reg.create_network(tunnel); }).find("no meaning"), std::string::npos);
  tunnel.type = "Bogus";
  EXPECT_NE(refusal([&] { reg.create_network(tunnel); }).find("unknown network type"), std::string::npos);
  EXPECT_NE(refusal([&] { reg.create_network(nat("c", "10.0.0.1/8")); }).find("host bits"), std::string::npos);
  EXPECT_NE(refusal([&] { reg.create_network(nat("d", "")); }).find("invalid subnet"), std::string::npos);

  // Another process (another Registry on the same root) sees it, by ID and by name.
  hcs::state::Store again(t.dir);
  Registry other(again);
  ASSERT_EQ(other.networks().size(), 1u) << "a refused network leaves no record";
  EXPECT_EQ(other.network("a").id, a.id);
  EXPECT_EQ(other.network(a.id).name, "a");
  EXPECT_NE(refusal([&] { other.network("zzz"); }).find("no network 'zzz'"), std::string::npos);
}

TEST(NetworkRegistry, EndpointsGetFreeAddressesAndNetworksWithEndpointsStay) {
  TempState t;
  hcs::state::Store store(t.dir);
  Registry reg(store);
  const auto n = reg.create_network(nat("n", "172.30.0.0/24"));
  const auto e1 = reg.create_endpoint(on("n"));
  ASSERT_EQ(e1.ip_configurations.size(), 1u);
  EXPECT_EQ(e1.ip_configurations[0].ip_address, "172.30.0.2") << ".1 is the gateway";
  EXPECT_EQ(e1.ip_configurations[0].prefix_length, 24);
  EXPECT_EQ(e1.mac_address, "00-15-5D-1E-00-02");
  EXPECT_EQ(e1.host_compute_network, n.id) << "the name is resolved to the ID";
  const auto e2 = reg.create_endpoint(on(n.id, "172.30.0.9"));
  EXPECT_EQ(e2.ip_configurations[0].ip_address, "172.30.0.9");
  EXPECT_EQ(reg.create_endpoint(on(n.id)).ip_configurations[0].ip_address, "172.30.0.3");
  EXPECT_NE(refusal([&] { reg.create_endpoint(on(n.id, "172.30.0.9")); }).find("in use"), std::string::npos);
  EXPECT_NE(refusal([&] { reg.create_endpoint(on(n.id, "10.1.1.1")); }).find("outside"), std::string::npos);
  EXPECT_NE(refusal([&] { reg.create_endpoint(on(n.id, "172.30.0.1")); }).find("gateway"), std::string::npos);
  EXPECT_NE(refusal([&] { reg.create_endpoint(on("nope")); }).find("no network"), std::string::npos);
  auto bad_mac = on(n.id);
  bad_mac.mac_address = "01-00-5E-00-00-01";
  EXPECT_NE(refusal([&] { reg.create_endpoint(bad_mac); }).find("multicast"), std::string::npos);
  bad_mac.mac_address = "zz";
  EXPECT_NE(refusal([&] { reg.create_endpoint(bad_mac); }).find("not a MAC"), std::string::npos);
  // An ID is unique across networks, not only within one.
  const auto other = reg.create_network(nat("other", "172.31.0.0/24"));
  auto again = on(other.id);
  again.id = e1.id;
  EXPECT_NE(refusal([&] { reg.create_endpoint(again); }).find("with ID " + e1.id + " exists"), std::string::npos);
  EXPECT_EQ(reg.endpoint(e1.id).host_compute_network, n.id) << "the first endpoint's record is untouched";
  reg.delete_network(other.id);
  EXPECT_EQ(reg.endpoints(n.id).size(), 3u);

  EXPECT_NE(refusal([&] { reg.delete_network(n.id); }).find("still has 3 endpoint"), std::string::npos);
  for (const auto& e : reg.endpoints()) reg.delete_endpoint(e.id);
  EXPECT_NE(refusal([&] { reg.delete_endpoint(e1.id); }).find("no endpoint"), std::string::npos);
  reg.delete_network(n.id);
  EXPECT_TRUE(reg.networks().empty());
  EXPECT_TRUE(std::filesystem::is_empty(t.dir + "/network")) << "nothing is left behind";
  EXPECT_TRUE(std::filesystem::is_empty(t.dir + "/endpoint"));
}

TEST(NetworkRegistry, NamespacesHoldEndpointsAndLoadBalancersPinThem) {
  TempState t;
  hcs::state::Store store(t.dir);
  Registry reg(store);
  const auto n = reg.create_network(nat("n", "172.30.0.0/24"));
  auto a = reg.create_endpoint(on("n"));
  a.name = "a";
  reg.update_endpoint(a);
  hcn::HostComputeNamespace ns;
  ns.id = "ns1";
  ns.namespace_id = 4026532000u;
  reg.create_namespace(ns);
  EXPECT_NE(refusal([&] { reg.create_namespace(ns); }).find("exists"), std::string::npos);
  ns.resources.push_back({"Endpoint", hcs::Json{{"ID", a.id}}, {}});
  reg.update_namespace(ns);
  EXPECT_EQ(reg.namespace_("ns1").resources.size(), 1u);
  EXPECT_EQ(reg.namespace_("ns1").namespace_id, 4026532000u);
  EXPECT_NE(refusal([&] { reg.delete_namespace("ns1"); }).find("still holds the endpoint " + a.id),
            std::string::npos);
  EXPECT_NE(refusal([&] { reg.namespace_("../x"); }).find("no namespace"), std::string::npos);

  hcn::HostComputeLoadBalancer lb;
  lb.host_compute_endpoints = {"a"};  // by name, recorded by ID
  lb = reg.create_load_balancer(lb);
  EXPECT_EQ(reg.load_balancer(lb.id).host_compute_endpoints, std::vector<std::string>{a.id});
  EXPECT_NE(refusal([&] { reg.delete_endpoint(a.id); }).find("load balancer " + lb.id), std::string::npos);
  hcn::HostComputeLoadBalancer dangling;
  dangling.host_compute_endpoints = {"ghost"};
  EXPECT_NE(refusal([&] { reg.create_load_balancer(dangling); }).find("no endpoint 'ghost'"), std::string::npos);
  EXPECT_EQ(reg.load_balancers().size(), 1u) << "a refused load balancer leaves no record";

  reg.delete_load_balancer(lb.id);
  ns.resources.clear();
  reg.update_namespace(ns);
  reg.delete_namespace("ns1");
  reg.delete_endpoint(a.id);
  reg.delete_network(n.id);
  for (const char* kind : {"network", "endpoint", "namespace", "loadbalancer"})
    EXPECT_TRUE(std::filesystem::is_empty(t.dir + "/" + kind)) << kind;
}

TEST(NetworkGuestAdapter, EndpointBecomesTheGuestsNetworkSettings) {
  auto n = nat("n", "172.30.0.0/24");
  hcn::HostComputeEndpoint e;
  e.id = "ep";
  e.mac_address = "00-15-5D-1E-00-02";
  e.ip_configurations.push_back({.ip_address = "172.30.0.2", .prefix_length = 24});
  e.dns.domain = "Corp.Example";
  e.dns.search = {"svc.example"};
  e.dns.server_list = {"192.0.2.53", "192.0.2.54"};
  e.policies.push_back({"EncapOverhead", hcs::Json{{"Overhead", 50}}, {}});
  const auto a = guest_adapter(e, n, "nic-1", "ns-1");
  EXPECT_EQ(a.id, "nic-1");
  EXPECT_EQ(a.namespace_id, "ns-1");
  EXPECT_EQ(a.mac_address, "00-15-5D-1E-00-02");
  ASSERT_EQ(a.ip_configs.size(), 1u);
  EXPECT_EQ(a.ip_configs[0].ip_address, "172.30.0.2");
  EXPECT_EQ(a.ip_configs[0].prefix_length, 24);
  ASSERT_EQ(a.routes.size(), 1u) << "the gateway's default route";
  EXPECT_EQ(a.routes[0].next_hop, "172.30.0.1");
  EXPECT_EQ(a.routes[0].destination_prefix, "0.0.0.0/0");
  EXPECT_EQ(a.dns_suffix, "corp.example,svc.example");
  EXPECT_EQ(a.dns_server_list, "192.0.2.53,192.0.2.54");
  EXPECT_EQ(a.encap_overhead, 50);
  EXPECT_EQ(hcs::Json(a)["IPConfigs"][0]["IPAddress"], "172.30.0.2") << "hcsshim's keys";

  // An endpoint with its own default route keeps it; a Private network has no gateway.
  e.routes.push_back({.next_hop = "172.30.0.9", .destination_prefix = "0.0.0.0/0"});
  EXPECT_EQ(guest_adapter(e, n, "nic-1", "").routes.size(), 1u);
  e.routes.clear();
  n.type = "Private";
  EXPECT_TRUE(guest_adapter(e, n, "nic-1", "").routes.empty());
  EXPECT_FALSE(gateway_for(n, ip("172.30.0.2")).has_value());
}

// Separate processes creating endpoints at once never get the same address.
TEST(NetworkRegistry, ConcurrentProcessesNeverShareAnAddress) {
  TempState t;
  {
    hcs::state::Store store(t.dir);
    Registry(store).create_network(nat("n", "10.77.0.0/24"));
  }
  constexpr int kProcesses = 8, kEach = 12;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcesses; ++p) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int code = 0;
      try {
        hcs::state::Store store(t.dir);
        Registry reg(store);
        for (int i = 0; i < kEach; ++i) reg.create_endpoint(on("n"));
      } catch (...) {
        code = 1;
      }
      ::_exit(code);
    }
    kids.push_back(pid);
  }
  for (pid_t k : kids) {
    int status = 0;
    ASSERT_EQ(::waitpid(k, &status, 0), k);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  hcs::state::Store store(t.dir);
  std::set<std::string> addresses;
  for (const auto& e : Registry(store).endpoints()) addresses.insert(e.ip_configurations.at(0).ip_address);
  EXPECT_EQ(addresses.size(), size_t(kProcesses * kEach));
}

}  // namespace

}  // namespace network_test
