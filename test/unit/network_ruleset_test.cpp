// network/ruleset and network/names: the nft scripts generated from HCN records (network
// NAT, PortMapping, ACL and OutBoundNAT policies, load balancers), the policies refused
// before any script is made, and the kernel object names derived from IDs. The scripts are
// read back chain by chain, so that a rule is checked where it lands, not just somewhere;
// one test has the real nft parser check a realistic script (root only, changes nothing).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "hcs/core/error.hpp"
#include "hcs/network/names.hpp"
#include "hcs/network/ruleset.hpp"
#include "hcs/schema/network.hpp"

namespace network_ruleset_test {

namespace {

using namespace hcs::network;
using hcs::Json;
namespace hcn = hcs::schema::hcn;
namespace hr = hcs::hr;

// ---- records --------------------------------------------------------------------------

hcn::Policy policy(const char* type, const char* settings_json) {
  hcn::Policy p;
  p.type = type;
  p.settings = Json::parse(settings_json);
  return p;
}

hcn::HostComputeNetwork network(const std::string& id, const char* type, const std::string& subnet) {
  hcn::HostComputeNetwork n;
  n.id = id;
  n.name = "net";
  n.type = type;
  hcn::Ipam ipam;
  ipam.type = "Static";
  hcn::Subnet s;
  s.ip_address_prefix = subnet;
  ipam.subnets.push_back(s);
  n.ipams.push_back(ipam);
  return n;
}

hcn::HostComputeEndpoint endpoint(const std::string& id, const std::string& ip,
                                  std::vector<hcn::Policy> policies = {}) {
  hcn::HostComputeEndpoint e;
  e.id = id;
  e.name = id;
  hcn::IpConfig c;
  c.ip_address = ip;
  c.prefix_length = 24;
  e.ip_configurations.push_back(c);
  e.policies = std::move(policies);
  return e;
}

hcn::LoadBalancerPortMapping lb_mapping(uint32_t protocol, uint16_t internal, uint16_t external,
                                        uint32_t distribution = 0) {
  hcn::LoadBalancerPortMapping m;
  m.protocol = protocol;
  m.internal_port = internal;
  m.external_port = external;
  m.distribution_type = distribution;
  return m;
}

hcn::HostComputeLoadBalancer balancer(const std::string& id, std::vector<std::string> endpoint_ids,
                                      std::vector<hcn::LoadBalancerPortMapping> mappings,
                                      std::vector<std::string> vips = {}) {
  hcn::HostComputeLoadBalancer lb;
  lb.id = id;
  lb.host_compute_endpoints = std::move(endpoint_ids);
  lb.port_mappings = std::move(mappings);
  lb.frontend_vips = std::move(vips);
  return lb;
}

// ---- reading a script back ------------------------------------------------------------

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(' ') - b + 1);
}

// A rule without its comment: comments are for whoever reads `nft list`, not the match.
std::string without_comment(const std::string& rule) {
  const auto c = rule.find(" comment \"");
  return c == std::string::npos ? rule : rule.substr(0, c);
}

struct Chain {
  std::string hook;                // "type nat hook prerouting priority dstnat; policy accept;"
  std::vector<std::string> rules;  // without comments
  std::vector<std::string> raw;    // as written
};

// The lines before the first table body, the chains in order ("ip T/prerouting"), and each
// chain's content. Assumes the generator's layout: one statement per line.
struct Script {
  std::vector<std::string> preamble;
  std::vector<std::string> order;
  std::map<std::string, Chain> chains;

  explicit Script(const std::string& text) {
    std::istringstream in(text);
    std::string line, table, chain;
    while (std::getline(in, line)) {
      const std::string t = trim(line);
      if (t.rfind("table ", 0) == 0 && t.back() == '{') {
        table = trim(t.substr(6, t.size() - 7));
      } else if (!table.empty() && t.rfind("chain ", 0) == 0) {
        chain = table + "/" + trim(t.substr(6, t.size() - 7));
        order.push_back(chain);
        chains[chain];
      } else if (t == "}") {
        (chain.empty() ? table : chain).clear();
      } else if (!chain.empty()) {
        if (t.rfind("type ", 0) == 0) {
          chains[chain].hook = t;
        } else {
          chains[chain].rules.push_back(without_comment(t));
          chains[chain].raw.push_back(t);
        }
      } else if (table.empty()) {
        preamble.push_back(t);
      }
    }
  }

  const std::vector<std::string>& rules(const std::string& chain) const {
    static const std::vector<std::string> none;
    auto it = chains.find(chain);
    return it == chains.end() ? none : it->second.rules;
  }
};

bool contains(const std::vector<std::string>& v, const std::string& item) {
  return std::find(v.begin(), v.end(), item) != v.end();
}

