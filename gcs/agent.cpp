#include "agent.hpp"

#include <signal.h>
#include <sys/reboot.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "hcs/bridge/messages.hpp"
#include "hcs/core/log.hpp"
#include "log_port.hpp"

namespace gcs {

namespace asio = boost::asio;
namespace schema = hcs::schema;
namespace msg = hcs::bridge::msg;
using hcs::Error;
using hcs::Json;
using hcs::bridge::Call;
using hcs::bridge::Reply;
namespace hr = hcs::hr;

schema::GcsCapabilities capabilities() {
  schema::GcsCapabilities c;
  c.supported_schema_versions.push_back(schema::Version{2, 1, {}});
  c.runtime_os_type = "Linux";
  c.guest_defined_capabilities = Json{{"NamespaceAddRequestSupported", true},
                                      {"SignalProcessSupported", true},
                                      {"DumpStacksSupported", true},
                                      {"DeleteContainerStateSupported", true}};
  return c;
}

Agent::Agent(asio::io_context& io, AgentOptions options)
    : io_(io),
      options_(std::move(options)),
      reaper_(io.get_executor()),
      storage_(io.get_executor(), options_.storage),
      containers_(io.get_executor(), reaper_, storage_, options_.containers,
                  [this](const std::string& id, const std::string& type) { notify_exit(id, type); }),
      nics_(options_.nics),
      redial_(io) {}

Agent::~Agent() = default;

void Agent::start() { connect(); }

void Agent::stop() {
  stopping_ = true;
  redial_.cancel();
  for (auto& [pid, p] : processes_) {
    p->signal(SIGKILL);
    p->close_stdio();
  }
  containers_.kill_all();
  if (server_) server_->close();
  if (conn_) conn_->close();
  io_.stop();
}

void Agent::connect() {
  if (stopping_) return;
  hcs::transport::async_connect(io_.get_executor(), options_.address, [this](hcs::Result<hcs::transport::Connection> r) {
    if (stopping_) {
      if (r.ok()) r.value().close();
      return;
    }
    if (!r.ok()) {
      // Quiet while the host is simply not there yet.
      if (connections_ == 0) spdlog::debug("{}; retrying", r.error().text());
      redial_.expires_after(options_.redial_interval);
      redial_.async_wait([this](const hcs::transport::error_code& ec) {
        if (!ec) connect();
      });
      return;
    }
    on_connected(std::move(r).value());
  });
}

void Agent::on_connected(hcs::transport::Connection conn) {
  ++connections_;
  conn_ = std::move(conn);
  spdlog::info("connected to the host on {} (connection {})", options_.address.str(), connections_);
  hcs::bridge::BridgeServer::Options opts;
  opts.capabilities = capabilities();
  opts.on_close = [this](const hcs::transport::error_code& ec) { on_disconnected(ec); };
  // The host listens on the log port before it negotiates; dial it once per connection.
  opts.on_negotiated = [this, connection = connections_](uint32_t) {
    flush_notifications();
    if (log_port_connection_ == connection) return;
    log_port_connection_ = connection;
    open_log_port();
  };
  server_ = hcs::bridge::BridgeServer::create(conn_->bridge, std::move(opts));
  register_handlers(*server_);
  server_->start();
}

void Agent::on_disconnected(const hcs::transport::error_code& ec) {
  // Logs go back to stderr before anything else is said.
  auto logger = spdlog::default_logger();
  logger->sinks().clear();
  auto err = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  err->set_formatter(hcs::log::json_formatter());
  logger->sinks().push_back(err);
  spdlog::info("disconnected from the host: {}", ec.message());
  auto server = std::move(server_);
  if (conn_) conn_->close();
  conn_.reset();
  if (stopping_) return;
  // The server may still be on the call stack: re-dial from a fresh one.
  redial_.expires_after(options_.redial_interval);
  redial_.async_wait([this](const hcs::transport::error_code& e) {
    if (!e) connect();
  });
  asio::post(io_, [server] {});  // release the old server once its handlers have unwound
}

void Agent::open_log_port() {
  if (!conn_) return;
  auto transport = conn_->transport;
  transport->async_dial(hcs::transport::kLogPort, [this, transport](const hcs::transport::error_code& ec,
                                                                    hcs::transport::StreamPtr s) {
    if (ec) {
      spdlog::debug("log port {} not open on the host ({}); logging to stderr", hcs::transport::kLogPort, ec.message());
      return;
    }
    if (!conn_ || conn_->transport != transport) return s->close();  // a stale dial
    auto sink = std::make_shared<LogPortSink>(s);
    sink->set_formatter(hcs::log::json_formatter());
    auto logger = spdlog::default_logger();
    logger->sinks().clear();
    logger->sinks().push_back(sink);
    spdlog::info("logging to the host's port {}", hcs::transport::kLogPort);
  });
}

void Agent::register_handlers(hcs::bridge::BridgeServer& s) {
  s.on(msg::ExecuteProcess, [this](const Call& c, Reply r) { execute_process(c, std::move(r)); });
  s.on(msg::WaitForProcess, [this](const Call& c, Reply r) { wait_for_process(c, std::move(r)); });
  s.on(msg::SignalProcess, [this](const Call& c, Reply r) { signal_process(c, std::move(r)); });
  s.on(msg::ResizeConsole, [this](const Call& c, Reply r) { resize_console(c, std::move(r)); });
  s.on(msg::ShutdownGraceful, [this](const Call& c, Reply r) { shutdown(c, std::move(r), false); });
  s.on(msg::ShutdownForced, [this](const Call& c, Reply r) { shutdown(c, std::move(r), true); });
  s.on(msg::GetProperties, [this](const Call& c, Reply r) { get_properties(c, std::move(r)); });
  s.on(msg::DumpStacks, [this](const Call& c, Reply r) { dump_stacks(c, std::move(r)); });
  s.on(msg::ModifySettings, [this](const Call& c, Reply r) { modify_settings(c, std::move(r)); });
  s.on(msg::Start, [](const Call&, Reply r) { r(Json::object()); });
  s.on(msg::Create, [this](const Call& c, Reply r) { create_container(c, std::move(r)); });
  s.on(msg::DeleteContainerState, [this](const Call& c, Reply r) { delete_container_state(c, std::move(r)); });
}

static bool is_uvm(const Call& call) { return call.base.container_id == hcs::kNullContainerId; }

static Error container_not_found(const std::string& id) {
  return Error(hr::VmcomputeSystemNotFound, "container " + id + " not found");
}

std::shared_ptr<GuestProcess> Agent::find_process(const Call& call, uint32_t pid) {
  if (!is_uvm(call)) return containers_.process(call.base.container_id, pid);
  auto it = processes_.find(pid);
  if (it == processes_.end()) throw Error(hr::ErrNotFound, "process " + std::to_string(pid) + " not found");
  return it->second;
}

void Agent::execute_process(const Call& call, Reply reply) {
  auto req = schema::decode<schema::ExecuteProcessRequest>(call.body);
  const auto& params = req.settings.process_parameters.value;
  const bool external = is_uvm(call) || params.create_in_utility_vm;
  if (!external && !containers_.has(call.base.container_id)) throw container_not_found(call.base.container_id);

  // The guest dials each stdio port before the process starts, so no output is lost.
  const auto& relay = req.settings.vsock_stdio_relay_settings;
  struct Dialing {
    StdioStreams streams;
    int left = 0;
    std::optional<Error> error;
  };
  auto dialing = std::make_shared<Dialing>();
  auto transport = conn_->transport;
  auto finish = [this, dialing, call, params, reply]() {
    if (dialing->error) {
      for (auto* s : {&dialing->streams.in, &dialing->streams.out, &dialing->streams.err})
        if (*s) (*s)->close();
      return reply(*dialing->error);
    }
    try {
      start_process(call, params, std::move(dialing->streams), reply);
    } catch (const Error& e) {
      reply(e);
    }
  };
  std::vector<std::pair<uint32_t, StreamPtr*>> ports;
  if (relay.std_in) ports.emplace_back(relay.std_in, &dialing->streams.in);
  if (relay.std_out) ports.emplace_back(relay.std_out, &dialing->streams.out);
  // A tty has one output; for a container process the OCI process says so.
  const bool tty = params.emulate_console || (!external && params.oci_process.is_object() &&
                                              params.oci_process.value("terminal", false));
  if (relay.std_err && !tty) ports.emplace_back(relay.std_err, &dialing->streams.err);
  if (ports.empty()) return finish();
  dialing->left = static_cast<int>(ports.size());
  for (auto [port, slot] : ports) {
    transport->async_dial(port, [dialing, port, slot, finish](const hcs::transport::error_code& ec,
                                                             StreamPtr s) {
      if (ec && !dialing->error)
        dialing->error = Error(hr::Fail, "dial stdio port " + std::to_string(port) + ": " + ec.message());
      *slot = std::move(s);
      if (--dialing->left == 0) finish();
    });
  }
}

void Agent::start_process(const Call& call, const schema::ProcessParameters& params, StdioStreams streams,
                          Reply reply) {
  if (!is_uvm(call) && !params.create_in_utility_vm)
    return containers_.execute(call.base.container_id, params, std::move(streams), reply);
  auto proc = GuestProcess::start(io_.get_executor(), reaper_, params, std::move(streams));
  processes_[proc->pid()] = proc;
  spdlog::debug("started process {}: {}", proc->pid(), fmt::join(params.command_args, " "));
  schema::ExecuteProcessResponse resp;
  resp.process_id = proc->pid();
  reply(schema::encode(resp));
}

void Agent::wait_for_process(const Call& call, Reply reply) {
  auto req = schema::decode<schema::WaitForProcessRequest>(call.body);
  auto proc = find_process(call, req.process_id);
  const bool external = is_uvm(call);
  auto answered = std::make_shared<bool>(false);
  std::shared_ptr<asio::steady_timer> timer;
  if (req.timeout_in_ms != schema::kInfiniteTimeout) {
    timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(req.timeout_in_ms));
    timer->async_wait([answered, reply, pid = req.process_id, ms = req.timeout_in_ms](const hcs::transport::error_code& ec) {
      if (ec || *answered) return;
      *answered = true;
      reply(Error(hr::VmcomputeTimeout,
                  "timed out after " + std::to_string(ms) + " ms waiting for process " + std::to_string(pid)));
    });
  }
  proc->on_finished([this, answered, timer, reply, external, container_id = call.base.container_id,
                     pid = req.process_id](int code) {
    if (timer) timer->cancel();
    if (*answered) return;
    *answered = true;
    // The host has its exit code: nothing more to keep.
    if (external) processes_.erase(pid);
    else containers_.waited(container_id, pid);
    schema::WaitForProcessResponse resp;
    resp.exit_code = static_cast<uint32_t>(code);
    reply(schema::encode(resp));
  });
}

