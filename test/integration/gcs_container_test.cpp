// Containers through the real gcs on this host, with each real OCI runtime: layers
// combined into an overlay, Create, the init and exec'd processes with their stdio,
// exit notifications, properties, resource updates, and a delete that leaves nothing.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "harness.hpp"
#include "hcs/bridge/guest_container.hpp"
#include "hcs/bridge/messages.hpp"
#include "hcs/core/json.hpp"
#include "hcs/runtime/cgroups.hpp"

namespace gcs_container_test {

using namespace it;
namespace fs = std::filesystem;
using hcs::Json;
using hcs::Result;
using hcs::bridge::GuestContainer;
using hcs::schema::ProcessParameters;

#ifndef FIXTURES_SCRIPT
#error FIXTURES_SCRIPT must name test/fixtures/make-fixtures
#endif

static fs::path fixtures() {
  static fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / "hcskit-fixtures";
    std::string cmd = std::string(FIXTURES_SCRIPT) + " " + d.string();
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("make-fixtures failed");
    return d;
  }();
  return dir;
}

static std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

static bool mounted_under(const fs::path& dir) {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);)
    if (line.find(" " + dir.string()) != std::string::npos) return true;
  return false;
}


class GcsContainer : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "containers need root";
    env = std::make_unique<Gcs>(false);
    root = env->dir / "root";
    // Its own cgroup parent: tests run in parallel and reuse container ids.
    cgroup_parent = "/" + env->dir.filename().string();
    env->gcs_args = {"--runtime", GetParam(), "--root", root.string(), "--cgroup-parent", cgroup_parent};
    env->gcs_args.insert(env->gcs_args.end(), more_args.begin(), more_args.end());
    env->wrapper = wrapper;
    env->start_gcs();
    guest = env->connect();
  }
  void TearDown() override {
    if (env && env->gcs.pidfd() >= 0) {
      EXPECT_EQ(env->stop_gcs(), 0);
    }
    // The runtimes create the parent; its children are checked by expect_no_trace.
    std::error_code ec;
    if (!cgroup_parent.empty())
      for (const auto& ctrl : fs::directory_iterator("/sys/fs/cgroup", ec))
        fs::remove(ctrl.path() / fs::path(cgroup_parent).relative_path(), ec);
  }

  fs::path bundle(const std::string& id) { return root / "c" / id; }

  Result<void> modify(const std::string& resource, const std::string& type, Json settings) {
    hcs::schema::ModificationRequest r;
    r.resource_type = resource;
    r.request_type = type;
    r.settings = std::move(settings);
    return await<Result<void>>(env->io, [&](auto cb) { guest->async_modify(r, cb); });
  }
  Json layers_settings(const std::string& id, const std::vector<fs::path>& layers) {
    Json l = Json::array();
    for (const auto& p : layers) l.push_back(Json{{"Path", p.string()}});
    return Json{{"ContainerID", id},
                {"ContainerRootPath", (bundle(id) / "rootfs").string()},
                {"Layers", l},
                {"ScratchPath", (bundle(id) / "scratch").string()}};
  }
  Json spec(const std::string& id, std::vector<std::string> args, bool tty = false) {
    Json s = hcs::parse_json(slurp(fixtures() / "bundle" / "config.json"), "config.json");
    s["process"]["args"] = args;
    s["process"]["terminal"] = tty;
    s["root"]["path"] = (bundle(id) / "rootfs").string();
    return s;
  }
  Result<std::shared_ptr<GuestContainer>> try_create(const std::string& id, Json oci) {
    hcs::schema::VmHostedContainerSettingsV2 st;
    st.schema_version = {2, 1, {}};
    st.oci_bundle_path = bundle(id).string();
    st.oci_specification = std::move(oci);
    return await<Result<std::shared_ptr<GuestContainer>>>(
        env->io, [&](auto cb) { guest->async_create_container(id, st, cb); });
  }
  // Layers (default: the busybox rootfs directory) + Create.
  std::shared_ptr<GuestContainer> create(const std::string& id, std::vector<std::string> args, bool tty = false,
                                         std::vector<fs::path> layers = {}) {
    if (layers.empty()) layers.push_back(fixtures() / "rootfs");
    EXPECT_TRUE(modify("CombinedLayers", "Add", layers_settings(id, layers)).ok());
    return try_create(id, spec(id, std::move(args), tty)).value();
  }
  std::shared_ptr<hcs::bridge::GuestProcess> start(const std::shared_ptr<GuestContainer>& c, ProcessParameters p) {
    return await<Result<std::shared_ptr<hcs::bridge::GuestProcess>>>(
               env->io, [&](auto cb) { c->async_create_process(p, cb); })
        .value();
  }
  static ProcessParameters pipes(bool in = false) {
    ProcessParameters p;
    p.create_std_in_pipe = in;
    p.create_std_out_pipe = p.create_std_err_pipe = true;
    return p;
  }
  static ProcessParameters exec_of(std::vector<std::string> args, bool tty = false) {
    ProcessParameters p = pipes();
    p.oci_process = Json{{"args", args}, {"cwd", "/"}, {"env", {"PATH=/bin"}}, {"terminal", tty},
                         {"user", {{"uid", 0}, {"gid", 0}}}};
    if (tty) p.create_std_err_pipe = false;
    return p;
  }
  std::string wait_exit(const std::shared_ptr<GuestContainer>& c) {
    return await<Result<std::string>>(env->io, [&](auto cb) { c->async_wait_exit(cb); }).value();
  }
  Result<void> remove(const std::string& id) {
    return await<Result<void>>(env->io, [&](auto cb) { guest->async_delete_container_state(id, cb); });
  }
  // The hcsshim host's order after an exit: drop the layers, then the state.
  void teardown(const std::string& id) {
    EXPECT_TRUE(modify("CombinedLayers", "Remove", layers_settings(id, {fixtures() / "rootfs"})).ok());
    auto r = remove(id);
    EXPECT_TRUE(r.ok()) << r.error().text();
    expect_no_trace(id);
  }
  // After a Create that failed: the guest knows no such container and made nothing.
  void teardown_failed(const std::string& id) {
    EXPECT_TRUE(modify("CombinedLayers", "Remove", layers_settings(id, {fixtures() / "rootfs"})).ok());
    auto r = remove(id);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), hcs::hr::VmcomputeSystemNotFound);
    EXPECT_FALSE(mounted_under(bundle(id))) << "a mount is left under " << bundle(id);
    EXPECT_FALSE(fs::exists(bundle(id) / "config.json"));
    EXPECT_FALSE(fs::exists(root / "runtime" / id)) << "runtime state is left";
    EXPECT_FALSE(fs::exists(root / "work" / "c" / id)) << "work files are left";
  }
  void expect_no_trace(const std::string& id) {
    EXPECT_FALSE(mounted_under(bundle(id))) << "a mount is left under " << bundle(id);
    EXPECT_FALSE(fs::exists(bundle(id))) << bundle(id) << " is left";
    EXPECT_FALSE(fs::exists(root / "runtime" / id)) << "runtime state is left";
    EXPECT_FALSE(fs::exists(root / "work" / "c" / id)) << "work files are left";
    for (const auto& ctrl : fs::directory_iterator("/sys/fs/cgroup")) {
      auto dir = ctrl.path() / fs::path(cgroup_parent).relative_path() / id;
      EXPECT_FALSE(fs::exists(dir)) << "cgroup " << dir << " is left";
    }
  }

  std::vector<std::string> more_args;  // set by derived fixtures before SetUp()
  std::vector<std::string> wrapper;    // likewise: what the gcs runs under
  std::string cgroup_parent;
  std::unique_ptr<Gcs> env;
  fs::path root;
  std::shared_ptr<hcs::bridge::GuestConnection> guest;
};

