// uvm/qemu: an HCS VirtualMachine document as a QEMU command line (DESIGN.md's mapping
// table), and the QEMU device names hot-plug uses for the same resources.
//
//   ComputeTopology            -m, -smp
//   LinuxKernelDirect          -kernel, -initrd, -append (after the machine's own args)
//   Scsi.<ctrl>.Attachments    virtio-scsi-device "scsi<i>" + scsi-hd at LUN, target 0, so
//                              the guest finds it at /sys/bus/scsi/devices/<i>:0:0:<lun>
//   Plan9.Shares[]             virtio-9p-device, mount tag = share name; shares added
//                              while running go under the staging device (kPlan9StagingTag)
//   HvSocket                   virtio-serial port "gcs" to the host's socket (mux ports)
//   ComPorts "0"               the serial console, to a file
#pragma once

#include <string>
#include <vector>

#include "hcs/schema/virtual_machine.hpp"
#include "hcs/uvm/options.hpp"

namespace hcs::uvm {

struct QemuLaunch {
  std::string binary = "qemu-system-x86_64";
  Accel accel = Accel::Tcg;   // resolved: never Auto here
  std::string gcs_socket;     // the host listens; QEMU connects as the port's client
  std::string qmp_socket;     // QEMU listens
  std::string plan9_staging;  // when set and the VM has Plan9: the staging 9p device's root
  uint64_t tsc_khz = 0;       // 0: read from /proc/cpuinfo
};

// Throws hcs::Error (NotImpl for devices QEMU on this host cannot give, ErrInvalidArg
// for a malformed document).
std::vector<std::string> qemu_argv(const schema::ComputeSystem& doc, const QemuLaunch& launch);

// The controller index of a Devices.Scsi key: hcsshim's GUIDs, or "0".."3".
unsigned scsi_controller_index(const std::string& key);

// QEMU ids of a SCSI disk: its block node and its device.
std::string scsi_node_name(unsigned controller, unsigned lun);
std::string scsi_device_id(unsigned controller, unsigned lun);
// QMP arguments that attach / plug a SCSI disk on a running VM.
Json scsi_blockdev_args(unsigned controller, unsigned lun, const schema::Attachment& disk);
Json scsi_device_args(unsigned controller, unsigned lun);

// The host's TSC frequency in kHz (microvm hangs early without tsc_early_khz).
uint64_t host_tsc_khz();

}  // namespace hcs::uvm
