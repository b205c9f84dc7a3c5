#include "hcs/uvm/vmhost.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <spdlog/spdlog.h>

#include "hcs/bridge/guest_connection.hpp"
#include "hcs/bridge/messages.hpp"
#include "hcs/compute/service.hpp"
#include "hcs/core/guid.hpp"
#include "hcs/core/log.hpp"
#include "hcs/core/mountinfo.hpp"
#include "hcs/core/process.hpp"
#include "hcs/state/store.hpp"
#include "hcs/transport/address.hpp"
#include "hcs/transport/stream.hpp"
#include "hcs/ttrpc/server.hpp"
#include "hcs/uvm/machine.hpp"
#include "hcs/uvm/network.hpp"
#include "hcs/uvm/qemu.hpp"
#include "hcs/uvm/qmp.hpp"
#include "hcs/uvm/vm_session.hpp"
#include "proto/compute.pb.h"

namespace hcs::uvm {
namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace pb = hcskit::compute::v1;
using transport::error_code;
using transport::FdStream;
using transport::StreamPtr;

namespace {

// The state of a VM as HCS names it.
constexpr const char* kCreated = "Created";
constexpr const char* kRunning = "Running";
constexpr const char* kPaused = "Paused";
constexpr const char* kStopped = "Stopped";

constexpr auto kDefaultShutdownTimeout = std::chrono::seconds(30);

// One process started through the service: its stdio relays and its waiters.
struct HostedProcess {
  std::shared_ptr<bridge::GuestProcess> process;
  std::optional<uint32_t> exit_code;
  std::optional<Error> failure;
  size_t outputs_left = 0;
  std::vector<std::function<void(Result<uint32_t>)>> waiters;
  std::vector<StreamPtr> fifos;

  bool finished() const { return failure || (exit_code && outputs_left == 0); }
  void answer() {
    if (!finished()) return;
    auto ws = std::move(waiters);
    for (auto& w : ws) failure ? w(*failure) : w(*exit_code);
  }
};

class VmHost {
 public:
  VmHost(asio::io_context& io, state::Store& store, const state::Owned& owned, Json record)
      : io_(io), store_(store), owned_(owned), record_(std::move(record)), reaper_(io.get_executor()),
        server_(io.get_executor()), signals_(io, SIGTERM, SIGINT) {
    document_ = record_.at("Document").get<schema::ComputeSystem>();
    const auto& config = record_.at("Config");
    accel_ = parse_accel(record_.value("Acceleration", "tcg"));
    qemu_ = config.value("Qemu", "qemu-system-x86_64");
    boot_timeout_ = std::chrono::milliseconds(config.value("BootTimeoutMs", 60000));
  }

  // Serves, boots when asked, and reports readiness through `ready`.
  void begin(bool start, std::function<void(std::optional<Error>)> ready) {
    socket_ = owned_.dir + "/compute.sock";
    register_methods();
    server_.listen(socket_);
    record_["Socket"] = socket_;
    record_["OwnerPid"] = ::getpid();
    save();
    signals_.async_wait([this](const error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("signal {}: removing the VM", sig);
      shut_down();
    });
    if (!start) return ready(std::nullopt);
    boot([ready](Result<void> r) { ready(r.ok() ? std::nullopt : std::optional<Error>(r.error())); });
  }

 private:
  void save() {
    record_["State"] = state_;
    state::Store::write_record(owned_.dir, record_);
  }

  void set_state(const char* s) {
    state_ = s;
    save();
  }

  // --- The VM's lifecycle ---

