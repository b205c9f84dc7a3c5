// hnsctl features; hnsctl list (everything, as hnsdiag's `list all` shows it).
#include <iostream>

#include "objects.hpp"

namespace hnsctl {

void add_features(CLI::App& app, Globals& g, int& rc) {
  app.add_subcommand("features", "print the HNS version and the features this host supports")->callback([&g, &rc] {
    run(g, rc, [&](auto& hcn) {
      const auto f = hcn.features();
      if (g.json()) return print_json(f);
      std::cout << "Version: " << f["Version"]["Major"] << "." << f["Version"]["Minor"] << "\n";
      for (const auto& [name, value] : f["SupportedFeatures"].items()) {
        if (value.is_object())
          for (const auto& [sub, v] : value.items()) std::cout << name << "." << sub << ": " << v << "\n";
        else
          std::cout << name << ": " << value << "\n";
      }
    });
  });
}

void add_list(CLI::App& app, Globals& g, int& rc) {
  app.add_subcommand("list", "list every network, endpoint, namespace and load balancer")->callback([&g, &rc] {
    run(g, rc, [&](auto& hcn) {
      if (g.json()) {
        return print_json(hcs::Json{{"Networks", hcn.networks()},
                                    {"Endpoints", hcn.endpoints()},
                                    {"Namespaces", hcn.namespaces()},
                                    {"LoadBalancers", hcn.load_balancers()}});
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& n : hcn.networks()) rows.push_back({"network", n.id, n.name, n.type});
      for (const auto& e : hcn.endpoints())
        rows.push_back({"endpoint", e.id, e.name,
                        e.ip_configurations.empty() ? "" : e.ip_configurations[0].ip_address});
      for (const auto& ns : hcn.namespaces()) rows.push_back({"namespace", ns.id, "", ns.type});
      for (const auto& lb : hcn.load_balancers()) rows.push_back({"loadbalancer", lb.id, "", ""});
      print_table({"OBJECT", "ID", "NAME", "DETAIL"}, rows);
    });
  });
}

}  // namespace hnsctl
