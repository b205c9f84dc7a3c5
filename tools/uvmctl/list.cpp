// uvmctl list: every VM in the state root (records of dead owners are pruned).
#include <iostream>

#include "hcs/state/store.hpp"
#include "verbs.hpp"

namespace uvmctl {

void add_list(CLI::App& app, Globals& globals, int& exit_code) {
  auto* cmd = app.add_subcommand("list", "list the VMs and their states");
  cmd->alias("ls");
  cmd->callback([&globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      hcs::state::Store store(state_root(globals));
      hcs::Json out = hcs::Json::array();
      for (auto& r : store.list("vm")) {
        const auto& rec = r.record;
        const auto& topo = rec["Document"]["VirtualMachine"]["ComputeTopology"];
        out.push_back(hcs::Json{{"Id", r.id},
                                {"State", rec.value("State", "")},
                                {"Owner", rec.value("Owner", "")},
                                {"OwnerPid", rec.value("OwnerPid", 0)},
                                {"Created", rec.value("Created", "")},
                                {"MemoryMB", topo["Memory"].value("SizeInMB", 0)},
                                {"Processors", topo["Processor"].value("Count", 0)},
                                {"Acceleration", rec.value("Acceleration", "")}});
      }
      if (globals.json()) {
        std::cout << out.dump(2) << "\n";
        return 0;
      }
      std::printf("%-38s %-8s %-10s %-7s %6s %4s %-5s\n", "ID", "STATE", "OWNER", "PID", "MEMORY", "CPUS", "ACCEL");
      for (const auto& v : out)
        std::printf("%-38s %-8s %-10s %-7d %6d %4d %-5s\n", v["Id"].get<std::string>().c_str(),
                    v["State"].get<std::string>().c_str(), v["Owner"].get<std::string>().c_str(),
                    v["OwnerPid"].get<int>(), v["MemoryMB"].get<int>(), v["Processors"].get<int>(),
                    v["Acceleration"].get<std::string>().c_str());
      return 0;
    });
  });
}

}  // namespace uvmctl