  void boot(std::function<void(Result<void>)> done) {
    if (state_ == kRunning || state_ == kPaused) return done(Error(hr::VmcomputeInvalidState, "the VM is already running"));
    if (booting_) return boot_waiters_.push_back(std::move(done));
    booting_ = true;
    boot_waiters_.push_back(std::move(done));
    try {
      const std::string gcs = Machine::gcs_socket(owned_.dir);
      std::error_code ec;
      fs::remove(gcs, ec);
      fs::remove(Machine::qmp_socket(owned_.dir), ec);
      listener_ = std::make_unique<transport::HostListener>(io_.get_executor(),
                                                            transport::Address::parse("mux+unix:" + gcs));
      MachineConfig config;
      config.document = document_;
      config.dir = owned_.dir;
      config.accel = accel_;
      config.qemu = qemu_;
      config.boot_timeout = boot_timeout_;
      machine_ = std::make_shared<Machine>(io_.get_executor(), reaper_, std::move(config));
      machine_->start([this, m = machine_.get()](ExitStatus st, std::optional<Error> why) { on_stopped(m, st, why); });
    } catch (const Error& e) {
      return boot_done(e);
    }
    record_.erase("StopReason");
    record_["StartedAt"] = now_rfc3339();
    listener_->async_accept([this](Result<transport::Connection> r) {
      if (!r.ok()) return boot_done(r.error());
      listener_->close();
      spdlog::debug("the gcs dialled in");
      bridge::GuestConnection::Options gopts;
      gopts.on_close = [this](const Error& why) { on_guest_closed(why); };
      auto conn = std::move(r).value();
      forward_log(conn.transport);
      bridge::GuestConnection::async_open(std::move(conn), gopts,
                                          [this](Result<std::shared_ptr<bridge::GuestConnection>> g) {
                                            if (!g.ok()) return boot_done(g.error());
                                            guest_ = g.value();
                                            spdlog::debug("the gcs negotiated protocol {}", guest_->protocol_version());
                                            if (machine_) machine_->booted();
                                            connect_qmp();
                                          });
    });
  }

  void connect_qmp() {
    Qmp::async_connect(io_.get_executor(), Machine::qmp_socket(owned_.dir), std::chrono::seconds(5),
                       [this](Result<std::shared_ptr<Qmp>> r) {
                         if (!r.ok()) return boot_done(r.error().wrapped("connect to QEMU's QMP"));
                         qmp_ = r.value();
                         // The guest's part of each boot-time NIC (hcsshim.md §4.6).
                         configure_nics(store_, guest_, document_.virtual_machine->devices.network_adapters,
                                        [this](std::optional<Error> e) { boot_done(std::move(e)); });
                       });
  }

  void boot_done(std::optional<Error> failure) {
    if (!booting_) return;
    booting_ = false;
    if (failure) {
      // A failed boot leaves the VM stopped, never half up.
      if (machine_ && machine_->running()) {
        pending_failure_ = failure;
        machine_->terminate();
      }
    } else {
      record_["GuestConnection"] = Json{{"ProtocolVersion", guest_->protocol_version()},
                                        {"GuestDefinedCapabilities", Json(guest_->capabilities())}};
      set_state(kRunning);
    }
    auto ws = std::move(boot_waiters_);
    for (auto& w : ws) failure ? w(*failure) : w(Result<void>());
  }

  void forward_log(const transport::TransportPtr& t) {
    try {
      log_listener_ = t->listen(transport::kLogPort);
    } catch (const Error& e) {
      spdlog::warn("the gcs log will not be kept: {}", e.text());
      return;
    }
    accept_log();
  }

  void accept_log() {
    log_listener_->async_accept([this](const error_code& ec, StreamPtr s) {
      if (ec) return;
      const std::string path = owned_.dir + "/gcs.log";
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
      if (fd) transport::relay(s, FdStream::adopt(io_.get_executor(), std::move(fd), FdStream::Kind::Pipe),
                               [](const error_code&) {});
      accept_log();
    });
  }

  void on_guest_closed(const Error& why) {
    spdlog::info("the gcs connection ended: {}", why.text());
    fail_processes(why);
  }

  void on_stopped(Machine* m, ExitStatus st, std::optional<Error> why) {
    if (m != machine_.get()) return;
    if (pending_failure_) why = std::exchange(pending_failure_, std::nullopt);
    record_["StoppedAt"] = now_rfc3339();
    record_["ExitStatus"] = st.code();
    if (why) record_["StopReason"] = why->text();
    else if (terminating_) record_["StopReason"] = "terminated";
    else record_["StopReason"] = "powered off";
    terminating_ = false;
    const Error gone = why ? *why : Error(hr::VmcomputeSystemAlreadyStopped, "the VM stopped");
    if (guest_) guest_->close();
    guest_.reset();
    if (qmp_) qmp_->close();
    qmp_.reset();
    if (log_listener_) log_listener_->close();
    log_listener_.reset();
    if (listener_) listener_->close();
    fail_processes(gone);
    set_state(kStopped);
    boot_done(gone);
    auto ws = std::move(stop_waiters_);
    for (auto& w : ws) w(Result<void>());
    // The Machine is released later: this runs inside its callback.
    asio::post(io_, [keep = std::move(machine_)] {});
  }

  void fail_processes(const Error& why) {
    auto procs = std::move(procs_);
    for (auto& [pid, p] : procs) {
      if (!p->exit_code) p->failure = why;
      for (auto& f : p->fifos) f->close();
      p->outputs_left = 0;
      p->answer();
    }
  }