INSTANTIATE_TEST_SUITE_P(Runtime, GcsContainer, ::testing::Values("runc", "crun"),
                         [](const auto& info) { return info.param; });

TEST_P(GcsContainer, EchoesAndLeavesNoTrace) {
  auto c = create("echo1", {"echo", "hello", "from", "busybox"});
  auto r = env->finish(start(c, pipes()));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello from busybox\n");
  EXPECT_EQ(wait_exit(c), "UnexpectedExit");
  teardown("echo1");
}

TEST_P(GcsContainer, ExitCodesAndStdin) {
  auto c = create("codes", {"sh", "-c", "cat; echo err >&2; exit 7"});
  auto r = env->finish(start(c, pipes(true)), "piped in\n");
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_EQ(r.out, "piped in\n");
  EXPECT_EQ(r.err, "err\n");
  wait_exit(c);
  teardown("codes");
}

TEST_P(GcsContainer, OneMebibyteOfStdoutArrivesIntact) {
  auto c = create("big", {"sh", "-c", "yes abcdefghijklmno | head -c 1048576"});
  auto r = env->finish(start(c, pipes()));
  EXPECT_EQ(r.exit_code, 0);
  std::string expected;
  while (expected.size() < 1048576) expected += "abcdefghijklmno\n";
  expected.resize(1048576);
  EXPECT_EQ(r.out.size(), expected.size());
  EXPECT_TRUE(r.out == expected);
  wait_exit(c);
  teardown("big");
}

