// uvm/options and uvm/qemu: options become hcsshim's LCOW document, and the document
// becomes the QEMU command line of DESIGN.md's mapping table, checked word for word.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "hcs/core/error.hpp"
#include "hcs/network/names.hpp"
#include "hcs/uvm/options.hpp"
#include "hcs/uvm/qemu.hpp"

namespace uvm_test {

namespace {

using hcs::Json;
using namespace hcs::uvm;

Options base_options() {
  Options o;
  o.id = "vm1";
  o.boot_files_dir = "/boot/files";
  o.memory_mb = 511;
  o.cpus = 1;
  o.console_log = "/state/vm1/console.log";
  return o;
}

QemuLaunch base_launch() {
  QemuLaunch l;
  l.gcs_socket = "/state/vm1/gcs.sock";
  l.qmp_socket = "/state/vm1/qmp.sock";
  l.tsc_khz = 2000000;
  return l;
}

// The word after each occurrence of `flag`.
std::vector<std::string> values_of(const std::vector<std::string>& argv, const std::string& flag) {
  std::vector<std::string> out;
  for (size_t i = 0; i + 1 < argv.size(); ++i)
    if (argv[i] == flag) out.push_back(argv[i + 1]);
  return out;
}

uint32_t code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const hcs::Error& e) {
    return e.code();
  }
  return 0;
}

TEST(UvmOptions, DocumentHasHcsshimsLcowShape) {
  const Json doc = Json(make_document(base_options()));
  EXPECT_EQ(doc["Owner"], "uvmctl");
  EXPECT_EQ(doc["SchemaVersion"], (Json{{"Major", 2}, {"Minor", 1}}));
  EXPECT_EQ(doc["ShouldTerminateOnLastHandleClosed"], true);
  const Json& vm = doc["VirtualMachine"];
  EXPECT_EQ(vm["StopOnReset"], true);
  EXPECT_EQ(vm["ComputeTopology"]["Memory"]["SizeInMB"], 512) << "memory is rounded up to an even size";
  EXPECT_EQ(vm["ComputeTopology"]["Memory"]["AllowOvercommit"], true);
  EXPECT_EQ(vm["ComputeTopology"]["Processor"]["Count"], 1);
  EXPECT_EQ(vm["Chipset"]["LinuxKernelDirect"]["KernelFilePath"], "/boot/files/vmlinux");
  EXPECT_EQ(vm["Chipset"]["LinuxKernelDirect"]["InitRdPath"], "/boot/files/initrd.img");
  EXPECT_EQ(vm["Devices"]["Plan9"], Json::object()) << "Plan9 is always present and empty";
  ASSERT_EQ(vm["Devices"]["Scsi"].size(), 1u);
  EXPECT_EQ(vm["Devices"]["Scsi"].begin().key(), hcs::schema::scsi_controller_keys()[0]);
  EXPECT_EQ(vm["Devices"]["ComPorts"]["0"]["NamedPipe"], "/state/vm1/console.log");
  EXPECT_EQ(vm["Devices"]["HvSocket"]["HvSocketConfig"]["DefaultBindSecurityDescriptor"], "D:P(A;;FA;;;SY)(A;;FA;;;BA)");
}

TEST(UvmOptions, KernelCommandLineKeepsInitsArgumentsAfterTheSeparator) {
  Options o = base_options();
  o.kernel_args = "loglevel=7";
  o.gcs_args = {"--extra"};
  EXPECT_EQ(kernel_command_line(o),
            "panic=-1 quiet loglevel=7 nr_cpus=1 -- /bin/gcs --transport mux+virtio-serial:gcs --log-level debug "
            "--wait-for /run/modules.ready --extra");
}

TEST(UvmOptions, ProcessorsAreClampedToTheHost) {
  Options o = base_options();
  o.cpus = 4096;
  const long host = ::sysconf(_SC_NPROCESSORS_ONLN);
  EXPECT_EQ(make_document(o).virtual_machine->compute_topology.processor.count, uint32_t(host));
}

