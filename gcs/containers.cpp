#include "containers.hpp"

#include <signal.h>

#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "hcs/bridge/guest_container.hpp"
#include "hcs/runtime/console_socket.hpp"
#include "paths.hpp"

namespace gcs {

namespace fs = std::filesystem;
namespace hr = hcs::hr;
namespace rt = hcs::runtime;
using hcs::Error;
using hcs::Json;

static const hcs::schema::Version kMinimumSchema{2, 1, {}};

static void write_file(const fs::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::trunc);
  out << data;
  out.close();
  if (!out) throw Error(hr::Fail, "write " + path.string() + " failed");
}

static pid_t read_pid_file(const fs::path& path) {
  std::ifstream in(path);
  long pid = 0;
  if (!(in >> pid) || pid <= 0) throw Error(hr::Fail, "the runtime wrote no pid to " + path.string());
  return static_cast<pid_t>(pid);
}

Containers::Containers(boost::asio::any_io_executor ex, hcs::Reaper& reaper, Storage& storage,
                       ContainerOptions options, OnExit on_exit)
    : ex_(ex),
      reaper_(reaper),
      storage_(storage),
      options_(std::move(options)),
      on_exit_(std::move(on_exit)),
      runtime_(ex, reaper, rt::choose(options_.runtime, options_.root / "runtime", options_.root / "work")) {}

Container& Containers::find(const std::string& id) {
  auto it = containers_.find(id);
  if (it == containers_.end()) throw Error(hr::VmcomputeSystemNotFound, "container " + id + " not found");
  return *it->second;
}

fs::path Containers::socket_path() {
  // Short on purpose: a unix socket path must fit in 108 bytes, and ids may be 128.
  return runtime_.config().work / ("tty-" + std::to_string(++counter_) + ".sock");
}

// One process the runtime starts (create or exec): its stdio handed over, the runtime
// run, the console fd received when there is a tty, and the pid adopted.
struct Containers::Launch {
  std::shared_ptr<GuestProcess> proc;
  bool tty = false;
  std::optional<StdioStreams> connect;  // relays to start as soon as the stdio exists
  std::function<void(const rt::ProcessIo&, rt::Runtime::Done)> run;
  fs::path pid_file;
  std::function<void(hcs::Result<void>)> done;
  std::unique_ptr<rt::ConsoleSocket> console;
  bool console_ready = false;
  std::optional<Error> console_error;
  std::optional<hcs::Result<std::string>> runtime_result;  // the runtime has exited
};

void Containers::launch(std::shared_ptr<Launch> l) {
  // Answers only once the runtime has exited, so that a failure path never races a
  // runtime still at work; with a tty, also once the console fd has come (or failed).
  auto finish = [this, l]() {
    if (!l->done || !l->runtime_result) return;
    if (l->runtime_result->ok() && l->tty && !l->console_ready && !l->console_error) return;
    auto done = std::move(l->done);
    l->done = nullptr;
    l->console.reset();
    if (!l->runtime_result->ok()) return done(l->runtime_result->error());
    if (l->console_error) return done(*l->console_error);
    try {
      l->proc->adopt(hcs::adopt_child(read_pid_file(l->pid_file)), reaper_);
    } catch (const Error& e) {
      return done(e);
    }
    done({});
  };
  rt::ProcessIo io;
  try {
    if (l->tty) {
      l->console = std::make_unique<rt::ConsoleSocket>(ex_, socket_path());
      io.console_socket = l->console->path();
      l->console->async_receive([l, finish](hcs::Result<hcs::UniqueFd> fd) {
        try {
          l->proc->set_console(std::move(fd).value());
          if (l->connect) l->proc->connect(std::move(*l->connect));
          l->console_ready = true;
        } catch (const Error& e) {
          l->console_error = e;
        }
        finish();
      });
    } else {
      io.stdin_fd = l->proc->child_fd(0);
      io.stdout_fd = l->proc->child_fd(1);
      io.stderr_fd = l->proc->child_fd(2);
      if (l->connect) l->proc->connect(std::move(*l->connect));
    }
    l->run(io, [l, finish](hcs::Result<std::string> r) {
      l->runtime_result = std::move(r);
      finish();
    });
  } catch (const Error& e) {
    // Nothing was started: fail at once.
    l->console.reset();
    if (auto done = std::move(l->done)) done(e);
    l->done = nullptr;
  }
}