// The error a call throws (code and text), or code 0 "accepted".
struct Refusal {
  uint32_t code = 0;
  std::string text = "accepted";
};

Refusal refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const hcs::Error& e) {
    return {e.code(), e.text()};
  }
  return {};
}

Refusal policy_refusal(const hcn::Policy& p) {
  return refusal([&] { check_endpoint_policies({p}); });
}

// ---- names ----------------------------------------------------------------------------

TEST(NetworkNames, TagIsEightLowercaseHexDigitsOfTheIdAlone) {
  for (const std::string& id :
       std::vector<std::string>{"", "a", "5b5d9a7e-0000-4000-8000-000000000001", std::string(128, 'z')}) {
    const std::string t = names::tag(id);
    ASSERT_EQ(t.size(), 8u) << id;
    for (char c : t) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << t;
    EXPECT_EQ(names::tag(id), t) << "the same ID gives the same tag: a later delete finds the objects";
  }
  // FNV-1a (32 bits) reference values: the tag must not change between versions, or a
  // newer binary would not find the tables and interfaces an older one created.
  EXPECT_EQ(names::tag(""), "811c9dc5");
  EXPECT_EQ(names::tag("a"), "e40c292c");
  EXPECT_EQ(names::tag("foobar"), "bf9cf968");
}

TEST(NetworkNames, DifferentIdsGetDifferentTags) {
  const std::string a = "5b5d9a7e-0000-4000-8000-000000000001", b = "5b5d9a7e-0000-4000-8000-000000000002";
  EXPECT_NE(names::tag(a), names::tag(b));
  EXPECT_NE(names::bridge(a), names::bridge(b));
  EXPECT_NE(names::host_port(a), names::host_port(b));
  EXPECT_NE(names::table(a), names::table(b));
  // One endpoint's two veth ends are two interfaces, so they must not collide.
  EXPECT_NE(names::host_port(a), names::peer(a));
}

TEST(NetworkNames, InterfaceNamesFitIfnamsizForLongIds) {
  const std::string id(128, 'f');  // the longest ID the registry takes
  for (const std::string& name : {names::bridge(id), names::host_port(id), names::peer(id)})
    EXPECT_LE(name.size(), 15u) << name << ": IFNAMSIZ is 16 with the NUL";
  EXPECT_EQ(names::bridge(id), "hcnbr" + names::tag(id));
  EXPECT_EQ(names::host_port(id), "hcnv" + names::tag(id));
  EXPECT_EQ(names::peer(id), "hcnp" + names::tag(id));
  EXPECT_EQ(names::table(id), "hcskit-" + names::tag(id));
}

TEST(NetworkNames, NetnsKeepsTheWholeId) {
  // /run/netns names have no IFNAMSIZ limit, so the ID is kept readable.
  EXPECT_EQ(names::netns("5b5d9a7e-0000-4000-8000-000000000001"), "hcn-5b5d9a7e-0000-4000-8000-000000000001");
}

// ---- network_ruleset: tables, chains, NAT ---------------------------------------------

const std::string kNet = "net-1";

TEST(NetworkRuleset, NatNetworkReplacesBothTablesAndMasqueradesItsSubnet) {
  const auto n = network(kNet, hcn::network_type::NAT, "172.30.0.0/24");
  const std::string text = network_ruleset(n, {});
  const std::string t = names::table(kNet), br = names::bridge(kNet);
  EXPECT_EQ(t, "hcskit-" + names::tag(kNet));

  // add-then-delete empties the tables whether or not they existed; the bodies follow,
  // so the whole replacement is one nft transaction.
  const std::string head = "add table ip " + t + "\ndelete table ip " + t + "\nadd table bridge " + t +
                           "\ndelete table bridge " + t + "\ntable ip " + t + " {\n";
  EXPECT_EQ(text.substr(0, head.size()), head) << text;
  EXPECT_NE(text.find("\ntable bridge " + t + " {\n"), std::string::npos) << text;

  const Script s(text);
  EXPECT_EQ(s.preamble, (std::vector<std::string>{"add table ip " + t, "delete table ip " + t, "add table bridge " + t,
                                                  "delete table bridge " + t}));
  EXPECT_EQ(s.order, (std::vector<std::string>{"ip " + t + "/prerouting", "ip " + t + "/output",
                                               "ip " + t + "/postrouting", "bridge " + t + "/forward",
                                               "bridge " + t + "/input", "bridge " + t + "/output"}));
  EXPECT_EQ(s.chains.at("ip " + t + "/prerouting").hook.rfind("type nat hook prerouting ", 0), 0u);
  EXPECT_EQ(s.chains.at("ip " + t + "/output").hook.rfind("type nat hook output ", 0), 0u);
  EXPECT_EQ(s.chains.at("ip " + t + "/postrouting").hook.rfind("type nat hook postrouting ", 0), 0u);
  for (const char* c : {"forward", "input", "output"}) {
    const auto& chain = s.chains.at("bridge " + t + "/" + c);
    EXPECT_EQ(chain.hook.rfind(std::string("type filter hook ") + c + " ", 0), 0u) << chain.hook;
    EXPECT_NE(chain.hook.find("policy accept;"), std::string::npos) << "what no ACL matches is allowed";
    EXPECT_TRUE(chain.rules.empty()) << c;
  }

  EXPECT_TRUE(s.rules("ip " + t + "/prerouting").empty());
  EXPECT_TRUE(s.rules("ip " + t + "/output").empty());
  const auto& post = s.rules("ip " + t + "/postrouting");
  EXPECT_TRUE(contains(post, "ip saddr 172.30.0.0/24 oifname != \"" + br + "\" masquerade")) << text;
}

