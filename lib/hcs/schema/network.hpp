// HCN v2 objects (hcsshim.md §4.2–4.4): networks, endpoints, namespaces and load
// balancers as Windows' Host Network Service takes and returns them, with their
// policies, IPAM, routes, queries and feature flags. Policy settings stay raw JSON in
// a Policy and are typed on demand (policy_settings<T>), so that a policy this host
// cannot apply still round-trips; unknown fields ride along in `extra`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hcs/schema/bridge.hpp"
#include "hcs/schema/record.hpp"

namespace hcs::schema::hcn {

// The record (de)serializers, where argument-dependent lookup of these types looks.
using schema::from_json;
using schema::to_json;

// HCN objects default to schema 2.0.
inline Version default_version() { return Version{2, 0}; }

namespace network_type {
inline constexpr const char* NAT = "NAT";
inline constexpr const char* Transparent = "Transparent";
inline constexpr const char* L2Bridge = "L2Bridge";
inline constexpr const char* L2Tunnel = "L2Tunnel";
inline constexpr const char* ICS = "ICS";
inline constexpr const char* Private = "Private";
inline constexpr const char* Overlay = "Overlay";
}  // namespace network_type

namespace network_flags {
inline constexpr uint32_t None = 0;
inline constexpr uint32_t EnableNonPersistent = 8;
inline constexpr uint32_t DisableHostPort = 1024;
inline constexpr uint32_t EnableIov = 8192;
}  // namespace network_flags

namespace endpoint_flags {
inline constexpr uint32_t RemoteEndpoint = 1;
}

namespace subnet_flags {
inline constexpr uint32_t DoNotReserveGatewayAddress = 1;
}

// Endpoint and network policy types this host applies (the others are kept, refused
// at apply time with NotImpl).
namespace policy_type {
inline constexpr const char* PortMapping = "PortMapping";
inline constexpr const char* ACL = "ACL";
inline constexpr const char* OutBoundNAT = "OutBoundNAT";
inline constexpr const char* QOS = "QOS";
inline constexpr const char* NetworkACL = "NetworkACL";
}  // namespace policy_type

// {"Type": "...", "Settings": {...}}, for endpoints, networks and subnets alike.
struct Policy {
  std::string type;
  Json settings;
  Json extra;
  // Policies are equal when their type and settings are: `extra` holds unknown keys,
  // which no policy request compares.
  bool operator==(const Policy& o) const { return type == o.type && settings == o.settings; }
  static auto fields() { return std::make_tuple(field("Type", &Policy::type), omitempty("Settings", &Policy::settings)); }
};

// PortMappingPolicySetting; Flags are NatFlags (LocalRoutedVip 1, IPv6 2).
struct PortMappingPolicySetting {
  uint32_t protocol = 0;  // IANA number: 6 TCP, 17 UDP
  uint16_t internal_port = 0, external_port = 0;
  std::string vip;
  uint32_t flags = 0;
  Json extra;
  static auto fields() {
    using T = PortMappingPolicySetting;
    return std::make_tuple(omitempty("Protocol", &T::protocol), omitempty("InternalPort", &T::internal_port),
                           omitempty("ExternalPort", &T::external_port), omitempty("VIP", &T::vip),
                           omitempty("Flags", &T::flags));
  }
};

// AclPolicySetting (also NetworkACL's): Action Allow|Block|Pass, Direction In|Out,
// RuleType Host|Switch; Protocols, addresses and ports are comma-separated lists.
struct AclPolicySetting {
  std::string protocols, action, direction, local_addresses, remote_addresses, local_ports, remote_ports, rule_type;
  uint16_t priority = 0;
  Json extra;
  static auto fields() {
    using T = AclPolicySetting;
    return std::make_tuple(omitempty("Protocols", &T::protocols), omitempty("Action", &T::action),
                           omitempty("Direction", &T::direction), omitempty("LocalAddresses", &T::local_addresses),
                           omitempty("RemoteAddresses", &T::remote_addresses), omitempty("LocalPorts", &T::local_ports),
                           omitempty("RemotePorts", &T::remote_ports), omitempty("RuleType", &T::rule_type),
                           omitempty("Priority", &T::priority));
  }
};

struct OutboundNatPolicySetting {
  std::string virtual_ip;
  std::vector<std::string> exceptions, destinations;
  uint32_t flags = 0;
  uint16_t max_port_pool_usage = 0;
  Json extra;
  static auto fields() {
    using T = OutboundNatPolicySetting;
    return std::make_tuple(omitempty("VirtualIP", &T::virtual_ip), omitempty("Exceptions", &T::exceptions),
                           omitempty("Destinations", &T::destinations), omitempty("Flags", &T::flags),
                           omitempty("MaxPortPoolUsage", &T::max_port_pool_usage));
  }
};

struct Route {
  std::string next_hop, destination_prefix;
  uint16_t metric = 0;
  Json extra;
  bool operator==(const Route&) const = default;
  static auto fields() {
    return std::make_tuple(omitempty("NextHop", &Route::next_hop),
                           omitempty("DestinationPrefix", &Route::destination_prefix),
                           omitempty("Metric", &Route::metric));
  }
};

struct Subnet {
  std::string ip_address_prefix;
  std::vector<Json> policies;  // VLAN, VSID: no meaning on this host, kept
  std::vector<Route> routes;
  uint32_t flags = 0;
  Json extra;
  static auto fields() {
    using T = Subnet;
    return std::make_tuple(omitempty("IpAddressPrefix", &T::ip_address_prefix), omitempty("Policies", &T::policies),
                           omitempty("Routes", &T::routes), omitempty("Flags", &T::flags));
  }
};

struct Ipam {
  std::string type;  // "Static"
  std::vector<Subnet> subnets;
  Json extra;
  static auto fields() { return std::make_tuple(omitempty("Type", &Ipam::type), omitempty("Subnets", &Ipam::subnets)); }
};

struct Dns {
  std::string domain;
  std::vector<std::string> search, server_list, options;
  Json extra;
  static auto fields() {
    return std::make_tuple(omitempty("Domain", &Dns::domain), omitempty("Search", &Dns::search),
                           omitempty("ServerList", &Dns::server_list), omitempty("Options", &Dns::options));
  }
};

struct MacRange {
  std::string start_mac_address, end_mac_address;
  Json extra;
  static auto fields() {
    return std::make_tuple(omitempty("StartMacAddress", &MacRange::start_mac_address),
                           omitempty("EndMacAddress", &MacRange::end_mac_address));
  }
};

struct MacPool {
  std::vector<MacRange> ranges;
  Json extra;
  static auto fields() { return std::make_tuple(omitempty("Ranges", &MacPool::ranges)); }
};

struct HostComputeNetwork {
  std::string id, name, type;
  std::vector<Policy> policies;
  MacPool mac_pool;
  Dns dns;
  std::vector<Ipam> ipams;
  uint32_t flags = 0;
  Json health;
  Version schema_version = default_version();
  Json extra;
  static auto fields() {
    using T = HostComputeNetwork;
    return std::make_tuple(omitempty("ID", &T::id), omitempty("Name", &T::name), omitempty("Type", &T::type),
                           omitempty("Policies", &T::policies), field("MacPool", &T::mac_pool), field("Dns", &T::dns),
                           omitempty("Ipams", &T::ipams), omitempty("Flags", &T::flags), omitempty("Health", &T::health),
                           field("SchemaVersion", &T::schema_version));
  }
};

struct IpConfig {
  std::string ip_address;
  uint8_t prefix_length = 0;
  Json extra;
  bool operator==(const IpConfig&) const = default;
  static auto fields() {
    return std::make_tuple(omitempty("IpAddress", &IpConfig::ip_address),
                           omitempty("PrefixLength", &IpConfig::prefix_length));
  }
};

struct HostComputeEndpoint {
  std::string id, name, host_compute_network, host_compute_namespace;
  std::vector<Policy> policies;
  std::vector<IpConfig> ip_configurations;
  Dns dns;
  std::vector<Route> routes;
  std::string mac_address;
  uint32_t flags = 0;
  Json health;
  Version schema_version = default_version();
  Json extra;
  static auto fields() {
    using T = HostComputeEndpoint;
    return std::make_tuple(omitempty("ID", &T::id), omitempty("Name", &T::name),
                           omitempty("HostComputeNetwork", &T::host_compute_network),
                           omitempty("HostComputeNamespace", &T::host_compute_namespace),
                           omitempty("Policies", &T::policies), omitempty("IpConfigurations", &T::ip_configurations),
                           field("Dns", &T::dns), omitempty("Routes", &T::routes),
                           omitempty("MacAddress", &T::mac_address), omitempty("Flags", &T::flags),
                           omitempty("Health", &T::health), field("SchemaVersion", &T::schema_version));
  }
};

namespace namespace_type {
inline constexpr const char* Host = "Host";
inline constexpr const char* HostDefault = "HostDefault";
inline constexpr const char* Guest = "Guest";
inline constexpr const char* GuestDefault = "GuestDefault";
}  // namespace namespace_type

// A namespace member: Type "Container" or "Endpoint", Data {"ID": ...}.
struct NamespaceResource {
  std::string type;
  Json data;
  Json extra;
  static auto fields() {
    return std::make_tuple(field("Type", &NamespaceResource::type), field("Data", &NamespaceResource::data));
  }
};

struct HostComputeNamespace {
  std::string id;
  uint32_t namespace_id = 0;
  std::string type = namespace_type::Host;
  std::vector<NamespaceResource> resources;
  Version schema_version = default_version();
  Json extra;
  static auto fields() {
    using T = HostComputeNamespace;
    return std::make_tuple(omitempty("ID", &T::id), omitempty("NamespaceId", &T::namespace_id),
                           omitempty("Type", &T::type), omitempty("Resources", &T::resources),
                           field("SchemaVersion", &T::schema_version));
  }
};

// A Guest namespace lives inside a utility VM (hcsshim.md §7.4), not on the host.
inline bool is_guest(const HostComputeNamespace& ns) {
  return ns.type == namespace_type::Guest || ns.type == namespace_type::GuestDefault;
}

struct LoadBalancerPortMapping {
  uint32_t protocol = 0;
  uint16_t internal_port = 0, external_port = 0;
  uint32_t distribution_type = 0;  // 0 none, 1 SourceIPProtocol, 2 SourceIP
  uint32_t flags = 0;              // ILB 1, LocalRoutedVIP 2, UseMux 4, PreserveDIP 8
  Json extra;
  static auto fields() {
    using T = LoadBalancerPortMapping;
    return std::make_tuple(omitempty("Protocol", &T::protocol), omitempty("InternalPort", &T::internal_port),
                           omitempty("ExternalPort", &T::external_port),
                           omitempty("DistributionType", &T::distribution_type), omitempty("Flags", &T::flags));
  }
};

struct HostComputeLoadBalancer {
  std::string id;
  std::vector<std::string> host_compute_endpoints;
  std::string source_vip;
  std::vector<std::string> frontend_vips;
  std::vector<LoadBalancerPortMapping> port_mappings;
  Version schema_version = default_version();
  uint32_t flags = 0;  // DSR 1, IPv6 2
  Json extra;
  static auto fields() {
    using T = HostComputeLoadBalancer;
    return std::make_tuple(omitempty("ID", &T::id), omitempty("HostComputeEndpoints", &T::host_compute_endpoints),
                           omitempty("SourceVIP", &T::source_vip), omitempty("FrontendVIPs", &T::frontend_vips),
                           omitempty("PortMappings", &T::port_mappings), field("SchemaVersion", &T::schema_version),
                           omitempty("Flags", &T::flags));
  }
};

// HostComputeQuery: Flags 1 = Detailed; Filter is JSON text, e.g. {"Name": "nat"}.
struct HostComputeQuery {
  Version schema_version = default_version();
  uint32_t flags = 0;
  std::string filter;
  Json extra;
  static auto fields() {
    using T = HostComputeQuery;
    return std::make_tuple(field("SchemaVersion", &T::schema_version), omitempty("Flags", &T::flags),
                           omitempty("Filter", &T::filter));
  }
};

// ModifyNetworkSettingRequest / ModifyEndpointSettingRequest /
// ModifyNamespaceSettingRequest: they share one shape.
struct ModifySettingRequest {
  std::string resource_type, request_type;
  Json settings;
  Json extra;
  static auto fields() {
    using T = ModifySettingRequest;
    return std::make_tuple(field("ResourceType", &T::resource_type), field("RequestType", &T::request_type),
                           omitempty("Settings", &T::settings));
  }
};

// PolicyNetworkRequest / PolicyEndpointRequest.
struct PolicyRequest {
  std::vector<Policy> policies;
  Json extra;
  static auto fields() { return std::make_tuple(field("Policies", &PolicyRequest::policies)); }
};

// A policy's settings as their typed record; throws VmcomputeInvalidJSON naming the field.
template <class T>
T policy_settings(const Policy& p) {
  return (p.settings.is_null() ? Json::object() : p.settings).get<T>();
}

}  // namespace hcs::schema::hcn
