// The OCI runtime driver: how the runtimes' errors are read and classified, the console
// socket's fd passing, and real runc/crun calls that must fail with the right HRESULT.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cstring>
#include <filesystem>
#include <optional>

#include "hcs/runtime/console_socket.hpp"
#include "hcs/runtime/runtime.hpp"

namespace runtime_test {

namespace fs = std::filesystem;
using namespace hcs;
using namespace std::chrono_literals;

TEST(Runtime, LastLogErrorTakesTheLastErrorLine) {
  // runc's logrus lines and crun's lines, mixed with noise.
  std::string log =
      R"({"level":"info","msg":"starting","time":"t"})"
      "\n"
      R"({"level":"error","msg":"first failure","time":"t"})"
      "\nnot json at all\n"
      R"({"msg": "container `x` does not exist", "level": "error", "time": "t"})"
      "\n"
      R"({"level":"warning","msg":"later warning"})"
      "\n";
  EXPECT_EQ(runtime::last_log_error(log), "container `x` does not exist");
  EXPECT_EQ(runtime::last_log_error(""), "");
  EXPECT_EQ(runtime::last_log_error(R"({"level":"error","msg":42})"), "");
}

TEST(Runtime, ErrorMessagesMapToBridgeResults) {
  EXPECT_EQ(runtime::error_code_for("container with id exists: a"), hr::VmcomputeSystemAlreadyExists);
  EXPECT_EQ(runtime::error_code_for("container `a` already exists"), hr::VmcomputeSystemAlreadyExists);
  EXPECT_EQ(runtime::error_code_for("container does not exist"), hr::VmcomputeSystemNotFound);
  EXPECT_EQ(runtime::error_code_for("cannot exec in a stopped container: container not running"),
            hr::VmcomputeInvalidState);
  EXPECT_EQ(runtime::error_code_for("error opening file `/run/x/status`: No such file or directory"),
            hr::VmcomputeSystemNotFound);
  EXPECT_EQ(runtime::error_code_for("cannot open directory '/run/x': No such file or directory"),
            hr::VmcomputeSystemNotFound);
  // A missing executable is not a missing container.
  EXPECT_EQ(runtime::error_code_for("exec: \"nope\": executable file not found in $PATH"), hr::Fail);
  EXPECT_EQ(runtime::error_code_for("something else broke"), hr::Fail);
}

TEST(Runtime, ParseKind) {
  EXPECT_EQ(runtime::parse_kind("runc"), runtime::Kind::Runc);
  EXPECT_EQ(runtime::parse_kind("crun"), runtime::Kind::Crun);
  try {
    runtime::parse_kind("docker");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), hr::ErrInvalidArg);
  }
}

TEST(Runtime, ConsoleSocketReceivesTheSentFd) {
  boost::asio::io_context io;
  char tmpl[] = "/tmp/hcskit-console-XXXXXX";
  fs::path dir = ::mkdtemp(tmpl);
  std::optional<Result<UniqueFd>> got;
  {
    runtime::ConsoleSocket sock(io.get_executor(), dir / "c.sock");
    EXPECT_EQ(fs::status(sock.path()).permissions() & fs::perms::others_all, fs::perms::none);
    sock.async_receive([&](Result<UniqueFd> r) { got.emplace(std::move(r)); });

    // The runtime's side: connect, send one byte with a pipe's write end attached.
    auto p = make_pipe();
    UniqueFd c(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, sock.path().c_str());
    ASSERT_EQ(::connect(c.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    char byte = 'x';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))]{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    int w = p.write.get();
    std::memcpy(CMSG_DATA(cm), &w, sizeof w);
    ASSERT_EQ(::sendmsg(c.get(), &msg, 0), 1);
    p.write.reset();
    io.run_for(2s);
    ASSERT_TRUE(got && got->ok()) << (got ? got->error().text() : "nothing received");
    // The received fd is the pipe's write end.
    ASSERT_EQ(::write(got->value().get(), "hi", 2), 2);
    char buf[2];
    ASSERT_EQ(::read(p.read.get(), buf, 2), 2);
  }
  EXPECT_FALSE(fs::exists(dir / "c.sock"));  // removed with the object
  fs::remove_all(dir);
}

class RuntimeBinary : public ::testing::TestWithParam<std::string> {};
INSTANTIATE_TEST_SUITE_P(Kind, RuntimeBinary, ::testing::Values("runc", "crun"),
                         [](const auto& info) { return info.param; });

// A real runtime asked about a container it does not have reports its own message.
TEST_P(RuntimeBinary, UnknownContainerIsSystemNotFound) {
  if (::geteuid() != 0) GTEST_SKIP() << "the runtimes want root";
  boost::asio::io_context io;
  Reaper reaper(io.get_executor());
  char tmpl[] = "/tmp/hcskit-rt-XXXXXX";
  fs::path dir = ::mkdtemp(tmpl);
  runtime::Runtime rt(io.get_executor(), reaper,
                      runtime::choose(runtime::parse_kind(GetParam()), dir / "state", dir / "work"));
  for (auto verb : {"state", "start", "delete"}) {
    std::optional<Result<std::string>> r;
    auto done = [&](Result<std::string> x) { r.emplace(std::move(x)); };
    if (std::string(verb) == "state") rt.state("nobody", done);
    else if (std::string(verb) == "start") rt.start("nobody", done);
    else rt.remove("nobody", false, done);
    for (int i = 0; i < 500 && !r; ++i) {
      io.restart();
      io.run_for(10ms);
    }
    ASSERT_TRUE(r.has_value()) << verb;
    ASSERT_FALSE(r->ok()) << verb;
    EXPECT_EQ(r->error().code(), hr::VmcomputeSystemNotFound) << verb << ": " << r->error().text();
    EXPECT_NE(r->error().text().find(GetParam() + " " + verb), std::string::npos) << r->error().text();
  }
  // Nothing of ours is left in the work directory.
  EXPECT_TRUE(fs::is_empty(dir / "work"));
  fs::remove_all(dir);
}

}  // namespace runtime_test
