// The gcs on this host over a unix socket, with and without mux: processes in the
// "utility VM" (here, the host itself), their stdio, waits, signals and terminals.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "hcs/bridge/messages.hpp"
#include "hcs/core/error.hpp"

namespace gcs_process_test {

using namespace it;
using hcs::schema::ProcessParameters;

class GcsProcess : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    env = std::make_unique<Gcs>(GetParam());
    env->start_gcs();
    guest = env->connect();
  }
  void TearDown() override {
    if (env->gcs.pidfd() >= 0) {
      EXPECT_EQ(env->stop_gcs(), 0);
    }
  }
  std::unique_ptr<Gcs> env;
  std::shared_ptr<hcs::bridge::GuestConnection> guest;
};

INSTANTIATE_TEST_SUITE_P(Transport, GcsProcess, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "mux" : "unix"; });

TEST_P(GcsProcess, NegotiatesVersion4WithLinuxCapabilities) {
  EXPECT_EQ(guest->protocol_version(), 4u);
  const auto& caps = guest->capabilities();
  EXPECT_EQ(caps.runtime_os_type, "Linux");
  ASSERT_EQ(caps.supported_schema_versions.size(), 1u);
  EXPECT_EQ(caps.supported_schema_versions[0].major, 2);
  EXPECT_EQ(caps.supported_schema_versions[0].minor, 1);
  EXPECT_TRUE(caps.guest_defined_capabilities.value("SignalProcessSupported", false));
  EXPECT_TRUE(caps.guest_defined_capabilities.value("DumpStacksSupported", false));
}

TEST_P(GcsProcess, Echo) {
  auto r = env->run(guest, {"echo", "hello", "world"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "hello world\n");
  EXPECT_EQ(r.err, "");
}

TEST_P(GcsProcess, ExitCodesAndStderr) {
  auto r = env->run(guest, {"sh", "-c", "echo oops >&2; exit 42"});
  EXPECT_EQ(r.exit_code, 42);
  EXPECT_EQ(r.err, "oops\n");
  EXPECT_EQ(env->run(guest, {"sh", "-c", "kill -9 $$"}).exit_code, 137);
  EXPECT_EQ(env->run(guest, {"false"}).exit_code, 1);
}

TEST_P(GcsProcess, EnvironmentAndWorkingDirectory) {
  ProcessParameters p;
  p.command_args = {"sh", "-c", "echo $GREETING; pwd"};
  p.environment = {{"GREETING", "hi there"}};
  p.working_directory = "/tmp";
  p.create_std_out_pipe = true;
  auto proc = env->start(guest, p);
  EXPECT_EQ(env->read_all(proc->stdout_stream()), "hi there\n/tmp\n");
}

TEST_P(GcsProcess, StdinEofEndsTheProcess) {
  auto r = env->run(guest, {"sh", "-c", "cat; echo done"}, std::string("abc"));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "abcdone\n");
}

TEST_P(GcsProcess, OneMebibyteOfStdoutArrivesIntact) {
  auto r = env->run(guest, {"head", "-c", "1048576", "/dev/urandom"});
  EXPECT_EQ(r.out.size(), 1048576u);
  // And content, in order, through stdin and back.
  std::string data;
  for (int i = 0; data.size() < (1u << 20); ++i) data += std::to_string(i) + "\n";
  data.resize(1u << 20);
  auto echo = env->run(guest, {"cat"}, data);
  EXPECT_EQ(echo.exit_code, 0);
  EXPECT_TRUE(echo.out == data) << "stdout differs from stdin (" << echo.out.size() << " bytes)";
}

TEST_P(GcsProcess, TwentyConcurrentProcesses) {
  struct One {
    std::shared_ptr<hcs::bridge::GuestProcess> proc;
    Collector out;
    std::optional<hcs::Result<uint32_t>> code;
  };
  std::vector<std::unique_ptr<One>> all;
  for (int i = 0; i < 20; ++i) {
    ProcessParameters p;
    p.command_args = {"sh", "-c", "sleep 0.2; echo " + std::to_string(i) + "; exit " + std::to_string(i)};
    p.create_std_out_pipe = true;
    auto one = std::make_unique<One>();
    one->proc = env->start(guest, p);
    all.push_back(std::move(one));
  }
  for (auto& one : all) {
    one->out.start(one->proc->stdout_stream());
    one->proc->async_wait([o = one.get()](hcs::Result<uint32_t> r) { o->code.emplace(std::move(r)); });
  }
  ASSERT_TRUE(run_until(env->io, [&] {
    for (auto& o : all)
      if (!o->code || !o->out.done) return false;
    return true;
  }));
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(all[i]->code->value(), static_cast<uint32_t>(i));
    EXPECT_EQ(all[i]->out.data, std::to_string(i) + "\n");
  }
}

