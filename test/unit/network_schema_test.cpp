// HCN v2 JSON (schema/network.hpp): documents as hcsshim sends them read and write back
// with the same keys; unknown fields and policies this host does not type survive.
#include <gtest/gtest.h>

#include "hcs/core/error.hpp"
#include "hcs/schema/network.hpp"

namespace network_schema_test {

namespace {

using hcs::Json;
namespace hcn = hcs::schema::hcn;

TEST(HcnSchema, NetworkRoundTripsWithHcsshimsKeys) {
  const Json in = Json::parse(R"({
    "Name": "nat", "Type": "NAT", "Flags": 8,
    "Ipams": [{"Type": "Static", "Subnets": [{"IpAddressPrefix": "172.30.0.0/24",
      "Routes": [{"NextHop": "172.30.0.1", "DestinationPrefix": "0.0.0.0/0", "Metric": 5}],
      "Policies": [{"Type": "VLAN", "Settings": {"IsolationId": 7}}]}]}],
    "Policies": [{"Type": "NetAdapterName", "Settings": {"NetworkAdapterName": "eth0"}}],
    "Dns": {"ServerList": ["10.0.0.2"], "Search": ["corp"]},
    "MacPool": {"Ranges": [{"StartMacAddress": "00-15-5D-00-00-00", "EndMacAddress": "00-15-5D-00-FF-FF"}]},
    "SchemaVersion": {"Major": 2, "Minor": 0},
    "FutureField": {"x": 1}})");
  const auto net = in.get<hcn::HostComputeNetwork>();
  EXPECT_EQ(net.type, hcn::network_type::NAT);
  EXPECT_EQ(net.flags, hcn::network_flags::EnableNonPersistent);
  ASSERT_EQ(net.ipams.size(), 1u);
  ASSERT_EQ(net.ipams[0].subnets.size(), 1u);
  EXPECT_EQ(net.ipams[0].subnets[0].ip_address_prefix, "172.30.0.0/24");
  EXPECT_EQ(net.ipams[0].subnets[0].routes[0].metric, 5);
  EXPECT_EQ(net.dns.server_list, std::vector<std::string>{"10.0.0.2"});
  const Json out = Json(net);
  EXPECT_EQ(out["FutureField"], in["FutureField"]) << "unknown fields are kept";
  EXPECT_EQ(out["Ipams"][0]["Subnets"][0]["Policies"], in["Ipams"][0]["Subnets"][0]["Policies"]);
  EXPECT_EQ(out["Policies"], in["Policies"]);
  EXPECT_EQ(out["MacPool"], in["MacPool"]);
  EXPECT_FALSE(out.contains("ID")) << "omitempty, as hcsshim's encoder";
}

TEST(HcnSchema, EndpointPoliciesAreTypedOnDemand) {
  const Json in = Json::parse(R"({
    "Name": "ep1", "HostComputeNetwork": "5b5d9a7e-0000-4000-8000-000000000001",
    "IpConfigurations": [{"IpAddress": "172.30.0.5", "PrefixLength": 24}],
    "Policies": [
      {"Type": "PortMapping", "Settings": {"Protocol": 6, "InternalPort": 80, "ExternalPort": 8080}},
      {"Type": "ACL", "Settings": {"Action": "Block", "Direction": "Out", "RemoteAddresses": "10.0.0.0/8",
                                   "Protocols": "6", "Priority": 100}},
      {"Type": "L4Proxy", "Settings": {"Port": "15001"}}]})");
  const auto ep = in.get<hcn::HostComputeEndpoint>();
  ASSERT_EQ(ep.ip_configurations.size(), 1u);
  EXPECT_EQ(ep.ip_configurations[0].prefix_length, 24);
  ASSERT_EQ(ep.policies.size(), 3u);
  const auto pm = hcn::policy_settings<hcn::PortMappingPolicySetting>(ep.policies[0]);
  EXPECT_EQ(pm.protocol, 6u);
  EXPECT_EQ(pm.internal_port, 80);
  EXPECT_EQ(pm.external_port, 8080);
  const auto acl = hcn::policy_settings<hcn::AclPolicySetting>(ep.policies[1]);
  EXPECT_EQ(acl.action, "Block");
  EXPECT_EQ(acl.priority, 100);
  EXPECT_EQ(Json(ep)["Policies"][2], in["Policies"][2]) << "an untyped policy is kept as it came";
  EXPECT_EQ(Json(ep)["SchemaVersion"], (Json{{"Major", 2}, {"Minor", 0}}));
}

TEST(HcnSchema, WrongTypesNameTheField) {
  hcn::Policy p;
  p.type = hcn::policy_type::PortMapping;
  p.settings = Json{{"InternalPort", "eighty"}};
  try {
    hcn::policy_settings<hcn::PortMappingPolicySetting>(p);
    FAIL() << "accepted";
  } catch (const hcs::Error& e) {
    EXPECT_EQ(e.code(), hcs::hr::VmcomputeInvalidJSON);
    EXPECT_NE(e.text().find("InternalPort"), std::string::npos) << e.text();
  }
  EXPECT_THROW(Json::parse(R"({"IpConfigurations": {"IpAddress": 1}})").get<hcn::HostComputeEndpoint>(), hcs::Error);
}

TEST(HcnSchema, NamespaceLoadBalancerAndQuery) {
  const auto ns = Json::parse(R"({"ID": "n1", "NamespaceId": 3, "Type": "Guest",
    "Resources": [{"Type": "Endpoint", "Data": {"ID": "e1"}}]})").get<hcn::HostComputeNamespace>();
  EXPECT_EQ(ns.type, hcn::namespace_type::Guest);
  ASSERT_EQ(ns.resources.size(), 1u);
  EXPECT_EQ(ns.resources[0].data["ID"], "e1");
  EXPECT_EQ(hcn::HostComputeNamespace{}.type, "Host");

  const auto lb = Json::parse(R"({"HostComputeEndpoints": ["e1", "e2"], "FrontendVIPs": ["10.1.0.1"],
    "PortMappings": [{"Protocol": 17, "InternalPort": 53, "ExternalPort": 5353, "DistributionType": 2}],
    "Flags": 1})").get<hcn::HostComputeLoadBalancer>();
  EXPECT_EQ(lb.host_compute_endpoints.size(), 2u);
  EXPECT_EQ(lb.port_mappings[0].distribution_type, 2u);
  EXPECT_EQ(lb.flags, 1u);

  hcn::HostComputeQuery q;
  q.flags = 1;
  q.filter = R"({"Name":"nat"})";
  EXPECT_EQ(Json(q), Json::parse(R"({"SchemaVersion": {"Major": 2, "Minor": 0}, "Flags": 1,
                                     "Filter": "{\"Name\":\"nat\"}"})"));
}

}  // namespace

}  // namespace network_schema_test
