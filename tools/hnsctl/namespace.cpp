// hnsctl namespace list|show|create|delete|add-endpoint|remove-endpoint
#include <iostream>

#include "objects.hpp"

namespace hnsctl {

namespace hcn = hcs::schema::hcn;

void add_namespace(CLI::App& app, Globals& g, int& rc) {
  auto* obj = app.add_subcommand("namespace", "HNS namespaces: a network namespace holding endpoints");
  obj->alias("ns");
  obj->require_subcommand(1);

  obj->add_subcommand("list", "list the namespaces")->alias("ls")->callback([&g, &rc] {
    run(g, rc, [&](auto& hcn) {
      const auto all = hcn.namespaces();
      if (g.json()) return print_json(hcs::Json(all));
      std::vector<std::vector<std::string>> rows;
      for (const auto& ns : all) {
        std::string eps;
        for (const auto& r : ns.resources)
          if (r.type == "Endpoint") eps += (eps.empty() ? "" : ",") + r.data.value("ID", std::string());
        const std::string path = hcn::is_guest(ns) ? "(in its VM)" : hcn.netns_path(ns.id);
        rows.push_back({ns.id, ns.type, std::to_string(ns.namespace_id), path, eps});
      }
      print_table({"ID", "TYPE", "NAMESPACEID", "PATH", "ENDPOINTS"}, rows);
    });
  });

  auto id = std::make_shared<std::string>();
  auto* show = obj->add_subcommand("show", "print a namespace (HCN JSON)");
  show->add_option("namespace", *id, "its ID")->required();
  show->callback([&g, &rc, id] { run(g, rc, [&](auto& hcn) { print_json(hcs::Json(hcn.namespace_(*id))); }); });

  auto* path = obj->add_subcommand("path", "print the namespace's path (for ip netns, nsenter, an OCI spec)");
  path->add_option("namespace", *id, "its ID")->required();
  path->callback([&g, &rc, id] { run(g, rc, [&](auto& hcn) { std::cout << hcn.netns_path(*id) << "\n"; }); });

  struct Create {
    std::string id, type, file;
  };
  auto c = std::make_shared<Create>();
  auto* create = obj->add_subcommand("create", "create a namespace; print its ID");
  create->add_option("--id", c->id, "its ID (default: a new GUID)");
  create->add_option("--type", c->type, "Host (default), HostDefault, or Guest (made inside the VM that takes its endpoints as NICs)");
  create->add_option("-f,--file", c->file, "an HCN HostComputeNamespace document ('-': stdin)");
  create->callback([&g, &rc, c] {
    run(g, rc, [&](auto& hcn) {
      hcn::HostComputeNamespace ns;
      if (!c->file.empty()) ns = read_document(c->file).get<hcn::HostComputeNamespace>();
      if (!c->id.empty()) ns.id = c->id;
      if (!c->type.empty()) ns.type = c->type;
      ns = hcn.create_namespace(std::move(ns));
      if (g.json()) print_json(hcs::Json(ns));
      else std::cout << ns.id << "\n";
    });
  });

  auto ids = std::make_shared<std::vector<std::string>>();
  auto* del = obj->add_subcommand("delete", "delete namespaces (refused while they hold endpoints)");
  del->alias("rm");
  del->add_option("namespace", *ids, "IDs")->required();
  del->callback([&g, &rc, ids] {
    run(g, rc, [&](auto& hcn) {
      for (const auto& n : *ids) hcn.delete_namespace(n);
    });
  });

  auto ep = std::make_shared<std::string>();
  auto* add = obj->add_subcommand("add-endpoint", "move an endpoint into the namespace");
  add->add_option("namespace", *id, "its ID")->required();
  add->add_option("endpoint", *ep, "ID or name")->required();
  add->callback([&g, &rc, id, ep] { run(g, rc, [&](auto& hcn) { hcn.add_namespace_endpoint(*id, *ep); }); });

  auto* remove = obj->add_subcommand("remove-endpoint", "take an endpoint out of the namespace");
  remove->add_option("namespace", *id, "its ID")->required();
  remove->add_option("endpoint", *ep, "ID or name")->required();
  remove->callback([&g, &rc, id, ep] { run(g, rc, [&](auto& hcn) { hcn.remove_namespace_endpoint(*id, *ep); }); });
}

}  // namespace hnsctl
