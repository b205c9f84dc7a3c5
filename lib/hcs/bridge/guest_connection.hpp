// GuestConnection: the host's view of one connected gcs (hcsshim's gcs.GuestConnection).
// Negotiates protocol v4, then runs processes in the utility VM with their stdio on
// ports the host listens on and the guest dials, changes the VM's guest resources and
// creates containers (GuestContainer, guest_container.hpp). Container notifications are
// routed here to the container they name.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include "hcs/bridge/client.hpp"
#include "hcs/schema/bridge.hpp"
#include "hcs/transport/address.hpp"

namespace hcs::bridge {

class GuestProcess;
class GuestContainer;
struct ContainerExit;  // a container's exit, shared by its GuestContainer and the router

class GuestConnection : public std::enable_shared_from_this<GuestConnection> {
 public:
  struct Options {
    std::chrono::milliseconds timeout = std::chrono::minutes(5);
    // Every notification, after it has been routed to its container.
    std::function<void(uint32_t type, const Json& body)> on_notification;
    std::function<void(const Error& why)> on_close;
  };
  // Negotiates over `conn`; done runs on its executor.
  static void async_open(transport::Connection conn, Options options,
                         std::function<void(Result<std::shared_ptr<GuestConnection>>)> done);

  const schema::GcsCapabilities& capabilities() const noexcept { return caps_; }
  uint32_t protocol_version() const noexcept { return version_; }
  const std::shared_ptr<BridgeClient>& client() const noexcept { return client_; }
  const transport::TransportPtr& transport() const noexcept { return conn_.transport; }

  // Runs a process in the utility VM (the null container). The pipes requested in
  // `params` become the process's stdin/stdout/stderr streams.
  void async_create_process(schema::ProcessParameters params,
                            std::function<void(Result<std::shared_ptr<GuestProcess>>)> done);
  // ModifySettings on the utility VM (layers, disks, shares, ...).
  void async_modify(schema::ModificationRequest request, std::function<void(Result<void>)> done);
  // Create: the guest prepares container `id` from `settings` (SchemaVersion 2.1 when
  // left unset); it starts running with its init process (GuestContainer::async_create_process).
  void async_create_container(std::string id, schema::VmHostedContainerSettingsV2 settings,
                              std::function<void(Result<std::shared_ptr<GuestContainer>>)> done);
  // DeleteContainerState: the guest forgets a stopped container and removes its files.
  void async_delete_container_state(std::string id, std::function<void(Result<void>)> done);
  void close();

 private:
  friend class GuestContainer;
  GuestConnection(transport::Connection conn) : conn_(std::move(conn)) {}
  uint32_t next_port() { return next_port_++; }
  // ExecuteProcess in `container_id` (the null id: in the VM), for both kinds of process.
  void create_process_in(std::string container_id, schema::ProcessParameters params,
                         std::function<void(Result<std::shared_ptr<GuestProcess>>)> done);
  void modify_in(std::string container_id, schema::ModificationRequest request, std::function<void(Result<void>)> done);
  // A simple request on `container_id` whose response carries nothing but its result.
  void call_in(uint32_t type, std::string container_id, std::function<void(Result<void>)> done,
               std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  void on_notification(uint32_t type, const Json& body);
  void on_close(const Error& why);
  // Starts routing notifications for `id`; nullptr when a live container already has it.
  std::shared_ptr<ContainerExit> watch(const std::string& id);
  void unwatch(const std::string& id, const ContainerExit* exit);

  transport::Connection conn_;
  std::shared_ptr<BridgeClient> client_;
  schema::GcsCapabilities caps_;
  uint32_t version_ = 0;
  uint32_t next_port_ = transport::kFirstStdioPort;
  std::function<void(uint32_t, const Json&)> user_on_notification_;
  std::function<void(const Error&)> user_on_close_;
  // Guarded because a GuestContainer may be dropped on any thread.
  std::mutex watch_mu_;
  std::map<std::string, std::shared_ptr<ContainerExit>> watches_;
  std::optional<Error> closed_;
};

class GuestProcess : public std::enable_shared_from_this<GuestProcess> {
 public:
  GuestProcess(std::shared_ptr<BridgeClient> client, std::string container_id, uint32_t pid,
               transport::StreamPtr in, transport::StreamPtr out, transport::StreamPtr err)
      : client_(std::move(client)), container_id_(std::move(container_id)), pid_(pid), stdin_(std::move(in)),
        stdout_(std::move(out)), stderr_(std::move(err)) {}
  uint32_t pid() const noexcept { return pid_; }
  const std::string& container_id() const noexcept { return container_id_; }
  const transport::StreamPtr& stdin_stream() const noexcept { return stdin_; }
  const transport::StreamPtr& stdout_stream() const noexcept { return stdout_; }
  const transport::StreamPtr& stderr_stream() const noexcept { return stderr_; }

  // WaitForProcess; a zero timeout waits forever. The result is the exit code.
  void async_wait(std::function<void(Result<uint32_t>)> done, uint32_t timeout_ms = schema::kInfiniteTimeout);
  // SignalProcess; signal 0 means kill.
  void async_signal(int signal, std::function<void(Result<Json>)> done);
  void async_resize(uint16_t height, uint16_t width, std::function<void(Result<Json>)> done);

 private:
  schema::RequestBase base() const;
  std::shared_ptr<BridgeClient> client_;
  std::string container_id_;
  uint32_t pid_;
  transport::StreamPtr stdin_, stdout_, stderr_;
};

}  // namespace hcs::bridge
