// The utility VM's storage, as the host asks for it through ModifySettings on the
// null container: SCSI disks, VPMem devices and Plan9 shares mounted at the paths the
// host names, and overlays that combine read-only layers with a scratch into a
// container's root. Every mount made here is recorded, so that a remove undoes exactly
// one add and a layer cannot be removed while an overlay still uses it.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <filesystem>
#include <functional>
#include <memory>

#include "hcs/core/error.hpp"
#include "hcs/schema/bridge.hpp"

namespace gcs {

struct StorageOptions {
  std::filesystem::path scsi_devices = "/sys/bus/scsi/devices";  // <c>:0:0:<lun>/block/<name>
  std::filesystem::path dev = "/dev";                            // block device nodes: sdX, pmemN
  std::filesystem::path virtio_9p = "/sys/bus/virtio/drivers/9pnet_virtio";  // <dev>/mount_tag
  // Where the staging 9p device (uvm::kPlan9StagingTag) is mounted, once, for the shares
  // the host adds while the VM runs: each is bound from <plan9_staging>/<share name>.
  std::filesystem::path plan9_staging = "/run/gcs/plan9";
  // When set, requests wait (up to 10 s) for this file: the VM's init creates it once
  // it has loaded the kernel modules (filesystems, SCSI) it loads after the gcs starts.
  std::filesystem::path wait_for;
};

class Storage {
 public:
  Storage(boost::asio::any_io_executor ex, StorageOptions options);
  ~Storage();
  // Applies one UVM resource request (MappedVirtualDisk, VPMemDevice, MappedDirectory,
  // SCSIDevice, CombinedLayers); `done` gets the error hcsshim's guest would give, or
  // success. It may run before modify() returns.
  void modify(const hcs::schema::ModificationRequest& request, std::function<void(hcs::Result<void>)> done);
  // Runs `work` once the VM's kernel modules are loaded (at once without --wait-for),
  // in the order asked: what needs a driver (a disk, a NIC) waits for it.
  void after_modules(std::function<void()> work);
  // Unmounts every mount this object made at or under `dir` (overlays first) and forgets
  // them; used when a container's state is deleted.
  void release_under(const std::filesystem::path& dir);
  // True when an overlay made here is mounted at `root`.
  bool overlay_mounted(const std::filesystem::path& root) const;

 private:
  void wait_ready();
  void apply(const hcs::schema::ModificationRequest& request, std::function<void(hcs::Result<void>)> done);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gcs
