#include "hcs/compute/service.hpp"

namespace hcs::compute {

std::shared_ptr<ttrpc::Client> connect_owner(boost::asio::any_io_executor ex, state::Store& store,
                                             const std::string& kind, const std::string& id) {
  state::check_id(id);
  if (!store.alive(kind, id)) {
    store.remove(kind, id);  // the remains of a dead owner, if any
    throw Error(hr::VmcomputeSystemNotFound, "no " + kind + " '" + id + "'");
  }
  auto record = store.read_record(kind, id);
  const std::string socket = record ? record->value("Socket", "") : "";
  if (socket.empty())
    throw Error(hr::VmcomputeInvalidState, kind + " '" + id + "' is owned by a process that serves no compute service" +
                                               (record ? " (" + record->value("Owner", "") + ")" : ""));
  return ttrpc::Client::connect(ex, socket);
}

}  // namespace hcs::compute
