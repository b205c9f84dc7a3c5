// GuestConnection: the host's view of one connected gcs (hcsshim's gcs.GuestConnection).
// Negotiates protocol v4, then runs processes in the utility VM with their stdio on
// ports the host listens on and the guest dials.
#pragma once

#include <functional>
#include <memory>

#include "hcs/bridge/client.hpp"
#include "hcs/schema/bridge.hpp"
#include "hcs/transport/address.hpp"

namespace hcs::bridge {

class GuestProcess;

class GuestConnection : public std::enable_shared_from_this<GuestConnection> {
 public:
  struct Options {
    std::chrono::milliseconds timeout = std::chrono::minutes(5);
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
  void close();

 private:
  GuestConnection(transport::Connection conn) : conn_(std::move(conn)) {}
  uint32_t next_port() { return next_port_++; }

  transport::Connection conn_;
  std::shared_ptr<BridgeClient> client_;
  schema::GcsCapabilities caps_;
  uint32_t version_ = 0;
  uint32_t next_port_ = transport::kFirstStdioPort;
};

class GuestProcess : public std::enable_shared_from_this<GuestProcess> {
 public:
  GuestProcess(std::shared_ptr<BridgeClient> client, std::string container_id, uint32_t pid,
               transport::StreamPtr in, transport::StreamPtr out, transport::StreamPtr err)
      : client_(std::move(client)), container_id_(std::move(container_id)), pid_(pid), stdin_(std::move(in)),
        stdout_(std::move(out)), stderr_(std::move(err)) {}
  uint32_t pid() const noexcept { return pid_; }
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
