// hnsctl network list|show|create|delete
#include <iostream>

#include "objects.hpp"

namespace hnsctl {

namespace hcn = hcs::schema::hcn;

namespace {

std::string subnets(const hcn::HostComputeNetwork& n) {
  std::string out;
  for (const auto& ipam : n.ipams)
    for (const auto& s : ipam.subnets) out += (out.empty() ? "" : ",") + s.ip_address_prefix;
  return out;
}

void print_networks(const Globals& g, const std::vector<hcn::HostComputeNetwork>& nets) {
  if (g.json()) return print_json(hcs::Json(nets));
  std::vector<std::vector<std::string>> rows;
  for (const auto& n : nets) rows.push_back({n.id, n.name, n.type, subnets(n)});
  print_table({"ID", "NAME", "TYPE", "SUBNETS"}, rows);
}

}  // namespace

void add_network(CLI::App& app, Globals& g, int& rc) {
  auto* obj = app.add_subcommand("network", "HNS networks: a bridge with its subnets, NAT and rules");
  obj->alias("net");
  obj->require_subcommand(1);

  obj->add_subcommand("list", "list the networks")->alias("ls")->callback([&g, &rc] {
    run(g, rc, [&](auto& hcn) { print_networks(g, hcn.networks()); });
  });

  auto key = std::make_shared<std::string>();
  auto* show = obj->add_subcommand("show", "print a network (HCN JSON)");
  show->add_option("network", *key, "ID or name")->required();
  show->callback([&g, &rc, key] { run(g, rc, [&](auto& hcn) { print_json(hcs::Json(hcn.network(*key))); }); });

  struct Create {
    std::string name, type, file;
    std::vector<std::string> subnets, dns_servers;
    std::string dns_domain;
  };
  auto c = std::make_shared<Create>();
  auto* create = obj->add_subcommand("create", "create a network from flags or an HCN JSON document; print its ID");
  create->add_option("name", c->name, "the network's name (overrides the document's)");
  create->add_option("--type", c->type, "NAT (default), ICS, Transparent, L2Bridge or Private");
  create->add_option("--subnet", c->subnets, "an IPv4 subnet, e.g. 172.30.0.0/24 (repeatable)");
  create->add_option("--dns-server", c->dns_servers, "a DNS server for the endpoints (repeatable; written to their namespace's resolv.conf)");
  create->add_option("--dns-domain", c->dns_domain, "the DNS domain (search list) for the endpoints");
  create->add_option("-f,--file", c->file, "an HCN HostComputeNetwork document ('-': stdin)");
  create->callback([&g, &rc, c] {
    run(g, rc, [&](auto& hcn) {
      hcn::HostComputeNetwork n;
      if (!c->file.empty()) n = read_document(c->file).get<hcn::HostComputeNetwork>();
      if (!c->name.empty()) n.name = c->name;
      if (!c->type.empty()) n.type = c->type;
      if (!c->subnets.empty()) {
        hcn::Ipam ipam;
        ipam.type = "Static";
        for (const auto& s : c->subnets) ipam.subnets.push_back(hcn::Subnet{s, {}, {}, 0, {}});
        n.ipams = {ipam};
      }
      if (!c->dns_servers.empty()) n.dns.server_list = c->dns_servers;
      if (!c->dns_domain.empty()) n.dns.domain = c->dns_domain;
      n = hcn.create_network(std::move(n));
      if (g.json()) print_json(hcs::Json(n));
      else std::cout << n.id << "\n";
    });
  });

  auto keys = std::make_shared<std::vector<std::string>>();
  auto* del = obj->add_subcommand("delete", "delete networks (refused while they have endpoints)");
  del->alias("rm");
  del->add_option("network", *keys, "IDs or names")->required();
  del->callback([&g, &rc, keys] {
    run(g, rc, [&](auto& hcn) {
      for (const auto& k : *keys) hcn.delete_network(k);
    });
  });
}

}  // namespace hnsctl
