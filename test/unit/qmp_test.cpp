// The QMP client (hcs::uvm::Qmp) against a scripted fake QEMU: a thread doing blocking
// I/O on the other end of a socketpair (or of a unix socket, for async_connect).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <thread>

#include "hcs/transport/stream.hpp"
#include "hcs/uvm/qmp.hpp"

namespace qmp_test {

using namespace hcs;
using namespace hcs::uvm;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

const char* kGreeting =
    R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"}, "capabilities": ["oob"]}})";

// The QEMU end: blocking reads and writes, lines ending in "\r\n" as QEMU's do.
struct Peer {
  UniqueFd fd;
  std::string buf;

  std::optional<std::string> read_line() {
    for (;;) {
      auto nl = buf.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return line;
      }
      char tmp[4096];
      ssize_t n = ::read(fd.get(), tmp, sizeof tmp);
      if (n <= 0) return std::nullopt;
      buf.append(tmp, static_cast<std::size_t>(n));
    }
  }
  // The next command, or a null Json at EOF.
  Json command() {
    auto line = read_line();
    return line ? Json::parse(*line) : Json();
  }
  bool send_raw(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  bool send(const Json& j) { return send_raw(j.dump() + "\r\n"); }
  void reply(const Json& cmd, const Json& ret) { send(Json{{"return", ret}, {"id", cmd.at("id")}}); }
  void error(const Json& cmd, const std::string& cls, const std::string& desc) {
    send(Json{{"id", cmd.at("id")}, {"error", {{"class", cls}, {"desc", desc}}}});
  }
  void event(const std::string& name, const Json& data = Json()) {
    Json e{{"timestamp", {{"seconds", 1}, {"microseconds", 2}}}, {"event", name}};
    if (!data.is_null()) e["data"] = data;
    send(e);
  }
  // Greeting and qmp_capabilities.
  bool handshake() {
    send_raw(std::string(kGreeting) + "\r\n");
    Json caps = command();
    if (caps.is_null() || caps.value("execute", "") != "qmp_capabilities") return false;
    EXPECT_FALSE(caps.contains("arguments"));
    reply(caps, Json::object());
    return true;
  }
};

struct Fixture {
  asio::io_context io;
  std::thread peer_thread;
  std::shared_ptr<Qmp> qmp;
  std::optional<Error> connect_error;
  std::vector<std::pair<std::string, Json>> events;
  std::vector<Error> closes;

  ~Fixture() {
    if (qmp) qmp->close();
    run_for(20ms);
    if (peer_thread.joinable()) peer_thread.join();
  }
  // Starts the fake QEMU on one end of a socketpair and the handshake on the other.
  void start(std::function<void(Peer&)> script, std::chrono::milliseconds handshake_timeout = 2s) {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    peer_thread = std::thread([fd = fds[1], script = std::move(script)] {
      Peer p{UniqueFd(fd), {}};
      script(p);
    });
    auto stream = transport::FdStream::adopt(io.get_executor(), UniqueFd(fds[0]), transport::FdStream::Kind::Socket);
    bool done = false;
    Qmp::async_handshake(stream, handshake_timeout, [&](Result<std::shared_ptr<Qmp>> r) {
      done = true;
      if (!r.ok()) {
        connect_error = r.error();
        return;
      }
      qmp = r.value();
      qmp->on_event([this](const std::string& name, const Json& data) { events.emplace_back(name, data); });
      qmp->on_close([this](const Error& e) { closes.push_back(e); });
    });
    ASSERT_TRUE(run_until([&] { return done; }));
  }
  bool run_until(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!cond() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(2ms);
    }
    return cond();
  }
  void run_for(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
  Result<Json> execute(std::string cmd, Json args = Json(), std::chrono::milliseconds timeout = 0ms) {
    std::optional<Result<Json>> r;
    qmp->async_execute(std::move(cmd), std::move(args), [&](Result<Json> x) { r.emplace(std::move(x)); }, timeout);
    if (!run_until([&] { return r.has_value(); })) throw std::runtime_error("no answer");
    return std::move(*r);
  }
  Result<void> device_del(std::string id, std::chrono::milliseconds timeout) {
    std::optional<Result<void>> r;
    qmp->async_device_del(std::move(id), timeout, [&](Result<void> x) { r.emplace(std::move(x)); });
    if (!run_until([&] { return r.has_value(); })) throw std::runtime_error("no answer");
    return std::move(*r);
  }
};

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

}  // namespace