TEST(NetworkRuleset, IcsMasqueradesButL2BridgeAndTransparentDoNot) {
  EXPECT_NE(network_ruleset(network(kNet, hcn::network_type::ICS, "172.31.0.0/16"), {})
                .find("ip saddr 172.31.0.0/16 oifname != \"" + names::bridge(kNet) + "\" masquerade"),
            std::string::npos);
  for (const char* type : {hcn::network_type::L2Bridge, hcn::network_type::Transparent}) {
    const std::string text = network_ruleset(network(kNet, type, "10.5.0.0/24"), {endpoint("ep-1", "10.5.0.2")});
    EXPECT_EQ(text.find("masquerade"), std::string::npos) << type << ":\n" << text;
    EXPECT_EQ(Script(text).order.size(), 6u) << "the tables exist (and are replaced) all the same";
  }
}

TEST(NetworkRuleset, RemovalOnlyDropsBothTables) {
  const std::string t = names::table(kNet);
  EXPECT_EQ(network_ruleset_removal(kNet),
            "add table ip " + t + "\ndelete table ip " + t + "\nadd table bridge " + t + "\ndelete table bridge " + t +
                "\n");
}

// ---- PortMapping ----------------------------------------------------------------------

TEST(NetworkRuleset, PortMappingDnatsLocalAddressesButNotLoopback) {
  const auto ep = endpoint("ep-1", "172.30.0.5",
                           {policy("PortMapping", R"({"Protocol": 6, "InternalPort": 80, "ExternalPort": 8080})")});
  const std::string text = network_ruleset(network(kNet, hcn::network_type::NAT, "172.30.0.0/24"), {ep});
  const Script s(text);
  const std::string ip = "ip " + names::table(kNet);
  EXPECT_EQ(s.rules(ip + "/prerouting"),
            std::vector<std::string>{"fib daddr type local tcp dport 8080 dnat to 172.30.0.5:80"})
      << text;
  // Locally sent traffic goes through output, not prerouting; loopback is left alone
  // (DNAT of 127/8 to another host is dropped as martian).
  EXPECT_EQ(s.rules(ip + "/output"),
            std::vector<std::string>{
                "fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 8080 dnat to 172.30.0.5:80"})
      << text;
  // The rule says whose it is, for whoever reads `nft list ruleset`.
  ASSERT_EQ(s.chains.at(ip + "/prerouting").raw.size(), 1u);
  EXPECT_NE(s.chains.at(ip + "/prerouting").raw[0].find("ep-1"), std::string::npos);
}

TEST(NetworkRuleset, PortMappingWithVipMatchesOnlyTheVip) {
  const auto ep = endpoint(
      "ep-1", "172.30.0.5",
      {policy("PortMapping", R"({"Protocol": 17, "InternalPort": 53, "ExternalPort": 5353, "VIP": "10.10.0.1"})")});
  const Script s(network_ruleset(network(kNet, hcn::network_type::NAT, "172.30.0.0/24"), {ep}));
  const std::string ip = "ip " + names::table(kNet);
  const std::vector<std::string> want{"ip daddr 10.10.0.1 udp dport 5353 dnat to 172.30.0.5:53"};
  EXPECT_EQ(s.rules(ip + "/prerouting"), want);
  EXPECT_EQ(s.rules(ip + "/output"), want);
}

// ---- ACL ------------------------------------------------------------------------------

