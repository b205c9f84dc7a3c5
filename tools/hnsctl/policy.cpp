// hnsctl policy list|add|remove: an endpoint's policies (hcsshim.md §4.3), given as
// HCN JSON (-f) or, for the common ones, by flags.
#include <iostream>
#include <sstream>

#include "hcs/core/error.hpp"
#include "objects.hpp"

namespace hnsctl {

namespace hcn = hcs::schema::hcn;

namespace {

struct PolicyFlags {
  std::string file;
  std::vector<std::string> port_mappings;
  hcn::AclPolicySetting acl;
  uint16_t priority = 0;
  bool all = false;

  void add_to(CLI::App& cmd) {
    cmd.add_option("-f,--file", file,
                   "HCN policies: a PolicyEndpointRequest {\"Policies\": [...]}, an array or one policy ('-': stdin)");
    cmd.add_option("--port-mapping", port_mappings, "PROTOCOL:EXTERNAL:INTERNAL[:VIP], e.g. tcp:8080:80 (repeatable)");
    cmd.add_option("--action", acl.action, "an ACL: Allow or Block");
    cmd.add_option("--direction", acl.direction, "the ACL's direction: In (to the endpoint) or Out");
    cmd.add_option("--protocols", acl.protocols, "the ACL's IANA protocol numbers, e.g. 6,17");
    cmd.add_option("--local-addresses", acl.local_addresses, "the ACL's endpoint-side addresses or prefixes");
    cmd.add_option("--remote-addresses", acl.remote_addresses, "the ACL's other-side addresses or prefixes");
    cmd.add_option("--local-ports", acl.local_ports, "the ACL's endpoint-side ports or ranges, e.g. 80,8000-8080");
    cmd.add_option("--remote-ports", acl.remote_ports, "the ACL's other-side ports or ranges");
    cmd.add_option("--priority", priority, "the ACL's priority: lower numbers are matched first");
  }

  std::vector<hcn::Policy> policies() const {
    std::vector<hcn::Policy> out;
    if (!file.empty()) {
      const hcs::Json doc = read_document(file);
      if (doc.is_object() && doc.contains("Policies")) out = doc.get<hcn::PolicyRequest>().policies;
      else if (doc.is_array()) out = doc.get<std::vector<hcn::Policy>>();
      else out.push_back(doc.get<hcn::Policy>());
    }
    for (const auto& spec : port_mappings) out.push_back(port_mapping(spec));
    const bool acl_details = !acl.protocols.empty() || !acl.local_addresses.empty() || !acl.remote_addresses.empty() ||
                             !acl.local_ports.empty() || !acl.remote_ports.empty() || priority != 0;
    if (acl_details && (acl.action.empty() || acl.direction.empty()))
      throw hcs::Error(hcs::hr::ErrInvalidArg, "an ACL needs --action and --direction");
    if (!acl.action.empty() || !acl.direction.empty()) {
      auto a = acl;
      a.priority = priority;
      out.push_back(hcn::Policy{hcn::policy_type::ACL, hcs::Json(a), {}});
    }
    return out;
  }

  static hcn::Policy port_mapping(const std::string& spec) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(spec);
    while (std::getline(in, part, ':')) parts.push_back(part);
    if (parts.size() < 3 || parts.size() > 4)
      throw hcs::Error(hcs::hr::ErrInvalidArg, "--port-mapping '" + spec + "' is not PROTOCOL:EXTERNAL:INTERNAL[:VIP]");
    hcn::PortMappingPolicySetting m;
    if (parts[0] == "tcp") m.protocol = 6;
    else if (parts[0] == "udp") m.protocol = 17;
    else throw hcs::Error(hcs::hr::ErrInvalidArg, "--port-mapping '" + spec + "': the protocol is tcp or udp");
    auto port = [&](const std::string& s) {
      try {
        size_t used = 0;
        const unsigned long v = std::stoul(s, &used);
        if (used == s.size() && v > 0 && v <= 65535) return uint16_t(v);
      } catch (const std::exception&) {
      }
      throw hcs::Error(hcs::hr::ErrInvalidArg, "--port-mapping '" + spec + "': '" + s + "' is not a port");
    };
    m.external_port = port(parts[1]);
    m.internal_port = port(parts[2]);
    if (parts.size() == 4) m.vip = parts[3];
    return hcn::Policy{hcn::policy_type::PortMapping, hcs::Json(m), {}};
  }
};

}  // namespace

void add_policy(CLI::App& app, Globals& g, int& rc) {
  auto* obj = app.add_subcommand("policy", "an endpoint's policies: PortMapping, ACL, OutBoundNAT");
  obj->require_subcommand(1);

  auto key = std::make_shared<std::string>();
  auto* list = obj->add_subcommand("list", "print an endpoint's policies (HCN JSON)");
  list->alias("ls");
  list->add_option("endpoint", *key, "ID or name")->required();
  list->callback([&g, &rc, key] { run(g, rc, [&](auto& hcn) { print_json(hcs::Json(hcn.endpoint(*key).policies)); }); });

  auto add_flags = std::make_shared<PolicyFlags>();
  auto* add = obj->add_subcommand("add", "add policies to an endpoint (all applied, or none)");
  add->add_option("endpoint", *key, "ID or name")->required();
  add_flags->add_to(*add);
  add->callback([&g, &rc, key, add_flags] {
    run(g, rc, [&](auto& hcn) {
      const auto policies = add_flags->policies();
      if (policies.empty()) throw hcs::Error(hcs::hr::ErrInvalidArg, "no policy given (-f, --port-mapping or --action)");
      const auto e = hcn.modify_endpoint_policies(*key, "Add", policies);
      if (g.json()) print_json(hcs::Json(e.policies));
    });
  });

  auto rm_flags = std::make_shared<PolicyFlags>();
  auto* remove = obj->add_subcommand("remove", "remove policies from an endpoint (given as they were added)");
  remove->alias("rm");
  remove->add_option("endpoint", *key, "ID or name")->required();
  rm_flags->add_to(*remove);
  remove->add_flag("--all", rm_flags->all, "remove every policy of the endpoint");
  remove->callback([&g, &rc, key, rm_flags] {
    run(g, rc, [&](auto& hcn) {
      const auto policies = rm_flags->policies();
      if (rm_flags->all == !policies.empty())
        throw hcs::Error(hcs::hr::ErrInvalidArg, "give either --all or the policies to remove");
      const auto e = rm_flags->all ? hcn.modify_endpoint_policies(*key, "Update", {})
                                   : hcn.modify_endpoint_policies(*key, "Remove", policies);
      if (g.json()) print_json(hcs::Json(e.policies));
    });
  });
}

}  // namespace hnsctl