  void terminate(std::function<void(Result<void>)> done) {
    if (!machine_ || !machine_->running()) {
      if (state_ != kStopped && state_ != kCreated) set_state(kStopped);
      return done(Result<void>());
    }
    stop_waiters_.push_back(std::move(done));
    terminating_ = true;
    machine_->terminate();
  }

  // Asks the gcs to power the VM off; terminates it when that takes too long.
  void shutdown(std::chrono::milliseconds timeout, std::function<void(Result<void>)> done) {
    if (!machine_ || !machine_->running()) return done(Result<void>());
    stop_waiters_.push_back(std::move(done));
    auto timer = std::make_shared<asio::steady_timer>(io_, timeout);
    timer->async_wait([this, timer, m = machine_.get()](const error_code& ec) {
      if (ec || m != machine_.get() || !machine_->running()) return;
      spdlog::warn("the VM did not power off in time: terminating it");
      terminating_ = true;
      machine_->terminate();
    });
    if (state_ == kPaused && qmp_) qmp_->async_execute("cont", nullptr, [](Result<Json>) {});
    if (!guest_) {
      terminating_ = true;
      return machine_->terminate();
    }
    // Like hcsshim's guest, the gcs powers off without answering.
    guest_->client()->async_call(bridge::msg::ShutdownGraceful, Json(schema::RequestBase{}),
                                 [](Result<Json> r) {
                                   if (!r.ok()) spdlog::info("graceful shutdown request: {}", r.error().text());
                                 });
  }

  void shut_down() {
    if (closing_) return;
    closing_ = true;
    terminate([this](Result<void>) {
      server_.close();
      io_.stop();
    });
  }

  // --- Hot-plug: the HCS half of a ModifySettingRequest ---

  struct ScsiSlot {
    unsigned controller = 0, lun = 0;
  };

  std::optional<ScsiSlot> scsi_slot(const std::string& path) {
    // VirtualMachine/Devices/Scsi/<controller>/Attachments/<lun>
    const std::string prefix = "VirtualMachine/Devices/Scsi/";
    if (!path.starts_with(prefix)) return std::nullopt;
    const auto rest = path.substr(prefix.size());
    const auto slash = rest.find("/Attachments/");
    if (slash == std::string::npos) throw Error(hr::ErrInvalidArg, "bad SCSI resource path '" + path + "'");
    ScsiSlot slot;
    slot.controller = scsi_controller_index(rest.substr(0, slash));
    const auto lun = rest.substr(slash + 13);
    if (lun.empty() || lun.size() > 2 || !std::all_of(lun.begin(), lun.end(), ::isdigit) || std::stoul(lun) > 63)
      throw Error(hr::ErrInvalidArg, "bad SCSI LUN in '" + path + "'");
    slot.lun = unsigned(std::stoul(lun));
    if (document_.virtual_machine->devices.scsi.count(schema::scsi_controller_keys()[slot.controller]) == 0)
      throw Error(hr::ErrInvalidArg, "the VM has no SCSI controller " + std::to_string(slot.controller));
    return slot;
  }

  schema::Attachment* attachment(const ScsiSlot& s) {
    auto& ctrl = document_.virtual_machine->devices.scsi[schema::scsi_controller_keys()[s.controller]];
    auto it = ctrl.attachments.find(std::to_string(s.lun));
    return it == ctrl.attachments.end() ? nullptr : &it->second;
  }

  // --- Hot-plug: Plan9 shares, as binds under the staging 9p device's root ---

  static constexpr const char* kPlan9Path = "VirtualMachine/Devices/Plan9/Shares";

  // The name becomes a directory under the staging root and the guest's source path.
  static void check_share_name(const std::string& name) {
    const bool ok = !name.empty() && name.size() <= 64 && name[0] != '.' &&
                    std::all_of(name.begin(), name.end(), [](unsigned char c) {
                      return std::isalnum(c) || c == '-' || c == '_' || c == '.';
                    });
    if (!ok) throw Error(hr::ErrInvalidArg, "invalid Plan9 share name '" + name + "': use up to 64 of [A-Za-z0-9._-]");
  }

  std::vector<schema::Plan9Share>& shares() {
    auto& p9 = document_.virtual_machine->devices.plan9;
    if (!p9) p9.emplace();
    return p9->shares;
  }

  std::string staged(const std::string& name) const { return Machine::plan9_dir(owned_.dir) + "/" + name; }

