#include "hcs/network/ruleset.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>
#include <sstream>

#include "hcs/core/error.hpp"
#include "hcs/network/dns.hpp"
#include "hcs/network/ipam.hpp"
#include "hcs/network/names.hpp"

namespace hcs::network {

namespace hcn = schema::hcn;

namespace {

// The endpoint policy types hcsshim.md §4.3 lists that this host does not apply.
const std::set<std::string> kNotAppliedHere = {"QOS",      "L2Driver",     "SDNRoute",         "L4Proxy",
                                               "L4WFPPROXY", "PortName",   "Iov",              "ProviderAddress",
                                               "InterfaceConstraint", "TierAcl"};

// A list with something in it (", " holds nothing, and nft refuses an empty set).
bool has_items(const std::string& csv) { return !split_list(csv).empty(); }

// One value, or an anonymous set of several: nft's own syntax for either.
std::string nft_set(const std::vector<std::string>& items) {
  if (items.size() == 1) return items[0];
  std::string out = "{ ";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + " }";
}

uint32_t parse_number(const std::string& s, uint32_t max, const std::string& what) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max)
    throw Error(hr::ErrInvalidArg, "'" + s + "' is not a valid " + what);
  return v;
}

// "10.0.0.1, 10.1.0.0/16" → nft addresses; every item checked.
std::string addresses(const std::string& csv, const std::string& what) {
  std::vector<std::string> out;
  for (const auto& a : split_list(csv)) {
    if (a.find('/') != std::string::npos) out.push_back(Prefix::parse(a).text());
    else if (auto v = parse_ipv4(a)) out.push_back(ipv4_text(*v));
    else throw Error(hr::ErrInvalidArg, "'" + a + "' in " + what + " is not an IPv4 address or prefix");
  }
  return nft_set(out);
}

// "80, 1000-2000" → nft ports.
std::string ports(const std::string& csv, const std::string& what) {
  std::vector<std::string> out;
  for (const auto& p : split_list(csv)) {
    const auto dash = p.find('-');
    if (dash == std::string::npos) {
      out.push_back(std::to_string(parse_number(p, 65535, "port in " + what)));
    } else {
      const auto lo = parse_number(p.substr(0, dash), 65535, "port in " + what);
      const auto hi = parse_number(p.substr(dash + 1), 65535, "port in " + what);
      if (lo > hi) throw Error(hr::ErrInvalidArg, "the port range '" + p + "' in " + what + " is empty");
      out.push_back(std::to_string(lo) + "-" + std::to_string(hi));
    }
  }
  return nft_set(out);
}

// IANA protocol numbers: TCP and UDP by name, so that their ports can be matched.
std::string protocol_name(uint32_t protocol, const std::string& what) {
  if (protocol == 6) return "tcp";
  if (protocol == 17) return "udp";
  throw Error(hr::ErrInvalidArg, what + ": protocol " + std::to_string(protocol) + " has no ports (6 TCP or 17 UDP)");
}

std::string endpoint_address(const hcn::HostComputeEndpoint& e) {
  if (e.ip_configurations.empty()) throw Error(hr::ErrInvalidArg, "the endpoint " + e.id + " has no address");
  return e.ip_configurations[0].ip_address;
}

std::string comment(const std::string& text) { return " comment \"" + text + "\""; }

struct Acl {
  uint16_t priority;
  std::string port;  // the endpoint's bridge port
  hcn::AclPolicySetting rule;
  std::string owner;
};

hcn::AclPolicySetting checked_acl(const hcn::Policy& p) {
  auto a = hcn::policy_settings<hcn::AclPolicySetting>(p);
  if (a.action == "Pass") throw Error(hr::NotImpl, "ACL action Pass is not applied on this host (Allow, Block)");
  if (a.action != "Allow" && a.action != "Block")
    throw Error(hr::ErrInvalidArg, "ACL action '" + a.action + "' is neither Allow nor Block");
  if (a.direction != "In" && a.direction != "Out")
    throw Error(hr::ErrInvalidArg, "ACL direction '" + a.direction + "' is neither In nor Out");
  if (!a.rule_type.empty() && a.rule_type != "Host" && a.rule_type != "Switch")
    throw Error(hr::ErrInvalidArg, "ACL rule type '" + a.rule_type + "' is neither Host nor Switch");
  const auto protocols = split_list(a.protocols);
  for (const auto& pr : protocols) parse_number(pr, 255, "protocol in ACL Protocols");
  if (has_items(a.local_ports) || has_items(a.remote_ports)) {
    if (protocols.empty())
      throw Error(hr::ErrInvalidArg, "an ACL with ports needs Protocols (6 TCP, 17 UDP)");
    for (const auto& pr : protocols)
      if (pr != "6" && pr != "17") throw Error(hr::ErrInvalidArg, "an ACL with ports takes only protocols 6 and 17");
  }
  addresses(a.local_addresses, "LocalAddresses");
  addresses(a.remote_addresses, "RemoteAddresses");
  ports(a.local_ports, "LocalPorts");
  ports(a.remote_ports, "RemotePorts");
  return a;
}