TEST(UvmOptions, BadOptionsAreRefusedByName) {
  auto refused = [](auto change) {
    Options o = base_options();
    change(o);
    try {
      make_document(o);
    } catch (const hcs::Error& e) {
      EXPECT_EQ(e.code(), hcs::hr::ErrInvalidArg);
      return e.text();
    }
    ADD_FAILURE() << "accepted";
    return std::string();
  };
  EXPECT_NE(refused([](Options& o) { o.memory_mb = 10; }).find("memory"), std::string::npos);
  EXPECT_NE(refused([](Options& o) { o.cpus = 0; }).find("processor"), std::string::npos);
  EXPECT_NE(refused([](Options& o) { o.scsi_controllers = 5; }).find("SCSI"), std::string::npos);
  EXPECT_NE(refused([](Options& o) { o.kernel_args = "a -- b"; }).find("--"), std::string::npos);
  EXPECT_NE(refused([](Options& o) { o.boot_files_dir.clear(); }).find("kernel"), std::string::npos);
  EXPECT_EQ(code_of([] { parse_accel("hvf"); }), hcs::hr::ErrInvalidArg);
  EXPECT_EQ(parse_accel("kvm"), Accel::Kvm);
  EXPECT_STREQ(accel_name(Accel::Tcg), "tcg");
}

TEST(UvmQemu, ArgvFollowsTheMappingTable) {
  auto doc = make_document(base_options());
  auto& vm = *doc.virtual_machine;
  hcs::schema::Attachment disk;
  disk.path = "/images/a,b.img";  // QEMU doubles a comma inside a value
  disk.read_only = true;
  vm.devices.scsi[hcs::schema::scsi_controller_keys()[0]].attachments["3"] = disk;
  hcs::schema::Plan9Share share;
  share.name = "1";
  share.path = "/srv/share";
  share.flags = hcs::schema::plan9_flags::ReadOnly;
  vm.devices.plan9->shares.push_back(share);
  QemuLaunch launch = base_launch();
  launch.plan9_staging = "/state/vm1/plan9";
  const auto argv = qemu_argv(doc, launch);

  const std::vector<std::string> head = {"qemu-system-x86_64", "-M", "microvm", "-nodefaults", "-no-user-config",
                                         "-nographic", "-no-reboot", "-accel", "tcg", "-m", "512", "-smp", "1"};
  ASSERT_GE(argv.size(), head.size());
  EXPECT_EQ(std::vector<std::string>(argv.begin(), argv.begin() + long(head.size())), head);
  EXPECT_EQ(values_of(argv, "-kernel"), std::vector<std::string>{"/boot/files/vmlinux"});
  EXPECT_EQ(values_of(argv, "-initrd"), std::vector<std::string>{"/boot/files/initrd.img"});
  EXPECT_EQ(values_of(argv, "-append"),
            std::vector<std::string>{"console=ttyS0 reboot=t mitigations=off nokaslr tsc_early_khz=2000000 " +
                                     kernel_command_line(base_options())});
  EXPECT_EQ(values_of(argv, "-serial"), std::vector<std::string>{"chardev:console"});
  EXPECT_EQ(values_of(argv, "-chardev"),
            (std::vector<std::string>{"file,id=console,path=/state/vm1/console.log",
                                      "socket,id=gcs,path=/state/vm1/gcs.sock"}));
  EXPECT_EQ(values_of(argv, "-qmp"), std::vector<std::string>{"unix:/state/vm1/qmp.sock,server=on,wait=off"});
  EXPECT_EQ(values_of(argv, "-blockdev"),
            std::vector<std::string>{"driver=file,node-name=disk0-3,filename=/images/a,,b.img,read-only=on"});
  EXPECT_EQ(values_of(argv, "-fsdev"),
            (std::vector<std::string>{
                "local,id=fs0,path=/srv/share,security_model=none,multidevs=remap,readonly=on",
                "local,id=fsstaging,path=/state/vm1/plan9,security_model=none,multidevs=remap"}));
  EXPECT_EQ(values_of(argv, "-device"),
            (std::vector<std::string>{"virtio-serial-device", "virtserialport,chardev=gcs,name=gcs",
                                      "virtio-scsi-device,id=scsi0",
                                      "driver=scsi-hd,id=scsi0-3,bus=scsi0.0,channel=0,scsi-id=0,lun=3,drive=disk0-3",
                                      "virtio-9p-device,fsdev=fs0,mount_tag=1",
                                      "virtio-9p-device,fsdev=fsstaging,mount_tag=hcskit-plan9"}));
}

TEST(UvmQemu, KvmTakesTheHostsCpu) {
  QemuLaunch launch = base_launch();
  launch.accel = Accel::Kvm;
  const auto argv = qemu_argv(make_document(base_options()), launch);
  auto at = std::find(argv.begin(), argv.end(), "-accel");
  ASSERT_NE(at, argv.end());
  EXPECT_EQ(std::vector<std::string>(at, at + 4), (std::vector<std::string>{"-accel", "kvm", "-cpu", "host"}));
  EXPECT_TRUE(values_of(argv, "-fsdev").empty()) << "no staging device unless asked for";
}

