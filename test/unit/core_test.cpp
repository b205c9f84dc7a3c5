#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>

#include "hcs/bridge/server.hpp"
#include "hcs/core/error.hpp"
#include "hcs/core/guid.hpp"
#include "hcs/core/mountinfo.hpp"
#include "hcs/core/json.hpp"
#include "hcs/core/process.hpp"

namespace core_test {

using namespace hcs;

TEST(CoreError, CodeMessageAndContextChain) {
  Error e(hr::ErrNotFound, "process 7 not found");
  e.wrap("wait").wrap("uvm exec");
  EXPECT_EQ(e.code(), hr::ErrNotFound);
  EXPECT_EQ(e.text(), "uvm exec: wait: process 7 not found");
  EXPECT_STREQ(e.what(), "uvm exec: wait: process 7 not found");
  EXPECT_EQ(e.site().file, "core_test.cpp");
  EXPECT_NE(e.site().line, 0xFFFFFFFFu);
  EXPECT_EQ(hr::name(hr::VmcomputeInvalidJSON), "HrVmcomputeInvalidJSON");
}

TEST(CoreError, ErrorRecordsOnTheWire) {
  Error e(hr::VmcomputeSystemNotFound, "container x not found");
  Json body = bridge::BridgeServer::error_body(e, "act");
  EXPECT_EQ(body.at("Result").get<int64_t>(), static_cast<int32_t>(0xC037010E));
  EXPECT_EQ(body.at("ActivityId"), "act");
  EXPECT_EQ(body.at("ErrorMessage"), "container x not found");
  const auto& rec = body.at("ErrorRecords").at(0);
  EXPECT_EQ(rec.at("Result"), body.at("Result"));
  EXPECT_EQ(rec.at("ModuleName"), "gcs");
  EXPECT_EQ(rec.at("FileName"), "core_test.cpp");
  EXPECT_GT(rec.at("Line").get<uint32_t>(), 0u);
  EXPECT_FALSE(rec.at("FunctionName").get<std::string>().empty());
}

TEST(CoreGuid, ParseFormatAndRandom) {
  auto g = Guid::parse("{40000000-FACB-11e6-bd58-64006a7986d3}");
  ASSERT_TRUE(g);
  EXPECT_EQ(g->str(), "40000000-facb-11e6-bd58-64006a7986d3");
  EXPECT_TRUE(Guid::parse(kNullContainerId)->is_null());
  EXPECT_FALSE(Guid::parse("40000000-facb-11e6-bd58-64006a7986d"));
  EXPECT_FALSE(Guid::parse("40000000xfacb-11e6-bd58-64006a7986d3"));
  EXPECT_FALSE(Guid::parse("g0000000-facb-11e6-bd58-64006a7986d3"));
  auto r = Guid::random();
  EXPECT_NE(r, Guid::random());
  EXPECT_EQ(r.str()[14], '4');
}

TEST(CoreJson, InvalidJsonIsAnInvalidJsonError) {
  try {
    parse_json("{\"a\":", "request");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), hr::VmcomputeInvalidJSON);
    EXPECT_NE(e.text().find("request is not valid JSON"), std::string::npos);
  }
  // Odd bytes from a process never stop a document from being written.
  EXPECT_NO_THROW(dump_json(Json{{"out", std::string("\xff\xfe")}}));
}

TEST(CoreProcess, SpawnWaitAndExitCodes) {
  SpawnOptions o;
  o.argv = {"sh", "-c", "exit 7"};
  EXPECT_EQ(spawn(o).wait_exit().code(), 7);
  o.argv = {"sh", "-c", "kill -TERM $$"};
  auto st = spawn(o).wait_exit();
  EXPECT_TRUE(st.signaled);
  EXPECT_EQ(st.code(), 128 + SIGTERM);
}

TEST(CoreProcess, ExecFailureIsReported) {
  SpawnOptions o;
  o.argv = {"definitely-not-a-command-xyz"};
  EXPECT_THROW(spawn(o), Error);
  o.argv = {"/nonexistent/bin"};
  EXPECT_THROW(spawn(o), Error);
  o.argv = {"true"};
  o.cwd = "/nonexistent-dir";
  EXPECT_THROW(spawn(o), Error);
}

TEST(CoreProcess, FindExecutableUsesTheGivenPath) {
  EXPECT_EQ(find_executable("sh", {"PATH=/bin"}), "/bin/sh");
  EXPECT_THROW(find_executable("sh", {"PATH=/nonexistent"}), Error);
  EXPECT_EQ(find_executable("./x", {}), "./x");
}

TEST(CoreProcess, ChildrenInheritOnlyStdio) {
  int leaked = ::dup(1);  // not close-on-exec
  Pipe out = make_pipe();
  SpawnOptions o;
  o.argv = {"sh", "-c", "ls /proc/self/fd | wc -l"};
  o.stdout_fd = out.write.get();
  auto child = spawn(o);
  out.write.reset();
  char buf[64] = {};
  ASSERT_GT(::read(out.read.get(), buf, sizeof buf - 1), 0);
  child.wait_exit();
  ::close(leaked);
  // 0, 1, 2 and the fd ls uses to read the directory.
  EXPECT_EQ(std::atoi(buf), 4) << buf;
}

TEST(CoreReaper, ReportsExitsOnTheEventLoop) {
  boost::asio::io_context io;
  Reaper reaper(io.get_executor());
  std::vector<int> codes;
  std::vector<Child> children;
  for (int i = 0; i < 5; ++i) {
    SpawnOptions o;
    o.argv = {"sh", "-c", "exit " + std::to_string(i)};
    children.push_back(spawn(o));
    reaper.watch(children.back(), [&](ExitStatus st) { codes.push_back(st.code()); });
  }
  EXPECT_EQ(reaper.watched(), 5u);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (codes.size() < 5 && std::chrono::steady_clock::now() < deadline) io.run_for(std::chrono::milliseconds(10));
  std::sort(codes.begin(), codes.end());
  EXPECT_EQ(codes, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(reaper.watched(), 0u);
}

TEST(CoreMountinfo, ParsesFieldsOptionalTagsAndEscapes) {
  const char* text =
      "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
      "35 31 0:32 /pods /sys/fs/cgroup/memory rw shared:7 master:1 - cgroup cgroup rw,memory\n"
      "90 23 7:1 / /run/a\\040dir rw - ext4 /dev/loop1 ro\n"
      "truncated line - x\n";
  auto m = hcs::parse_mountinfo(text);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].fstype, "tmpfs");
  EXPECT_EQ(m[1].root, "/pods");
  EXPECT_EQ(m[1].mount_point, "/sys/fs/cgroup/memory");
  EXPECT_EQ(m[1].fstype, "cgroup");
  EXPECT_EQ(m[1].super_options, "rw,memory");
  EXPECT_EQ(m[2].mount_point, "/run/a dir");
  EXPECT_EQ(m[2].source, "/dev/loop1");
  EXPECT_FALSE(hcs::read_mountinfo().empty());
}

}  // namespace core_test
