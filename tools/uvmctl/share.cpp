// uvmctl share add ID DIR [--name N] [--mount PATH] [--read-only]
// uvmctl share remove ID --name N [--mount PATH]
// Shares a host directory with a running VM over Plan9 and mounts it in the guest (the
// HCS ModifySettingRequest at VirtualMachine/Devices/Plan9/Shares with its
// MappedDirectory GuestRequest, as hcsshim's AddPlan9 sends it).
#include <filesystem>

#include "hcs/schema/guest_resource.hpp"
#include "hcs/schema/virtual_machine.hpp"
#include "hcs/state/store.hpp"
#include "verbs.hpp"

namespace uvmctl {

namespace {

struct ShareFlags {
  std::string id, dir, name, mount;
  bool read_only = false;

  // hcsshim names shares with a decimal counter: the next number the VM does not use.
  std::string next_name(const Globals& globals) const {
    hcs::state::Store store(state_root(globals));
    auto record = store.read_record("vm", id);
    if (!record) throw hcs::Error(hcs::hr::VmcomputeSystemNotFound, "no vm \"" + id + "\"");
    unsigned long next = 1;
    const auto doc = record->value("Document", hcs::Json::object()).get<hcs::schema::ComputeSystem>();
    if (doc.virtual_machine && doc.virtual_machine->devices.plan9)
      for (const auto& s : doc.virtual_machine->devices.plan9->shares)
        if (!s.name.empty() && s.name.size() < 10 && std::all_of(s.name.begin(), s.name.end(), ::isdigit))
          next = std::max(next, std::stoul(s.name) + 1);
    return std::to_string(next);
  }

  hcs::Json request(const char* type) const {
    hcs::schema::Plan9Share share;
    share.name = share.access_name = name;
    share.port = hcs::schema::kPlan9Port;
    share.flags = hcs::schema::plan9_flags::LinuxMetadata | (read_only ? hcs::schema::plan9_flags::ReadOnly : 0);
    if (!dir.empty()) share.path = std::filesystem::absolute(dir).lexically_normal().string();
    hcs::schema::MappedDirectory md;
    md.mount_path = mount.empty() ? "/run/mounts/plan9/" + name : mount;
    md.share_name = name;
    md.port = hcs::schema::kPlan9Port;
    md.read_only = read_only;
    return hcs::Json{{"ResourcePath", "VirtualMachine/Devices/Plan9/Shares"},
                     {"RequestType", type},
                     {"Settings", hcs::Json(share)},
                     {"GuestRequest", hcs::Json{{"ResourceType", "MappedDirectory"},
                                                {"RequestType", type},
                                                {"Settings", hcs::Json(md)}}}};
  }
};

}  // namespace

void add_share(CLI::App& app, Globals& globals, int& exit_code) {
  auto* share = app.add_subcommand("share", "share host directories with a running VM (Plan9)");
  share->require_subcommand(1);
  auto add = std::make_shared<ShareFlags>();
  auto* a = share->add_subcommand("add", "share a host directory and mount it in the guest");
  a->add_option("id", add->id, "the VM")->required();
  a->add_option("dir", add->dir, "the host directory")->required()->check(CLI::ExistingDirectory);
  a->add_option("--name", add->name, "the share's name (default: the next free number)");
  a->add_option("--mount", add->mount, "where the guest mounts it (default: /run/mounts/plan9/<name>)");
  a->add_flag("--read-only", add->read_only, "share and mount it read-only");
  a->callback([add, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      if (add->name.empty()) add->name = add->next_name(globals);
      modify_vm(globals, add->id, add->request("Add"));
      std::cout << add->name << "\n";
      return 0;
    });
  });
  auto rm = std::make_shared<ShareFlags>();
  auto* r = share->add_subcommand("remove", "unmount a share in the guest and stop sharing it");
  r->add_option("id", rm->id, "the VM")->required();
  r->add_option("--name", rm->name, "the share's name")->required();
  r->add_option("--mount", rm->mount, "where the guest mounted it (default: as share add)");
  r->callback([rm, &globals, &exit_code] {
    exit_code = run_verb(globals, [&] {
      modify_vm(globals, rm->id, rm->request("Remove"));
      return 0;
    });
  });
}

}  // namespace uvmctl