TEST_P(GcsContainer, ExecWithAndWithoutTtyThenForcedShutdown) {
  auto c = create("execs", {"sleep", "1000"});
  auto init = start(c, pipes());
  auto r = env->finish(start(c, exec_of({"sh", "-c", "echo in $(hostname); ls /etc/layer-base"})));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("/etc/layer-base"), std::string::npos) << r.out;
  auto t = env->finish(start(c, exec_of({"sh", "-c", "tty; exit 3"}, true)));
  EXPECT_EQ(t.exit_code, 3);
  EXPECT_NE(t.out.find("/dev/pts/"), std::string::npos) << t.out;
  EXPECT_TRUE(await<Result<void>>(env->io, [&](auto cb) { c->async_shutdown(true, cb); }).ok());
  EXPECT_EQ(wait_exit(c), "ForcedExit");
  EXPECT_EQ(env->finish(init).exit_code, 137);
  teardown("execs");
}

TEST_P(GcsContainer, TtyInit) {
  auto c = create("ttyinit", {"sh", "-c", "tty; echo done"}, true);
  ProcessParameters p;
  p.create_std_out_pipe = true;
  auto r = env->finish(start(c, p));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("/dev/pts/"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("done"), std::string::npos) << r.out;
  wait_exit(c);
  teardown("ttyinit");
}

TEST_P(GcsContainer, GracefulShutdownGivesGracefulExit) {
  // PID 1 of a pid namespace ignores SIGTERM unless it handles it.
  auto c = create("graceful", {"sh", "-c", "trap 'exit 5' TERM; echo ready; while true; do sleep 0.1; done"});
  auto init = start(c, pipes());
  Collector out;
  out.start(init->stdout_stream());
  ASSERT_TRUE(run_until(env->io, [&] { return out.data.find("ready") != std::string::npos; }));
  EXPECT_TRUE(await<Result<void>>(env->io, [&](auto cb) { c->async_shutdown(false, cb); }).ok());
  EXPECT_EQ(wait_exit(c), "GracefulExit");
  auto code = await<Result<uint32_t>>(env->io, [&](auto cb) { init->async_wait(cb); });
  EXPECT_EQ(code.value(), 5u);
  teardown("graceful");
}

TEST_P(GcsContainer, ProcessListStatisticsAndMemoryUpdate) {
  auto c = create("stats", {"sh", "-c", "sleep 1000 & sleep 1000 & wait"});
  auto init = start(c, pipes());
  Json props;
  ASSERT_TRUE(run_until(env->io, [&] {
    props = await<Result<Json>>(env->io, [&](auto cb) { c->async_properties({"ProcessList", "Statistics"}, cb); })
                .value();
    return props["ProcessList"].size() >= 3;  // sh and its two sleeps
  })) << props.dump();
  std::set<uint32_t> pids;
  for (const auto& p : props["ProcessList"]) pids.insert(p["ProcessId"].get<uint32_t>());
  EXPECT_TRUE(pids.count(init->pid()));
  EXPECT_GT(props["LCOWMetrics"]["memory"]["usage"]["usage"].get<uint64_t>(), 0u) << props.dump();
  EXPECT_GE(props["LCOWMetrics"]["pids"]["current"].get<uint64_t>(), 3u) << props.dump();

  const uint64_t limit = 64ull << 20;
  auto u = await<Result<void>>(env->io, [&](auto cb) { c->async_update(Json{{"memory", {{"limit", limit}}}}, cb); });
  ASSERT_TRUE(u.ok()) << u.error().text();
  auto cg = hcs::runtime::cgroup_of(static_cast<pid_t>(init->pid()));
  if (cg.unified) {
    EXPECT_EQ(slurp(cg.dir / "memory.max"), std::to_string(limit) + "\n");
  } else {
    ASSERT_TRUE(cg.controllers.count("memory"));
    EXPECT_EQ(slurp(cg.controllers["memory"] / "memory.limit_in_bytes"), std::to_string(limit) + "\n");
  }
  props = await<Result<Json>>(env->io, [&](auto cb) { c->async_properties({"Statistics"}, cb); }).value();
  EXPECT_EQ(props["LCOWMetrics"]["memory"]["usage"]["limit"].get<uint64_t>(), limit);

  EXPECT_TRUE(await<Result<void>>(env->io, [&](auto cb) { c->async_shutdown(true, cb); }).ok());
  wait_exit(c);
  env->finish(init);
  teardown("stats");
}

