#include "hcs/uvm/qemu.hpp"

#include "hcs/network/names.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "hcs/core/error.hpp"

namespace hcs::uvm {

unsigned scsi_controller_index(const std::string& key) {
  const auto& keys = schema::scsi_controller_keys();
  if (auto it = std::find(keys.begin(), keys.end(), key); it != keys.end()) return unsigned(it - keys.begin());
  if (key.size() == 1 && key[0] >= '0' && key[0] <= '3') return unsigned(key[0] - '0');
  throw Error(hr::ErrInvalidArg, "unknown SCSI controller '" + key + "'");
}

std::string scsi_node_name(unsigned controller, unsigned lun) {
  return "disk" + std::to_string(controller) + "-" + std::to_string(lun);
}
std::string scsi_device_id(unsigned controller, unsigned lun) {
  return "scsi" + std::to_string(controller) + "-" + std::to_string(lun);
}

static unsigned parse_lun(const std::string& key) {
  unsigned lun = 0;
  if (key.empty() || key.size() > 2 || !std::all_of(key.begin(), key.end(), ::isdigit) || (lun = std::stoul(key)) > 63)
    throw Error(hr::ErrInvalidArg, "SCSI LUN must be 0 to 63, not '" + key + "'");
  return lun;
}

static void check_disk(const schema::Attachment& disk) {
  if (disk.type != "VirtualDisk")
    throw Error(hr::NotImpl, "SCSI attachment type '" + disk.type + "' is not supported on QEMU (VirtualDisk only)");
  if (disk.path.empty() || disk.path[0] != '/') throw Error(hr::ErrInvalidArg, "a SCSI disk needs an absolute Path");
}

Json scsi_blockdev_args(unsigned controller, unsigned lun, const schema::Attachment& disk) {
  check_disk(disk);
  // A raw image: the file protocol node is the disk itself.
  return Json{{"driver", "file"},
              {"node-name", scsi_node_name(controller, lun)},
              {"filename", disk.path},
              {"read-only", disk.read_only}};
}

Json scsi_device_args(unsigned controller, unsigned lun) {
  return Json{{"driver", "scsi-hd"},
              {"id", scsi_device_id(controller, lun)},
              {"bus", "scsi" + std::to_string(controller) + ".0"},
              {"channel", 0},
              {"scsi-id", 0},
              {"lun", lun},
              {"drive", scsi_node_name(controller, lun)}};
}

uint64_t host_tsc_khz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with("cpu MHz")) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) break;
    try {
      return uint64_t(std::llround(std::stod(line.substr(colon + 1)) * 1000));
    } catch (const std::exception&) {
      break;
    }
  }
  throw Error(hr::Fail, "cannot read the host's CPU frequency from /proc/cpuinfo");
}