void Containers::create(const std::string& id, const hcs::schema::VmHostedContainerSettingsV2& settings, Done done) {
  if (!hcs::bridge::is_valid_container_id(id))
    throw Error(hr::ErrInvalidArg, "invalid container id '" + id + "': must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$");
  if (containers_.count(id)) throw Error(hr::VmcomputeSystemAlreadyExists, "container " + id + " already exists");
  const auto& v = settings.schema_version;
  if (v.major < kMinimumSchema.major || (v.major == kMinimumSchema.major && v.minor < kMinimumSchema.minor))
    throw Error(hr::VmcomputeInvalidJSON, "container schema version " + std::to_string(v.major) + "." +
                                              std::to_string(v.minor) + " is not supported (2.1 or later)");
  auto c = std::make_shared<Container>();
  c->id = id;
  c->bundle = checked_path("OciBundlePath", settings.oci_bundle_path);
  if (!settings.scratch_dir_path.empty()) c->scratch = checked_path("ScratchDirPath", settings.scratch_dir_path);
  // Delete removes both directories recursively: they must be this container's alone.
  for (const auto& [what, dir] : {std::pair{"OciBundlePath", c->bundle}, std::pair{"ScratchDirPath", c->scratch}}) {
    if (dir.empty()) continue;
    if (dir == normal(options_.root) || !within(dir, normal(options_.root)))
      throw Error(hr::ErrInvalidArg, std::string(what) + " '" + dir.string() + "' is outside " + options_.root.string());
    auto overlaps = [&](const fs::path& other) { return !other.empty() && (within(dir, other) || within(other, dir)); };
    if (overlaps(normal(runtime_.config().root)) || overlaps(normal(runtime_.config().work)))
      throw Error(hr::ErrInvalidArg, std::string(what) + " '" + dir.string() + "' overlaps the gcs's own state");
    for (const auto& [other_id, other] : containers_)
      if (overlaps(other->bundle) || overlaps(other->scratch))
        throw Error(hr::ErrInvalidArg,
                    std::string(what) + " '" + dir.string() + "' overlaps the directories of container " + other_id);
  }
  Json spec = settings.oci_specification;
  if (!spec.is_object()) throw Error(hr::VmcomputeInvalidJSON, "OciSpecification must be an object");
  if (!spec.contains("process") || !spec["process"].is_object())
    throw Error(hr::ErrInvalidArg, "OciSpecification has no process");
  if (!spec.contains("root") || !spec["root"].is_object() || !spec["root"].value("path", Json()).is_string())
    throw Error(hr::ErrInvalidArg, "OciSpecification has no root.path");
  c->rootfs = checked_path("root.path", spec["root"]["path"].get<std::string>());
  std::error_code ec;
  if (!fs::is_directory(c->rootfs, ec))
    throw Error(hr::ErrInvalidArg, "root.path " + c->rootfs.string() + " is not a directory");
  // The cgroup is ours to place, as hcsshim's guest does for standalone containers.
  spec["linux"]["cgroupsPath"] = options_.cgroup_parent + "/" + id;
  const bool tty = spec["process"].value("terminal", false);

  c->made_bundle = !fs::exists(c->bundle, ec);
  c->work = runtime_.config().work / "c" / id;  // apart from the runtime's per-call files
  auto undo = [this, c]() {
    std::error_code e;
    fs::remove_all(c->work, e);
    if (c->made_bundle) {
      if (mounts_under(c->bundle).empty()) fs::remove_all(c->bundle, e);
    } else {
      fs::remove(c->bundle / "config.json", e);
    }
  };
  try {
    fs::create_directories(c->bundle);
    fs::create_directories(c->work);
    write_file(c->bundle / "config.json", hcs::dump_json(spec));
  } catch (const std::exception& e) {
    undo();
    throw Error(hr::Fail, std::string("prepare bundle: ") + e.what());
  }
  try {
    c->init = GuestProcess::prepare(ex_, tty, {});
  } catch (const Error&) {
    undo();
    throw;
  }
  containers_[id] = c;
  auto l = std::make_shared<Launch>();
  l->proc = c->init;
  l->tty = tty;
  l->pid_file = c->work / "init.pid";
  l->run = [this, c, pid_file = l->pid_file](const rt::ProcessIo& io, rt::Runtime::Done d) {
    runtime_.create(c->id, c->bundle, pid_file, io, std::move(d));
  };
  l->done = [this, c, undo, done](hcs::Result<void> r) {
    if (!r.ok()) {
      spdlog::warn("create container {}: {}", c->id, r.error().text());
      c->init->close_stdio();
      // The runtime may have got as far as its own state: drop that too, and answer
      // (and free the id) only once nothing is left.
      auto error = r.error();
      runtime_.remove(c->id, true, [this, c, undo, done, error](hcs::Result<std::string>) {
        undo();
        auto it = containers_.find(c->id);
        if (it != containers_.end() && it->second == c) containers_.erase(it);
        done(error);
      });
      return;
    }
    try {
      c->cgroups = rt::cgroup_of(static_cast<pid_t>(c->init->pid()));
    } catch (const Error& e) {
      spdlog::warn("container {}: cgroup not found: {}", c->id, e.text());
    }
    c->state = Container::State::Created;
    std::weak_ptr<Container> weak = c;
    c->init->on_finished([this, weak](int) {
      if (auto cc = weak.lock()) on_init_finished(cc);
    });
    spdlog::info("created container {} (init pid {}, {})", c->id, c->init->pid(), rt::name(runtime_.config().kind));
    done(Json::object());
  };
  launch(l);
}