TEST_P(GcsContainer, CreatedButNeverStartedIsDeleted) {
  auto c = create("unstarted", {"true"});
  teardown("unstarted");
}

// Two ext4 layer images on loop devices standing in for SCSI disks (a fake sysfs tree
// tells the gcs which device is at which controller/LUN), combined with a scratch.
class GcsContainerLayers : public GcsContainer {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "loop devices need root";
    char tmpl[] = "/tmp/hcskit-scsi-XXXXXX";
    sysfs = ::mkdtemp(tmpl);
    for (int lun : {1, 2}) {
      auto img = fixtures() / ("layer" + std::to_string(lun) + ".ext4");
      std::string cmd = "losetup --find --show --read-only " + img.string() + " > " + (sysfs / "dev").string();
      ASSERT_EQ(std::system(cmd.c_str()), 0);
      auto dev = fs::path(slurp(sysfs / "dev").substr(0, slurp(sysfs / "dev").find('\n')));
      loops.push_back(dev);
      fs::create_directories(sysfs / ("0:0:0:" + std::to_string(lun)) / "block" / dev.filename());
    }
    more_args = {"--scsi-devices", sysfs.string()};
    GcsContainer::SetUp();
  }
  void TearDown() override {
    GcsContainer::TearDown();
    for (const auto& l : loops) std::system(("losetup -d " + l.string()).c_str());
    std::error_code ec;
    fs::remove_all(sysfs, ec);
  }
  Json disk(int lun) {
    return Json{{"MountPath", (root / "layers" / ("m" + std::to_string(lun))).string()},
                {"Controller", 0},
                {"Lun", lun},
                {"ReadOnly", true},
                {"Options", {"ro"}}};
  }
  fs::path sysfs;
  std::vector<fs::path> loops;
};
INSTANTIATE_TEST_SUITE_P(Runtime, GcsContainerLayers, ::testing::Values("runc", "crun"),
                         [](const auto& info) { return info.param; });

TEST_P(GcsContainerLayers, TwoExt4LayersAndAScratch) {
  for (int lun : {1, 2}) {
    auto r = modify("MappedVirtualDisk", "Add", disk(lun));
    ASSERT_TRUE(r.ok()) << r.error().text();
  }
  // The first layer is the top one: layer2 overrides a file of layer1.
  const std::vector<fs::path> layers{disk(2)["MountPath"].get<std::string>(), disk(1)["MountPath"].get<std::string>()};
  ASSERT_TRUE(modify("CombinedLayers", "Add", layers_settings("ext4", layers)).ok());
  auto c = try_create("ext4", spec("ext4", {"sh", "-c", "cat /etc/layer-base /etc/layer-top; echo new > /etc/written"}))
               .value();
  auto r = env->finish(start(c, pipes()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "overridden\ntop\n");
  EXPECT_EQ(slurp(bundle("ext4") / "scratch" / "upper" / "etc" / "written"), "new\n");
  wait_exit(c);
  // A layer under a mounted overlay cannot go.
  EXPECT_FALSE(modify("MappedVirtualDisk", "Remove", disk(1)).ok());
  EXPECT_TRUE(modify("CombinedLayers", "Remove", layers_settings("ext4", layers)).ok());
  EXPECT_TRUE(remove("ext4").ok());
  for (int lun : {1, 2}) EXPECT_TRUE(modify("MappedVirtualDisk", "Remove", disk(lun)).ok());
  expect_no_trace("ext4");
  EXPECT_FALSE(mounted_under(root / "layers"));
}

// Bad input: each request fails clearly and changes nothing.
class GcsContainerBadInput : public GcsContainer {};
INSTANTIATE_TEST_SUITE_P(Runtime, GcsContainerBadInput, ::testing::Values("runc", "crun"),
                         [](const auto& info) { return info.param; });

TEST_P(GcsContainerBadInput, RelativeRootPath) {
  ASSERT_TRUE(modify("CombinedLayers", "Add", layers_settings("rel", {fixtures() / "rootfs"})).ok());
  auto s = spec("rel", {"true"});
  s["root"]["path"] = "rootfs";
  auto r = try_create("rel", s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hcs::hr::ErrInvalidArg);
  EXPECT_NE(r.error().text().find("absolute"), std::string::npos) << r.error().text();
  teardown_failed("rel");
}

TEST_P(GcsContainerBadInput, IdWithDotDot) {
  hcs::schema::VmHostedContainerSettingsV2 st;
  st.schema_version = {2, 1, {}};
  st.oci_bundle_path = (root / "c" / "x").string();
  st.oci_specification = spec("x", {"true"});
  auto r = await<Result<std::shared_ptr<GuestContainer>>>(
      env->io, [&](auto cb) { guest->async_create_container("../escape", st, cb); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hcs::hr::ErrInvalidArg);
  EXPECT_FALSE(fs::exists(root / "escape"));
}

TEST_P(GcsContainerBadInput, UnknownResourceTypeAndOldSchema) {
  auto r = modify("NoSuchResource", "Add", Json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hcs::hr::VmcomputeInvalidJSON);
  auto c = create("schema", {"true"});
  hcs::schema::ModificationRequest m;
  m.resource_type = "MappedVirtualDisk";
  m.request_type = "Add";
  m.settings = Json::object();
  auto mr = await<Result<void>>(env->io, [&](auto cb) { c->async_modify(m, cb); });
  ASSERT_FALSE(mr.ok());
  EXPECT_NE(mr.error().text().find("not supported for containers"), std::string::npos) << mr.error().text();
  teardown("schema");

  ASSERT_TRUE(modify("CombinedLayers", "Add", layers_settings("old", {fixtures() / "rootfs"})).ok());
  hcs::schema::VmHostedContainerSettingsV2 st;
  st.schema_version = {2, 0, {}};
  st.oci_bundle_path = bundle("old").string();
  st.oci_specification = spec("old", {"true"});
  auto o = await<Result<std::shared_ptr<GuestContainer>>>(env->io,
                                                          [&](auto cb) { guest->async_create_container("old", st, cb); });
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().code(), hcs::hr::VmcomputeInvalidJSON);
  teardown_failed("old");
}

TEST_P(GcsContainerBadInput, CreateTwice) {
  auto c = create("twice", {"true"});
  auto again = try_create("twice", spec("twice", {"true"}));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), hcs::hr::VmcomputeSystemAlreadyExists);
  // The first one is untouched and still runs.
  auto r = env->finish(start(c, pipes()));
  EXPECT_EQ(r.exit_code, 0);
  wait_exit(c);
  teardown("twice");
}