// The match and verdict of one ACL, as seen on the endpoint's bridge port.
std::string acl_rule(const Acl& acl) {
  const auto& a = acl.rule;
  const bool in = a.direction == "In";
  std::string r = in ? "oifname \"" + acl.port + "\"" : "iifname \"" + acl.port + "\"";
  if (has_items(a.protocols)) r += " meta l4proto " + nft_set(split_list(a.protocols));
  const std::string local = in ? "daddr" : "saddr", remote = in ? "saddr" : "daddr";
  if (has_items(a.local_addresses)) r += " ip " + local + " " + addresses(a.local_addresses, "LocalAddresses");
  if (has_items(a.remote_addresses)) r += " ip " + remote + " " + addresses(a.remote_addresses, "RemoteAddresses");
  const std::string local_port = in ? "dport" : "sport", remote_port = in ? "sport" : "dport";
  if (has_items(a.local_ports)) r += " th " + local_port + " " + ports(a.local_ports, "LocalPorts");
  if (has_items(a.remote_ports)) r += " th " + remote_port + " " + ports(a.remote_ports, "RemotePorts");
  r += a.action == "Allow" ? " accept" : " drop";
  return r + comment("endpoint " + acl.owner + " ACL");
}

void replace_table(std::ostringstream& s, const std::string& family, const std::string& table) {
  s << "add table " << family << " " << table << "\ndelete table " << family << " " << table << "\n";
}

const char* kNatChains[][2] = {{"prerouting", "type nat hook prerouting priority dstnat; policy accept;"},
                               {"output", "type nat hook output priority -100; policy accept;"},
                               {"postrouting", "type nat hook postrouting priority srcnat; policy accept;"}};

}  // namespace

void check_endpoint_policies(const std::vector<hcn::Policy>& policies) {
  for (const auto& p : policies) {
    const std::string what = "policy " + p.type;
    try {
      if (p.type == hcn::policy_type::PortMapping) {
        auto m = hcn::policy_settings<hcn::PortMappingPolicySetting>(p);
        protocol_name(m.protocol, "PortMapping");
        if (m.internal_port == 0 || m.external_port == 0)
          throw Error(hr::ErrInvalidArg, "PortMapping needs InternalPort and ExternalPort");
        if (m.flags & 2) throw Error(hr::NotImpl, "IPv6 port mappings are not applied on this host");
        if (!m.vip.empty() && !parse_ipv4(m.vip)) throw Error(hr::ErrInvalidArg, "VIP '" + m.vip + "' is not IPv4");
      } else if (p.type == hcn::policy_type::ACL) {
        checked_acl(p);
      } else if (p.type == hcn::policy_type::OutBoundNAT) {
        auto o = hcn::policy_settings<hcn::OutboundNatPolicySetting>(p);
        if (!o.virtual_ip.empty() && !parse_ipv4(o.virtual_ip))
          throw Error(hr::ErrInvalidArg, "VirtualIP '" + o.virtual_ip + "' is not IPv4");
        for (const auto& e : o.exceptions) addresses(e, "Exceptions");
        if (!o.destinations.empty())
          throw Error(hr::NotImpl, "OutBoundNAT Destinations are not applied on this host (it would NAT every destination)");
      } else if (p.type == "EncapOverhead") {
        // Recorded: it lowers the MTU of the NIC a utility VM gets for the endpoint, which
        // must stay at least IPv4's 68 of Ethernet's 1500.
        const Json overhead = p.settings.is_object() ? p.settings.value("Overhead", Json(0)) : Json();
        if (!overhead.is_number_unsigned() || overhead.get<uint64_t>() > kMaxEncapOverhead)
          throw Error(hr::ErrInvalidArg, "EncapOverhead needs Overhead, a number of bytes up to " +
                                             std::to_string(kMaxEncapOverhead));
      } else if (kNotAppliedHere.count(p.type)) {
        throw Error(hr::NotImpl, "the " + p.type + " policy is not applied on this host (PortMapping, ACL, " +
                                     "OutBoundNAT and EncapOverhead are)");
      } else {
        throw Error(hr::ErrInvalidArg, "unknown endpoint policy type '" + p.type + "'");
      }
    } catch (const Error& e) {
      if (e.text().find(p.type) != std::string::npos) throw;
      throw Error(e.code(), what + ": " + e.text());
    }
  }
}

