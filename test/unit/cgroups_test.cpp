#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "hcs/core/error.hpp"
#include "hcs/runtime/cgroups.hpp"

namespace cgroups_test {

using namespace hcs;
using namespace hcs::runtime;
namespace fs = std::filesystem;

namespace {

// This build host's hybrid layout, as /proc/self/mountinfo shows it (cgroup lines and a few others).
constexpr const char* kHybridMountinfo =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// A runc container on that host: every hierarchy, the cgroup2 one included, at /pods/x.
constexpr const char* kHybridContainerCgroup =
    "9:name=systemd:/pods/x\n"
    "8:pids:/pods/x\n"
    "7:blkio:/pods/x\n"
    "6:freezer:/pods/x\n"
    "5:devices:/pods/x\n"
    "4:memory:/pods/x\n"
    "3:cpuset:/pods/x\n"
    "2:cpuacct:/pods/x\n"
    "1:cpu:/pods/x\n"
    "0::/pods/x\n";

void write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

class CgroupTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("hcskit-cgroups-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

}  // namespace

TEST(CgroupResolve, HybridResolvesAsV1WithEveryMountedHierarchy) {
  CgroupSet set = resolve_cgroup(kHybridContainerCgroup, kHybridMountinfo);
  EXPECT_FALSE(set.unified);
  EXPECT_TRUE(set.dir.empty());
  EXPECT_EQ(set.controllers.at("memory"), "/sys/fs/cgroup/memory/pods/x");
  EXPECT_EQ(set.controllers.at("cpu"), "/sys/fs/cgroup/cpu/pods/x");
  EXPECT_EQ(set.controllers.at("cpuacct"), "/sys/fs/cgroup/cpuacct/pods/x");
  EXPECT_EQ(set.controllers.at("pids"), "/sys/fs/cgroup/pids/pods/x");
  EXPECT_EQ(set.controllers.at("name=systemd"), "/sys/fs/cgroup/systemd/pods/x");
  EXPECT_EQ(set.controllers.at(""), "/sys/fs/cgroup/unified/pods/x");
  EXPECT_EQ(set.controllers.size(), 10u);
  auto dirs = set.directories();
  EXPECT_EQ(dirs.size(), 10u);
  EXPECT_NE(std::find(dirs.begin(), dirs.end(), fs::path("/sys/fs/cgroup/systemd/pods/x")), dirs.end());
}

TEST(CgroupResolve, HybridHostProcessAtRootsAndOneController) {
  // This very shell's /proc/self/cgroup on the build host.
  CgroupSet set = resolve_cgroup(
      "9:name=systemd:/\n8:pids:/\n7:blkio:/\n6:freezer:/\n5:devices:/\n"
      "4:memory:/process_api/a28f\n3:cpuset:/\n2:cpuacct:/\n1:cpu:/\n0::/\n",
      kHybridMountinfo);
  EXPECT_FALSE(set.unified);
  EXPECT_EQ(set.controllers.at("memory"), "/sys/fs/cgroup/memory/process_api/a28f");
  EXPECT_EQ(set.controllers.at("pids"), "/sys/fs/cgroup/pids");
  EXPECT_EQ(set.controllers.at(""), "/sys/fs/cgroup/unified");
}

TEST(CgroupResolve, PureV2) {
  CgroupSet set = resolve_cgroup(
      "0::/system.slice/containerd.service/abc\n",
      "25 30 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
      "rw,nsdelegate,memory_recursiveprot\n");
  EXPECT_TRUE(set.unified);
  EXPECT_EQ(set.dir, "/sys/fs/cgroup/system.slice/containerd.service/abc");
  EXPECT_TRUE(set.controllers.empty());
  ASSERT_EQ(set.directories().size(), 1u);
  EXPECT_EQ(set.directories()[0], set.dir);
}

TEST(CgroupResolve, CoMountedControllersShareADirectory) {
  CgroupSet set = resolve_cgroup(
      "4:cpu,cpuacct:/c1\n3:net_cls,net_prio:/c1\n2:memory:/c1\n1:name=systemd:/c1\n0::/c1\n",
      "31 23 0:28 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n"
      "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
      "33 31 0:30 / /sys/fs/cgroup/net_cls,net_prio rw shared:10 - cgroup cgroup rw,net_cls,net_prio\n"
      "34 31 0:31 / /sys/fs/cgroup/memory rw shared:11 - cgroup cgroup rw,memory\n"
      "35 31 0:32 / /sys/fs/cgroup/systemd rw shared:12 - cgroup cgroup rw,xattr,name=systemd\n"
      "36 31 0:33 / /sys/fs/cgroup/unified rw shared:13 - cgroup2 cgroup2 rw,nsdelegate\n");
  EXPECT_FALSE(set.unified);
  EXPECT_EQ(set.controllers.at("cpu"), "/sys/fs/cgroup/cpu,cpuacct/c1");
  EXPECT_EQ(set.controllers.at("cpuacct"), "/sys/fs/cgroup/cpu,cpuacct/c1");
  EXPECT_EQ(set.controllers.at("net_prio"), "/sys/fs/cgroup/net_cls,net_prio/c1");
  EXPECT_EQ(set.controllers.at("name=systemd"), "/sys/fs/cgroup/systemd/c1");
  // cpu,cpuacct and net_cls,net_prio count once each: 4 hierarchies plus the cgroup2 one.
  EXPECT_EQ(set.directories().size(), 5u);
}

TEST(CgroupResolve, MountRootIsHonoured) {
  // Inside a container the hierarchy is bind-mounted from the container's own cgroup.
  constexpr const char* mountinfo =
      "50 40 0:32 /kubepods/pod1 /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n"
      "51 40 0:32 /kubepods/pod1/c1/deep /mnt/deep\\040dir ro - cgroup cgroup rw,memory\n"
      "52 40 0:38 /kubepods /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
  CgroupSet set = resolve_cgroup("4:memory:/kubepods/pod1/c1\n", mountinfo);
  EXPECT_EQ(set.controllers.at("memory"), "/sys/fs/cgroup/memory/c1");

  set = resolve_cgroup("4:memory:/kubepods/pod1\n", mountinfo);
  EXPECT_EQ(set.controllers.at("memory"), "/sys/fs/cgroup/memory");

  // The deepest root containing the path wins; escaped blanks in the mount point are decoded.
  set = resolve_cgroup("4:memory:/kubepods/pod1/c1/deep/x\n", mountinfo);
  EXPECT_EQ(set.controllers.at("memory"), "/mnt/deep dir/x");

  // Outside every root (a sibling, or a mere name prefix): not visible here.
  EXPECT_TRUE(resolve_cgroup("4:memory:/kubepods/pod2/c1\n", mountinfo).controllers.empty());
  EXPECT_TRUE(resolve_cgroup("4:memory:/kubepods/pod10\n", mountinfo).controllers.empty());

  set = resolve_cgroup("0::/kubepods/pod1/c1\n", mountinfo);
  EXPECT_TRUE(set.unified);
  EXPECT_EQ(set.dir, "/sys/fs/cgroup/unified/pod1/c1");
}

TEST(CgroupResolve, UnmountedAndMalformedLinesAreSkipped) {
  CgroupSet set = resolve_cgroup("garbage\n12:rdma:/x\n4:memory:relative\n\n4:memory:/ok\n", kHybridMountinfo);
  EXPECT_FALSE(set.unified);
  ASSERT_EQ(set.controllers.size(), 1u);
  EXPECT_EQ(set.controllers.at("memory"), "/sys/fs/cgroup/memory/ok");

  set = resolve_cgroup("", "");
  EXPECT_FALSE(set.unified);
  EXPECT_TRUE(set.directories().empty());
  // A removed v2 cgroup is still named, with a suffix.
  set = resolve_cgroup("0::/gone (deleted)\n", "1 1 0:1 / /cg rw - cgroup2 none rw\n");
  EXPECT_EQ(set.dir, "/cg/gone");
}

TEST_F(CgroupTree, CgroupOfReadsProcFiles) {
  write(root_ / "42" / "cgroup", "0::/a/b\n");
  write(root_ / "self" / "mountinfo", "1 1 0:1 / /cg rw - cgroup2 none rw\n");
  CgroupSet set = cgroup_of(42, root_);
  EXPECT_TRUE(set.unified);
  EXPECT_EQ(set.dir, "/cg/a/b");
  try {
    cgroup_of(43, root_);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), hr::ErrNotFound);
  }
}

