// A driver for an OCI runtime binary (runc or crun): each verb runs the binary once,
// asynchronously, with its own --root, and reports the runtime's own error text.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "hcs/core/error.hpp"
#include "hcs/core/json.hpp"
#include "hcs/core/process.hpp"

namespace hcs::runtime {

enum class Kind { Runc, Crun };
std::string_view name(Kind kind);
Kind parse_kind(std::string_view name);  // "runc" or "crun"; throws ErrInvalidArg

struct Config {
  Kind kind = Kind::Runc;
  std::string binary;                // the executable; empty: its name on PATH
  std::filesystem::path root;        // the runtime's state (--root)
  std::filesystem::path work;        // our files per call: logs, pid files, sockets
  std::vector<std::string> hide_mounts;  // see SpawnOptions::hide_mounts
};

// The runtime to use: `wanted`, or crun when it is installed and runc otherwise. On a
// host with hybrid cgroups, crun is set up to run without the cgroup2 mount.
Config choose(std::optional<Kind> wanted, std::filesystem::path root, std::filesystem::path work);

// The stdio of a process the runtime starts: fds for pipes, or a console socket.
struct ProcessIo {
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;  // -1: /dev/null
  std::filesystem::path console_socket;               // set: the process gets a tty
};

class Runtime {
 public:
  Runtime(boost::asio::any_io_executor ex, Reaper& reaper, Config config);
  const Config& config() const noexcept { return config_; }

  // Each completes with the runtime's stdout, or an Error carrying its message and an
  // HRESULT for the errors the bridge names (exists, not found, wrong state).
  using Done = std::function<void(Result<std::string>)>;
  void create(const std::string& id, const std::filesystem::path& bundle, const std::filesystem::path& pid_file,
              const ProcessIo& io, Done done);
  void start(const std::string& id, Done done);
  // Starts `process_json` (an OCI process) in the container, detached.
  void exec(const std::string& id, const std::filesystem::path& process_json, const std::filesystem::path& pid_file,
            const ProcessIo& io, Done done);
  void kill(const std::string& id, int signal, bool all, Done done);
  void remove(const std::string& id, bool force, Done done);
  void update(const std::string& id, const Json& linux_resources, Done done);
  void pause(const std::string& id, Done done);
  void resume(const std::string& id, Done done);
  void state(const std::string& id, Done done);

 private:
  void run(std::vector<std::string> args, const ProcessIo* io, std::string input, Done done);
  // The part of run() that may throw; takes `done` only once the runtime is watched.
  void launch(std::vector<std::string> args, const ProcessIo* io, std::string input, Done& done);

  boost::asio::any_io_executor ex_;
  Reaper& reaper_;
  Config config_;
  uint64_t calls_ = 0;
};

// The HRESULT for a runtime's error message (exists, does not exist, wrong state).
uint32_t error_code_for(std::string_view message);
// The last error-level message of a runtime's JSON log (runc and crun write one object
// per line), or "" when there is none.
std::string last_log_error(std::string_view log);

}  // namespace hcs::runtime
