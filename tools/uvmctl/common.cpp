#include "cli.hpp"
#include "hcs/compute/service.hpp"
#include "hcs/core/json.hpp"
#include "hcs/core/log.hpp"
#include "hcs/state/store.hpp"
#include "proto/compute.pb.h"
#include "verbs.hpp"

namespace uvmctl {

int run_verb(const Globals& globals, const std::function<int()>& body) {
  return hcs::cli::run_verb("uvmctl", globals, body);
}


void modify_vm(const Globals& globals, const std::string& id, const hcs::Json& request) {
  hcs::state::Store store(state_root(globals));
  hcskit::compute::v1::ModifyRequest req;
  req.set_id(id);
  req.set_request_json(hcs::dump_json(request));
  hcs::compute::call_owner<hcskit::compute::v1::Empty>(store, "vm", id, "Modify", req);
}

}  // namespace uvmctl
