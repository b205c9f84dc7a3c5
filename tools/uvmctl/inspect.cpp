// uvmctl inspect ID: the VM's record (its HCS document included) and its owner's live
// properties, as JSON.
#include <iostream>

#include "hcs/compute/service.hpp"
#include "proto/compute.pb.h"
#include "verbs.hpp"

namespace uvmctl {

void add_inspect(CLI::App& app, Globals& globals, int& exit_code) {
  auto id = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("inspect", "print a VM's document, state and live properties as JSON");
  cmd->add_option("id", *id, "the VM")->required();
  cmd->callback([id, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      hcs::state::Store store(state_root(globals));
      hcs::state::check_id(*id);
      if (!store.alive("vm", *id)) {
        store.remove("vm", *id);
        throw hcs::Error(hcs::hr::VmcomputeSystemNotFound, "no VM '" + *id + "'");
      }
      auto record = store.read_record("vm", *id);
      if (!record) throw hcs::Error(hcs::hr::VmcomputeInvalidState, "VM '" + *id + "' is still being created");
      hcs::Json out = *record;
      out.erase("Config");
      if (!record->value("Socket", "").empty()) {
        hcskit::compute::v1::PropertiesRequest req;
        req.set_id(*id);
        auto resp = hcs::compute::call_owner<hcskit::compute::v1::PropertiesResponse>(store, "vm", *id, "Properties", req,
                                                                                      std::chrono::seconds(10));
        out["Properties"] = hcs::parse_json(resp.properties_json(), "properties");
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    });
  });
}

}  // namespace uvmctl
