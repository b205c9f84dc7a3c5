// GuestContainer: one container in a connected gcs (hcsshim's gcs.Container). Made by
// GuestConnection::async_create_container; every request names the container's id.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hcs/bridge/guest_connection.hpp"

namespace hcs::bridge {

// The container id pattern every hcskit entry point enforces:
// ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$.
bool is_valid_container_id(std::string_view id) noexcept;

// How a container ended, as its notification said (or why that cannot be known): the
// one record its GuestContainer and the connection's notification router share.
struct ContainerExit {
  // The first outcome wins; waiters run on `ex`.
  void complete(Result<std::string> outcome);
  void wait(boost::asio::any_io_executor ex, std::function<void(Result<std::string>)> done);
  bool done() const;

 private:
  mutable std::mutex mu_;
  std::optional<Result<std::string>> outcome_;
  std::vector<std::function<void(Result<std::string>)>> waiters_;
};

class GuestContainer : public std::enable_shared_from_this<GuestContainer> {
 public:
  ~GuestContainer();
  GuestContainer(const GuestContainer&) = delete;
  GuestContainer& operator=(const GuestContainer&) = delete;

  const std::string& id() const noexcept { return id_; }
  const std::shared_ptr<GuestConnection>& connection() const noexcept { return conn_; }

  // Start (a no-op in a Linux guest, sent as hcsshim's host does).
  void async_start(std::function<void(Result<void>)> done);
  // ExecuteProcess in the container. Without params.oci_process this starts the
  // container's init (the spec's process); with it, it runs that OCI process object as
  // an exec. A terminal process gets no stderr stream.
  void async_create_process(schema::ProcessParameters params,
                            std::function<void(Result<std::shared_ptr<GuestProcess>>)> done);
  // ShutdownGraceful (SIGTERM to the init) or ShutdownForced (SIGKILL). A container the
  // guest no longer knows counts as shut down, and as exited.
  void async_shutdown(bool forced, std::function<void(Result<void>)> done);
  // GetProperties of the given types ("ProcessList", "Statistics", ...): the decoded
  // Properties object.
  void async_properties(std::vector<std::string> types, std::function<void(Result<Json>)> done);
  // ModifySettings on this container (the guest accepts ContainerConstraints only).
  void async_modify(schema::ModificationRequest request, std::function<void(Result<void>)> done);
  // ContainerConstraints Update with {"Linux": linux_resources} (OCI LinuxResources).
  void async_update(Json linux_resources, std::function<void(Result<void>)> done);
  // Completes with the notification's Type ("UnexpectedExit", "GracefulExit",
  // "ForcedExit", ...) once the guest reports the init's exit, at once if it already
  // has; fails with the bridge's error if the connection ends first.
  void async_wait_exit(std::function<void(Result<std::string>)> done);
  // True once the wait above has its outcome (an exit, or the bridge's end).
  bool exited() const;

 private:
  friend class GuestConnection;
  GuestContainer(std::shared_ptr<GuestConnection> conn, std::string id, std::shared_ptr<ContainerExit> exit,
                 bool init_terminal)
      : conn_(std::move(conn)), id_(std::move(id)), exit_(std::move(exit)), init_terminal_(init_terminal) {}

  std::shared_ptr<GuestConnection> conn_;
  std::string id_;
  std::shared_ptr<ContainerExit> exit_;
  bool init_terminal_;  // the spec's process.terminal: whether the init has a pty
};

}  // namespace hcs::bridge