std::string network_ruleset(const hcn::HostComputeNetwork& n, const std::vector<hcn::HostComputeEndpoint>& endpoints) {
  const std::string table = names::table(n.id), bridge = names::bridge(n.id);
  std::map<std::string, std::vector<std::string>> nat;  // chain → rules
  std::vector<Acl> acls;
  for (const auto& e : endpoints) {
    check_endpoint_policies(e.policies);
    const std::string ip = endpoint_address(e);
    for (const auto& p : e.policies) {
      if (p.type == hcn::policy_type::PortMapping) {
        auto m = hcn::policy_settings<hcn::PortMappingPolicySetting>(p);
        const std::string proto = protocol_name(m.protocol, "PortMapping");
        const std::string to = " " + proto + " dport " + std::to_string(m.external_port) + " dnat to " + ip + ":" +
                               std::to_string(m.internal_port) + comment("endpoint " + e.id + " PortMapping");
        if (m.vip.empty()) {
          nat["prerouting"].push_back("fib daddr type local" + to);
          // Loopback is never DNATed out of the host (the kernel would drop it as martian).
          nat["output"].push_back("fib daddr type local ip daddr != 127.0.0.0/8" + to);
        } else {
          nat["prerouting"].push_back("ip daddr " + m.vip + to);
          nat["output"].push_back("ip daddr " + m.vip + to);
        }
      } else if (p.type == hcn::policy_type::OutBoundNAT) {
        auto o = hcn::policy_settings<hcn::OutboundNatPolicySetting>(p);
        std::string r = "ip saddr " + ip + " oifname != \"" + bridge + "\"";
        std::string except;
        for (const auto& x : o.exceptions) except += (except.empty() ? "" : ",") + x;
        if (has_items(except)) r += " ip daddr != " + addresses(except, "Exceptions");
        r += o.virtual_ip.empty() ? " masquerade" : " snat to " + o.virtual_ip;
        nat["postrouting"].push_back(r + comment("endpoint " + e.id + " OutBoundNAT"));
      } else if (p.type == hcn::policy_type::ACL) {
        auto a = checked_acl(p);
        acls.push_back({a.priority, names::host_port(e.id), a, e.id});
      }
    }
  }
  if (n.type == hcn::network_type::NAT || n.type == hcn::network_type::ICS) {
    for (const auto& ipam : n.ipams)
      for (const auto& s : ipam.subnets) {
        const std::string subnet = Prefix::parse(s.ip_address_prefix).text();
        nat["postrouting"].push_back("ip saddr " + subnet + " oifname != \"" + bridge + "\" masquerade" +
                                     comment("network " + n.id + " NAT"));
        // Hairpin: an endpoint reaching another through a port mapping must see the
        // answer come from the address it called.
        nat["postrouting"].push_back("ct status dnat ip saddr " + subnet + " ip daddr " + subnet + " masquerade" +
                                     comment("network " + n.id + " hairpin"));
      }
  }
  std::stable_sort(acls.begin(), acls.end(), [](const Acl& a, const Acl& b) { return a.priority < b.priority; });

  std::ostringstream s;
  replace_table(s, "ip", table);
  replace_table(s, "bridge", table);
  s << "table ip " << table << " {\n";
  for (const auto& [name, hook] : kNatChains) {
    s << "  chain " << name << " {\n    " << hook << "\n";
    for (const auto& r : nat[name]) s << "    " << r << "\n";
    s << "  }\n";
  }
  s << "}\n";
  // ACLs on the bridge ports: between endpoints (forward), and to or from the host
  // (output: the host sends out of a port; input: a port sends to the host).
  s << "table bridge " << table << " {\n";
  for (const char* chain : {"forward", "input", "output"}) {
    s << "  chain " << chain << " {\n    type filter hook " << chain << " priority filter; policy accept;\n";
    for (const auto& acl : acls) {
      const bool in = acl.rule.direction == "In";
      if (std::string(chain) == "forward" || (in && std::string(chain) == "output") ||
          (!in && std::string(chain) == "input"))
        s << "    " << acl_rule(acl) << "\n";
    }
    s << "  }\n";
  }
  s << "}\n";
  return s.str();
}

