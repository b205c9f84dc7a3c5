// VmSession: a utility VM that lives for one GuestSession, as `uvmctl run` uses it. It
// records the VM in the state root, boots it when the session listens, mounts the
// disks it was given and configures its NICs once the gcs has connected, and tears
// everything down when the session ends. The caller's process is the VM's owner.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "hcs/bridge/run.hpp"
#include "hcs/core/process.hpp"
#include "hcs/state/store.hpp"
#include "hcs/uvm/machine.hpp"
#include "hcs/uvm/network.hpp"
#include "hcs/uvm/options.hpp"

namespace hcs::uvm {

// A disk image attached at boot on SCSI controller 0 (LUN = its index) and mounted in
// the guest. With from_dir, the image is built from that directory into the VM's own
// directory (and goes with it).
struct BootDisk {
  std::string image;
  std::string from_dir;
  std::string guest_path;
  bool read_only = true;
};

struct VmSessionOptions {
  Options vm;
  Accel accel = Accel::Auto;
  std::string state_root = state::default_root();
  std::string qemu = "qemu-system-x86_64";
  std::chrono::milliseconds boot_timeout = std::chrono::seconds(60);
  std::vector<BootDisk> disks;
  // Endpoints that become NICs, configured in the guest after the disks; given back when
  // the session ends.
  VmNetwork network;
};

class VmSession : public bridge::SessionHooks {
 public:
  // Creates the VM's directory and record (throws when the id is taken or the options
  // are bad) and resolves the acceleration.
  explicit VmSession(VmSessionOptions options);
  ~VmSession() override;  // removes the directory and the record

  const std::string& id() const noexcept { return options_.vm.id; }
  const std::string& dir() const noexcept { return owned_.dir; }
  // Where the session must listen for this VM's gcs.
  transport::Address listen_address() const;
  // How long the session may wait for the gcs: the boot watchdog fires first.
  std::chrono::milliseconds connect_timeout() const { return options_.boot_timeout + std::chrono::seconds(5); }

  void listening(bridge::GuestSession& session) override;
  void connected(bridge::GuestSession& session, std::shared_ptr<bridge::GuestConnection> guest,
                 std::function<void()> ready) override;
  std::optional<Error> finished(bridge::GuestSession& session, const std::optional<Error>& error) override;

 private:
  void mount_next(bridge::GuestSession& session, std::shared_ptr<bridge::GuestConnection> guest, size_t i,
                  std::function<void()> ready);

  VmSessionOptions options_;
  state::Store store_;
  state::Owned owned_;
  schema::ComputeSystem document_;
  std::unique_ptr<Reaper> reaper_;
  std::shared_ptr<Machine> machine_;
  bool finishing_ = false;
};

// The current UTC time as RFC 3339 text, as records carry it.
std::string now_rfc3339();

// The VM's record in the state root, as `uvmctl list` and `inspect` read it.
Json vm_record(const std::string& id, const schema::ComputeSystem& doc, Accel accel, const std::string& state,
               const std::string& socket);

}  // namespace hcs::uvm