void Containers::on_init_finished(const std::shared_ptr<Container>& container) {
  const std::string& id = container->id;
  auto it = containers_.find(id);
  if (it == containers_.end() || it->second != container) return;
  auto& c = *it->second;
  if (c.state == Container::State::Exited) return;
  c.state = Container::State::Exited;
  std::string type = c.last_signal == SIGTERM   ? "GracefulExit"
                     : c.last_signal == SIGKILL ? "ForcedExit"
                                                : "UnexpectedExit";
  spdlog::info("container {} exited ({}, code {})", id, type, c.init->exit_code().value_or(-1));
  on_exit_(id, type);
}

void Containers::execute(const std::string& id, const hcs::schema::ProcessParameters& params, StdioStreams stdio,
                         Done done) {
  auto close_stdio = [&stdio]() {
    for (auto* s : {&stdio.in, &stdio.out, &stdio.err})
      if (*s) (*s)->close();
  };
  auto it = containers_.find(id);
  if (it == containers_.end()) {
    close_stdio();
    throw Error(hr::VmcomputeSystemNotFound, "container " + id + " not found");
  }
  auto c = it->second;
  if (params.oci_process.is_null()) {
    // The init process: the container was created with its stdio; start it now.
    if (c->state != Container::State::Created || c->start_requested || c->init->exited()) {
      close_stdio();
      throw Error(hr::VmcomputeInvalidState,
                  "container " + id + (c->state == Container::State::Creating ? " is still being created"
                                                                                 : " has already been started"));
    }
    if (c->init->has_console()) stdio.err.reset();
    // Once only: the init's stdio can be relayed to one set of host streams.
    c->start_requested = true;
    c->init->connect(std::move(stdio));
    runtime_.start(id, [c, done](hcs::Result<std::string> r) {
      if (!r.ok()) return done(r.error());
      if (c->state == Container::State::Created) c->state = Container::State::Running;
      hcs::schema::ExecuteProcessResponse resp;
      resp.process_id = c->init->pid();
      done(hcs::schema::encode(resp));
    });
    return;
  }
  if (!params.oci_process.is_object()) {
    close_stdio();
    throw Error(hr::VmcomputeInvalidJSON, "OciProcess must be an object");
  }
  if (c->state != Container::State::Running || c->init->exited()) {
    close_stdio();
    throw Error(hr::VmcomputeInvalidState, "container " + id + " is not running");
  }
  const bool tty = params.oci_process.value("terminal", false);
  const auto n = ++counter_;
  auto json_path = c->work / ("exec-" + std::to_string(n) + ".json");
  try {
    write_file(json_path, hcs::dump_json(params.oci_process));
  } catch (const Error&) {
    close_stdio();
    throw;
  }
  auto l = std::make_shared<Launch>();
  l->tty = tty;
  if (tty) stdio.err.reset();
  l->proc = GuestProcess::prepare(ex_, tty, {bool(stdio.in), bool(stdio.out), bool(stdio.err)});
  l->connect = std::move(stdio);
  l->pid_file = c->work / ("exec-" + std::to_string(n) + ".pid");
  l->run = [this, id, json_path, pid_file = l->pid_file](const rt::ProcessIo& io, rt::Runtime::Done d) {
    runtime_.exec(id, json_path, pid_file, io, std::move(d));
  };
  l->done = [c, l, json_path, done](hcs::Result<void> r) {
    std::error_code ec;
    fs::remove(json_path, ec);
    fs::remove(l->pid_file, ec);
    if (!r.ok()) {
      l->proc->close_stdio();
      return done(r.error());
    }
    c->execs[l->proc->pid()] = l->proc;
    hcs::schema::ExecuteProcessResponse resp;
    resp.process_id = l->proc->pid();
    done(hcs::schema::encode(resp));
  };
  launch(l);
}