TEST(NetworkRuleset, AclsFollowPriorityStablyAndDirectionPicksChainAndPort) {
  // Priorities 200, 100, 100 on one endpoint and 50, 100 on another: lower first, and
  // equal priorities keep the order of the records (endpoint, then policy).
  const auto a = endpoint(
      "ep-a", "172.30.0.2",
      {policy("ACL", R"({"Action": "Allow", "Direction": "In", "Protocols": "6", "LocalPorts": "80",
                          "RemoteAddresses": "10.0.0.1", "Priority": 200})"),
       policy("ACL", R"({"Action": "Block", "Direction": "Out", "RemoteAddresses": "10.0.0.2", "Priority": 100})"),
       policy("ACL", R"({"Action": "Block", "Direction": "In", "RemoteAddresses": "10.0.0.3", "Priority": 100})")});
  const auto b = endpoint(
      "ep-b", "172.30.0.3",
      {policy("ACL", R"({"Action": "Allow", "Direction": "Out", "RemoteAddresses": "10.0.0.4", "Priority": 50})"),
       policy("ACL", R"({"Action": "Allow", "Direction": "In", "RemoteAddresses": "10.0.0.5", "Priority": 100})")});
  const std::string text = network_ruleset(network(kNet, hcn::network_type::NAT, "172.30.0.0/24"), {a, b});
  const Script s(text);
  const std::string pa = names::host_port("ep-a"), pb = names::host_port("ep-b");
  const std::string br = "bridge " + names::table(kNet);

  // In: towards the endpoint, so it leaves the bridge by its port (oifname), the remote
  // address is the source. Out: from the endpoint, entering by its port (iifname).
  const std::string r4 = "iifname \"" + pb + "\" ip daddr 10.0.0.4 accept";
  const std::string r2 = "iifname \"" + pa + "\" ip daddr 10.0.0.2 drop";
  const std::string r3 = "oifname \"" + pa + "\" ip saddr 10.0.0.3 drop";
  const std::string r5 = "oifname \"" + pb + "\" ip saddr 10.0.0.5 accept";
  const std::string r1 = "oifname \"" + pa + "\" meta l4proto 6 ip saddr 10.0.0.1 th dport 80 accept";
  EXPECT_EQ(s.rules(br + "/forward"), (std::vector<std::string>{r4, r2, r3, r5, r1})) << text;
  // The host is the remote end of an Out rule that reaches it (input), and of an In rule
  // whose traffic it sends (output).
  EXPECT_EQ(s.rules(br + "/input"), (std::vector<std::string>{r4, r2})) << text;
  EXPECT_EQ(s.rules(br + "/output"), (std::vector<std::string>{r3, r5, r1})) << text;
  // ACLs never touch the nat table.
  EXPECT_TRUE(s.rules("ip " + names::table(kNet) + "/prerouting").empty());
}

TEST(NetworkRuleset, AclListsBecomeNftSetsAndLocalRemoteFollowDirection) {
  const char* lists = R"("Protocols": "6, 17", "LocalAddresses": "172.30.0.2",
                         "RemoteAddresses": "10.0.0.0/8,192.168.1.7", "LocalPorts": "80, 1000-2000",
                         "RemotePorts": "53", "Priority": 1)";
  const std::string in = std::string(R"({"Action": "Allow", "Direction": "In", )") + lists + "}";
  const std::string out = std::string(R"({"Action": "Block", "Direction": "Out", )") + lists + "}";
  const auto ep = endpoint("ep-1", "172.30.0.2", {policy("ACL", in.c_str()), policy("ACL", out.c_str())});
  const Script s(network_ruleset(network(kNet, hcn::network_type::L2Bridge, "172.30.0.0/24"), {ep}));
  const std::string p = names::host_port("ep-1");
  EXPECT_EQ(s.rules("bridge " + names::table(kNet) + "/forward"),
            (std::vector<std::string>{
                "oifname \"" + p + "\" meta l4proto { 6, 17 } ip daddr 172.30.0.2 ip saddr { 10.0.0.0/8, 192.168.1.7 }"
                                   " th dport { 80, 1000-2000 } th sport 53 accept",
                "iifname \"" + p + "\" meta l4proto { 6, 17 } ip saddr 172.30.0.2 ip daddr { 10.0.0.0/8, 192.168.1.7 }"
                                   " th sport { 80, 1000-2000 } th dport 53 drop"}));
}

// A list of separators only ("," or " , ") is not an empty match: nft has no empty
// anonymous set, so such a value must be refused (or ignored), never rendered as "{  }".
TEST(NetworkRuleset, SeparatorOnlyListsNeverRenderAnEmptySet) {
  const char* cases[][2] = {
      {"ACL", R"({"Action": "Allow", "Direction": "In", "LocalAddresses": ","})"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "Protocols": " , "})"},
      {"ACL", R"({"Action": "Allow", "Direction": "Out", "Protocols": "6", "RemotePorts": ","})"},
      {"OutBoundNAT", R"({"Exceptions": [","]})"},
  };
  for (const auto& [type, settings] : cases) {
    const auto ep = endpoint("ep-1", "172.30.0.2", {policy(type, settings)});
    std::string text;
    const auto r =
        refusal([&] { text = network_ruleset(network(kNet, hcn::network_type::NAT, "172.30.0.0/24"), {ep}); });
    if (r.code != 0) {
      EXPECT_EQ(r.code, hr::ErrInvalidArg) << settings << ": " << r.text;
    } else {
      EXPECT_EQ(text.find("{  }"), std::string::npos) << settings << " gives a script nft rejects:\n" << text;
    }
  }
}

