// hnsctl loadbalancer list|show|create|delete
#include <iostream>

#include "hcs/core/error.hpp"
#include "objects.hpp"

namespace hnsctl {

namespace hcn = hcs::schema::hcn;

void add_loadbalancer(CLI::App& app, Globals& g, int& rc) {
  auto* obj = app.add_subcommand("loadbalancer", "HNS load balancers: DNAT from frontend VIPs to endpoints");
  obj->alias("lb");
  obj->require_subcommand(1);

  obj->add_subcommand("list", "list the load balancers")->alias("ls")->callback([&g, &rc] {
    run(g, rc, [&](auto& hcn) {
      const auto all = hcn.load_balancers();
      if (g.json()) return print_json(hcs::Json(all));
      std::vector<std::vector<std::string>> rows;
      for (const auto& lb : all) {
        std::string vips, ports, eps;
        for (const auto& v : lb.frontend_vips) vips += (vips.empty() ? "" : ",") + v;
        for (const auto& m : lb.port_mappings)
          ports += (ports.empty() ? "" : ",") + std::string(m.protocol == 17 ? "udp" : "tcp") + ":" +
                   std::to_string(m.external_port) + ":" + std::to_string(m.internal_port);
        for (const auto& e : lb.host_compute_endpoints) eps += (eps.empty() ? "" : ",") + e;
        rows.push_back({lb.id, vips.empty() ? "(local)" : vips, ports, eps});
      }
      print_table({"ID", "FRONTEND", "PORTS", "ENDPOINTS"}, rows);
    });
  });

  auto id = std::make_shared<std::string>();
  auto* show = obj->add_subcommand("show", "print a load balancer (HCN JSON)");
  show->add_option("loadbalancer", *id, "its ID")->required();
  show->callback([&g, &rc, id] { run(g, rc, [&](auto& hcn) { print_json(hcs::Json(hcn.load_balancer(*id))); }); });

  struct Create {
    std::string file, protocol = "tcp", distribution = "none";
    std::vector<std::string> endpoints, vips;
    uint16_t internal = 0, external = 0;
  };
  auto c = std::make_shared<Create>();
  auto* create = obj->add_subcommand("create", "create a load balancer from flags or an HCN JSON document; print its ID");
  create->add_option("--endpoint", c->endpoints, "a backend endpoint (ID or name; repeatable)");
  create->add_option("--vip", c->vips, "a frontend VIP (repeatable; default: the host's own addresses)");
  create->add_option("--protocol", c->protocol, "tcp or udp")->capture_default_str();
  create->add_option("--external-port", c->external, "the port clients call");
  create->add_option("--internal-port", c->internal, "the endpoints' port");
  create->add_option("--distribution", c->distribution, "none (random), sourceip or sourceipprotocol")
      ->capture_default_str();
  create->add_option("-f,--file", c->file, "an HCN HostComputeLoadBalancer document ('-': stdin)");
  create->callback([&g, &rc, c, create] {
    run(g, rc, [&](auto& hcn) {
      if ((create->count("--protocol") || create->count("--distribution")) && !c->external && !c->internal)
        throw hcs::Error(hcs::hr::ErrInvalidArg, "--protocol and --distribution describe a port mapping: "
                                                 "give --external-port and --internal-port too");
      hcn::HostComputeLoadBalancer lb;
      if (!c->file.empty()) lb = read_document(c->file).get<hcn::HostComputeLoadBalancer>();
      if (!c->endpoints.empty()) lb.host_compute_endpoints = c->endpoints;
      if (!c->vips.empty()) lb.frontend_vips = c->vips;
      if (c->external || c->internal) {
        hcn::LoadBalancerPortMapping m;
        if (c->protocol == "tcp") m.protocol = 6;
        else if (c->protocol == "udp") m.protocol = 17;
        else throw hcs::Error(hcs::hr::ErrInvalidArg, "--protocol is tcp or udp, not '" + c->protocol + "'");
        if (c->distribution == "none") m.distribution_type = 0;
        else if (c->distribution == "sourceipprotocol") m.distribution_type = 1;
        else if (c->distribution == "sourceip") m.distribution_type = 2;
        else throw hcs::Error(hcs::hr::ErrInvalidArg, "--distribution is none, sourceip or sourceipprotocol");
        m.external_port = c->external;
        m.internal_port = c->internal;
        lb.port_mappings.push_back(m);
      }
      lb = hcn.create_load_balancer(std::move(lb));
      if (g.json()) print_json(hcs::Json(lb));
      else std::cout << lb.id << "\n";
    });
  });

  auto ids = std::make_shared<std::vector<std::string>>();
  auto* del = obj->add_subcommand("delete", "delete load balancers");
  del->alias("rm");
  del->add_option("loadbalancer", *ids, "IDs")->required();
  del->callback([&g, &rc, ids] {
    run(g, rc, [&](auto& hcn) {
      for (const auto& i : *ids) hcn.delete_load_balancer(i);
    });
  });
}

}  // namespace hnsctl