TEST_P(GcsProcess, SigtermAndSigkill) {
  ProcessParameters p;
  p.command_args = {"sleep", "30"};
  auto term = env->start(guest, p);
  auto kill = env->start(guest, p);
  auto sig = await<hcs::Result<hcs::Json>>(env->io, [&](auto cb) { term->async_signal(SIGTERM, cb); });
  ASSERT_TRUE(sig.ok());
  // Signal 0 is hcsshim's "no options": a kill.
  ASSERT_TRUE((await<hcs::Result<hcs::Json>>(env->io, [&](auto cb) { kill->async_signal(0, cb); }).ok()));
  EXPECT_EQ((await<hcs::Result<uint32_t>>(env->io, [&](auto cb) { term->async_wait(cb); }).value()), 143u);
  EXPECT_EQ((await<hcs::Result<uint32_t>>(env->io, [&](auto cb) { kill->async_wait(cb); }).value()), 137u);
  // Both are gone from the guest's table once waited for.
  auto again = await<hcs::Result<uint32_t>>(env->io, [&](auto cb) { term->async_wait(cb); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), hcs::hr::ErrNotFound);
}

TEST_P(GcsProcess, TerminalWithResize) {
  ProcessParameters p;
  p.command_args = {"sh", "-c", "stty size; read line; stty size; test -t 0 && echo tty"};
  p.emulate_console = true;
  p.console_size = {24, 80};
  p.create_std_in_pipe = true;
  p.create_std_out_pipe = true;
  auto proc = env->start(guest, p);
  EXPECT_EQ(proc->stderr_stream(), nullptr);  // a terminal has one output
  Collector out;
  out.start(proc->stdout_stream());
  ASSERT_TRUE(run_until(env->io, [&] { return out.data.find("24 80") != std::string::npos; }));
  ASSERT_TRUE((await<hcs::Result<hcs::Json>>(env->io, [&](auto cb) { proc->async_resize(40, 100, cb); }).ok()));
  std::string nl = "\n";
  hcs::transport::async_write_all(proc->stdin_stream(), std::as_bytes(std::span(nl.data(), 1)), [](auto&&...) {});
  auto code = await<hcs::Result<uint32_t>>(env->io, [&](auto cb) { proc->async_wait(cb); });
  EXPECT_EQ(code.value(), 0u);
  ASSERT_TRUE(run_until(env->io, [&] { return out.done; }));
  EXPECT_NE(out.data.find("40 100"), std::string::npos) << out.data;
  EXPECT_NE(out.data.find("tty"), std::string::npos) << out.data;
  // A process without a terminal cannot be resized.
  ProcessParameters plain;
  plain.command_args = {"sleep", "5"};
  auto sleeper = env->start(guest, plain);
  auto bad = await<hcs::Result<hcs::Json>>(env->io, [&](auto cb) { sleeper->async_resize(1, 1, cb); });
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), hcs::hr::ErrInvalidArg);
  await<hcs::Result<hcs::Json>>(env->io, [&](auto cb) { sleeper->async_signal(0, cb); });
}

TEST_P(GcsProcess, WaitTimesOutOnARunningProcess) {
  ProcessParameters p;
  p.command_args = {"sleep", "30"};
  auto proc = env->start(guest, p);
  auto t0 = std::chrono::steady_clock::now();
  auto r = await<hcs::Result<uint32_t>>(env->io, [&](auto cb) { proc->async_wait(cb, 200); });
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hcs::hr::VmcomputeTimeout);
  EXPECT_GE(took, 200ms);
  // The process is still there: a later wait gets its real end.
  await<hcs::Result<hcs::Json>>(env->io, [&](auto cb) { proc->async_signal(0, cb); });
  EXPECT_EQ((await<hcs::Result<uint32_t>>(env->io, [&](auto cb) { proc->async_wait(cb); }).value()), 137u);
}