TEST(Qmp, HandshakeThenCommand) {
  Fixture f;
  f.start([](Peer& p) {
    ASSERT_TRUE(p.handshake());
    Json c = p.command();
    EXPECT_EQ(c.value("execute", ""), "query-status");
    EXPECT_FALSE(c.contains("arguments"));
    p.reply(c, {{"status", "prelaunch"}, {"running", false}});
    c = p.command();
    EXPECT_EQ(c.at("arguments"), (Json{{"id", "hd1"}, {"lun", 1}}));
    p.reply(c, Json::object());
    p.command();  // EOF once the client closes
  });
  ASSERT_TRUE(f.qmp) << f.connect_error->text();
  EXPECT_EQ(f.qmp->greeting().at("QMP").at("version").at("package"), "fake");
  auto r = f.execute("query-status");
  ASSERT_TRUE(r.ok()) << r.error().text();
  EXPECT_EQ(r.value().at("status"), "prelaunch");
  EXPECT_TRUE(f.execute("device_add", Json{{"id", "hd1"}, {"lun", 1}}).ok());
  // Arguments must be an object.
  auto bad = f.execute("x", Json::array());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), hr::ErrInvalidArg);
}

TEST(Qmp, RepliesMatchedByIdNotOrderWithEventsInterleaved) {
  Fixture f;
  f.start([](Peer& p) {
    ASSERT_TRUE(p.handshake());
    std::vector<Json> cmds;
    for (int i = 0; i < 5; ++i) cmds.push_back(p.command());
    p.event("RESUME");
    // Answer backwards, each with the number it was sent, events in between.
    for (int i = 4; i >= 0; --i) {
      p.reply(cmds[i], {{"n", cmds[i].at("arguments").at("n")}});
      p.event("TICK", {{"i", i}});
    }
    p.command();
  });
  ASSERT_TRUE(f.qmp);
  std::map<int, int> got;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i)
    f.qmp->async_execute("echo", Json{{"n", i}}, [&, i](Result<Json> r) {
      ASSERT_TRUE(r.ok());
      got[i] = r.value().at("n").get<int>();
      order.push_back(i);
    });
  ASSERT_TRUE(f.run_until([&] { return got.size() == 5 && f.events.size() == 6; }));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(got[i], i);
  EXPECT_EQ(order, (std::vector<int>{4, 3, 2, 1, 0}));
  EXPECT_EQ(f.events[0].first, "RESUME");
  EXPECT_EQ(f.events[0].second, Json::object());  // no "data": an empty object
  EXPECT_EQ(f.events[1].first, "TICK");
  EXPECT_EQ(f.events[1].second.at("i"), 4);
  EXPECT_EQ(f.events[5].second.at("i"), 0);
}

TEST(Qmp, ErrorReplyCarriesClassAndDescription) {
  Fixture f;
  f.start([](Peer& p) {
    ASSERT_TRUE(p.handshake());
    Json c = p.command();
    p.error(c, "DeviceNotFound", "Device 'nope' not found");
    c = p.command();
    p.error(c, "GenericError", "Property 'scsi-hd.drive' can't find value 'x'");
    c = p.command();
    p.error(c, "CommandNotFound", "The command bogus has not been found");
    c = p.command();
    p.reply(c, Json::object());  // still usable afterwards
    p.command();
  });
  ASSERT_TRUE(f.qmp);
  auto r = f.execute("device_del", Json{{"id", "nope"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::ErrNotFound);
  EXPECT_EQ(r.error().message(), "DeviceNotFound: Device 'nope' not found");
  EXPECT_EQ(r.error().text(), "qmp device_del: DeviceNotFound: Device 'nope' not found");
  r = f.execute("device_add");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::Fail);
  EXPECT_TRUE(contains(r.error().text(), "GenericError: Property 'scsi-hd.drive'")) << r.error().text();
  r = f.execute("bogus");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::NotImpl);
  EXPECT_TRUE(f.execute("query-status").ok());
}