// ---- OutBoundNAT ----------------------------------------------------------------------

TEST(NetworkRuleset, OutboundNatExceptionsAndVirtualIp) {
  const auto a = endpoint("ep-a", "10.5.0.2",
                          {policy("OutBoundNAT", R"({"Exceptions": ["10.0.0.0/8", "192.168.0.0/16"]})")});
  const auto b = endpoint("ep-b", "10.5.0.3", {policy("OutBoundNAT", R"({"VirtualIP": "10.1.1.1"})")});
  const auto c = endpoint("ep-c", "10.5.0.4", {policy("OutBoundNAT", R"({"Exceptions": ["10.0.0.0/8"]})")});
  const std::string text = network_ruleset(network(kNet, hcn::network_type::L2Bridge, "10.5.0.0/24"), {a, b, c});
  const std::string br = names::bridge(kNet);
  EXPECT_EQ(Script(text).rules("ip " + names::table(kNet) + "/postrouting"),
            (std::vector<std::string>{
                "ip saddr 10.5.0.2 oifname != \"" + br + "\" ip daddr != { 10.0.0.0/8, 192.168.0.0/16 } masquerade",
                "ip saddr 10.5.0.3 oifname != \"" + br + "\" snat to 10.1.1.1",
                "ip saddr 10.5.0.4 oifname != \"" + br + "\" ip daddr != 10.0.0.0/8 masquerade"}))
      << text;
}

TEST(NetworkRuleset, RefusesEndpointsWhosePoliciesItCannotApply) {
  const auto n = network(kNet, hcn::network_type::NAT, "172.30.0.0/24");
  auto r = refusal([&] {
    network_ruleset(n, {endpoint("ep-1", "172.30.0.2", {policy("QOS", R"({"MaximumOutgoingBandwidthInBytes": 1})")})});
  });
  EXPECT_EQ(r.code, hr::NotImpl) << r.text;
  r = refusal([&] {
    network_ruleset(n, {endpoint("ep-1", "172.30.0.2", {policy("PortMapping", R"({"Protocol": 1, "InternalPort": 1,
                                                                                  "ExternalPort": 1})")})});
  });
  EXPECT_EQ(r.code, hr::ErrInvalidArg) << r.text;
}

// ---- check_endpoint_policies ----------------------------------------------------------

TEST(NetworkRulesetCheck, AcceptsWhatThisHostApplies) {
  EXPECT_NO_THROW(check_endpoint_policies({}));
  EXPECT_NO_THROW(check_endpoint_policies({
      policy("PortMapping", R"({"Protocol": 6, "InternalPort": 80, "ExternalPort": 8080})"),
      policy("PortMapping", R"({"Protocol": 17, "InternalPort": 53, "ExternalPort": 53, "VIP": "10.0.0.9"})"),
      policy("ACL", R"({"Action": "Allow", "Direction": "In", "Protocols": "6,17", "LocalPorts": "80,1000-2000",
                        "RemoteAddresses": "10.0.0.0/8, 192.168.1.1", "RuleType": "Switch", "Priority": 100})"),
      policy("ACL", R"({"Action": "Block", "Direction": "Out", "Protocols": "1", "RuleType": "Host"})"),
      policy("ACL", R"({"Action": "Block", "Direction": "Out"})"),
      policy("OutBoundNAT", R"({"VirtualIP": "10.1.1.1", "Exceptions": ["10.0.0.0/8", "192.168.0.1"]})"),
      policy("OutBoundNAT", "{}"),
      policy("EncapOverhead", R"({"Overhead": 50})"),
  }));
}

TEST(NetworkRulesetCheck, KnownPoliciesNotAppliedHereAreNotImpl) {
  const char* cases[][2] = {
      {"QOS", R"({"MaximumOutgoingBandwidthInBytes": 1000})"},
      {"L4Proxy", R"({"Port": "15001"})"},
      {"SDNRoute", "{}"},
      {"ACL", R"({"Action": "Pass", "Direction": "In"})"},
      {"PortMapping", R"({"Protocol": 6, "InternalPort": 80, "ExternalPort": 80, "Flags": 2})"},  // IPv6
  };
  for (const auto& [type, settings] : cases) {
    const auto r = policy_refusal(policy(type, settings));
    EXPECT_EQ(r.code, hr::NotImpl) << type << " " << settings << ": " << r.text;
    EXPECT_NE(r.text.find(type), std::string::npos) << r.text;
  }
}

TEST(NetworkRulesetCheck, MalformedPoliciesAreInvalidArgNamingTheProblem) {
  struct Case {
    const char* type;
    const char* settings;
    const char* named;  // what the message must mention
  };
  const Case cases[] = {
      {"Bogus", "{}", "Bogus"},
      {"PortMapping", R"({"Protocol": 1, "InternalPort": 80, "ExternalPort": 80})", "protocol 1"},
      {"PortMapping", R"({"Protocol": 6, "ExternalPort": 80})", "InternalPort"},
      {"PortMapping", R"({"Protocol": 6, "InternalPort": 80})", "ExternalPort"},
      {"PortMapping", R"({"Protocol": 6, "InternalPort": 80, "ExternalPort": 80, "VIP": "1.2.3"})", "1.2.3"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "LocalPorts": "80"})", "Protocols"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "Protocols": "1", "LocalPorts": "80"})", "6 and 17"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "Protocols": "6", "LocalPorts": "0x50"})", "0x50"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "Protocols": "6", "LocalPorts": "70000"})", "70000"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "Protocols": "6", "RemotePorts": "2000-1000"})", "2000-1000"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "Protocols": "tcp"})", "tcp"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "RemoteAddresses": "10.0.0.300"})", "10.0.0.300"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "LocalAddresses": "10.0.0.0/40"})", "10.0.0.0/40"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "LocalAddresses": "10.0.0.1/8"})", "10.0.0.1/8"},
      {"ACL", R"({"Action": "Allow", "Direction": "Both"})", "Both"},
      {"ACL", R"({"Action": "Allow"})", "direction"},
      {"ACL", R"({"Action": "Deny", "Direction": "In"})", "Deny"},
      {"ACL", R"({"Action": "Allow", "Direction": "In", "RuleType": "Port"})", "Port"},
      {"OutBoundNAT", R"({"VirtualIP": "not-an-ip"})", "not-an-ip"},
      {"OutBoundNAT", R"({"Exceptions": ["10.0.0.0/8", "10.0.0.1/8"]})", "10.0.0.1/8"},
  };
  for (const auto& c : cases) {
    const auto r = policy_refusal(policy(c.type, c.settings));
    EXPECT_EQ(r.code, hr::ErrInvalidArg) << c.type << " " << c.settings << ": " << r.text;
    EXPECT_NE(r.text.find(c.named), std::string::npos) << c.settings << ": " << r.text;
    // And which policy: an endpoint may carry several.
    EXPECT_NE(r.text.find(c.type), std::string::npos) << c.settings << ": " << r.text;
  }
}