  void share_add(const Json& settings, std::function<void(Result<void>)> done) {
    auto share = settings.get<schema::Plan9Share>();
    check_share_name(share.name);
    if (share.path.empty() || share.path[0] != '/')
      throw Error(hr::ErrInvalidArg, "the Plan9 share '" + share.name + "' needs an absolute Path");
    if (share.flags & schema::plan9_flags::RestrictFileAccess)
      throw Error(hr::NotImpl, "Plan9 shares with RestrictFileAccess (single files) are not supported; share a directory");
    struct stat st{};
    if (::stat(share.path.c_str(), &st) != 0) throw_errno("share " + share.path);
    if (!S_ISDIR(st.st_mode)) throw Error(hr::ErrInvalidArg, "the Plan9 share path " + share.path + " is not a directory");
    auto& list = shares();
    if (std::any_of(list.begin(), list.end(), [&](const auto& s) { return s.name == share.name; }))
      throw Error(hr::VmcomputeInvalidState, "the Plan9 share '" + share.name + "' already exists");
    const std::string at = staged(share.name);
    if (::mkdir(at.c_str(), 0700) != 0) throw_errno("create " + at);
    const bool ro = share.flags & schema::plan9_flags::ReadOnly;
    if (::mount(share.path.c_str(), at.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
        (ro && ::mount(nullptr, at.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0)) {
      const int err = errno;
      ::umount2(at.c_str(), MNT_DETACH);
      ::rmdir(at.c_str());
      throw Error::from_errno(err, "bind " + share.path + " for the Plan9 share '" + share.name + "'");
    }
    hot_shares_.insert(share.name);
    list.push_back(std::move(share));
    save_document();
    done(Result<void>());
  }

  // The share a Remove names, if the host can take it away.
  std::vector<schema::Plan9Share>::iterator removable_share(const Json& settings) {
    const std::string name = settings.is_object() ? settings.value("Name", "") : "";
    auto& list = shares();
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& s) { return s.name == name; });
    if (it == list.end()) throw Error(hr::ErrNotFound, "no Plan9 share named '" + name + "'");
    if (!hot_shares_.contains(name))
      throw Error(hr::NotImpl, "the Plan9 share '" + name + "' was given at boot: its device cannot be unplugged");
    return it;
  }