TEST(Qmp, DeviceDelWaitsForDeviceDeletedEvent) {
  Fixture f;
  std::atomic<bool> event_sent{false};
  f.start([&](Peer& p) {
    ASSERT_TRUE(p.handshake());
    // 1: accepted at once, the event comes later, after another device's.
    Json c = p.command();
    EXPECT_EQ(c.at("arguments").at("id"), "hd1");
    p.reply(c, Json::object());
    std::this_thread::sleep_for(50ms);
    p.event("DEVICE_DELETED", {{"path", "/machine/peripheral/hd1/virtio-backend"}});
    p.event("DEVICE_DELETED", {{"device", "other"}, {"path", "/machine/peripheral/other"}});
    std::this_thread::sleep_for(50ms);
    event_sent = true;
    p.event("DEVICE_DELETED", {{"device", "hd1"}, {"path", "/machine/peripheral/hd1"}});
    // 2: the event before the reply (synchronous unplug).
    c = p.command();
    p.event("DEVICE_DELETED", {{"device", "hd2"}, {"path", "/machine/peripheral/hd2"}});
    p.reply(c, Json::object());
    // 3: refused.
    c = p.command();
    p.error(c, "DeviceNotFound", "Device 'hd3' not found");
    // 4: accepted, never deleted (a guest ignoring a PCI unplug request).
    c = p.command();
    p.reply(c, Json::object());
    p.command();
  });
  ASSERT_TRUE(f.qmp);
  auto r = f.device_del("hd1", 5s);
  EXPECT_TRUE(r.ok()) << r.error().text();
  EXPECT_TRUE(event_sent.load());
  r = f.device_del("hd2", 5s);
  EXPECT_TRUE(r.ok()) << r.error().text();
  r = f.device_del("hd3", 5s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::ErrNotFound);
  auto t0 = std::chrono::steady_clock::now();
  r = f.device_del("hd4", 100ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::VmcomputeTimeout);
  EXPECT_TRUE(contains(r.error().text(), "hd4")) << r.error().text();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 100ms);
  // Every event also reached the event handler.
  int deleted = 0;
  for (auto& [name, data] : f.events) deleted += name == "DEVICE_DELETED";
  EXPECT_EQ(deleted, 4);
}