TEST(NetworkRulesetCheck, OneBadPolicyAmongGoodOnesIsFound) {
  const auto r = refusal([] {
    check_endpoint_policies({policy("PortMapping", R"({"Protocol": 6, "InternalPort": 80, "ExternalPort": 8080})"),
                             policy("ACL", R"({"Action": "Allow", "Direction": "In"})"),
                             policy("Iov", "{}")});
  });
  EXPECT_EQ(r.code, hr::NotImpl) << r.text;
  EXPECT_NE(r.text.find("Iov"), std::string::npos) << r.text;
}

// ---- load balancers -------------------------------------------------------------------

const std::vector<hcn::HostComputeEndpoint>& lb_endpoints() {
  static const std::vector<hcn::HostComputeEndpoint> eps{endpoint("e1", "172.30.0.2"), endpoint("e2", "172.30.0.3"),
                                                         endpoint("e3", "172.30.0.4")};
  return eps;
}

const std::string kLb = std::string("ip ") + names::kLoadBalancerTable;

TEST(NetworkRulesetLoadBalancer, NoBalancersOnlyRemovesTheTable) {
  EXPECT_EQ(load_balancer_ruleset({}, lb_endpoints()),
            "add table ip hcskit-lb\ndelete table ip hcskit-lb\n");
  EXPECT_EQ(load_balancer_ruleset({}, {}), "add table ip hcskit-lb\ndelete table ip hcskit-lb\n");
}

TEST(NetworkRulesetLoadBalancer, OneBackendIsAPlainDnatOnLocalAddresses) {
  const std::string text =
      load_balancer_ruleset({balancer("lb-1", {"e2"}, {lb_mapping(6, 80, 8080, 2)})}, lb_endpoints());
  EXPECT_EQ(text.rfind("add table ip hcskit-lb\ndelete table ip hcskit-lb\ntable ip hcskit-lb {\n", 0), 0u) << text;
  const Script s(text);
  EXPECT_EQ(s.order, (std::vector<std::string>{kLb + "/prerouting", kLb + "/output"})) << "DNAT only: no postrouting";
  EXPECT_EQ(s.rules(kLb + "/prerouting"),
            std::vector<std::string>{"fib daddr type local tcp dport 8080 dnat to 172.30.0.3:80"});
  EXPECT_EQ(s.rules(kLb + "/output"),
            std::vector<std::string>{
                "fib daddr type local ip daddr != 127.0.0.0/8 tcp dport 8080 dnat to 172.30.0.3:80"});
}