std::shared_ptr<GuestProcess> Containers::process(const std::string& id, uint32_t pid) {
  auto& c = find(id);
  if (c.init && c.init->pid() == pid && c.state != Container::State::Creating) return c.init;
  auto it = c.execs.find(pid);
  if (it == c.execs.end())
    throw Error(hr::ErrNotFound, "process " + std::to_string(pid) + " not found in container " + id);
  return it->second;
}

void Containers::waited(const std::string& id, uint32_t pid) {
  auto it = containers_.find(id);
  if (it == containers_.end()) return;
  auto e = it->second->execs.find(pid);
  if (e != it->second->execs.end() && e->second->exit_code()) it->second->execs.erase(e);
}

void Containers::signal(const std::string& id, uint32_t pid, int sig) {
  auto proc = process(id, pid);
  auto& c = find(id);
  if (proc == c.init) c.last_signal = sig;
  if (!proc->signal(sig))
    throw Error(hr::ErrNotFound, "process " + std::to_string(pid) + " has already exited");
}

void Containers::shutdown(const std::string& id, bool forced) {
  auto& c = find(id);
  if (!c.running()) return;  // already stopped: nothing to do, as the host expects
  c.last_signal = forced ? SIGKILL : SIGTERM;
  c.init->signal(c.last_signal);
}

Json Containers::properties(const std::string& id, const std::vector<std::string>& types) {
  auto& c = find(id);
  Json props = Json::object();
  for (const auto& t : types) {
    if (t == "ProcessList") {
      Json list = Json::array();
      std::vector<pid_t> pids;
      if (c.running()) {
        if (!c.cgroups.directories().empty()) pids = rt::cgroup_pids(c.cgroups);
        if (pids.empty()) pids.push_back(static_cast<pid_t>(c.init->pid()));
      }
      for (auto p : pids) list.push_back(Json{{"ProcessId", p}});
      props["ProcessList"] = std::move(list);
    } else if (t == "Statistics") {
      props["LCOWMetrics"] = rt::cgroup_metrics(c.cgroups);
    } else {
      spdlog::warn("container {}: property type {} is not supported; ignored", id, t);
    }
  }
  return props;
}