TEST_P(GcsProcess, UnknownCommandAndUnknownPid) {
  hcs::schema::ProcessParameters p;
  p.command_args = {"/no/such/binary"};
  auto r = await<hcs::Result<std::shared_ptr<hcs::bridge::GuestProcess>>>(
      env->io, [&](auto cb) { guest->async_create_process(p, cb); });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().text().find("/no/such/binary"), std::string::npos) << r.error().text();
  hcs::bridge::GuestProcess ghost(guest->client(), std::string(hcs::kNullContainerId), 999999, nullptr, nullptr, nullptr);
  auto w = await<hcs::Result<uint32_t>>(env->io, [&](auto cb) { ghost.async_wait(cb); });
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code(), hcs::hr::ErrNotFound);
}

TEST_P(GcsProcess, DumpStacksAndProperties) {
  auto stacks = await<hcs::Result<hcs::Json>>(
      env->io, [&](auto cb) { guest->client()->async_call(hcs::bridge::msg::DumpStacks, hcs::schema::encode(hcs::schema::Request{}), cb); });
  ASSERT_TRUE(stacks.ok());
  EXPECT_NE(stacks.value().value("GuestStacks", "").find("thread"), std::string::npos);
  hcs::schema::GetPropertiesRequest q;
  q.query.value.property_types = {"ProcessList"};
  auto props = await<hcs::Result<hcs::Json>>(
      env->io, [&](auto cb) { guest->client()->async_call(hcs::bridge::msg::GetProperties, hcs::schema::encode(q), cb); });
  ASSERT_FALSE(props.ok());
  EXPECT_EQ(props.error().code(), hcs::hr::Fail);
  EXPECT_NE(props.error().text().find("getPropertiesV2 is not supported against the UVM"), std::string::npos);
  q.base.container_id = "no-such-container";
  props = await<hcs::Result<hcs::Json>>(
      env->io, [&](auto cb) { guest->client()->async_call(hcs::bridge::msg::GetProperties, hcs::schema::encode(q), cb); });
  ASSERT_FALSE(props.ok());
  EXPECT_EQ(props.error().code(), hcs::hr::VmcomputeSystemNotFound);
}

TEST_P(GcsProcess, KilledGcsFailsPendingRequestsAndARestartedOneRedials) {
  ProcessParameters p;
  p.command_args = {"sleep", "3"};
  auto proc = env->start(guest, p);
  std::optional<hcs::Result<uint32_t>> wait1, wait2;
  proc->async_wait([&](hcs::Result<uint32_t> r) { wait1.emplace(std::move(r)); });
  proc->async_wait([&](hcs::Result<uint32_t> r) { wait2.emplace(std::move(r)); });
  env->io.restart();
  env->io.run_for(100ms);
  EXPECT_EQ(guest->client()->pending(), 2u);
  env->kill_gcs();
  ASSERT_TRUE(run_until(env->io, [&] { return wait1 && wait2; }));
  for (auto* w : {&wait1, &wait2}) {
    ASSERT_FALSE((*w)->ok());
    EXPECT_EQ((*w)->error().code(), hcs::hr::BridgeClosed);
  }
  EXPECT_EQ(guest->client()->pending(), 0u);
  // New requests on the dead connection fail at once, cleanly.
  auto late = await<hcs::Result<uint32_t>>(env->io, [&](auto cb) { proc->async_wait(cb); });
  EXPECT_EQ(late.error().code(), hcs::hr::BridgeClosed);

  env->start_gcs();
  auto again = env->connect();
  EXPECT_EQ(env->run(again, {"echo", "back"}).out, "back\n");
}

TEST_P(GcsProcess, GcsRedialsAfterTheHostDropsTheConnection) {
  guest->close();
  auto again = env->connect();
  EXPECT_EQ(env->run(again, {"echo", "again"}).out, "again\n");
}

TEST_P(GcsProcess, ShutdownOfTheUtilityVmStopsTheGcs) {
  auto r = await<hcs::Result<hcs::Json>>(env->io, [&](auto cb) {
    guest->client()->async_call(hcs::bridge::msg::ShutdownGraceful, hcs::schema::encode(hcs::schema::Request{}), cb);
  });
  EXPECT_TRUE(r.ok());
  auto st = env->gcs.wait_exit();
  EXPECT_EQ(st.code(), 0);
}

}  // namespace gcs_process_test
