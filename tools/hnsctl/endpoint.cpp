// hnsctl endpoint list|show|create|delete|attach|detach
#include <iostream>

#include "hcs/core/error.hpp"
#include "hcs/network/registry.hpp"
#include "objects.hpp"

namespace hnsctl {

namespace hcn = hcs::schema::hcn;

namespace {
// Where the endpoint is: its namespace, or the utility VM that has it as a NIC.
std::string where(const hcn::HostComputeEndpoint& e) {
  // A VM's NIC may be in a Guest namespace too: the VM is what holds it.
  if (const std::string vm = hcs::network::attached_vm(e); !vm.empty()) return "vm:" + vm;
  return e.host_compute_namespace;
}
}  // namespace

void add_endpoint(CLI::App& app, Globals& g, int& rc) {
  auto* obj = app.add_subcommand("endpoint", "HNS endpoints: an address on a network, a veth pair, policies");
  obj->alias("ep");
  obj->require_subcommand(1);

  auto network = std::make_shared<std::string>();
  auto* list = obj->add_subcommand("list", "list the endpoints");
  list->alias("ls");
  list->add_option("--network", *network, "only this network's (ID or name)");
  list->callback([&g, &rc, network] {
    run(g, rc, [&](auto& hcn) {
      const auto eps = hcn.endpoints(*network);
      if (g.json()) return print_json(hcs::Json(eps));
      std::vector<std::vector<std::string>> rows;
      for (const auto& e : eps) {
        const auto& ip = e.ip_configurations.empty() ? hcn::IpConfig{} : e.ip_configurations[0];
        rows.push_back({e.id, e.name, hcn.network(e.host_compute_network).name,
                        ip.ip_address.empty() ? "" : ip.ip_address + "/" + std::to_string(ip.prefix_length),
                        e.mac_address, where(e)});
      }
      print_table({"ID", "NAME", "NETWORK", "ADDRESS", "MAC", "ATTACHED"}, rows);
    });
  });

  auto key = std::make_shared<std::string>();
  auto* show = obj->add_subcommand("show", "print an endpoint (HCN JSON)");
  show->add_option("endpoint", *key, "ID or name")->required();
  show->callback([&g, &rc, key] { run(g, rc, [&](auto& hcn) { print_json(hcs::Json(hcn.endpoint(*key))); }); });

  struct Create {
    std::string network, name, ip, mac, ns, file;
  };
  auto c = std::make_shared<Create>();
  auto* create = obj->add_subcommand("create", "create an endpoint from flags or an HCN JSON document; print its ID");
  create->add_option("--network", c->network, "its network (ID or name; overrides the document's)");
  create->add_option("--name", c->name, "its name");
  create->add_option("--ip", c->ip, "the address to take (default: the lowest free one)");
  create->add_option("--mac", c->mac, "the MAC address (default: 00-15-5D and the address's low 3 bytes)");
  create->add_option("--namespace", c->ns, "attach it to this namespace at once");
  create->add_option("-f,--file", c->file, "an HCN HostComputeEndpoint document ('-': stdin)");
  create->callback([&g, &rc, c] {
    run(g, rc, [&](auto& hcn) {
      hcn::HostComputeEndpoint e;
      if (!c->file.empty()) e = read_document(c->file).get<hcn::HostComputeEndpoint>();
      if (!c->network.empty()) e.host_compute_network = c->network;
      if (!c->name.empty()) e.name = c->name;
      if (!c->ip.empty()) e.ip_configurations = {hcn::IpConfig{c->ip, 0, {}}};
      if (!c->mac.empty()) e.mac_address = c->mac;
      if (!c->ns.empty()) e.host_compute_namespace = c->ns;
      if (e.host_compute_network.empty()) throw hcs::Error(hcs::hr::ErrInvalidArg, "which network? (--network)");
      e = hcn.create_endpoint(std::move(e));
      if (g.json()) print_json(hcs::Json(e));
      else std::cout << e.id << "\n";
    });
  });

  auto keys = std::make_shared<std::vector<std::string>>();
  auto* del = obj->add_subcommand("delete", "delete endpoints (detached first)");
  del->alias("rm");
  del->add_option("endpoint", *keys, "IDs or names")->required();
  del->callback([&g, &rc, keys] {
    run(g, rc, [&](auto& hcn) {
      for (const auto& k : *keys) hcn.delete_endpoint(k);
    });
  });

  auto attach_ns = std::make_shared<std::string>();
  auto* attach = obj->add_subcommand("attach", "move an endpoint's interface into a namespace (as eth0, eth1, ...)");
  attach->add_option("endpoint", *key, "ID or name")->required();
  attach->add_option("--namespace", *attach_ns, "the namespace's ID")->required();
  attach->callback([&g, &rc, key, attach_ns] {
    run(g, rc, [&](auto& hcn) { hcn.add_namespace_endpoint(*attach_ns, *key); });
  });

  auto* detach = obj->add_subcommand("detach", "take an endpoint back from its namespace (or from a stopped VM)");
  detach->add_option("endpoint", *key, "ID or name")->required();
  detach->callback([&g, &rc, key] {
    run(g, rc, [&](auto& hcn) {
      const auto e = hcn.endpoint(*key);
      if (!e.host_compute_namespace.empty()) return hcn.remove_namespace_endpoint(e.host_compute_namespace, e.id);
      if (where(e).starts_with("vm:")) return hcn.detach_from_vm(e.id);
      throw hcs::Error(hcs::hr::VmcomputeInvalidState, "the endpoint " + e.id + " is in no namespace and no VM");
    });
  });
}

}  // namespace hnsctl
