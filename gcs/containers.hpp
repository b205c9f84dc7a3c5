// The containers of this guest: each an OCI bundle run by the runtime (runc or crun),
// with its init process, its exec'd processes, its cgroup and its files. The agent
// maps bridge requests onto these operations; every operation either completes or
// leaves nothing behind.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "hcs/core/error.hpp"
#include "hcs/core/json.hpp"
#include "hcs/core/process.hpp"
#include "hcs/runtime/cgroups.hpp"
#include "hcs/runtime/runtime.hpp"
#include "hcs/schema/bridge.hpp"
#include "process.hpp"
#include "storage.hpp"

namespace gcs {

struct ContainerOptions {
  std::filesystem::path root = "/run/gcs";  // bundles live under it; our runtime state too
  std::string cgroup_parent = "/pods";      // a container's cgroup is <parent>/<id>
  std::optional<hcs::runtime::Kind> runtime;  // nullopt: crun where installed, else runc
};

struct Container {
  enum class State { Creating, Created, Running, Exited };
  std::string id;
  std::filesystem::path bundle, rootfs, scratch, work;
  State state = State::Creating;
  std::shared_ptr<GuestProcess> init;
  std::map<uint32_t, std::shared_ptr<GuestProcess>> execs;
  int last_signal = 0;  // decides the exit notification's type
  bool start_requested = false;
  bool deleting = false;
  hcs::runtime::CgroupSet cgroups;
  bool made_bundle = false;  // the bundle directory is ours to remove
  bool running() const { return (state == State::Created || state == State::Running) && init && !init->exited(); }
};

class Containers {
 public:
  using Done = std::function<void(hcs::Result<hcs::Json>)>;
  // Called once per container when its init process has exited and its output is out.
  using OnExit = std::function<void(const std::string& id, const std::string& notification_type)>;

  Containers(boost::asio::any_io_executor ex, hcs::Reaper& reaper, Storage& storage, ContainerOptions options,
             OnExit on_exit);
  const hcs::runtime::Config& runtime_config() const noexcept { return runtime_.config(); }

  void create(const std::string& id, const hcs::schema::VmHostedContainerSettingsV2& settings, Done done);
  // Starts the init process (no OciProcess) or execs one; answers with the pid.
  void execute(const std::string& id, const hcs::schema::ProcessParameters& params, StdioStreams stdio, Done done);
  bool has(const std::string& id) const { return containers_.count(id) != 0; }
  // Throws ErrNotFound for an unknown pid; SystemNotFound for an unknown container.
  std::shared_ptr<GuestProcess> process(const std::string& id, uint32_t pid);
  // The host has the exit code of an exec'd process: it is forgotten.
  void waited(const std::string& id, uint32_t pid);
  // Signals a process; a signal to the init process decides the exit notification.
  void signal(const std::string& id, uint32_t pid, int sig);
  void shutdown(const std::string& id, bool forced);
  hcs::Json properties(const std::string& id, const std::vector<std::string>& types);
  void update(const std::string& id, const hcs::Json& linux_resources, Done done);
  void remove(const std::string& id, Done done);  // DeleteContainerState
  // True when a container that has not exited has its root at `rootfs`.
  bool rootfs_in_use(const std::filesystem::path& rootfs) const;
  void kill_all();
  std::size_t size() const noexcept { return containers_.size(); }

 private:
  Container& find(const std::string& id);
  std::filesystem::path socket_path();
  struct Launch;
  void launch(std::shared_ptr<Launch> l);
  void on_init_finished(const std::shared_ptr<Container>& container);
  void finish_remove(std::shared_ptr<Container> c, Done done);

  boost::asio::any_io_executor ex_;
  hcs::Reaper& reaper_;
  Storage& storage_;
  ContainerOptions options_;
  OnExit on_exit_;
  hcs::runtime::Runtime runtime_;
  std::map<std::string, std::shared_ptr<Container>> containers_;
  uint64_t counter_ = 0;
};

}  // namespace gcs