TEST_P(GcsContainerBadInput, ExecIntoStoppedContainerAndDeleteWhileRunning) {
  auto c = create("stopped", {"sleep", "1000"});
  auto init = start(c, pipes());
  auto busy = remove("stopped");
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.error().code(), hcs::hr::VmcomputeInvalidState);
  // The layers under a running container stay.
  auto in_use = modify("CombinedLayers", "Remove", layers_settings("stopped", {fixtures() / "rootfs"}));
  ASSERT_FALSE(in_use.ok());
  EXPECT_EQ(in_use.error().code(), hcs::hr::VmcomputeInvalidState);
  EXPECT_TRUE(mounted_under(bundle("stopped") / "rootfs"));

  EXPECT_TRUE(await<Result<void>>(env->io, [&](auto cb) { c->async_shutdown(true, cb); }).ok());
  wait_exit(c);
  env->finish(init);
  auto r = await<Result<std::shared_ptr<hcs::bridge::GuestProcess>>>(
      env->io, [&](auto cb) { c->async_create_process(exec_of({"true"}), cb); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hcs::hr::VmcomputeInvalidState);
  teardown("stopped");
}

TEST_P(GcsContainerBadInput, UnknownContainer) {
  auto r = remove("nobody");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hcs::hr::VmcomputeSystemNotFound);
}

TEST_P(GcsContainerBadInput, MissingExecutable) {
  ASSERT_TRUE(modify("CombinedLayers", "Add", layers_settings("noexec", {fixtures() / "rootfs"})).ok());
  auto r = try_create("noexec", spec("noexec", {"/no/such/program"}));
  if (!r.ok()) {
    // The runtime checked at create time: its own words reach the host (runc's init
    // sometimes loses the race to report the reason, but the runtime is named).
    EXPECT_NE(r.error().text().find(GetParam() + " create"), std::string::npos) << r.error().text();
    return teardown_failed("noexec");
  }
  // Or the runtime finds out only when the process starts.
  auto started = await<Result<std::shared_ptr<hcs::bridge::GuestProcess>>>(
      env->io, [&](auto cb) { r.value()->async_create_process(pipes(), cb); });
  if (started.ok()) {
    EXPECT_NE(env->finish(started.value()).exit_code, 0);
    wait_exit(r.value());
  } else {
    EXPECT_NE(started.error().text().find("/no/such/program"), std::string::npos) << started.error().text();
  }
  teardown("noexec");
}