TEST(Qmp, PeerClosingFailsEveryPendingCommand) {
  Fixture f;
  f.start([](Peer& p) {
    ASSERT_TRUE(p.handshake());
    p.command();
    p.command();
    p.command();
    p.fd.reset();  // QEMU dies
  });
  ASSERT_TRUE(f.qmp);
  std::vector<Error> errors;
  f.qmp->async_execute("query-status", Json(), [&](Result<Json> r) { errors.push_back(r.error()); });
  f.qmp->async_execute("cont", Json(), [&](Result<Json> r) { errors.push_back(r.error()); });
  f.qmp->async_device_del("hd1", 0ms, [&](Result<void> r) { errors.push_back(r.error()); });
  ASSERT_TRUE(f.run_until([&] { return errors.size() == 3; }));
  for (const auto& e : errors) {
    EXPECT_EQ(e.code(), hr::BridgeClosed);
    EXPECT_TRUE(contains(e.text(), "QEMU closed the socket")) << e.text();
  }
  EXPECT_TRUE(f.qmp->closed());
  ASSERT_EQ(f.closes.size(), 1u);
  EXPECT_TRUE(contains(f.closes[0].text(), "connection to QEMU closed")) << f.closes[0].text();
  // Later commands fail at once, and a late on_close still hears why.
  auto r = f.execute("query-status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::BridgeClosed);
  std::optional<Error> late;
  f.qmp->on_close([&](const Error& e) { late = e; });
  ASSERT_TRUE(f.run_until([&] { return late.has_value(); }));
  EXPECT_EQ(f.closes.size(), 1u);
}

TEST(Qmp, HostCloseFailsPendingCommands) {
  Fixture f;
  f.start([](Peer& p) {
    ASSERT_TRUE(p.handshake());
    p.command();
    EXPECT_TRUE(p.command().is_null());  // the client hung up
  });
  ASSERT_TRUE(f.qmp);
  std::optional<Result<Json>> r;
  f.qmp->async_execute("query-status", Json(), [&](Result<Json> x) { r.emplace(std::move(x)); });
  f.run_for(20ms);
  f.qmp->close();
  ASSERT_TRUE(f.run_until([&] { return r.has_value(); }));
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().text(), "qmp query-status: connection to QEMU closed by the host");
  EXPECT_EQ(f.closes.size(), 1u);
}

TEST(Qmp, OversizedLineBreaksTheConnection) {
  Fixture f;
  f.start([](Peer& p) {
    ASSERT_TRUE(p.handshake());
    Json c = p.command();
    // A "reply" of 2 MiB: the client gives up after 1 MiB and hangs up.
    std::string huge = R"({"return": ")" + std::string(2u << 20, 'x') + R"(", "id": )" + c.at("id").dump() + "}\r\n";
    p.send_raw(huge);
  });
  ASSERT_TRUE(f.qmp);
  auto r = f.execute("query-status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::BridgeClosed);
  EXPECT_TRUE(contains(r.error().text(), "longer than 1048576 bytes")) << r.error().text();
}

TEST(Qmp, MalformedJsonBreaksTheConnection) {
  Fixture f;
  f.start([](Peer& p) {
    ASSERT_TRUE(p.handshake());
    p.command();
    p.send_raw("{\"return\": {}, \"id\": \r\n");
  });
  ASSERT_TRUE(f.qmp);
  auto r = f.execute("query-status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::BridgeClosed);
  EXPECT_TRUE(contains(r.error().text(), "not valid JSON")) << r.error().text();
}

TEST(Qmp, LinesSplitAcrossReadsAndManyPerRead) {
  Fixture f;
  f.start([](Peer& p) {
    ASSERT_TRUE(p.handshake());
    Json a = p.command();
    Json b = p.command();
    std::string both = Json{{"return", 1}, {"id", a.at("id")}}.dump() + "\r\n\r\n" +
                       Json{{"event", "X"}}.dump() + "\n" + Json{{"return", 2}, {"id", b.at("id")}}.dump() + "\r\n";
    for (char ch : both) {  // one byte at a time
      p.send_raw(std::string_view(&ch, 1));
      if (ch == '\n') std::this_thread::sleep_for(5ms);
    }
    p.command();
  });
  ASSERT_TRUE(f.qmp);
  std::vector<Json> got;
  f.qmp->async_execute("a", Json(), [&](Result<Json> r) { got.push_back(r.value()); });
  f.qmp->async_execute("b", Json(), [&](Result<Json> r) { got.push_back(r.value()); });
  ASSERT_TRUE(f.run_until([&] { return got.size() == 2; }));
  EXPECT_EQ(got, (std::vector<Json>{1, 2}));
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].first, "X");
}

TEST(Qmp, CommandTimeoutDropsTheLateReply) {
  Fixture f;
  f.start([](Peer& p) {
    ASSERT_TRUE(p.handshake());
    Json slow = p.command();
    std::this_thread::sleep_for(150ms);
    p.reply(slow, "late");
    Json next = p.command();
    p.reply(next, "fine");
    p.command();
  });
  ASSERT_TRUE(f.qmp);
  auto r = f.execute("slow", Json(), 50ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::VmcomputeTimeout);
  f.run_for(200ms);
  auto ok = f.execute("next");
  ASSERT_TRUE(ok.ok()) << ok.error().text();
  EXPECT_EQ(ok.value(), "fine");
}