TEST_F(CgroupTree, MetricsFromAV1Tree) {
  fs::path mem = root_ / "memory/c", cpu = root_ / "cpu/c", acct = root_ / "cpuacct/c", pids = root_ / "pids/c";
  write(mem / "memory.stat",
        "cache 4096\nrss 8192\nrss_huge 0\nshmem 0\nmapped_file 1024\ndirty 0\nwriteback 0\n"
        "pgpgin 10\npgpgout 5\npgfault 100\npgmajfault 1\ninactive_anon 1\nactive_anon 2\n"
        "inactive_file 3\nactive_file 4\nunevictable 5\nhierarchical_memory_limit 9223372036854771712\n"
        "hierarchical_memsw_limit 9223372036854771712\ntotal_cache 4096\ntotal_rss 8192\n"
        "total_pgfault 100\nbogus notanumber\n");
  write(mem / "memory.usage_in_bytes", "12288\n");
  write(mem / "memory.limit_in_bytes", "9223372036854771712\n");
  write(mem / "memory.max_usage_in_bytes", "16384\n");
  write(mem / "memory.failcnt", "0\n");
  write(mem / "memory.memsw.usage_in_bytes", "12288\n");
  write(mem / "memory.kmem.usage_in_bytes", "garbage\n");  // unparsable: left out
  write(cpu / "cpu.stat", "nr_periods 7\nnr_throttled 2\nthrottled_time 5000\n");
  write(acct / "cpuacct.usage", "3000000000\n");
  write(acct / "cpuacct.usage_percpu", "1000000000 2000000000 \n");
  write(acct / "cpuacct.stat", "user 150\nsystem 50\n");
  write(pids / "pids.current", "3\n");
  write(pids / "pids.max", "max\n");

  CgroupSet set;
  set.controllers = {{"memory", mem}, {"cpu", cpu}, {"cpuacct", acct}, {"pids", pids}};
  Json m = cgroup_metrics(set);

  uint64_t tick = 1000000000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  Json want = Json::parse(R"({
    "pids": {"current": 3},
    "cpu": {"usage": {"total": 3000000000, "kernel": 0, "user": 0, "per_cpu": [1000000000, 2000000000]},
            "throttling": {"periods": 7, "throttled_periods": 2, "throttled_time": 5000}},
    "memory": {"cache": 4096, "rss": 8192, "mapped_file": 1024, "pg_pg_in": 10, "pg_pg_out": 5,
               "pg_fault": 100, "pg_maj_fault": 1, "inactive_anon": 1, "active_anon": 2,
               "inactive_file": 3, "active_file": 4, "unevictable": 5,
               "hierarchical_memory_limit": 9223372036854771712,
               "hierarchical_swap_limit": 9223372036854771712,
               "total_cache": 4096, "total_rss": 8192, "total_pg_fault": 100,
               "usage": {"limit": 9223372036854771712, "usage": 12288, "max": 16384},
               "swap": {"usage": 12288}}
  })");
  want["cpu"]["usage"]["kernel"] = 50 * tick;
  want["cpu"]["usage"]["user"] = 150 * tick;
  // Same keys in the same order as Go writes the struct fields.
  EXPECT_EQ(m.dump(), want.dump());
}