TEST(UvmQemu, NetworkAdaptersAreTheirEndpointsTapsBehindVirtioNet) {
  auto options = base_options();
  options.network_adapters["nic-a"] = {.endpoint_id = "ep1", .mac_address = "00-15-5D-1E-00-02"};
  const auto doc = make_document(options);
  ASSERT_EQ(doc.virtual_machine->devices.network_adapters.size(), 1u);
  EXPECT_EQ(hcs::Json(doc)["VirtualMachine"]["Devices"]["NetworkAdapters"]["nic-a"],
            (hcs::Json{{"EndpointId", "ep1"}, {"MacAddress", "00-15-5D-1E-00-02"}}));
  const auto argv = qemu_argv(doc, base_launch());
  const std::string tap = hcs::network::names::host_port("ep1");
  auto at = std::find(argv.begin(), argv.end(), "tap,id=nic0,ifname=" + tap + ",script=no,downscript=no");
  ASSERT_NE(at, argv.end());
  EXPECT_EQ(*(at - 1), "-netdev");
  ASSERT_LT(at + 2, argv.end());
  EXPECT_EQ(*(at + 1), "-device");
  EXPECT_EQ(*(at + 2), "virtio-net-device,netdev=nic0,mac=00:15:5d:1e:00:02");
}

TEST(UvmQemu, DevicesThisBackendCannotGiveAreRefused) {
  QemuLaunch launch = base_launch();
  auto pmem = make_document(base_options());
  pmem.virtual_machine->devices.virtual_pmem.emplace().devices["0"] = {};
  EXPECT_EQ(code_of([&] { qemu_argv(pmem, launch); }), hcs::hr::NotImpl);

  auto nic = make_document(base_options());
  nic.virtual_machine->devices.network_adapters["a"] = {};
  EXPECT_EQ(code_of([&] { qemu_argv(nic, launch); }), hcs::hr::ErrInvalidArg) << "a NIC without its endpoint";

  auto reserved = make_document(base_options());
  reserved.virtual_machine->devices.plan9->shares.push_back({.name = kPlan9StagingTag, .path = "/srv"});
  EXPECT_EQ(code_of([&] { qemu_argv(reserved, launch); }), hcs::hr::ErrInvalidArg);

  auto relative = make_document(base_options());
  relative.virtual_machine->devices.plan9->shares.push_back({.name = "1", .path = "srv"});
  EXPECT_EQ(code_of([&] { qemu_argv(relative, launch); }), hcs::hr::ErrInvalidArg);

  auto bad_lun = make_document(base_options());
  hcs::schema::Attachment disk;
  disk.path = "/d.img";
  bad_lun.virtual_machine->devices.scsi.begin()->second.attachments["64"] = disk;
  EXPECT_EQ(code_of([&] { qemu_argv(bad_lun, launch); }), hcs::hr::ErrInvalidArg);

  auto vhd = make_document(base_options());
  disk.type = "PassThru";
  vhd.virtual_machine->devices.scsi.begin()->second.attachments["0"] = disk;
  EXPECT_EQ(code_of([&] { qemu_argv(vhd, launch); }), hcs::hr::NotImpl);

  launch.accel = Accel::Auto;
  EXPECT_EQ(code_of([&] { qemu_argv(make_document(base_options()), launch); }), hcs::hr::ErrInvalidArg);
}

TEST(UvmQemu, ControllersAreNamedByHcsshimsGuidsOrByIndex) {
  const auto& keys = hcs::schema::scsi_controller_keys();
  for (unsigned i = 0; i < keys.size(); ++i) {
    EXPECT_EQ(scsi_controller_index(keys[i]), i);
    EXPECT_EQ(scsi_controller_index(std::to_string(i)), i);
  }
  EXPECT_EQ(code_of([] { scsi_controller_index("4"); }), hcs::hr::ErrInvalidArg);
  EXPECT_EQ(scsi_device_args(2, 7)["bus"], "scsi2.0");
  EXPECT_EQ(scsi_blockdev_args(2, 7, {.path = "/x.img"})["node-name"], scsi_node_name(2, 7));
}

}  // namespace

}  // namespace uvm_test