TEST(Qmp, HandshakeFailures) {
  {
    Fixture f;  // not QMP at all
    f.start([](Peer& p) { p.send_raw("{\"hello\": 1}\r\n"); });
    ASSERT_TRUE(f.connect_error);
    EXPECT_EQ(f.connect_error->code(), hr::BridgeClosed);
    EXPECT_TRUE(contains(f.connect_error->text(), "expected the QMP greeting")) << f.connect_error->text();
  }
  {
    Fixture f;  // silent
    std::atomic<bool> stop{false};
    f.start([&](Peer&) { while (!stop) std::this_thread::sleep_for(5ms); }, 100ms);
    stop = true;
    ASSERT_TRUE(f.connect_error);
    EXPECT_EQ(f.connect_error->code(), hr::VmcomputeTimeout);
  }
  {
    Fixture f;  // capabilities refused
    f.start([](Peer& p) {
      p.send_raw(std::string(kGreeting) + "\r\n");
      p.error(p.command(), "GenericError", "Capabilities negotiation is already complete");
    });
    ASSERT_TRUE(f.connect_error);
    EXPECT_TRUE(contains(f.connect_error->text(), "qmp_capabilities: GenericError")) << f.connect_error->text();
  }
  {
    Fixture f;  // gone before the greeting
    f.start([](Peer& p) { p.fd.reset(); });
    ASSERT_TRUE(f.connect_error);
    EXPECT_EQ(f.connect_error->code(), hr::BridgeClosed);
  }
}

TEST(Qmp, ConnectRetriesUntilTheSocketAppears) {
  char tmpl[] = "/tmp/hcskit-qmp-XXXXXX";
  ASSERT_TRUE(::mkdtemp(tmpl));
  const std::string dir = tmpl, path = dir + "/qmp.sock";
  asio::io_context io;

  // Nothing there and a short wait: a clear error naming the socket.
  std::optional<Result<std::shared_ptr<Qmp>>> r;
  auto t0 = std::chrono::steady_clock::now();
  Qmp::async_connect(io.get_executor(), path, 60ms, [&](Result<std::shared_ptr<Qmp>> x) { r.emplace(std::move(x)); });
  io.run_for(5s);
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_TRUE(contains(r->error().text(), path)) << r->error().text();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 60ms);

  // The "QEMU" binds its socket 100 ms after we start dialling.
  std::thread qemu([&] {
    std::this_thread::sleep_for(100ms);
    UniqueFd lfd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::bind(lfd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(lfd.get(), 1) != 0) return;
    Peer p{UniqueFd(::accept4(lfd.get(), nullptr, nullptr, SOCK_CLOEXEC)), {}};
    if (!p.handshake()) return;
    Json c = p.command();
    p.reply(c, {{"qemu", {{"major", 7}}}});
    p.command();
  });
  r.reset();
  Qmp::async_connect(io.get_executor(), path, 5s, [&](Result<std::shared_ptr<Qmp>> x) { r.emplace(std::move(x)); });
  io.restart();
  while (!r && io.run_one_for(5s)) {
  }
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->ok()) << r->error().text();
  auto qmp = r->value();
  std::optional<Result<Json>> v;
  qmp->async_execute("query-version", Json(), [&](Result<Json> x) { v.emplace(std::move(x)); });
  while (!v && io.run_one_for(5s)) {
  }
  ASSERT_TRUE(v && v->ok());
  EXPECT_EQ(v->value().at("qemu").at("major"), 7);
  qmp->close();
  io.restart();
  io.run_for(20ms);
  qemu.join();
  std::filesystem::remove_all(dir);
}

}  // namespace qmp_test
