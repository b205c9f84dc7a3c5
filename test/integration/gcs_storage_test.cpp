// The gcs's storage over the bridge: ModifySettings on the utility VM with loop devices
// standing in for SCSI disks and VPMem devices (a fake sysfs tree points the gcs at
// them). Every mount lands in this host's mount table, so each test checks
// /proc/self/mountinfo itself and the fixture tears everything down, even on failure.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/mount.h>

#include <fstream>
#include <map>
#include <sstream>

#include "harness.hpp"
#include "hcs/bridge/messages.hpp"
#include "hcs/core/error.hpp"
#include "hcs/schema/bridge.hpp"
#include "hcs/schema/guest_resource.hpp"

namespace gcs_storage_test {

using namespace it;
namespace fs = std::filesystem;
namespace schema = hcs::schema;
namespace resource = hcs::schema::resource_type;
namespace hr = hcs::hr;
using hcs::Json;

namespace {

struct MountEntry {
  std::string point, fstype, options, source;
};

std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

// This host's mounts at or under `dir`, in mount order.
std::vector<MountEntry> mounts_under(const fs::path& dir) {
  std::vector<MountEntry> out;
  std::ifstream in("/proc/self/mountinfo");
  const std::string prefix = dir.string();
  for (std::string line; std::getline(in, line);) {
    std::istringstream f(line);
    std::string id, parent, devno, root, point, options, field;
    f >> id >> parent >> devno >> root >> point >> options;
    while (f >> field && field != "-") {
    }
    MountEntry e;
    e.point = unescape(point);
    e.options = options;
    f >> e.fstype >> e.source;
    if (e.point == prefix || e.point.rfind(prefix + "/", 0) == 0) out.push_back(e);
  }
  return out;
}

std::optional<MountEntry> mount_at(const fs::path& p) {
  std::optional<MountEntry> found;
  for (auto& e : mounts_under(p))
    if (e.point == p.string()) found = e;
  return found;
}

bool read_only(const MountEntry& e) { return ("," + e.options + ",").find(",ro,") != std::string::npos; }

// Runs a shell command here; its stdout, or a test failure.
std::string sh(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  char buf[4096];
  while (size_t n = ::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = ::pclose(p);
  if (st != 0) ADD_FAILURE() << "`" << cmd << "` failed (" << st << "): " << out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

}  // namespace

class StorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/hcskit-storage-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    work = tmpl;
    scsi = work / "scsi";
    fs::create_directories(scsi);
  }

  void TearDown() override {
    if (env && env->gcs.pidfd() >= 0) {
      EXPECT_EQ(env->stop_gcs(), 0);
    }
    guest.reset();
    // Whatever the test left: last mounted first; lazily only if a plain unmount fails,
    // so that a stuck mount never keeps us from detaching the loop devices.
    auto left = mounts_under(work);
    for (auto it = left.rbegin(); it != left.rend(); ++it)
      if (::umount2(it->point.c_str(), 0) != 0) ::umount2(it->point.c_str(), MNT_DETACH);
    for (const auto& dev : loops) sh("losetup -d " + dev);
    if (mounts_under(work).empty()) {
      std::error_code ec;
      fs::remove_all(work, ec);
    } else {
      ADD_FAILURE() << "mounts left under " << work << "; not removing it";
    }
    env.reset();
  }

  void start(const fs::path& dev = "/dev") {
    env = std::make_unique<Gcs>(false);
    env->gcs_args = {"--scsi-devices", scsi.string(), "--dev-dir", dev.string()};
    env->start_gcs();
    guest = env->connect();
  }

  // An 8 MiB ext4 image holding `files`.
  fs::path make_image(const std::string& name, const std::map<std::string, std::string>& files) {
    fs::path src = work / ("src-" + name);
    fs::create_directories(src);
    for (const auto& [path, text] : files) write_file(src / path, text);
    fs::path img = work / (name + ".img");
    sh("mkfs.ext4 -q -d " + src.string() + " " + img.string() + " 8M");
    return img;
  }
  fs::path blank_image(const std::string& name) {
    fs::path img = work / (name + ".img");
    sh("truncate -s 8M " + img.string());
    return img;
  }
  // Attaches a loop device; returns its node ("/dev/loopN").
  std::string attach(const fs::path& img) {
    std::string dev = sh("losetup --find --show " + img.string());
    if (dev.rfind("/dev/loop", 0) == 0) loops.push_back(dev);
    return dev;
  }
  // Makes loop device `dev` appear as SCSI controller 0, `lun`.
  void plug(int lun, const std::string& dev) {
    fs::path d = scsi / ("0:0:0:" + std::to_string(lun));
    fs::create_directories(d / "block" / fs::path(dev).filename());
    write_file(d / "delete", "");
  }