TEST_P(GcsContainerBadInput, DirectoriesOutsideTheRootOrShared) {
  ASSERT_TRUE(modify("CombinedLayers", "Add", layers_settings("dirs", {fixtures() / "rootfs"})).ok());
  auto attempt = [&](const fs::path& bundle_path, const std::string& scratch) {
    hcs::schema::VmHostedContainerSettingsV2 st;
    st.schema_version = {2, 1, {}};
    st.oci_bundle_path = bundle_path.string();
    st.scratch_dir_path = scratch;
    st.oci_specification = spec("dirs", {"true"});
    return await<Result<std::shared_ptr<GuestContainer>>>(
        env->io, [&](auto cb) { guest->async_create_container("dirs", st, cb); });
  };
  // Delete removes the scratch and the bundle recursively: neither may be anyone else's.
  for (auto [b, s] : {std::pair{bundle("dirs"), std::string("/etc")},
                      std::pair{root / "work", std::string()},
                      std::pair{root / "runtime" / "x", std::string()},
                      std::pair{fs::path("/tmp"), std::string()}}) {
    auto r = attempt(b, s);
    ASSERT_FALSE(r.ok()) << b << " " << s;
    EXPECT_EQ(r.error().code(), hcs::hr::ErrInvalidArg) << r.error().text();
  }
  EXPECT_TRUE(fs::exists("/etc/passwd"));
  // Another container's bundle cannot be shared either.
  auto first = try_create("dirs", spec("dirs", {"true"})).value();
  hcs::schema::VmHostedContainerSettingsV2 st;
  st.schema_version = {2, 1, {}};
  st.oci_bundle_path = (bundle("dirs") / "inner").string();
  st.oci_specification = spec("dirs", {"true"});
  auto inner = await<Result<std::shared_ptr<GuestContainer>>>(
      env->io, [&](auto cb) { guest->async_create_container("inner", st, cb); });
  ASSERT_FALSE(inner.ok());
  EXPECT_EQ(inner.error().code(), hcs::hr::ErrInvalidArg) << inner.error().text();
  teardown("dirs");
}