  void share_remove(const Json& settings, std::function<void(Result<void>)> done) {
    auto it = removable_share(settings);
    const std::string name = it->name;
    auto& list = shares();
    const std::string at = staged(name);
    if (::umount2(at.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) throw_errno("unmount " + at);
    ::rmdir(at.c_str());
    hot_shares_.erase(name);
    list.erase(it);
    save_document();
    done(Result<void>());
  }

  void host_add(const std::string& path, const Json& settings, std::function<void(Result<void>)> done) {
    if (path == kPlan9Path) return share_add(settings, std::move(done));
    auto slot = scsi_slot(path);
    if (!slot) throw Error(hr::NotImpl, "resource path '" + path + "' is not supported");
    if (attachment(*slot))
      throw Error(hr::VmcomputeInvalidState, "SCSI " + std::to_string(slot->controller) + ":" +
                                                 std::to_string(slot->lun) + " is in use");
    auto disk = settings.get<schema::Attachment>();
    auto blockdev = scsi_blockdev_args(slot->controller, slot->lun, disk);
    qmp_->async_execute("blockdev-add", blockdev, [this, s = *slot, disk, done = std::move(done)](Result<Json> r) mutable {
      if (!r.ok()) return done(r.error());
      qmp_->async_execute("device_add", scsi_device_args(s.controller, s.lun),
                          [this, s, disk, done = std::move(done)](Result<Json> r) mutable {
                            if (!r.ok()) {
                              qmp_->async_execute("blockdev-del", Json{{"node-name", scsi_node_name(s.controller, s.lun)}},
                                                  [](Result<Json>) {});
                              return done(r.error());
                            }
                            document_.virtual_machine->devices.scsi[schema::scsi_controller_keys()[s.controller]]
                                .attachments[std::to_string(s.lun)] = disk;
                            save_document();
                            done(Result<void>());
                          });
    });
  }

  // Throws unless the host part of a Remove can be done: checked before the guest is
  // asked, so that a Remove the host would refuse leaves the guest as it was.
  ScsiSlot check_removable(const std::string& path, const Json& settings) {
    if (path == kPlan9Path) {
      removable_share(settings);
      return {};
    }
    auto slot = scsi_slot(path);
    if (!slot) throw Error(hr::NotImpl, "resource path '" + path + "' is not supported");
    if (!attachment(*slot))
      throw Error(hr::ErrNotFound, "nothing is attached at SCSI " + std::to_string(slot->controller) + ":" +
                                       std::to_string(slot->lun));
    return *slot;
  }

  void host_remove(const std::string& path, const Json& settings, std::function<void(Result<void>)> done) {
    if (path == kPlan9Path) return share_remove(settings, std::move(done));
    const ScsiSlot slot = check_removable(path, settings);
    qmp_->async_device_del(scsi_device_id(slot.controller, slot.lun), std::chrono::seconds(10),
                           [this, s = slot, done = std::move(done)](Result<void> r) mutable {
                             if (!r.ok()) return done(r.error());
                             qmp_->async_execute("blockdev-del", Json{{"node-name", scsi_node_name(s.controller, s.lun)}},
                                                 [this, s, done = std::move(done)](Result<Json> r) {
                                                   if (!r.ok()) return done(r.error());
                                                   document_.virtual_machine->devices
                                                       .scsi[schema::scsi_controller_keys()[s.controller]]
                                                       .attachments.erase(std::to_string(s.lun));
                                                   save_document();
                                                   done(Result<void>());
                                                 });
                           });
  }

  void save_document() {
    record_["Document"] = Json(document_);
    save();
  }

  // hcsshim's host composition: on Add the HCS part first, then the guest's (rolled back
  // if the guest fails); on Remove the guest first.
  void modify(const Json& request, std::function<void(Result<void>)> done) {
    if (state_ != kRunning || !guest_ || !qmp_) throw Error(hr::VmcomputeInvalidState, "the VM is not running");
    if (!request.is_object()) throw Error(hr::VmcomputeInvalidJSON, "a ModifySettingRequest must be a JSON object");
    const std::string path = request.value("ResourcePath", "");
    const std::string type = request.value("RequestType", "Add");
    const Json settings = request.value("Settings", Json());
    std::optional<schema::ModificationRequest> guest_req;
    if (request.contains("GuestRequest") && !request["GuestRequest"].is_null())
      guest_req = request["GuestRequest"].get<schema::ModificationRequest>();
    if (type != "Add" && type != "Remove")
      throw Error(hr::ErrInvalidArg, "the RequestType \"" + type + "\" is not supported");
    auto to_guest = [this, guest_req](std::function<void(Result<void>)> then) {
      if (!guest_req) return then(Result<void>());
      guest_->async_modify(*guest_req, std::move(then));
    };
    if (path.empty()) return to_guest(std::move(done));
    if (type == "Add") {
      host_add(path, settings, [this, path, settings, to_guest, done = std::move(done)](Result<void> r) mutable {
        if (!r.ok()) return done(r.error());
        to_guest([this, path, settings, done = std::move(done)](Result<void> g) mutable {
          if (g.ok()) return done(g);
          host_remove(path, settings, [g, done = std::move(done)](Result<void> undo) {
            if (!undo.ok()) spdlog::warn("rolling back {}: {}", "the host part", undo.error().text());
            done(g);
          });
        });
      });
    } else {
      check_removable(path, settings);
      to_guest([this, path, settings, done = std::move(done)](Result<void> g) mutable {
        if (!g.ok()) return done(g);
        host_remove(path, settings, std::move(done));
      });
    }
  }

  // --- Processes ---

  StreamPtr open_fifo(const std::string& path, int flags) {
    if (path.empty()) return nullptr;
    return FdStream::open_fifo(io_.get_executor(), path, flags);
  }

  void create_process(const pb::CreateProcessRequest& req, std::function<void(Result<pb::CreateProcessResponse>)> done) {
    if (state_ != kRunning || !guest_) throw Error(hr::VmcomputeInvalidState, "the VM is not running");
    auto params = parse_json(req.parameters_json(), "ProcessParameters").get<schema::ProcessParameters>();
    auto in = open_fifo(req.stdin(), O_RDONLY);
    auto out = open_fifo(req.stdout(), O_WRONLY);
    auto err = open_fifo(req.stderr(), O_WRONLY);
    params.create_std_in_pipe = in != nullptr;
    params.create_std_out_pipe = out != nullptr;
    params.create_std_err_pipe = err != nullptr;
    guest_->async_create_process(std::move(params), [this, in, out, err, done = std::move(done)](
                                                        Result<std::shared_ptr<bridge::GuestProcess>> r) {
      if (!r.ok()) return done(r.error());
      auto p = std::make_shared<HostedProcess>();
      p->process = r.value();
      const uint32_t pid = p->process->pid();
      for (auto& f : {in, out, err})
        if (f) p->fifos.push_back(f);
      if (in && p->process->stdin_stream()) transport::relay(in, p->process->stdin_stream(), [](const error_code&) {});
      for (auto [from, to] : {std::pair{p->process->stdout_stream(), out}, {p->process->stderr_stream(), err}}) {
        if (!from || !to) continue;
        ++p->outputs_left;
        transport::relay(from, to, [p](const error_code&) {
          if (p->outputs_left > 0 && --p->outputs_left == 0) p->answer();
        });
      }
      p->process->async_wait([p](Result<uint32_t> r) {
        if (r.ok()) p->exit_code = r.value();
        else if (!p->failure) p->failure = r.error();
        p->answer();
      });
      procs_[pid] = p;
      pb::CreateProcessResponse resp;
      resp.set_pid(pid);
      done(resp);
    });
  }

  std::shared_ptr<HostedProcess> process(uint32_t pid) {
    auto it = procs_.find(pid);
    if (it == procs_.end()) throw Error(hr::ErrNotFound, "no process " + std::to_string(pid) + " started through this VM's service");
    return it->second;
  }

  // --- The service ---

  void check_id(const std::string& id) {
    if (!id.empty() && id != record_.value("Id", ""))
      throw Error(hr::VmcomputeSystemNotFound, "this owner serves VM '" + record_.value("Id", "") + "', not '" + id + "'");
  }

  Json properties() {
    Json p{{"Id", record_.value("Id", "")},
           {"SystemType", "VirtualMachine"},
           {"Owner", document_.owner},
           {"State", state_},
           {"Stopped", state_ == std::string(kStopped)},
           {"RuntimeId", record_.value("RuntimeId", "")},
           {"OwnerPid", ::getpid()}};
    if (machine_ && machine_->running()) {
      p["QemuPid"] = machine_->pid();
      const auto up = std::chrono::system_clock::now() - machine_->started_at();
      p["Statistics"] = Json{{"Uptime100ns", std::chrono::duration_cast<std::chrono::nanoseconds>(up).count() / 100}};
    }
    if (record_.contains("StopReason")) p["ExitType"] = record_["StopReason"];
    if (guest_) {
      p["GuestConnectionInfo"] = Json{{"ProtocolVersion", guest_->protocol_version()},
                                      {"GuestDefinedCapabilities", Json(guest_->capabilities())}};
    }
    p["ProcessCount"] = procs_.size();
    return p;
  }

  template <class Req, class Resp>
  void serve(const char* method, std::function<void(const Req&, std::function<void(Result<Resp>)>)> f) {
    server_.register_method<Req, Resp>(compute::kService, method,
                                       [this, f](Req req, std::function<void(Result<Resp>)> reply) {
                                         try {
                                           check_id(req.id());
                                           f(req, reply);  // a copy: a throw below still answers
                                         } catch (const Error& e) {
                                           reply(e);
                                         } catch (const std::exception& e) {
                                           reply(Error(hr::VmcomputeInvalidJSON, e.what()));
                                         }
                                       });
  }

  static std::function<void(Result<void>)> empty_reply(std::function<void(Result<pb::Empty>)> reply) {
    return [reply = std::move(reply)](Result<void> r) { r.ok() ? reply(pb::Empty()) : reply(r.error()); };
  }

  void register_methods() {
    using Reply = std::function<void(Result<pb::Empty>)>;
    serve<pb::PropertiesRequest, pb::PropertiesResponse>(
        "Properties", [this](const pb::PropertiesRequest&, std::function<void(Result<pb::PropertiesResponse>)> reply) {
          pb::PropertiesResponse resp;
          resp.set_properties_json(dump_json(properties()));
          reply(resp);
        });
    serve<pb::StartRequest, pb::Empty>("Start", [this](const pb::StartRequest&, Reply reply) {
      boot(empty_reply(std::move(reply)));
    });
    serve<pb::ModifyRequest, pb::Empty>("Modify", [this](const pb::ModifyRequest& req, Reply reply) {
      modify(parse_json(req.request_json(), "ModifySettingRequest"), empty_reply(std::move(reply)));
    });
    serve<pb::CreateProcessRequest, pb::CreateProcessResponse>(
        "CreateProcess",
        [this](const pb::CreateProcessRequest& req, std::function<void(Result<pb::CreateProcessResponse>)> reply) {
          create_process(req, std::move(reply));
        });
    serve<pb::SignalProcessRequest, pb::Empty>("SignalProcess", [this](const pb::SignalProcessRequest& req, Reply reply) {
      process(req.pid())->process->async_signal(req.signal(), [reply](Result<Json> r) {
        r.ok() ? reply(pb::Empty()) : reply(r.error());
      });
    });
    serve<pb::ResizeConsoleRequest, pb::Empty>("ResizeConsole", [this](const pb::ResizeConsoleRequest& req, Reply reply) {
      process(req.pid())->process->async_resize(uint16_t(req.height()), uint16_t(req.width()), [reply](Result<Json> r) {
        r.ok() ? reply(pb::Empty()) : reply(r.error());
      });
    });
    serve<pb::WaitProcessRequest, pb::WaitProcessResponse>(
        "WaitProcess",
        [this](const pb::WaitProcessRequest& req, std::function<void(Result<pb::WaitProcessResponse>)> reply) {
          auto p = process(req.pid());
          const uint32_t pid = req.pid();
          p->waiters.push_back([this, pid, reply](Result<uint32_t> r) {
            procs_.erase(pid);  // answered: the process is forgotten
            if (!r.ok()) return reply(r.error());
            pb::WaitProcessResponse resp;
            resp.set_exit_code(r.value());
            reply(resp);
          });
          p->answer();
        });
    serve<pb::ShutdownRequest, pb::Empty>("Shutdown", [this](const pb::ShutdownRequest& req, Reply reply) {
      const auto timeout = req.timeout_ms() ? std::chrono::milliseconds(req.timeout_ms())
                                            : std::chrono::milliseconds(kDefaultShutdownTimeout);
      shutdown(timeout, empty_reply(std::move(reply)));
    });
    serve<pb::SystemRequest, pb::Empty>("Terminate", [this](const pb::SystemRequest&, Reply reply) {
      terminate(empty_reply(std::move(reply)));
    });
    serve<pb::SystemRequest, pb::Empty>("Pause", [this](const pb::SystemRequest&, Reply reply) {
      if (state_ != kRunning || !qmp_) throw Error(hr::VmcomputeInvalidState, "the VM is not running");
      qmp_->async_execute("stop", nullptr, [this, reply](Result<Json> r) {
        if (!r.ok()) return reply(r.error());
        set_state(kPaused);
        reply(pb::Empty());
      });
    });
    serve<pb::SystemRequest, pb::Empty>("Resume", [this](const pb::SystemRequest&, Reply reply) {
      if (state_ != kPaused || !qmp_) throw Error(hr::VmcomputeInvalidState, "the VM is not paused");
      qmp_->async_execute("cont", nullptr, [this, reply](Result<Json> r) {
        if (!r.ok()) return reply(r.error());
        set_state(kRunning);
        reply(pb::Empty());
      });
    });
    serve<pb::SystemRequest, pb::Empty>("Delete", [this](const pb::SystemRequest&, Reply reply) {
      terminate([this, reply](Result<void>) {
        reply(pb::Empty());
        // The reply goes out before the socket closes.
        asio::post(io_, [this] { shut_down(); });
      });
    });
  }

  asio::io_context& io_;
  state::Store& store_;  // the state root, where the HCN records of its NICs are too
  const state::Owned& owned_;
  Json record_;
  schema::ComputeSystem document_;
  Accel accel_ = Accel::Tcg;
  std::string qemu_;
  std::chrono::milliseconds boot_timeout_{};
  std::string socket_;
  std::string state_ = kCreated;
  Reaper reaper_;
  ttrpc::Server server_;
  asio::signal_set signals_;
  std::shared_ptr<Machine> machine_;
  std::unique_ptr<transport::HostListener> listener_;
  std::unique_ptr<transport::Listener> log_listener_;
  std::shared_ptr<bridge::GuestConnection> guest_;
  std::shared_ptr<Qmp> qmp_;
  bool booting_ = false, terminating_ = false, closing_ = false;
  std::optional<Error> pending_failure_;
  std::vector<std::function<void(Result<void>)>> boot_waiters_, stop_waiters_;
  std::map<uint32_t, std::shared_ptr<HostedProcess>> procs_;
  std::set<std::string> hot_shares_;  // Plan9 shares bound under the staging root
};

void write_all(int fd, const std::string& text) {
  size_t off = 0;
  while (off < text.size()) {
    ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    off += size_t(n);
  }
}

// Detaches every mount at or beneath `dir`, deepest first.
void detach_mounts_under(const std::string& dir) {
  std::vector<std::string> points;
  for (const auto& m : read_mountinfo()) {
    const std::string p = m.mount_point.string();
    if (p == dir || p.starts_with(dir + "/")) points.push_back(p);
  }
  std::sort(points.rbegin(), points.rend());
  for (const auto& p : points)
    if (::umount2(p.c_str(), MNT_DETACH) != 0) spdlog::warn("unmount {}: {}", p, std::strerror(errno));
}

}  // namespace

int run_vmhost(const std::string& state_root, const std::string& id) {
  UniqueFd ready(4);
  state::Store store(state_root);
  state::Owned owned;
  try {
    owned = store.adopt("vm", id, UniqueFd(3));
  } catch (const Error& e) {
    write_all(ready.get(), "vmhost: " + e.text());
    return 1;
  }
  int code = 0;
  try {
    // Hot-plugged shares are bind mounts only QEMU and this process see, and that end
    // with them: nothing of the VM can outlive its owner in the host's mount table.
    if (::unshare(CLONE_NEWNS) != 0) throw_errno("unshare the mount namespace");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) throw_errno("make mounts private");
    auto record = store.read_record("vm", id);
    if (!record) throw Error(hr::VmcomputeSystemNotFound, "VM '" + id + "' has no record");
    const bool start = record->at("Config").value("Start", true);
    boost::asio::io_context io(1);
    VmHost host(io, store, owned, *record);
    host.begin(start, [&](std::optional<Error> failure) {
      if (failure) {
        write_all(ready.get(), failure->text());
        code = 1;
        io.stop();
      } else {
        write_all(ready.get(), "ok");
      }
      ready.reset();
    });
    io.run();
  } catch (const std::exception& e) {
    // Anything, even a library's own exception, ends here: the state is removed below.
    const std::string what = dynamic_cast<const Error*>(&e) ? static_cast<const Error&>(e).text() : e.what();
    if (ready) write_all(ready.get(), what);
    spdlog::error("vmhost: {}", what);
    code = 1;
  }
  // The VM is gone: so is everything of it in the state root. The share binds go
  // first, so that removing the directory cannot reach into a shared host directory.
  detach_mounts_under(Machine::plan9_dir(owned.dir));
  try {
    if (owned.lock) store.remove(owned);
  } catch (const Error& e) {
    spdlog::warn("remove the VM's state: {}", e.text());
  }
  return code;
}

namespace {
std::string vmhost_program(const CreateVmOptions& o) {
  if (!o.vmhost.empty()) return o.vmhost;
  if (const char* env = std::getenv("HCSKIT_VMHOST"); env && *env) return env;
  return find_companion("hcs-vmhost", "../hcs-vmhost", "$HCSKIT_VMHOST");
}
}  // namespace

std::string create_vm(const CreateVmOptions& o) {
  Options vm = o.vm;
  if (vm.id.empty()) vm.id = Guid::random().str();
  state::Store store(o.state_root.empty() ? state::default_root() : o.state_root);
  state::Owned owned = store.create("vm", vm.id);
  try {
    attach_endpoints(store.root(), o.network, vm);
    auto document = make_document(vm);
    const Accel accel = resolve_accel(o.accel, document, store.root() + "/accel.json", o.qemu);
    Json record = vm_record(vm.id, document, accel, kCreated, "");
    record["Config"] = Json{{"Qemu", o.qemu},
                            {"BootTimeoutMs", o.boot_timeout.count()},
                            {"Start", o.start}};
    state::Store::write_record(owned.dir, record);

    Pipe ready = make_pipe();
    const std::string log = owned.dir + "/vmhost.log";
    UniqueFd logfd(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!logfd) throw_errno("create " + log);
    SpawnOptions so;
    so.argv = {vmhost_program(o), "--root", store.root(), "--id", vm.id};
    so.stdout_fd = so.stderr_fd = logfd.get();
    so.new_session = true;  // detached: no terminal's signals reach it
    so.pass_fds = {owned.lock.get(), ready.write.get()};
    Child child = spawn(so);
    ready.write.reset();
    owned.lock.reset();  // the vmhost holds the lock now
    std::string said;
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(ready.read.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      said.append(buf, size_t(n));
    }
    if (said != "ok") {
      if (said.empty()) said = "the vmhost exited without a word; its log ends with:\n" + tail_of(log, 10);
      child.wait_exit();  // it removes the VM's state before it exits
      store.remove("vm", vm.id);
      if (!o.network.empty()) release_endpoints_quietly(store.root(), vm.id);
      throw Error(hr::Fail, said);
    }
    return vm.id;
  } catch (...) {
    if (owned.lock) store.remove(owned);
    if (!o.network.empty()) release_endpoints_quietly(store.root(), vm.id);
    throw;
  }
}

}  // namespace hcs::uvm