static int signal_from_options(const Json& options) {
  if (options.is_null()) return SIGKILL;
  if (!options.is_object()) throw Error(hr::ErrInvalidArg, "SignalProcess Options must be an object");
  auto it = options.find("Signal");
  if (it == options.end() || it->is_null()) return SIGKILL;
  if (it->is_string()) {
    // Windows console control events, for hosts that send them.
    const auto& name = it->get_ref<const std::string&>();
    if (name == "CtrlC") return SIGINT;
    if (name == "CtrlBreak") return SIGQUIT;
    if (name == "CtrlClose" || name == "CtrlLogOff" || name == "CtrlShutdown") return SIGTERM;
    throw Error(hr::ErrInvalidArg, "unknown signal '" + name + "'");
  }
  if (!it->is_number_integer()) throw Error(hr::ErrInvalidArg, "Signal must be a number");
  auto sig = it->get<int64_t>();
  if (sig == 0) return SIGKILL;
  if (sig < 1 || sig > SIGRTMAX) throw Error(hr::ErrInvalidArg, "invalid signal " + std::to_string(sig));
  return static_cast<int>(sig);
}

void Agent::signal_process(const Call& call, Reply reply) {
  auto req = schema::decode<schema::SignalProcessRequest>(call.body);
  int sig = signal_from_options(req.options);
  if (!is_uvm(call)) {
    containers_.signal(call.base.container_id, req.process_id, sig);
    return reply(Json::object());
  }
  auto proc = find_process(call, req.process_id);
  if (!proc->signal(sig))
    throw Error(hr::ErrNotFound, "process " + std::to_string(req.process_id) + " has already exited");
  reply(Json::object());
}

