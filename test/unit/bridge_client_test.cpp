// BridgeClient against BridgeServer in one process, over a socketpair.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "hcs/bridge/client.hpp"
#include "hcs/bridge/messages.hpp"
#include "hcs/bridge/server.hpp"

namespace bridge_client_test {

using namespace hcs;
using namespace hcs::bridge;
using namespace std::chrono_literals;
namespace asio = boost::asio;

namespace {

struct Pair {
  asio::io_context io;
  std::shared_ptr<BridgeClient> client;
  std::shared_ptr<BridgeServer> server;
  std::vector<Json> notifications;
  std::optional<Error> client_closed;

  explicit Pair(std::function<void(BridgeServer&)> handlers = {}) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
    auto a = transport::FdStream::adopt(io.get_executor(), UniqueFd(fds[0]), transport::FdStream::Kind::Socket);
    auto b = transport::FdStream::adopt(io.get_executor(), UniqueFd(fds[1]), transport::FdStream::Kind::Socket);
    server = BridgeServer::create(b, {});
    if (handlers) handlers(*server);
    server->start();
    BridgeClient::Options o;
    o.timeout = 2s;
    o.on_notification = [this](uint32_t, const Json& j) { notifications.push_back(j); };
    o.on_close = [this](const Error& e) { client_closed = e; };
    client = BridgeClient::start(a, o);
  }
  bool run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(5ms);
    }
    return done();
  }
  Result<Json> call(uint32_t type, Json body, std::optional<std::chrono::milliseconds> timeout = std::nullopt) {
    std::optional<Result<Json>> r;
    client->async_call(type, std::move(body), [&](Result<Json> x) { r.emplace(std::move(x)); }, timeout);
    if (!run_until([&] { return r.has_value(); })) throw std::runtime_error("no answer");
    return std::move(*r);
  }
  void negotiate() {
    schema::NegotiateProtocolRequest req;
    req.minimum_version = req.maximum_version = 4;
    ASSERT_TRUE(call(msg::NegotiateProtocol, schema::encode(req)).ok());
  }
};

}  // namespace

TEST(BridgeClient, ManyRequestsInFlightAnsweredOutOfOrder) {
  // The server answers each request after a delay taken from it, so later requests
  // overtake earlier ones; every answer must reach its own caller.
  std::vector<std::shared_ptr<asio::steady_timer>> timers;
  Pair p([&](BridgeServer& s) {
    s.on(msg::WaitForProcess, [&](const Call& c, Reply r) {
      auto pid = c.body.at("ProcessId").get<uint32_t>();
      auto t = std::make_shared<asio::steady_timer>(p.io, std::chrono::milliseconds((100 - pid) * 2));
      timers.push_back(t);
      t->async_wait([r, pid](auto) { r(Json{{"ExitCode", pid}}); });
    });
  });
  p.negotiate();
  std::map<uint32_t, uint32_t> got;
  for (uint32_t pid = 0; pid < 100; ++pid) {
    schema::WaitForProcessRequest w;
    w.process_id = pid;
    p.client->async_call(msg::WaitForProcess, schema::encode(w), [&, pid](Result<Json> r) {
      got[pid] = r.value().at("ExitCode").get<uint32_t>();
    });
  }
  ASSERT_TRUE(p.run_until([&] { return got.size() == 100; }));
  for (auto [pid, code] : got) EXPECT_EQ(pid, code);
  EXPECT_EQ(p.client->pending(), 0u);
  timers.clear();  // before the io_context they belong to goes
}

TEST(BridgeClient, GuestErrorsCarryResultAndMessage) {
  Pair p([](BridgeServer& s) {
    s.on(msg::SignalProcess, [](const Call&, Reply r) { r(Error(hr::ErrNotFound, "process 5 not found")); });
  });
  p.negotiate();
  auto r = p.call(msg::SignalProcess, Json::object());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::ErrNotFound);
  EXPECT_EQ(r.error().text(), "guest RPC failure: process 5 not found");
}

TEST(BridgeClient, RequestTimesOutAloneAndTheBridgeLivesOn) {
  std::vector<Reply> parked;
  Pair p([&](BridgeServer& s) {
    s.on(msg::WaitForProcess, [&](const Call&, Reply r) { parked.push_back(r); });
    s.on(msg::DumpStacks, [](const Call&, Reply r) { r(Json{{"GuestStacks", "x"}}); });
  });
  p.negotiate();
  auto r = p.call(msg::WaitForProcess, Json::object(), 50ms);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::VmcomputeTimeout);
  EXPECT_EQ(p.client->pending(), 0u);
  parked.front()(Json{{"ExitCode", 1}});  // a late answer is dropped quietly
  EXPECT_TRUE(p.call(msg::DumpStacks, Json::object()).ok());
}

TEST(BridgeClient, NotificationsReachTheCallback) {
  Pair p([](BridgeServer& s) {
    s.on(msg::Start, [&s](const Call& c, Reply r) {
      schema::ContainerNotification n;
      n.base.container_id = c.base.container_id;
      n.type = "UnexpectedExit";
      n.operation = "None";
      s.notify(msg::ContainerNotification, schema::encode(n));
      r(Json::object());
    });
  });
  p.negotiate();
  schema::Request start;
  start.base.container_id = "c1";
  ASSERT_TRUE(p.call(msg::Start, schema::encode(start)).ok());
  ASSERT_TRUE(p.run_until([&] { return !p.notifications.empty(); }));
  EXPECT_EQ(p.notifications[0].at("ContainerId"), "c1");
  EXPECT_EQ(p.notifications[0].at("Type"), "UnexpectedExit");
}

TEST(BridgeClient, ADroppedConnectionFailsEveryPendingRequest) {
  Pair p([](BridgeServer& s) { s.on(msg::WaitForProcess, [](const Call&, Reply) {}); });
  p.negotiate();
  int failed = 0;
  for (int i = 0; i < 10; ++i)
    p.client->async_call(msg::WaitForProcess, Json::object(), [&](Result<Json> r) {
      EXPECT_EQ(r.error().code(), hr::BridgeClosed);
      ++failed;
    });
  p.io.restart();
  p.io.run_for(20ms);
  EXPECT_EQ(p.client->pending(), 10u);
  p.server->close();
  ASSERT_TRUE(p.run_until([&] { return failed == 10; }));
  ASSERT_TRUE(p.client_closed);
  EXPECT_EQ(p.client_closed->code(), hr::BridgeClosed);
  // Later calls fail at once.
  EXPECT_EQ(p.call(msg::DumpStacks, Json::object()).error().code(), hr::BridgeClosed);
}

TEST(BridgeClient, BlockingCallFromAnotherThread) {
  Pair p([](BridgeServer& s) { s.on(msg::DumpStacks, [](const Call&, Reply r) { r(Json{{"GuestStacks", "s"}}); }); });
  p.negotiate();
  auto work = asio::make_work_guard(p.io);
  std::thread loop([&] {
    p.io.restart();
    p.io.run();
  });
  Json j = p.client->call(msg::DumpStacks, Json::object());
  EXPECT_EQ(j.at("GuestStacks"), "s");
  work.reset();
  p.io.stop();
  loop.join();
}

}  // namespace bridge_client_test