std::string network_ruleset_removal(const std::string& network_id) {
  std::ostringstream s;
  replace_table(s, "ip", names::table(network_id));
  replace_table(s, "bridge", names::table(network_id));
  return s.str();
}

void check_load_balancer(const hcn::HostComputeLoadBalancer& lb) {
  if (lb.flags & 1) throw Error(hr::NotImpl, "DSR load balancers are not applied on this host");
  if (lb.flags & 2) throw Error(hr::NotImpl, "IPv6 load balancers are not applied on this host");
  if (lb.host_compute_endpoints.empty()) throw Error(hr::ErrInvalidArg, "a load balancer needs HostComputeEndpoints");
  if (lb.port_mappings.empty()) throw Error(hr::ErrInvalidArg, "a load balancer needs PortMappings");
  for (const auto& v : lb.frontend_vips)
    if (!parse_ipv4(v)) throw Error(hr::ErrInvalidArg, "frontend VIP '" + v + "' is not IPv4");
  if (!lb.source_vip.empty() && !parse_ipv4(lb.source_vip))
    throw Error(hr::ErrInvalidArg, "SourceVIP '" + lb.source_vip + "' is not IPv4");
  for (const auto& m : lb.port_mappings) {
    protocol_name(m.protocol, "load balancer port mapping");
    if (m.internal_port == 0 || m.external_port == 0)
      throw Error(hr::ErrInvalidArg, "a load balancer port mapping needs InternalPort and ExternalPort");
    if (m.distribution_type > 2)
      throw Error(hr::ErrInvalidArg, "DistributionType " + std::to_string(m.distribution_type) + " is not 0, 1 or 2");
  }
}

std::string load_balancer_ruleset(const std::vector<hcn::HostComputeLoadBalancer>& balancers,
                                  const std::vector<hcn::HostComputeEndpoint>& endpoints) {
  std::ostringstream s;
  replace_table(s, "ip", names::kLoadBalancerTable);
  if (balancers.empty()) return s.str();
  std::map<std::string, std::string> address;
  for (const auto& e : endpoints) address[e.id] = endpoint_address(e);
  std::vector<std::string> pre, out;
  for (const auto& lb : balancers) {
    check_load_balancer(lb);
    std::vector<std::string> backends;
    for (const auto& id : lb.host_compute_endpoints) {
      auto it = address.find(id);
      if (it == address.end()) throw Error(hr::ErrNotFound, "load balancer " + lb.id + ": no endpoint " + id);
      backends.push_back(it->second);
    }
    for (const auto& m : lb.port_mappings) {
      const std::string proto = protocol_name(m.protocol, "load balancer");
      std::string to;
      if (backends.size() == 1) {
        to = backends[0] + ":" + std::to_string(m.internal_port);
      } else {
        // Random, or by a hash of the source so that one client keeps its backend.
        to = m.distribution_type == 0 ? "numgen random mod " : "jhash ip saddr mod ";
        to += std::to_string(backends.size()) + " map { ";
        for (size_t i = 0; i < backends.size(); ++i) to += (i ? ", " : "") + std::to_string(i) + " : " + backends[i];
        to += " } : " + std::to_string(m.internal_port);
      }
      const std::string rule = " " + proto + " dport " + std::to_string(m.external_port) + " dnat to " + to +
                               comment("load balancer " + lb.id);
      if (lb.frontend_vips.empty()) {
        pre.push_back("fib daddr type local" + rule);
        out.push_back("fib daddr type local ip daddr != 127.0.0.0/8" + rule);
      } else {
        std::vector<std::string> vips(lb.frontend_vips.begin(), lb.frontend_vips.end());
        pre.push_back("ip daddr " + nft_set(vips) + rule);
        out.push_back("ip daddr " + nft_set(vips) + rule);
      }
    }
  }
  s << "table ip " << names::kLoadBalancerTable << " {\n";
  for (const auto& [name, hook] : kNatChains) {
    if (std::string(name) == "postrouting") continue;
    s << "  chain " << name << " {\n    " << hook << "\n";
    for (const auto& r : std::string(name) == "prerouting" ? pre : out) s << "    " << r << "\n";
    s << "  }\n";
  }
  s << "}\n";
  return s.str();
}

}  // namespace hcs::network