TEST_F(CgroupTree, MetricsFromAV2Tree) {
  fs::path d = root_ / "c";
  write(d / "memory.current", "12288\n");
  write(d / "memory.max", "max\n");
  write(d / "memory.events", "low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n");
  write(d / "memory.stat",
        "anon 8192\nfile 4096\nkernel 2048\nkernel_stack 100\nsock 64\nanon_thp 0\nfile_mapped 1024\n"
        "file_dirty 16\nfile_writeback 8\ninactive_anon 1\nactive_anon 2\ninactive_file 3\n"
        "active_file 4\nunevictable 5\npgfault 100\npgmajfault 1\n");
  write(d / "cpu.stat",
        "usage_usec 3000\nuser_usec 2000\nsystem_usec 1000\nnr_periods 7\nnr_throttled 2\nthrottled_usec 5\n");
  write(d / "pids.current", "2\n");
  write(d / "pids.max", "100\n");

  CgroupSet set;
  set.unified = true;
  set.dir = d;
  Json m = cgroup_metrics(set);

  long page = sysconf(_SC_PAGESIZE);
  uint64_t unlimited = 9223372036854775807ull / page * page;
  Json want = Json::parse(R"({
    "pids": {"current": 2, "limit": 100},
    "cpu": {"usage": {"total": 3000000, "kernel": 1000000, "user": 2000000},
            "throttling": {"periods": 7, "throttled_periods": 2, "throttled_time": 5000}},
    "memory": {"cache": 4096, "rss": 8192, "mapped_file": 1024, "dirty": 16, "writeback": 8,
               "pg_fault": 100, "pg_maj_fault": 1, "inactive_anon": 1, "active_anon": 2,
               "inactive_file": 3, "active_file": 4, "unevictable": 5,
               "usage": {"limit": 0, "usage": 12288, "failcnt": 4},
               "kernel": {"usage": 2048}, "kernel_tcp": {"usage": 64}}
  })");
  want["memory"]["usage"]["limit"] = unlimited;
  EXPECT_EQ(m.dump(), want.dump());
  if (page == 4096) {
    EXPECT_EQ(m["memory"]["usage"]["limit"].get<uint64_t>(), 9223372036854771712ull);
  }

  // memory.peak, when the kernel has it, is the v1 max usage; "max" pids means no limit (0).
  write(d / "memory.peak", "20000\n");
  write(d / "pids.max", "max\n");
  m = cgroup_metrics(set);
  EXPECT_EQ(m["memory"]["usage"]["max"], 20000);
  EXPECT_FALSE(m["pids"].contains("limit"));
}