// Network adapters with a NamespaceID: the gcs runs in a network namespace of the test's
// own (its "VM"), where veth ends with HNS MAC addresses stand in for the VM's NICs.
class GcsNetwork : public GcsContainer {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
    static int counter = 0;
    const std::string tag = std::to_string(::getpid()) + "-" + std::to_string(counter++);
    vm_netns = "hk-gcsvm-" + tag;
    pod = "Pod-" + tag;  // the gcs compares IDs without case
    pod_netns = "hcn-pod-" + tag;
    char tmpl[] = "/tmp/hcskit-etc-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    etc = tmpl;
    sh("ip netns add " + vm_netns);
    for (int i = 1; i <= 2; ++i)
      sh("ip -n " + vm_netns + " link add nic" + std::to_string(i) + " address " + mac(i, ':') +
         " type veth peer name peer" + std::to_string(i));
    sh("ip -n " + vm_netns + " link set peer1 up");
    wrapper = {"nsenter", "--net=/run/netns/" + vm_netns};
    more_args = {"--etc-dir", etc.string()};
    GcsContainer::SetUp();
  }
  void TearDown() override {
    GcsContainer::TearDown();
    if (vm_netns.empty()) return;
    ::system(("ip netns del " + pod_netns + " 2>/dev/null").c_str());
    ::system(("ip netns del " + vm_netns + " 2>/dev/null").c_str());
    std::error_code ec;
    fs::remove_all(etc, ec);
  }

  static std::string mac(int i, char sep) {
    std::string m = "00-15-5D-AA-00-0" + std::to_string(i);
    if (sep == ':') {
      std::replace(m.begin(), m.end(), '-', ':');
      std::transform(m.begin(), m.end(), m.begin(), ::tolower);
    }
    return m;
  }
  static std::string sh(const std::string& cmd) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    char buf[4096];
    for (size_t n; (n = ::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    EXPECT_EQ(::pclose(p), 0) << cmd << ": " << out;
    return out;
  }
  static std::string try_sh(const std::string& cmd, int& status) {
    std::string out;
    FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
    char buf[4096];
    for (size_t n; (n = ::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    status = ::pclose(p);
    return out;
  }
  Json adapter(int i, const std::string& ns) {
    Json a = {{"ID", "nic" + std::to_string(i)},
              {"MacAddress", mac(i, '-')},
              {"IPConfigs", Json::array({{{"IPAddress", "10.99.0." + std::to_string(i + 1)}, {"PrefixLength", 24}}})},
              {"Routes", Json::array({{{"NextHop", "10.99.0.1"}, {"DestinationPrefix", "0.0.0.0/0"}}})},
              {"DNSServerList", "10.99.0.53"},
              {"DNSSuffix", "pod.test"}};
    if (!ns.empty()) a["NamespaceID"] = ns;
    return a;
  }
  Result<void> network(const std::string& type, Json settings) {
    hcs::schema::ModificationRequest r;
    r.resource_type = "Network";
    r.request_type = type;
    r.settings = std::move(settings);
    return await<Result<void>>(env->io, [&](auto cb) { guest->async_modify(r, cb); }, std::chrono::seconds(30));
  }
  fs::path pod_resolv() const { return etc / "netns" / pod_netns / "resolv.conf"; }

  std::string vm_netns, pod, pod_netns;
  fs::path etc;
};
INSTANTIATE_TEST_SUITE_P(Runtime, GcsNetwork, ::testing::Values("runc", "crun"),
                         [](const auto& info) { return info.param; });

TEST_P(GcsNetwork, NicsMoveIntoTheNamespaceTheContainerJoins) {
  ASSERT_TRUE(network("Add", adapter(1, pod)).ok());
  auto second = network("Add", adapter(2, pod));  // the same subnet: its default route is the first's
  ASSERT_TRUE(second.ok()) << second.error().text();
  // Gone from the VM's namespace, configured in the pod's.
  int status = 0;
  try_sh("ip -n " + vm_netns + " link show nic1", status);
  EXPECT_NE(status, 0) << "nic1 is still in the VM's namespace";
  const auto addrs = sh("ip -n " + pod_netns + " -o -4 addr");
  EXPECT_NE(addrs.find("nic1    inet 10.99.0.2/24"), std::string::npos) << addrs;
  EXPECT_NE(addrs.find("nic2    inet 10.99.0.3/24"), std::string::npos) << addrs;
  EXPECT_NE(sh("ip -n " + pod_netns + " route").find("default via 10.99.0.1 dev nic1"), std::string::npos);
  EXPECT_EQ(slurp(pod_resolv()), "search pod.test\nnameserver 10.99.0.53\n");
  EXPECT_FALSE(fs::exists(etc / "resolv.conf")) << "the VM's own resolv.conf was written";
  // The second NIC's default route waits behind the first's.
  const auto routes = sh("ip -n " + pod_netns + " route");
  EXPECT_NE(routes.find("default via 10.99.0.1 dev nic2 proto static metric 1"), std::string::npos) << routes;

  // A container naming the namespace is in it, and sees its DNS settings.
  auto c = [&] {
    EXPECT_TRUE(modify("CombinedLayers", "Add", layers_settings("pod", {fixtures() / "rootfs"})).ok());
    Json s = spec("pod", {"sleep", "1000"});
    s["windows"] = {{"network", {{"networkNamespace", "pod-" + pod.substr(4)}}}, {"layerFolders", Json::array()}};
    return try_create("pod", s).value();
  }();
  auto init = start(c, pipes());
  auto r = env->finish(start(c, exec_of({"sh", "-c", "readlink /proc/self/ns/net; ip -o -4 addr; cat /etc/resolv.conf"})));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  struct stat st{};
  ASSERT_EQ(::stat(("/run/netns/" + pod_netns).c_str(), &st), 0);
  EXPECT_NE(r.out.find("net:[" + std::to_string(st.st_ino) + "]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("inet 10.99.0.2/24"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nameserver 10.99.0.53"), std::string::npos) << r.out;
  EXPECT_EQ(slurp(bundle("pod") / "config.json").find("\"windows\""), std::string::npos) << "the runtime got a Windows section";

  // Remove brings the NICs home, bare and down; the namespace stays while the container
  // runs, and keeps a default route while it has a NIC.
  ASSERT_TRUE(network("Remove", {{"ID", "nic1"}}).ok());
  EXPECT_NE(sh("ip -n " + pod_netns + " route").find("default via 10.99.0.1 dev nic2"), std::string::npos);
  ASSERT_TRUE(network("Remove", {{"ID", "nic2"}}).ok());
  const auto home = sh("ip -n " + vm_netns + " -o link show nic1");
  EXPECT_NE(home.find("state DOWN"), std::string::npos) << home;
  EXPECT_EQ(sh("ip -n " + vm_netns + " -o -4 addr show nic1"), "");
  EXPECT_TRUE(fs::exists("/run/netns/" + pod_netns));
  EXPECT_TRUE(await<Result<void>>(env->io, [&](auto cb) { c->async_shutdown(true, cb); }).ok());
  wait_exit(c);
  env->finish(init);
  teardown("pod");
  // The last process left with the container: the namespace and its files go.
  EXPECT_FALSE(fs::exists("/run/netns/" + pod_netns));
  EXPECT_FALSE(fs::exists(etc / "netns" / pod_netns));
  // And the NIC can be configured again, this time in the VM's own namespace.
  ASSERT_TRUE(network("Add", adapter(1, "")).ok());
  EXPECT_NE(sh("ip -n " + vm_netns + " -o -4 addr show nic1").find("10.99.0.2/24"), std::string::npos);
  EXPECT_EQ(slurp(etc / "resolv.conf"), "search pod.test\nnameserver 10.99.0.53\n");
}

TEST_P(GcsNetwork, BadNamespacesAreRefusedAndChangeNothing) {
  for (const std::string& bad : std::vector<std::string>{"../../etc", "a/b", std::string(200, 'x')}) {
    auto r = network("Add", adapter(1, bad));
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code(), hcs::hr::ErrInvalidArg) << r.error().text();
    EXPECT_NE(r.error().text().find("NamespaceID"), std::string::npos) << r.error().text();
  }
  EXPECT_NE(sh("ip -n " + vm_netns + " -o link show nic1").find("nic1"), std::string::npos);
  EXPECT_EQ(sh("ip -n " + vm_netns + " -o -4 addr show nic1"), "");

  // A bad route fails the Add after the move: the NIC comes back and the namespace goes.
  Json a = adapter(1, pod);
  a["Routes"] = Json::array({{{"NextHop", "192.0.2.1"}, {"DestinationPrefix", "198.51.100.0/24"}}});  // unreachable
  auto r = network("Add", a);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(sh("ip -n " + vm_netns + " -o link show nic1").find("state DOWN"), std::string::npos);
  EXPECT_EQ(sh("ip -n " + vm_netns + " -o -4 addr show nic1"), "");
  EXPECT_FALSE(fs::exists("/run/netns/" + pod_netns));
  EXPECT_FALSE(fs::exists(pod_resolv()));

  // The same into a namespace that has a NIC: that one, and the namespace's DNS, stay.
  ASSERT_TRUE(network("Add", adapter(2, pod)).ok());
  a["DNSServerList"] = "10.99.0.99";
  ASSERT_FALSE(network("Add", a).ok());
  EXPECT_NE(sh("ip -n " + vm_netns + " -o link show nic1").find("state DOWN"), std::string::npos);
  EXPECT_NE(sh("ip -n " + pod_netns + " -o -4 addr show nic2").find("10.99.0.3/24"), std::string::npos);
  EXPECT_EQ(slurp(pod_resolv()), "search pod.test\nnameserver 10.99.0.53\n");
  ASSERT_TRUE(network("Remove", {{"ID", "nic2"}}).ok());
  EXPECT_FALSE(fs::exists("/run/netns/" + pod_netns));

  // A container naming a namespace with no NIC here is refused ...
  EXPECT_TRUE(modify("CombinedLayers", "Add", layers_settings("nons", {fixtures() / "rootfs"})).ok());
  Json s = spec("nons", {"sh", "-c", "ip -o link | wc -l"});
  s["windows"] = {{"network", {{"networkNamespace", pod}}}};
  auto refused = try_create("nons", s);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), hcs::hr::ErrNotFound);
  EXPECT_NE(refused.error().text().find("has no network adapter in this VM"), std::string::npos) << refused.error().text();
  teardown_failed("nons");
  // ... unless its annotation says the pod may go without: then it has a namespace of its own.
  EXPECT_TRUE(modify("CombinedLayers", "Add", layers_settings("nons", {fixtures() / "rootfs"})).ok());
  s["annotations"] = {{"io.microsoft.cri.skip-pod-networking", "true"}};
  auto c = try_create("nons", s).value();
  auto out = env->finish(start(c, pipes()));
  EXPECT_EQ(out.exit_code, 0);
  EXPECT_EQ(out.out, "1\n");  // lo only
  wait_exit(c);
  teardown("nons");
}

}  // namespace gcs_container_test