void Agent::resize_console(const Call& call, Reply reply) {
  auto req = schema::decode<schema::ResizeConsoleRequest>(call.body);
  find_process(call, req.process_id)->resize(req.height, req.width);
  reply(Json::object());
}

void Agent::shutdown(const Call& call, Reply reply, bool forced) {
  schema::decode<schema::Request>(call.body);
  if (!is_uvm(call)) {
    containers_.shutdown(call.base.container_id, forced);
    return reply(Json::object());
  }
  spdlog::info("{} shutdown of the utility VM requested", forced ? "forced" : "graceful");
  for (auto& [pid, p] : processes_) p->signal(forced ? SIGKILL : SIGTERM);
  if (options_.poweroff) {
    // The VM goes away; like hcsshim's guest, no response is sent.
    ::sync();
    ::reboot(RB_POWER_OFF);
    hcs::throw_errno("power off");
  }
  reply(Json::object());
  server_->flush([this] { stop(); });
}

void Agent::get_properties(const Call& call, Reply reply) {
  auto req = schema::decode<schema::GetPropertiesRequest>(call.body);
  if (is_uvm(call)) throw Error(hr::Fail, "getPropertiesV2 is not supported against the UVM");
  schema::GetPropertiesResponse resp;
  resp.properties.value = containers_.properties(call.base.container_id, req.query.value.property_types);
  reply(schema::encode(resp));
}