void Containers::update(const std::string& id, const Json& linux_resources, Done done) {
  auto& c = find(id);
  if (!c.running()) throw Error(hr::VmcomputeInvalidState, "container " + id + " is not running");
  if (!linux_resources.is_object())
    throw Error(hr::ErrInvalidArg, "ContainerConstraints needs Linux resources for a Linux container");
  runtime_.update(id, linux_resources, [done](hcs::Result<std::string> r) {
    if (!r.ok()) return done(r.error());
    done(Json::object());
  });
}

bool Containers::rootfs_in_use(const fs::path& rootfs) const {
  for (const auto& [id, c] : containers_)
    if (c->state == Container::State::Running && !c->init->exited() && c->rootfs == normal(rootfs))
      return true;
  return false;
}

void Containers::remove(const std::string& id, Done done) {
  auto it = containers_.find(id);
  if (it == containers_.end()) throw Error(hr::VmcomputeSystemNotFound, "container " + id + " not found");
  auto c = it->second;
  if (c->state == Container::State::Creating || c->deleting)
    throw Error(hr::VmcomputeInvalidState, "container " + id + " is still being created or deleted");
  // A container never started may go (the runtime's delete stops its init); otherwise
  // its init and every exec must have finished, so that each waiter has its answer
  // and the exit notification is out.
  const bool never_started = c->state == Container::State::Created && !c->start_requested && c->running();
  bool finished = c->init->exit_code().has_value();
  for (const auto& [pid, p] : c->execs) finished = finished && p->exit_code().has_value();
  if (!never_started && !finished)
    throw Error(hr::VmcomputeInvalidState,
                "container " + id + (c->running() ? " is running; shut it down first" : " is still stopping"));
  c->deleting = true;
  runtime_.remove(id, never_started, [this, c, done](hcs::Result<std::string> r) {
    if (!r.ok() && r.error().code() != hr::VmcomputeSystemNotFound) {
      c->deleting = false;
      return done(r.error());
    }
    finish_remove(c, done);
  });
}

void Containers::finish_remove(std::shared_ptr<Container> c, Done done) {
  try {
    rt::remove_cgroup(c->cgroups);
    storage_.release_under(c->rootfs);
    std::error_code ec;
    auto clear_dir = [&](const fs::path& dir) {
      if (dir.empty() || !fs::exists(dir, ec)) return;
      // Deleting across a mount would delete what is mounted: refuse instead.
      const auto mounts = mounts_under(dir);
      for (const auto& m : mounts)
        if (m != dir) throw Error(hr::VmcomputeInvalidState, m.string() + " is still mounted");
      if (mounts.empty()) {
        fs::remove_all(dir, ec);
      } else {
        // The directory is itself a mount point (the scratch disk): its owner removes
        // the mount later; we only empty it.
        for (const auto& e : fs::directory_iterator(dir, ec)) fs::remove_all(e.path(), ec);
      }
      if (ec) throw Error(hr::Fail, "remove " + dir.string() + ": " + ec.message());
    };
    clear_dir(c->scratch);
    clear_dir(c->bundle);
    fs::remove_all(c->work, ec);
  } catch (const Error& e) {
    c->deleting = false;
    return done(e.wrapped("delete container " + c->id));
  }
  c->init->close_stdio();
  for (auto& [pid, p] : c->execs) p->close_stdio();
  containers_.erase(c->id);
  spdlog::info("deleted container {}", c->id);
  done(Json::object());
}

void Containers::kill_all() {
  for (auto& [id, c] : containers_) {
    if (c->init && !c->init->exited()) c->init->signal(SIGKILL);
    for (auto& [pid, p] : c->execs) p->signal(SIGKILL);
  }
}

}  // namespace gcs
