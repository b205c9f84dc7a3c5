#include "hcs/runtime/runtime.hpp"

#include <signal.h>
#include <sys/statfs.h>
#include <linux/magic.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/write.hpp>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

namespace hcs::runtime {

namespace fs = std::filesystem;
namespace asio = boost::asio;

std::string_view name(Kind kind) { return kind == Kind::Crun ? "crun" : "runc"; }

Kind parse_kind(std::string_view n) {
  if (n == "runc") return Kind::Runc;
  if (n == "crun") return Kind::Crun;
  throw Error(hr::ErrInvalidArg, "unknown OCI runtime '" + std::string(n) + "' (runc or crun)");
}

static bool is_fs(const char* path, long magic) {
  struct statfs st{};
  return ::statfs(path, &st) == 0 && static_cast<long>(st.f_type) == magic;
}

Config choose(std::optional<Kind> wanted, fs::path root, fs::path work) {
  Config c;
  c.root = std::move(root);
  c.work = std::move(work);
  if (wanted) {
    c.kind = *wanted;
  } else {
    try {
      find_executable("crun", {});
      c.kind = Kind::Crun;
    } catch (const Error&) {
      c.kind = Kind::Runc;
    }
  }
  c.binary = find_executable(std::string(name(c.kind)), {});
  // Hybrid: v1 controllers on a tmpfs plus an empty cgroup2 at unified.
  if (c.kind == Kind::Crun && is_fs("/sys/fs/cgroup", TMPFS_MAGIC) &&
      is_fs("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC))
    c.hide_mounts.push_back("/sys/fs/cgroup/unified");
  return c;
}

uint32_t error_code_for(std::string_view m) {
  auto has = [&](std::string_view s) { return m.find(s) != std::string_view::npos; };
  if (has("already exists") || has("container with id exists")) return hr::VmcomputeSystemAlreadyExists;
  // runc: "container does not exist"; crun names its missing state files.
  if (has("container does not exist") ||
      (has("No such file or directory") && (has("/status`") || has("cannot open directory"))))
    return hr::VmcomputeSystemNotFound;
  if (has("not running") || has("not stopped") || has("still running") || has("is not paused") ||
      has("is paused") || has("in state") || has("cannot delete container"))
    return hr::VmcomputeInvalidState;
  return hr::Fail;
}

std::string last_log_error(std::string_view log) {
  std::string last;
  std::istringstream in{std::string(log)};
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    auto level = j.value("level", std::string());
    if ((level == "error" || level == "fatal") && j.contains("msg") && j["msg"].is_string()) last = j["msg"];
  }
  return last;
}

Runtime::Runtime(asio::any_io_executor ex, Reaper& reaper, Config config)
    : ex_(std::move(ex)), reaper_(reaper), config_(std::move(config)) {
  std::error_code ec;
  fs::create_directories(config_.root, ec);
  if (ec) throw Error(hr::Fail, "create " + config_.root.string() + ": " + ec.message());
  fs::create_directories(config_.work, ec);
  if (ec) throw Error(hr::Fail, "create " + config_.work.string() + ": " + ec.message());
}

namespace {

// One run of the runtime binary: its exit and, when captured, its output to EOF.
struct Invocation : std::enable_shared_from_this<Invocation> {
  std::string verb;
  fs::path log;
  std::string out, err;
  int open_outputs = 0;
  std::optional<ExitStatus> status;
  Runtime::Done done;
  std::string runtime_name;

  void read(std::shared_ptr<asio::posix::stream_descriptor> d, std::string* into) {
    ++open_outputs;
    auto buf = std::make_shared<std::array<char, 4096>>();
    auto self = shared_from_this();
    auto step = std::make_shared<std::function<void()>>();
    *step = [self, d, into, buf, step]() {
      d->async_read_some(asio::buffer(*buf), [self, d, into, buf, step](const boost::system::error_code& ec, size_t n) {
        into->append(buf->data(), n);
        if (ec) {
          *step = nullptr;  // breaks the cycle
          --self->open_outputs;
          return self->finish();
        }
        (*step)();
      });
    };
    (*step)();
  }

  void finish() {
    if (!status || open_outputs > 0 || !done) return;
    auto cb = std::move(done);
    done = nullptr;
    std::string log_text;
    {
      std::ifstream in(log);
      log_text.assign(std::istreambuf_iterator<char>(in), {});
    }
    std::error_code ec;
    fs::remove(log, ec);
    if (status->code() == 0) return cb(std::move(out));
    std::string message = last_log_error(log_text);
    if (message.empty()) {
      message = err;
      while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    }
    if (message.empty()) message = "exited with status " + std::to_string(status->code());
    cb(Error(error_code_for(message), runtime_name + " " + verb + ": " + message));
  }
};

}  // namespace

void Runtime::run(std::vector<std::string> args, const ProcessIo* io, std::string input, Done done) {
  // Every failure, even before the runtime starts, is reported through `done`: callers
  // run inside event handlers and must not see exceptions.
  const std::string what = std::string(name(config_.kind)) + " " + args.front();
  try {
    launch(std::move(args), io, std::move(input), done);
  } catch (const Error& e) {
    done(e.wrapped(what));
  } catch (const std::exception& e) {
    done(Error(hr::Fail, what + ": " + e.what()));
  }
}

void Runtime::launch(std::vector<std::string> args, const ProcessIo* io, std::string input, Done& done) {
  auto inv = std::make_shared<Invocation>();
  inv->verb = args.front();
  inv->runtime_name = std::string(name(config_.kind));
  inv->log = config_.work / ("call-" + std::to_string(++calls_) + ".log");

  SpawnOptions o;
  o.argv = {config_.binary.empty() ? std::string(name(config_.kind)) : config_.binary, "--root", config_.root.string(),
            "--log", inv->log.string(), "--log-format", "json"};
  o.argv.insert(o.argv.end(), args.begin(), args.end());
  o.hide_mounts = config_.hide_mounts;
  Pipe in_pipe, out_pipe, err_pipe;
  if (io) {
    // The process inherits the runtime's stdio; errors come from the log.
    o.stdin_fd = io->stdin_fd;
    o.stdout_fd = io->stdout_fd;
    o.stderr_fd = io->stderr_fd;
  } else {
    out_pipe = make_pipe();
    err_pipe = make_pipe();
    o.stdout_fd = out_pipe.write.get();
    o.stderr_fd = err_pipe.write.get();
    if (!input.empty()) {
      in_pipe = make_pipe();
      o.stdin_fd = in_pipe.read.get();
    }
  }
  Child child = spawn(o);
  out_pipe.write.reset();
  err_pipe.write.reset();
  in_pipe.read.reset();
  if (!io) {
    inv->read(std::make_shared<asio::posix::stream_descriptor>(ex_, out_pipe.read.release()), &inv->out);
    inv->read(std::make_shared<asio::posix::stream_descriptor>(ex_, err_pipe.read.release()), &inv->err);
    if (in_pipe.write) {
      // Runtime input is small (a resources document): one write, then EOF.
      auto d = std::make_shared<asio::posix::stream_descriptor>(ex_, in_pipe.write.release());
      auto data = std::make_shared<std::string>(std::move(input));
      asio::async_write(*d, asio::buffer(*data), [d, data](const boost::system::error_code&, size_t) { d->close(); });
    }
  }
  auto shared_child = std::make_shared<Child>(std::move(child));
  try {
    reaper_.watch(*shared_child, [inv, shared_child](ExitStatus st) {
      inv->status = st;
      inv->finish();
    });
  } catch (...) {
    shared_child->signal(SIGKILL);
    shared_child->wait_exit();
    throw;
  }
  inv->done = std::move(done);  // from here on, only the invocation answers
}


static std::vector<std::string> io_args(const ProcessIo& io, const fs::path& pid_file) {
  std::vector<std::string> a{"--pid-file", pid_file.string()};
  if (!io.console_socket.empty()) {
    a.push_back("--console-socket");
    a.push_back(io.console_socket.string());
  }
  return a;
}

void Runtime::create(const std::string& id, const fs::path& bundle, const fs::path& pid_file, const ProcessIo& io,
                     Done done) {
  std::vector<std::string> a{"create", "--bundle", bundle.string()};
  auto extra = io_args(io, pid_file);
  a.insert(a.end(), extra.begin(), extra.end());
  a.push_back(id);
  run(std::move(a), &io, {}, std::move(done));
}

void Runtime::start(const std::string& id, Done done) { run({"start", id}, nullptr, {}, std::move(done)); }

void Runtime::exec(const std::string& id, const fs::path& process_json, const fs::path& pid_file, const ProcessIo& io,
                   Done done) {
  std::vector<std::string> a{"exec", "--detach", "--process", process_json.string()};
  auto extra = io_args(io, pid_file);
  a.insert(a.end(), extra.begin(), extra.end());
  a.push_back(id);
  run(std::move(a), &io, {}, std::move(done));
}

void Runtime::kill(const std::string& id, int signal, bool all, Done done) {
  std::vector<std::string> a{"kill"};
  if (all) a.push_back("--all");
  a.push_back(id);
  a.push_back(std::to_string(signal));
  run(std::move(a), nullptr, {}, std::move(done));
}

void Runtime::remove(const std::string& id, bool force, Done done) {
  std::vector<std::string> a{"delete"};
  if (force) a.push_back("--force");
  a.push_back(id);
  run(std::move(a), nullptr, {}, std::move(done));
}

void Runtime::update(const std::string& id, const Json& linux_resources, Done done) {
  run({"update", "--resources", "-", id}, nullptr, dump_json(linux_resources), std::move(done));
}

void Runtime::pause(const std::string& id, Done done) { run({"pause", id}, nullptr, {}, std::move(done)); }
void Runtime::resume(const std::string& id, Done done) { run({"resume", id}, nullptr, {}, std::move(done)); }
void Runtime::state(const std::string& id, Done done) { run({"state", id}, nullptr, {}, std::move(done)); }

}  // namespace hcs::runtime