// QEMU's -blockdev/-device key=value syntax doubles commas inside values.
static std::string escape_commas(const std::string& s) {
  std::string out;
  for (char c : s) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

static std::string key_values(const Json& args) {
  std::string out;
  for (const auto& [k, v] : args.items()) {
    if (!out.empty()) out += ',';
    out += k + "=";
    if (v.is_boolean()) out += v.get<bool>() ? "on" : "off";
    else if (v.is_string()) out += escape_commas(v.get<std::string>());
    else out += v.dump();
  }
  return out;
}

std::vector<std::string> qemu_argv(const schema::ComputeSystem& doc, const QemuLaunch& launch) {
  if (!doc.virtual_machine) throw Error(hr::ErrInvalidArg, "the document has no VirtualMachine");
  const auto& vm = *doc.virtual_machine;
  if (!vm.chipset.linux_kernel_direct || vm.chipset.linux_kernel_direct->kernel_file_path.empty())
    throw Error(hr::NotImpl, "only LinuxKernelDirect boot is supported on QEMU");
  const auto& kd = *vm.chipset.linux_kernel_direct;
  if (launch.accel == Accel::Auto) throw Error(hr::ErrInvalidArg, "acceleration must be resolved before launch");
  const auto& topo = vm.compute_topology;

  std::vector<std::string> a = {launch.binary, "-M", "microvm", "-nodefaults", "-no-user-config", "-nographic",
                                "-no-reboot"};
  if (launch.accel == Accel::Kvm) a.insert(a.end(), {"-accel", "kvm", "-cpu", "host"});
  else a.insert(a.end(), {"-accel", "tcg"});
  a.insert(a.end(), {"-m", std::to_string(topo.memory.size_in_mb ? topo.memory.size_in_mb : 1024),
                     "-smp", std::to_string(topo.processor.count ? topo.processor.count : 1)});

  // The machine's own arguments come first, so the document's (and init's) follow.
  std::string append = "reboot=t mitigations=off nokaslr tsc_early_khz=" +
                       std::to_string(launch.tsc_khz ? launch.tsc_khz : host_tsc_khz());
  if (auto it = vm.devices.com_ports.find("0"); it != vm.devices.com_ports.end() && !it->second.named_pipe.empty()) {
    append = "console=ttyS0 " + append;
    a.insert(a.end(), {"-chardev", "file,id=console,path=" + escape_commas(it->second.named_pipe), "-serial",
                       "chardev:console"});
  }
  a.insert(a.end(), {"-kernel", kd.kernel_file_path});
  if (!kd.initrd_path.empty()) a.insert(a.end(), {"-initrd", kd.initrd_path});
  a.insert(a.end(), {"-append", append + (kd.kernel_cmd_line.empty() ? "" : " " + kd.kernel_cmd_line)});

  if (launch.gcs_socket.empty()) throw Error(hr::ErrInvalidArg, "no socket for the gcs connection");
  a.insert(a.end(), {"-device", "virtio-serial-device", "-chardev",
                     "socket,id=gcs,path=" + escape_commas(launch.gcs_socket), "-device",
                     std::string("virtserialport,chardev=gcs,name=") + kGcsPortName});
  if (!launch.qmp_socket.empty())
    a.insert(a.end(), {"-qmp", "unix:" + escape_commas(launch.qmp_socket) + ",server=on,wait=off"});

  std::vector<unsigned> controllers;
  for (const auto& [key, scsi] : vm.devices.scsi) controllers.push_back(scsi_controller_index(key));
  std::sort(controllers.begin(), controllers.end());
  if (std::adjacent_find(controllers.begin(), controllers.end()) != controllers.end())
    throw Error(hr::ErrInvalidArg, "two SCSI controllers with the same index");
  // The guest numbers SCSI hosts in probe order: controllers are created in index order.
  for (unsigned c : controllers) a.insert(a.end(), {"-device", "virtio-scsi-device,id=scsi" + std::to_string(c)});
  for (const auto& [key, scsi] : vm.devices.scsi) {
    const unsigned c = scsi_controller_index(key);
    for (const auto& [lun_key, disk] : scsi.attachments) {
      const unsigned lun = parse_lun(lun_key);
      a.insert(a.end(), {"-blockdev", key_values(scsi_blockdev_args(c, lun, disk)), "-device",
                         key_values(scsi_device_args(c, lun))});
    }
  }

  if (vm.devices.virtual_pmem && !vm.devices.virtual_pmem->devices.empty())
    // Measured with QEMU 7.2: microvm,pcie=on takes virtio-pmem-pci, but it has no
    // device-memory region, so the guest finds the device's memory at address 0 and
    // nd_pmem cannot reserve it. VPMem waits for a PCI machine type; SCSI serves meanwhile.
    throw Error(hr::NotImpl, "VirtualPMem devices are not supported on QEMU's microvm (it has no device memory for "
                             "virtio-pmem): attach the image on SCSI instead");
  // Each NIC is its endpoint's persistent tap (made and put on the network's bridge by
  // network::Hcn::attach_to_vm), opened by name; the guest finds it by its MAC.
  int nic = 0;
  for (const auto& [id, adapter] : vm.devices.network_adapters) {
    if (adapter.endpoint_id.empty()) throw Error(hr::ErrInvalidArg, "the network adapter " + id + " has no EndpointId");
    const std::string netdev = "nic" + std::to_string(nic++);
    a.insert(a.end(), {"-netdev", "tap,id=" + netdev + ",ifname=" + network::names::host_port(adapter.endpoint_id) +
                                      ",script=no,downscript=no",
                       "-device", "virtio-net-device,netdev=" + netdev + ",mac=" + network::names::kernel_mac(adapter.mac_address)});
  }

  if (vm.devices.plan9) {
    // security_model=none: the guest sees the host's owners and modes, as hcsshim's
    // LinuxMetadata shares do; multidevs=remap keeps inode numbers unique across the
    // mounts a share (or the staging root's binds) spans.
    auto share_device = [&a](const std::string& id, const std::string& path, const std::string& tag, bool ro) {
      std::string fsdev = "local,id=" + id + ",path=" + escape_commas(path) + ",security_model=none,multidevs=remap";
      if (ro) fsdev += ",readonly=on";
      a.insert(a.end(), {"-fsdev", fsdev, "-device", "virtio-9p-device,fsdev=" + id + ",mount_tag=" + escape_commas(tag)});
    };
    int n = 0;
    for (const auto& share : vm.devices.plan9->shares) {
      if (share.name.empty() || share.path.empty() || share.path[0] != '/')
        throw Error(hr::ErrInvalidArg, "a Plan9 share needs a Name and an absolute Path");
      if (share.name == kPlan9StagingTag)
        throw Error(hr::ErrInvalidArg, std::string("the Plan9 share name '") + kPlan9StagingTag + "' is reserved");
      share_device("fs" + std::to_string(n++), share.path, share.name, share.flags & schema::plan9_flags::ReadOnly);
    }
    if (!launch.plan9_staging.empty()) share_device("fsstaging", launch.plan9_staging, kPlan9StagingTag, false);
  }
  return a;
}

}  // namespace hcs::uvm