TEST(NetworkRulesetLoadBalancer, SeveralBackendsAreSpreadByDistributionType) {
  const auto lb = balancer("lb-1", {"e1", "e2", "e3"},
                           {lb_mapping(17, 53, 53, 0), lb_mapping(6, 80, 80, 1), lb_mapping(6, 443, 8443, 2)},
                           {"10.96.0.10"});
  const std::string text = load_balancer_ruleset({lb}, lb_endpoints());
  const std::string map = " map { 0 : 172.30.0.2, 1 : 172.30.0.3, 2 : 172.30.0.4 }";
  // 0: random; 1 and 2: by the client's address, so that a client keeps its backend.
  const std::vector<std::string> want{
      "ip daddr 10.96.0.10 udp dport 53 dnat to numgen random mod 3" + map + " : 53",
      "ip daddr 10.96.0.10 tcp dport 80 dnat to jhash ip saddr mod 3" + map + " : 80",
      "ip daddr 10.96.0.10 tcp dport 8443 dnat to jhash ip saddr mod 3" + map + " : 443"};
  const Script s(text);
  EXPECT_EQ(s.rules(kLb + "/prerouting"), want) << text;
  EXPECT_EQ(s.rules(kLb + "/output"), want) << "a VIP is no local address: no loopback exclusion needed";
}

TEST(NetworkRulesetLoadBalancer, SeveralFrontendVipsAndSeveralBalancers) {
  const std::string text = load_balancer_ruleset(
      {balancer("lb-1", {"e1", "e2"}, {lb_mapping(6, 80, 80)}, {"10.96.0.10", "10.96.0.11"}),
       balancer("lb-2", {"e3"}, {lb_mapping(6, 80, 81)})},
      lb_endpoints());
  const Script s(text);
  EXPECT_EQ(s.rules(kLb + "/prerouting"),
            (std::vector<std::string>{"ip daddr { 10.96.0.10, 10.96.0.11 } tcp dport 80 dnat to numgen random mod 2"
                                      " map { 0 : 172.30.0.2, 1 : 172.30.0.3 } : 80",
                                      "fib daddr type local tcp dport 81 dnat to 172.30.0.4:80"}))
      << text;
  ASSERT_EQ(s.chains.at(kLb + "/prerouting").raw.size(), 2u);
  EXPECT_NE(s.chains.at(kLb + "/prerouting").raw[1].find("lb-2"), std::string::npos) << "rules name their balancer";
}

TEST(NetworkRulesetLoadBalancer, UnknownEndpointIsNotFound) {
  const auto r = refusal(
      [] { load_balancer_ruleset({balancer("lb-1", {"e1", "e9"}, {lb_mapping(6, 80, 80)})}, lb_endpoints()); });
  EXPECT_EQ(r.code, hr::ErrNotFound) << r.text;
  EXPECT_NE(r.text.find("e9"), std::string::npos) << r.text;
  EXPECT_NE(r.text.find("lb-1"), std::string::npos) << r.text;
}

TEST(NetworkRulesetLoadBalancer, CheckRefusesWhatCannotBeApplied) {
  EXPECT_NO_THROW(check_load_balancer(balancer("lb-1", {"e1"}, {lb_mapping(6, 80, 80)}, {"10.96.0.10"})));

  auto dsr = balancer("lb-1", {"e1"}, {lb_mapping(6, 80, 80)});
  dsr.flags = 1;
  auto r = refusal([&] { check_load_balancer(dsr); });
  EXPECT_EQ(r.code, hr::NotImpl) << r.text;
  EXPECT_NE(r.text.find("DSR"), std::string::npos) << r.text;
  // load_balancer_ruleset checks too, rather than render a DSR balancer as plain DNAT.
  r = refusal([&] { load_balancer_ruleset({dsr}, lb_endpoints()); });
  EXPECT_EQ(r.code, hr::NotImpl) << r.text;

  r = refusal([] { check_load_balancer(balancer("lb-1", {}, {lb_mapping(6, 80, 80)})); });
  EXPECT_EQ(r.code, hr::ErrInvalidArg) << r.text;
  EXPECT_NE(r.text.find("HostComputeEndpoints"), std::string::npos) << r.text;

  r = refusal([] { check_load_balancer(balancer("lb-1", {"e1"}, {})); });
  EXPECT_EQ(r.code, hr::ErrInvalidArg) << r.text;
  EXPECT_NE(r.text.find("PortMappings"), std::string::npos) << r.text;

  r = refusal([] { check_load_balancer(balancer("lb-1", {"e1"}, {lb_mapping(6, 80, 80, 3)})); });
  EXPECT_EQ(r.code, hr::ErrInvalidArg) << r.text;
  EXPECT_NE(r.text.find("DistributionType"), std::string::npos) << r.text;

  r = refusal([] { check_load_balancer(balancer("lb-1", {"e1"}, {lb_mapping(1, 80, 80)})); });
  EXPECT_EQ(r.code, hr::ErrInvalidArg) << r.text;

  r = refusal([] { check_load_balancer(balancer("lb-1", {"e1"}, {lb_mapping(6, 0, 80)})); });
  EXPECT_EQ(r.code, hr::ErrInvalidArg) << r.text;

  r = refusal([] { check_load_balancer(balancer("lb-1", {"e1"}, {lb_mapping(6, 80, 80)}, {"10.96.0"})); });
  EXPECT_EQ(r.code, hr::ErrInvalidArg) << r.text;
  EXPECT_NE(r.text.find("10.96.0"), std::string::npos) << r.text;
}