TEST_F(CgroupTree, MetricsOfMissingFilesAreEmpty) {
  CgroupSet set;
  set.controllers = {{"memory", root_ / "nope"}};
  EXPECT_EQ(cgroup_metrics(set).dump(), "{}");
  set = CgroupSet{};
  set.unified = true;
  set.dir = root_ / "nope";
  EXPECT_EQ(cgroup_metrics(set).dump(), "{}");
}

TEST_F(CgroupTree, PidsAreRecursiveSortedAndUnique) {
  write(root_ / "pids/c/cgroup.procs", "30\n10\n");
  write(root_ / "pids/c/child/cgroup.procs", "20\n10\n");
  write(root_ / "pids/c/child/grand/cgroup.procs", "5\n");
  write(root_ / "memory/c/cgroup.procs", "999\n");

  CgroupSet set;
  set.controllers = {{"memory", root_ / "memory/c"}, {"pids", root_ / "pids/c"}};
  EXPECT_EQ(cgroup_pids(set), (std::vector<pid_t>{5, 10, 20, 30}));

  set.controllers.erase("pids");  // then memory
  EXPECT_EQ(cgroup_pids(set), (std::vector<pid_t>{999}));

  set = CgroupSet{};
  set.controllers = {{"name=systemd", root_ / "pids/c/child"}};  // then any
  EXPECT_EQ(cgroup_pids(set), (std::vector<pid_t>{5, 10, 20}));

  set = CgroupSet{};
  set.unified = true;
  set.dir = root_ / "pids/c";
  EXPECT_EQ(cgroup_pids(set).size(), 4u);

  EXPECT_TRUE(cgroup_pids(CgroupSet{}).empty());
}

TEST_F(CgroupTree, RemoveDeepestFirstAndMissingIsSuccess) {
  fs::create_directories(root_ / "memory/c/child/grand");
  fs::create_directories(root_ / "cpu/c");
  CgroupSet set;
  set.controllers = {{"memory", root_ / "memory/c"}, {"cpu", root_ / "cpu/c"}, {"pids", root_ / "pids/c"}};
  remove_cgroup(set);
  EXPECT_FALSE(fs::exists(root_ / "memory/c"));
  EXPECT_FALSE(fs::exists(root_ / "cpu/c"));
  EXPECT_TRUE(fs::exists(root_ / "memory"));
  remove_cgroup(set);  // again: all missing, still success
}

TEST_F(CgroupTree, RemoveFailureNamesTheDirectory) {
  write(root_ / "c/file", "x");  // ENOTEMPTY: not a cgroup, and not retried
  CgroupSet set;
  set.unified = true;
  set.dir = root_ / "c";
  try {
    remove_cgroup(set);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find((root_ / "c").string()), std::string::npos) << e.message();
  }
}

TEST(CgroupReal, V1MemoryCgroupOfAChild) {
  fs::path mem_root = "/sys/fs/cgroup/memory";
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  if (!fs::exists(mem_root / "memory.usage_in_bytes")) GTEST_SKIP() << "no v1 memory controller";
  fs::path dir = mem_root / ("hcskit-test-" + std::to_string(getpid()));
  ASSERT_TRUE(fs::create_directory(dir)) << dir;

  // The child waits until it has been moved, then execs: exec's memory is then charged to the
  // new cgroup (v1 does not move existing charges with a task).
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    char c;
    close(go[1]);
    if (read(go[0], &c, 1) != 1) _exit(126);
    execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(go[0]);
  { std::ofstream(dir / "cgroup.procs") << child << "\n"; }
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  close(go[1]);

  // Wait for the exec to have happened (its memory charged) before reading metrics.
  for (int i = 0; i < 200; ++i) {
    std::ifstream comm("/proc/" + std::to_string(child) + "/comm");
    std::string name;
    std::getline(comm, name);
    if (name == "sleep") break;
    usleep(10000);
  }

  CgroupSet set = cgroup_of(child);
  EXPECT_FALSE(set.unified);
  ASSERT_TRUE(set.controllers.count("memory"));
  EXPECT_EQ(set.controllers.at("memory"), dir);
  // Only the memory cgroup is ours: the child's other hierarchies are the test runner's.
  CgroupSet only_memory;
  only_memory.controllers = {{"memory", dir}};
  EXPECT_EQ(cgroup_pids(only_memory), std::vector<pid_t>{child});
  Json m = cgroup_metrics(only_memory);
  EXPECT_GT(m["memory"]["usage"].value("usage", uint64_t{0}), 0u) << m.dump();

  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  remove_cgroup(only_memory);
  EXPECT_FALSE(fs::exists(dir));
}

}  // namespace cgroups_test
