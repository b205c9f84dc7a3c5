// uvmctl disk add ID IMAGE --lun N [--controller C] [--mount PATH] [--read-only]
// uvmctl disk remove ID --lun N [--controller C] [--mount PATH]
// Hot-plugs a raw disk image on a running VM's SCSI controller and mounts it in the
// guest (the HCS ModifySettingRequest with its GuestRequest, as hcsshim sends it).
#include <filesystem>

#include "hcs/schema/guest_resource.hpp"
#include "hcs/schema/virtual_machine.hpp"
#include "verbs.hpp"

namespace uvmctl {

namespace {

struct DiskFlags {
  std::string id, image, mount;
  unsigned controller = 0, lun = 0;
  bool read_only = false;
  std::string mount_path() const {
    return mount.empty() ? "/run/mounts/scsi/m" + std::to_string(controller) + "-" + std::to_string(lun) : mount;
  }
  hcs::Json request(const char* type) const {
    if (controller >= hcs::schema::scsi_controller_keys().size())
      throw hcs::Error(hcs::hr::ErrInvalidArg, "controller must be 0 to 3");
    hcs::schema::MappedVirtualDisk mvd;
    mvd.mount_path = mount_path();
    mvd.controller = uint8_t(controller);
    mvd.lun = uint8_t(lun);
    mvd.read_only = read_only;
    if (read_only) mvd.options = {"ro"};
    hcs::Json req{{"ResourcePath", "VirtualMachine/Devices/Scsi/" + hcs::schema::scsi_controller_keys()[controller] +
                                       "/Attachments/" + std::to_string(lun)},
                  {"RequestType", type}};
    if (std::string(type) == "Add") {
      hcs::schema::Attachment a;
      a.path = std::filesystem::absolute(image).string();
      a.read_only = read_only;
      req["Settings"] = hcs::Json(a);
    }
    req["GuestRequest"] = hcs::Json{{"ResourceType", "MappedVirtualDisk"}, {"RequestType", type}, {"Settings", hcs::Json(mvd)}};
    return req;
  }
};

}  // namespace

void add_disk(CLI::App& app, Globals& globals, int& exit_code) {
  auto* disk = app.add_subcommand("disk", "hot-plug SCSI disks on a running VM");
  disk->require_subcommand(1);
  auto add = std::make_shared<DiskFlags>();
  auto* a = disk->add_subcommand("add", "attach a raw disk image and mount it in the guest");
  a->add_option("id", add->id, "the VM")->required();
  a->add_option("image", add->image, "the disk image (raw, e.g. made by mkfs.ext4)")->required()->check(CLI::ExistingFile);
  a->add_option("--lun", add->lun, "the LUN (0-63)")->required()->check(CLI::Range(0, 63));
  a->add_option("--controller", add->controller, "the SCSI controller (0-3)")->capture_default_str();
  a->add_option("--mount", add->mount, "where the guest mounts it (default: /run/mounts/scsi/m<controller>-<lun>)");
  a->add_flag("--read-only", add->read_only, "attach and mount it read-only");
  a->callback([add, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      modify_vm(globals, add->id, add->request("Add"));
      return 0;
    });
  });
  auto rm = std::make_shared<DiskFlags>();
  auto* r = disk->add_subcommand("remove", "unmount a disk in the guest and detach it");
  r->add_option("id", rm->id, "the VM")->required();
  r->add_option("--lun", rm->lun, "the LUN (0-63)")->required()->check(CLI::Range(0, 63));
  r->add_option("--controller", rm->controller, "the SCSI controller (0-3)")->capture_default_str();
  r->add_option("--mount", rm->mount, "where the guest mounted it (default: as disk add)");
  r->callback([rm, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      modify_vm(globals, rm->id, rm->request("Remove"));
      return 0;
    });
  });
}

}  // namespace uvmctl