// ---- the real nft parser --------------------------------------------------------------

// Why nft cannot check here, or "" when it can. Check mode still talks to the kernel
// (the transaction is validated, then aborted), hence root.
std::string nft_unavailable() {
  if (geteuid() != 0) return "nft -c needs CAP_NET_ADMIN (run as root)";
  if (std::system("command -v nft >/dev/null 2>&1") != 0) return "nft is not installed";
  return "";
}

struct NftResult {
  int status = -1;
  std::string output;
};

// `nft -c -f FILE`: parses and validates the script without changing the ruleset.
NftResult nft_check(const std::string& script) {
  const auto file = std::filesystem::temp_directory_path() /
                    ("network_ruleset_test." + std::to_string(getpid()) + ".nft");
  std::ofstream(file) << script;
  NftResult r;
  if (FILE* p = popen(("nft -c -f '" + file.string() + "' 2>&1").c_str(), "r")) {
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  std::filesystem::remove(file);
  return r;
}

// Root in a user namespace or a container without CAP_NET_ADMIN is refused by the
// kernel, which says nothing about the script.
bool not_permitted(const NftResult& r) { return r.output.find("Operation not permitted") != std::string::npos; }

TEST(NetworkRulesetNft, RealisticNetworkScriptPassesNftCheck) {
  if (const auto why = nft_unavailable(); !why.empty()) GTEST_SKIP() << why;
  const auto n = network("5b5d9a7e-0000-4000-8000-000000000001", hcn::network_type::NAT, "172.30.0.0/24");
  const auto web = endpoint(
      "5b5d9a7e-0000-4000-8000-0000000000e1", "172.30.0.2",
      {policy("PortMapping", R"({"Protocol": 6, "InternalPort": 80, "ExternalPort": 8080})"),
       policy("PortMapping", R"({"Protocol": 17, "InternalPort": 53, "ExternalPort": 5353, "VIP": "10.10.0.1"})"),
       policy("ACL", R"({"Action": "Allow", "Direction": "In", "Protocols": "6", "LocalPorts": "80",
                         "RemoteAddresses": "10.0.0.0/8, 192.168.1.7", "Priority": 100})")});
  const auto db = endpoint(
      "5b5d9a7e-0000-4000-8000-0000000000e2", "172.30.0.3",
      {policy("ACL", R"({"Action": "Block", "Direction": "Out", "Protocols": "6,17",
                         "RemotePorts": "25, 1000-2000", "LocalAddresses": "172.30.0.3", "Priority": 200})"),
       policy("OutBoundNAT", R"({"Exceptions": ["10.0.0.0/8", "192.168.0.0/16"]})")});
  const std::string script = network_ruleset(n, {web, db});
  const auto r = nft_check(script);
  if (not_permitted(r)) GTEST_SKIP() << "no CAP_NET_ADMIN: " << r.output;
  EXPECT_EQ(r.status, 0) << r.output << "\n" << script;

  const auto removal = nft_check(network_ruleset_removal(n.id));
  EXPECT_EQ(removal.status, 0) << removal.output;
}

TEST(NetworkRulesetNft, LoadBalancerScriptPassesNftCheck) {
  if (const auto why = nft_unavailable(); !why.empty()) GTEST_SKIP() << why;
  const std::string script = load_balancer_ruleset(
      {balancer("lb-1", {"e1", "e2", "e3"}, {lb_mapping(17, 53, 53, 0), lb_mapping(6, 80, 80, 1)},
                {"10.96.0.10", "10.96.0.11"}),
       balancer("lb-2", {"e1"}, {lb_mapping(6, 443, 8443, 2)})},
      lb_endpoints());
  const auto r = nft_check(script);
  if (not_permitted(r)) GTEST_SKIP() << "no CAP_NET_ADMIN: " << r.output;
  EXPECT_EQ(r.status, 0) << r.output << "\n" << script;
}

}  // namespace

}  // namespace network_ruleset_test
