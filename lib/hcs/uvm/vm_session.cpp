#include "hcs/uvm/vm_session.hpp"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "hcs/bridge/guest_connection.hpp"
#include "hcs/core/guid.hpp"
#include "hcs/schema/guest_resource.hpp"
#include "hcs/uvm/disk_image.hpp"
#include "hcs/uvm/network.hpp"

namespace hcs::uvm {

std::string now_rfc3339() {
  const auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Json vm_record(const std::string& id, const schema::ComputeSystem& doc, Accel accel, const std::string& state,
               const std::string& socket) {
  Json document = doc;
  return Json{{"Id", id},
              {"SystemType", "VirtualMachine"},
              {"Owner", doc.owner},
              {"OwnerPid", ::getpid()},
              {"State", state},
              {"Created", now_rfc3339()},
              {"Acceleration", accel_name(accel)},
              {"Socket", socket},
              {"Document", document}};
}

VmSession::VmSession(VmSessionOptions options)
    : options_(std::move(options)), store_(options_.state_root) {
  if (options_.vm.id.empty()) options_.vm.id = Guid::random().str();
  owned_ = store_.create("vm", options_.vm.id);
  try {
    attach_endpoints(store_.root(), options_.network, options_.vm);
    document_ = make_document(options_.vm);
    auto& scsi = document_.virtual_machine->devices.scsi[schema::scsi_controller_keys()[0]];
    for (size_t i = 0; i < options_.disks.size(); ++i) {
      auto& disk = options_.disks[i];
      if (!disk.from_dir.empty()) {
        disk.image = owned_.dir + "/disk" + std::to_string(i) + ".ext4";
        make_ext4_image(disk.from_dir, disk.image);
      }
      schema::Attachment a;
      a.path = options_.disks[i].image;
      a.read_only = options_.disks[i].read_only;
      scsi.attachments[std::to_string(i)] = a;
    }
    const auto accel = resolve_accel(options_.accel, document_, store_.root() + "/accel.json", options_.qemu);
    options_.accel = accel;
    state::Store::write_record(owned_.dir, vm_record(id(), document_, accel, "Created", ""));
  } catch (...) {
    store_.remove(owned_);  // first: endpoints leave only a VM that is gone
    if (!options_.network.empty()) release_endpoints_quietly(store_.root(), id());
    throw;
  }
}

VmSession::~VmSession() {
  machine_.reset();
  reaper_.reset();
  try {
    store_.remove(owned_);
  } catch (const Error& e) {
    spdlog::warn("remove the VM's directory: {}", e.text());
  }
  if (!options_.network.empty()) release_endpoints_quietly(store_.root(), id());
}

transport::Address VmSession::listen_address() const {
  return transport::Address::parse("mux+unix:" + Machine::gcs_socket(owned_.dir));
}

void VmSession::listening(bridge::GuestSession& session) {
  reaper_ = std::make_unique<Reaper>(session.get_executor());
  MachineConfig config;
  config.document = document_;
  config.dir = owned_.dir;
  config.accel = options_.accel;
  config.qemu = options_.qemu;
  config.boot_timeout = options_.boot_timeout;
  machine_ = std::make_shared<Machine>(session.get_executor(), *reaper_, std::move(config));
  machine_->start([this, &session](ExitStatus, std::optional<Error> why) {
    if (finishing_) return;
    session.fail(why ? *why : Error(hr::Fail, "the VM powered off before the run finished"));
  });
  state::Store::write_record(owned_.dir, vm_record(id(), machine_->document(), options_.accel, "Running", ""));
}

void VmSession::connected(bridge::GuestSession& session, std::shared_ptr<bridge::GuestConnection> guest,
                          std::function<void()> ready) {
  machine_->booted();
  mount_next(session, std::move(guest), 0, std::move(ready));
}

void VmSession::mount_next(bridge::GuestSession& session, std::shared_ptr<bridge::GuestConnection> guest, size_t i,
                           std::function<void()> ready) {
  if (i == options_.disks.size())
    return configure_nics(store_, std::move(guest), document_.virtual_machine->devices.network_adapters,
                          [&session, ready = std::move(ready)](std::optional<Error> e) {
                            if (e) return session.fail(*e);
                            ready();
                          });
  const auto& disk = options_.disks[i];
  schema::MappedVirtualDisk mvd;
  mvd.mount_path = disk.guest_path;
  mvd.controller = 0;
  mvd.lun = uint8_t(i);
  mvd.read_only = disk.read_only;
  if (disk.read_only) mvd.options = {"ro"};
  schema::ModificationRequest req;
  req.request_type = std::string(schema::request_type::Add);
  req.resource_type = std::string(schema::resource_type::MappedVirtualDisk);
  req.settings = mvd;
  guest->async_modify(std::move(req), [this, &session, guest, i, ready = std::move(ready)](Result<void> r) mutable {
    if (!r.ok()) return session.fail(r.error().wrapped("mount " + options_.disks[i].image + " in the VM"));
    mount_next(session, std::move(guest), i + 1, std::move(ready));
  });
}

std::optional<Error> VmSession::finished(bridge::GuestSession&, const std::optional<Error>& error) {
  finishing_ = true;
  std::optional<Error> why;
  // A connection that failed because QEMU is exiting (a panic, a dead VM): QEMU's
  // reason says more than the reset socket does.
  if (error && machine_) why = machine_->settle(std::chrono::milliseconds(500));
  if (machine_) machine_->terminate();
  machine_.reset();  // waits for QEMU to be gone
  reaper_.reset();
  return why;
}

}  // namespace hcs::uvm