void Agent::dump_stacks(const Call& call, Reply reply) {
  schema::decode<schema::Request>(call.body);
  namespace fs = std::filesystem;
  std::string out = "gcs pid " + std::to_string(::getpid()) + ", connection " + std::to_string(connections_) + ", " +
                    std::to_string(processes_.size()) + " process(es)\n";
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/self/task", ec)) {
    auto read = [&](const char* f) {
      std::ifstream in(task.path() / f);
      std::string s;
      std::getline(in, s);
      return s;
    };
    out += "\nthread " + task.path().filename().string() + " [" + read("comm") + "] wchan=" + read("wchan") + "\n";
    std::ifstream stack(task.path() / "stack");
    for (std::string line; std::getline(stack, line);) out += "  " + line + "\n";
  }
  out += "\nprocesses:\n";
  for (const auto& [pid, p] : processes_)
    out += "  " + std::to_string(pid) + (p->exited() ? " exited" : " running") + (p->has_console() ? " tty" : "") + "\n";
  schema::DumpStacksResponse resp;
  resp.guest_stacks = std::move(out);
  reply(schema::encode(resp));
}

void Agent::modify_settings(const Call& call, Reply reply) {
  auto req = schema::decode<schema::ModifySettingsRequest>(call.body);
  const auto& r = req.request;
  const std::string type = r.request_type.empty() ? "Add" : r.request_type;
  if (!is_uvm(call)) {
    if (r.resource_type != "ContainerConstraints")
      throw Error(hr::ErrInvalidArg, "the ResourceType \"" + r.resource_type + "\" is not supported for containers");
    if (type != "Update") throw Error(hr::ErrInvalidArg, "the RequestType \"" + type + "\" is not supported");
    if (!r.settings.is_object()) throw Error(hr::VmcomputeInvalidJSON, "ContainerConstraints settings must be an object");
    return containers_.update(call.base.container_id, r.settings.value("Linux", Json()), reply);
  }
  if (r.resource_type == "Network") {
    // The NIC's driver (virtio_net) is one of the modules loaded after the gcs starts.
    return storage_.after_modules([this, r, reply] {
      try {
        nics_.modify(r);
      } catch (const Error& e) {
        return reply(e);
      } catch (const std::exception& e) {
        return reply(Error(hr::Fail, e.what()));
      }
      reply(Json::object());
    });
  }
  // An overlay a container still runs on cannot go away under it.
  if (r.resource_type == "CombinedLayers" && type == "Remove" && r.settings.is_object() &&
      r.settings.value("ContainerRootPath", Json()).is_string() &&
      containers_.rootfs_in_use(r.settings["ContainerRootPath"].get<std::string>()))
    throw Error(hr::VmcomputeInvalidState,
                "the layers at " + r.settings["ContainerRootPath"].get<std::string>() + " are in use by a running container");
  storage_.modify(r, [reply](hcs::Result<void> res) {
    if (!res.ok()) return reply(res.error());
    reply(Json::object());
  });
}

void Agent::create_container(const Call& call, Reply reply) {
  auto req = schema::decode<schema::ContainerCreateRequest>(call.body);
  if (is_uvm(call)) throw Error(hr::ErrInvalidArg, "cannot create a container with the null id");
  auto& spec = req.container_config.value.oci_specification;
  nics_.join(spec);
  // Read; and crun's parser refuses a Windows section without its layerFolders.
  if (spec.is_object()) spec.erase("windows");
  containers_.create(call.base.container_id, req.container_config.value, reply);
}

void Agent::delete_container_state(const Call& call, Reply reply) {
  schema::decode<schema::Request>(call.body);
  if (is_uvm(call)) throw Error(hr::ErrInvalidArg, "cannot delete the state of the null container");
  containers_.remove(call.base.container_id, [this, reply](hcs::Result<Json> r) {
    nics_.prune();  // the container may have been the last one in a network namespace
    reply(std::move(r));
  });
}

void Agent::notify_exit(const std::string& id, const std::string& type) {
  schema::ContainerNotification n;
  n.base.container_id = id;
  n.type = type;
  n.operation = "None";
  pending_notifications_.push_back(schema::encode(n));
  flush_notifications();
}

void Agent::flush_notifications() {
  // Held while no host is there to hear them, as hcsshim's guest does.
  if (!server_ || server_->closed() || server_->negotiated_version() == 0) return;
  for (auto& n : pending_notifications_) server_->notify(msg::ContainerNotification, n);
  pending_notifications_.clear();
}

}  // namespace gcs