  hcs::Result<Json> modify(std::string_view type, std::string_view request, Json settings) {
    schema::ModifySettingsRequest req;
    req.request.resource_type = type;
    req.request.request_type = request;
    req.request.settings = std::move(settings);
    return await<hcs::Result<Json>>(
        env->io, [&](auto cb) { guest->client()->async_call(hcs::bridge::msg::ModifySettings, schema::encode(req), cb); },
        30s);
  }
  void expect_ok(const hcs::Result<Json>& r) { EXPECT_TRUE(r.ok()) << r.error().text(); }
  void expect_error(const hcs::Result<Json>& r, uint32_t code, const std::string& text) {
    ASSERT_FALSE(r.ok()) << "succeeded; expected: " << text;
    EXPECT_EQ(r.error().code(), code) << std::hex << r.error().code() << ": " << r.error().text();
    EXPECT_NE(r.error().text().find(text), std::string::npos) << r.error().text();
  }

  Json disk(const fs::path& mount, int lun, bool ro = true) {
    Json s = {{"MountPath", mount.string()}, {"Controller", 0}, {"Lun", lun}};
    if (ro) s["ReadOnly"] = true;
    return s;
  }
  std::string cat(const fs::path& p) {
    auto r = env->run(guest, {"cat", p.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
  }

  fs::path work, scsi;
  std::vector<std::string> loops;
  std::unique_ptr<Gcs> env;
  std::shared_ptr<hcs::bridge::GuestConnection> guest;
};

using Storage = StorageTest;
using StorageBadInput = StorageTest;

TEST_F(Storage, LayersOverlayScratchAndRemoval) {
  auto lower = attach(make_image("lower", {{"a.txt", "from lower\n"}, {"only-lower", "L\n"}, {"dir/x", "lx\n"}}));
  auto upper = attach(make_image("upper", {{"a.txt", "from upper\n"}, {"only-upper", "U\n"}}));
  plug(1, lower);
  plug(2, upper);
  start();

  fs::path l0 = work / "layers/l0", l1 = work / "layers/l1", root = work / "c1/rootfs", scratch = work / "c1/scratch";
  expect_ok(modify(resource::MappedVirtualDisk, "Add", disk(l0, 1)));
  expect_ok(modify(resource::MappedVirtualDisk, "", disk(l1, 2)));  // no RequestType: Add
  for (const auto& p : {l0, l1}) {
    auto m = mount_at(p);
    ASSERT_TRUE(m) << p;
    EXPECT_EQ(m->fstype, "ext4");
    EXPECT_TRUE(read_only(*m)) << m->options;
  }
  EXPECT_EQ(mount_at(l0)->source, lower);
  EXPECT_EQ(cat(l0 / "a.txt"), "from lower\n");

  // A second add at the same path is refused.
  expect_error(modify(resource::MappedVirtualDisk, "Add", disk(l0, 2)), hr::VmcomputeSystemAlreadyExists, l0.string());

  // The first layer is the top one.
  Json layers = Json::array({Json{{"Path", l1.string()}}, Json{{"Path", l0.string()}}});
  expect_ok(modify(resource::CombinedLayers, "Add",
                   {{"ContainerRootPath", root.string()}, {"Layers", layers}, {"ScratchPath", scratch.string()}}));
  auto ov = mount_at(root);
  ASSERT_TRUE(ov);
  EXPECT_EQ(ov->fstype, "overlay");
  EXPECT_FALSE(read_only(*ov));
  EXPECT_EQ(cat(root / "a.txt"), "from upper\n");
  EXPECT_EQ(cat(root / "only-lower"), "L\n");
  EXPECT_EQ(cat(root / "only-upper"), "U\n");
  EXPECT_EQ(cat(root / "dir/x"), "lx\n");

  // Writes land in the scratch's upper dir, never in a layer.
  auto w = env->run(guest, {"sh", "-c", "echo new > " + (root / "new.txt").string() + " && echo changed > " +
                                            (root / "only-lower").string()});
  EXPECT_EQ(w.exit_code, 0) << w.err;
  EXPECT_EQ(slurp(scratch / "upper/new.txt"), "new\n");
  EXPECT_EQ(slurp(scratch / "upper/only-lower"), "changed\n");
  EXPECT_EQ(slurp(l0 / "only-lower"), "L\n");
  EXPECT_FALSE(fs::exists(l1 / "new.txt"));

  // A layer in use can be neither unmounted nor unplugged; nothing changes.
  auto before = mounts_under(work).size();
  expect_error(modify(resource::MappedVirtualDisk, "Remove", disk(l1, 2)), hr::VmcomputeInvalidState, root.string());
  expect_error(modify(resource::SCSIDevice, "Remove", {{"Controller", 0}, {"Lun", 2}}), hr::VmcomputeInvalidState,
               l1.string());
  EXPECT_EQ(mounts_under(work).size(), before);
  EXPECT_EQ(slurp(scsi / "0:0:0:2/delete"), "");
  EXPECT_EQ(cat(root / "only-upper"), "U\n");

  // Reverse order takes everything away, mount points included.
  expect_ok(modify(resource::CombinedLayers, "Remove", {{"ContainerRootPath", root.string()}}));
  EXPECT_FALSE(mount_at(root));
  EXPECT_FALSE(fs::exists(root));
  EXPECT_EQ(slurp(scratch / "upper/new.txt"), "new\n");  // the scratch is the host's to keep
  expect_ok(modify(resource::MappedVirtualDisk, "Remove", disk(l1, 2)));
  expect_ok(modify(resource::MappedVirtualDisk, "Remove", disk(l0, 1)));
  EXPECT_TRUE(mounts_under(work).empty());
  EXPECT_FALSE(fs::exists(l0));
  EXPECT_FALSE(fs::exists(work / "layers"));  // made for the mounts, removed with them

  // Now the disk can be unplugged: the gcs writes sysfs's delete file.
  expect_ok(modify(resource::SCSIDevice, "Remove", {{"Controller", 0}, {"Lun", 2}}));
  EXPECT_EQ(slurp(scsi / "0:0:0:2/delete"), "1\n");
  expect_error(modify(resource::MappedVirtualDisk, "Remove", disk(l0, 1)), hr::ErrNotFound, l0.string());
}

TEST_F(Storage, ReadOnlyOverlayWithoutScratch) {
  auto a = attach(make_image("a", {{"f", "a\n"}}));
  auto b = attach(make_image("b", {{"f", "b\n"}, {"g", "g\n"}}));
  plug(1, a);
  plug(2, b);
  start();
  fs::path la = work / "la", lb = work / "lb", root = work / "root", single = work / "single";
  expect_ok(modify(resource::MappedVirtualDisk, "Add", disk(la, 1)));
  expect_ok(modify(resource::MappedVirtualDisk, "Add", disk(lb, 2)));
  expect_ok(modify(resource::CombinedLayers, "Add",
                   {{"ContainerRootPath", root.string()},
                    {"Layers", Json::array({Json{{"Path", la.string()}}, Json{{"Path", lb.string()}}})}}));
  ASSERT_TRUE(mount_at(root));
  EXPECT_TRUE(read_only(*mount_at(root)));
  EXPECT_EQ(cat(root / "f"), "a\n");
  EXPECT_EQ(cat(root / "g"), "g\n");
  EXPECT_NE(env->run(guest, {"touch", (root / "new").string()}).exit_code, 0);
  // A single layer with no scratch (overlayfs wants two lowers then) is still served read-only.
  expect_ok(modify(resource::CombinedLayers, "Add",
                   {{"ContainerRootPath", single.string()}, {"Layers", Json::array({Json{{"Path", lb.string()}}})}}));
  ASSERT_TRUE(mount_at(single));
  EXPECT_TRUE(read_only(*mount_at(single)));
  EXPECT_EQ(cat(single / "g"), "g\n");
  expect_error(modify(resource::MappedVirtualDisk, "Remove", disk(lb, 2)), hr::VmcomputeInvalidState, "overlay");
  for (const auto& r : {root, single})
    expect_ok(modify(resource::CombinedLayers, "Remove", {{"ContainerRootPath", r.string()}}));
  expect_ok(modify(resource::MappedVirtualDisk, "Remove", disk(la, 1)));
  expect_ok(modify(resource::MappedVirtualDisk, "Remove", disk(lb, 2)));
  EXPECT_TRUE(mounts_under(work).empty());
}

TEST_F(Storage, EnsureFilesystemFormatsABlankDiskOnce) {
  auto dev = attach(blank_image("scratch"));
  plug(3, dev);
  start();
  fs::path m = work / "scratch";
  Json s = disk(m, 3, false);
  s["EnsureFilesystem"] = true;
  s["Filesystem"] = "ext4";
  expect_ok(modify(resource::MappedVirtualDisk, "Add", s));
  auto e = mount_at(m);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->fstype, "ext4");
  EXPECT_FALSE(read_only(*e));
  EXPECT_EQ(env->run(guest, {"sh", "-c", "echo kept > " + (m / "f").string()}).exit_code, 0);
  expect_ok(modify(resource::MappedVirtualDisk, "Remove", s));
  EXPECT_FALSE(mount_at(m));
  // Already ext4 now: mounted again as it is, not reformatted.
  expect_ok(modify(resource::MappedVirtualDisk, "Add", s));
  EXPECT_EQ(cat(m / "f"), "kept\n");
  expect_ok(modify(resource::MappedVirtualDisk, "Remove", s));
  EXPECT_TRUE(mounts_under(work).empty());
}

TEST_F(Storage, BlockDevIsASymlinkToTheDevice) {
  auto dev = attach(make_image("blk", {{"f", "x"}}));
  plug(4, dev);
  start();
  fs::path link = work / "devs/blk";
  Json s = disk(link, 4);
  s["BlockDev"] = true;
  expect_ok(modify(resource::MappedVirtualDisk, "Add", s));
  ASSERT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(fs::read_symlink(link), fs::path(dev));
  EXPECT_FALSE(mount_at(link));
  expect_error(modify(resource::SCSIDevice, "Remove", {{"Controller", 0}, {"Lun", 4}}), hr::VmcomputeInvalidState,
               "in use");
  expect_ok(modify(resource::MappedVirtualDisk, "Remove", s));
  EXPECT_FALSE(fs::exists(fs::symlink_status(link)));
  EXPECT_FALSE(fs::exists(work / "devs"));
}

TEST_F(Storage, VPMemDeviceMountsReadOnly) {
  auto dev = attach(make_image("pmem", {{"layer.txt", "pmem layer\n"}}));
  fs::path fake_dev = work / "dev";
  fs::create_directories(fake_dev);
  fs::create_symlink(dev, fake_dev / "pmem0");
  start(fake_dev);
  fs::path m = work / "pmem/p0";
  expect_ok(modify(resource::VPMemDevice, "Add", {{"DeviceNumber", 0}, {"MountPath", m.string()}}));
  auto e = mount_at(m);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->fstype, "ext4");
  EXPECT_TRUE(read_only(*e)) << e->options;
  EXPECT_EQ(cat(m / "layer.txt"), "pmem layer\n");
  EXPECT_NE(env->run(guest, {"touch", (m / "new").string()}).exit_code, 0);
  expect_error(modify(resource::VPMemDevice, "Add", {{"DeviceNumber", 1}, {"MountPath", (work / "p1").string()}}),
               hr::ErrNotFound, "pmem1");
  EXPECT_FALSE(fs::exists(work / "p1"));
  expect_ok(modify(resource::VPMemDevice, "Remove", {{"DeviceNumber", 0}, {"MountPath", m.string()}}));
  EXPECT_TRUE(mounts_under(work).empty());
  EXPECT_FALSE(fs::exists(m));
}

TEST_F(Storage, MissingDeviceTimesOutWithoutBlockingTheGcs) {
  start();
  fs::path m = work / "never";
  auto began = std::chrono::steady_clock::now();
  std::optional<hcs::Result<Json>> result;
  schema::ModifySettingsRequest req;
  req.request.resource_type = resource::MappedVirtualDisk;
  req.request.settings = disk(m, 9);
  guest->client()->async_call(hcs::bridge::msg::ModifySettings, schema::encode(req),
                              [&](hcs::Result<Json> r) { result.emplace(std::move(r)); });
  // The gcs still serves other requests while it waits for the device.
  auto echo = env->run(guest, {"echo", "alive"});
  EXPECT_EQ(echo.out, "alive\n");
  EXPECT_FALSE(result.has_value());
  EXPECT_LT(std::chrono::steady_clock::now() - began, 4s);
  // And a second add for the same path is refused while the first waits.
  expect_error(modify(resource::MappedVirtualDisk, "Add", disk(m, 9)), hr::VmcomputeSystemAlreadyExists, m.string());
  ASSERT_TRUE(run_until(env->io, [&] { return result.has_value(); }, 15s));
  auto took = std::chrono::steady_clock::now() - began;
  EXPECT_GE(took, 4500ms);
  EXPECT_LT(took, 10s);
  expect_error(*result, hr::VmcomputeTimeout, "0:0:0:9");
  EXPECT_FALSE(fs::exists(m));
}

TEST_F(StorageBadInput, UnknownResourceAndRequestTypes) {
  start();
  expect_error(modify("Bogus", "Add", Json::object()), hr::VmcomputeInvalidJSON, "invalid ResourceType 'Bogus'");
  expect_error(modify("", "Add", Json::object()), hr::VmcomputeInvalidJSON, "invalid ResourceType ''");
  expect_error(modify(resource::SCSIDevice, "Add", {{"Lun", 1}}), hr::Fail, "the RequestType \"Add\" is not supported");
  expect_error(modify(resource::CombinedLayers, "Update", Json::object()), hr::Fail,
               "the RequestType \"Update\" is not supported");
  expect_error(modify(resource::MappedVirtualDisk, "Add", {{"Lun", "one"}}), hr::VmcomputeInvalidJSON, "Lun");
  expect_error(modify(resource::MappedVirtualDisk, "Add", {{"Lun", 256}}), hr::VmcomputeInvalidJSON, "Lun");
  expect_error(modify(resource::CombinedLayers, "Add", "layers"), hr::VmcomputeInvalidJSON, "CombinedLayers");
  expect_error(modify(resource::MappedVirtualDisk, "Remove", disk(work / "nothing", 1)), hr::ErrNotFound, "nothing");
  expect_error(modify(resource::CombinedLayers, "Remove", {{"ContainerRootPath", (work / "nothing").string()}}),
               hr::ErrNotFound, "overlay");
  expect_error(modify(resource::SCSIDevice, "Remove", {{"Controller", 0}, {"Lun", 7}}), hr::ErrNotFound, "0:0:0:7");
  expect_error(modify(resource::Network, "Add", Json::object()), hr::ErrInvalidArg, "needs its ID");
  // No NIC of this machine has HNS's MAC prefix with these bytes: nothing is touched.
  expect_error(modify(resource::Network, "Add", {{"ID", "nic"}, {"MacAddress", "00-15-5D-FE-FD-FC"}}), hr::ErrNotFound,
               "00-15-5D-FE-FD-FC");
  expect_error(modify(resource::Network, "Remove", {{"ID", "nic"}}), hr::ErrNotFound, "no network adapter nic");
  // The gcs is still there and well.
  EXPECT_EQ(env->run(guest, {"echo", "ok"}).out, "ok\n");
}

TEST_F(StorageBadInput, CombinedLayersPaths) {
  start();
  fs::path root = work / "root";
  auto layers = [](std::vector<std::string> paths) {
    Json a = Json::array();
    for (auto& p : paths) a.push_back({{"Path", p}});
    return a;
  };
  auto add = [&](Json s) { return modify(resource::CombinedLayers, "Add", std::move(s)); };
  const std::string w = work.string();
  expect_error(add({{"ContainerRootPath", "rel/root"}, {"Layers", layers({w + "/a", w + "/b"})}}), hr::ErrInvalidArg,
               "not an absolute path");
  expect_error(add({{"ContainerRootPath", root.string()}, {"Layers", layers({w + "/a", "b"})}}), hr::ErrInvalidArg,
               "Layers[1].Path");
  expect_error(add({{"ContainerRootPath", root.string()}, {"Layers", layers({w + "/a/../../etc", w + "/b"})}}),
               hr::ErrInvalidArg, "'..'");
  expect_error(add({{"ContainerRootPath", root.string()}, {"Layers", layers({w + "/a:/etc", w + "/b"})}}),
               hr::ErrInvalidArg, "':' or ','");
  expect_error(add({{"ContainerRootPath", root.string()}, {"Layers", layers({w + "/a,upperdir=/x", w + "/b"})}}),
               hr::ErrInvalidArg, "':' or ','");
  expect_error(add({{"ContainerRootPath", root.string()}, {"Layers", layers({w + "/a"})}, {"ScratchPath", "scratch"}}),
               hr::ErrInvalidArg, "ScratchPath");
  expect_error(add({{"ContainerRootPath", root.string()}}), hr::ErrInvalidArg, "no layers");
  expect_error(add({{"Layers", layers({w + "/a"})}}), hr::ErrInvalidArg, "ContainerRootPath is required");
  // Layers that do not exist: the mount fails and the root it made is gone again.
  auto r = add({{"ContainerRootPath", (root / "deep").string()},
                {"Layers", layers({w + "/missing1", w + "/missing2"})},
                {"ScratchPath", (work / "scratch").string()}});
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(fs::exists(root));
  EXPECT_FALSE(fs::exists(work / "scratch"));
  EXPECT_TRUE(mounts_under(work).empty());
}

TEST_F(StorageBadInput, UnsupportedDiskFeaturesAndShares) {
  auto dev = attach(make_image("d", {{"f", "x"}}));
  plug(1, dev);
  start();
  fs::path m = work / "m";
  Json enc = disk(m, 1);
  enc["Encrypted"] = true;
  expect_error(modify(resource::MappedVirtualDisk, "Add", enc), hr::NotImpl, "encrypted");
  Json verity = disk(m, 1);
  verity["VerityInfo"] = {{"RootDigest", "00"}};
  expect_error(modify(resource::MappedVirtualDisk, "Add", verity), hr::NotImpl, "VerityInfo");
  expect_error(modify(resource::MappedVirtualDisk, "Add", {{"MountPath", "relative"}, {"Lun", 1}}), hr::ErrInvalidArg,
               "absolute");
  expect_error(modify(resource::VPMemDevice, "Add",
                      {{"DeviceNumber", 0}, {"MountPath", m.string()},
                       {"MappingInfo", {{"DeviceOffsetInBytes", 4096}, {"DeviceSizeInBytes", 8192}}}}),
               hr::NotImpl, "MappingInfo");
  // Bad mount options fail the mount and leave no mount point behind.
  Json bad_opts = disk(m, 1);
  bad_opts["Options"] = Json::array({"no_such_option"});
  EXPECT_FALSE(modify(resource::MappedVirtualDisk, "Add", bad_opts).ok());
  EXPECT_FALSE(fs::exists(m));
  for (const char* name : {"abc", "", "1a", "-1", "../1"})
    expect_error(modify(resource::MappedDirectory, "Add",
                        {{"MountPath", (work / "share").string()}, {"Port", 564}, {"ShareName", name}}),
                 hr::ErrInvalidArg, "share name");
  // A well-formed name with no such share (no 9p here at all): an error, and no mount point left.
  EXPECT_FALSE(modify(resource::MappedDirectory, "Add",
                      {{"MountPath", (work / "share/x").string()}, {"Port", 564}, {"ShareName", "3"}})
                   .ok());
  EXPECT_FALSE(fs::exists(work / "share"));
  EXPECT_TRUE(mounts_under(work).empty());
  EXPECT_EQ(env->run(guest, {"echo", "ok"}).out, "ok\n");
}

}  // namespace gcs_storage_test
