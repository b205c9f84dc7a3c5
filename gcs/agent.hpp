// The guest agent: keeps a connection to the host (re-dialling every 100 ms after a
// loss), serves the bridge on it, and runs processes in the utility VM.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>

#include "hcs/bridge/server.hpp"
#include "hcs/core/process.hpp"
#include "hcs/transport/address.hpp"
#include "containers.hpp"
#include "nics.hpp"
#include "process.hpp"
#include "storage.hpp"

namespace gcs {

struct AgentOptions {
  hcs::transport::Address address;
  bool poweroff = true;  // a null-container shutdown powers the VM off; false: the gcs exits
  std::chrono::milliseconds redial_interval{100};
  StorageOptions storage;
  ContainerOptions containers;
  NicOptions nics;
};

class Agent {
 public:
  Agent(boost::asio::io_context& io, AgentOptions options);
  ~Agent();
  void start();
  // Kills every process and stops the event loop.
  void stop();
  std::size_t process_count() const noexcept { return processes_.size(); }

 private:
  void connect();
  void on_connected(hcs::transport::Connection conn);
  void on_disconnected(const hcs::transport::error_code& ec);
  void register_handlers(hcs::bridge::BridgeServer& server);
  void open_log_port();

  void execute_process(const hcs::bridge::Call& call, hcs::bridge::Reply reply);
  void wait_for_process(const hcs::bridge::Call& call, hcs::bridge::Reply reply);
  void signal_process(const hcs::bridge::Call& call, hcs::bridge::Reply reply);
  void resize_console(const hcs::bridge::Call& call, hcs::bridge::Reply reply);
  void shutdown(const hcs::bridge::Call& call, hcs::bridge::Reply reply, bool forced);
  void get_properties(const hcs::bridge::Call& call, hcs::bridge::Reply reply);
  void dump_stacks(const hcs::bridge::Call& call, hcs::bridge::Reply reply);
  void modify_settings(const hcs::bridge::Call& call, hcs::bridge::Reply reply);
  void create_container(const hcs::bridge::Call& call, hcs::bridge::Reply reply);
  void delete_container_state(const hcs::bridge::Call& call, hcs::bridge::Reply reply);
  void start_process(const hcs::bridge::Call& call, const hcs::schema::ProcessParameters& params, StdioStreams streams,
                     hcs::bridge::Reply reply);
  // Sends a container's exit notification now, or after the next negotiation.
  void notify_exit(const std::string& id, const std::string& type);
  void flush_notifications();
  std::shared_ptr<GuestProcess> find_process(const hcs::bridge::Call& call, uint32_t pid);

  boost::asio::io_context& io_;
  AgentOptions options_;
  hcs::Reaper reaper_;
  Storage storage_;
  Containers containers_;
  Nics nics_;
  std::vector<hcs::Json> pending_notifications_;
  boost::asio::steady_timer redial_;
  std::shared_ptr<hcs::bridge::BridgeServer> server_;
  std::optional<hcs::transport::Connection> conn_;
  std::map<uint32_t, std::shared_ptr<GuestProcess>> processes_;
  uint64_t connections_ = 0;
  uint64_t log_port_connection_ = 0;  // the connection whose log port was dialled
  bool stopping_ = false;
};

// GcsCapabilities of this guest.
hcs::schema::GcsCapabilities capabilities();

}  // namespace gcs
