// The compute service: the ttrpc face of a compute system's owner on a Linux host
// (lib/proto/compute.proto). Clients find the owner's socket in the system's state
// record.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <optional>
#include <memory>
#include <string>

#include "hcs/state/store.hpp"
#include "hcs/ttrpc/client.hpp"

namespace hcs::compute {

inline constexpr const char* kService = "hcskit.compute.v1.Compute";

// Connects to the owner of `kind`/`id`. Throws hr::VmcomputeSystemNotFound when there is
// no such system (or its owner is gone), hr::VmcomputeInvalidState when its owner serves
// no compute service.
std::shared_ptr<ttrpc::Client> connect_owner(boost::asio::any_io_executor ex, state::Store& store,
                                             const std::string& kind, const std::string& id);

// One call to the owner of `kind`/`id`, blocking, for command-line tools: runs its own
// event loop until the answer. Throws hcs::Error (the owner's, with its code).
template <class Resp, class Req>
Resp call_owner(state::Store& store, const std::string& kind, const std::string& id, const std::string& method,
                const Req& request, std::chrono::nanoseconds timeout = std::chrono::nanoseconds::zero()) {
  boost::asio::io_context io(1);
  auto client = connect_owner(io.get_executor(), store, kind, id);
  std::optional<Result<Resp>> result;
  client->template async_call<Resp>(kService, method, request, [&](Result<Resp> r) { result.emplace(std::move(r)); },
                                    timeout);
  while (!result && io.run_one() > 0) {
  }
  client->close();
  io.restart();
  io.poll();
  if (!result) throw Error(hr::BridgeClosed, "no answer from the owner of " + kind + " '" + id + "'");
  return std::move(*result).value();
}

}  // namespace hcs::compute
