// Arbitrary bytes from a hostile peer, fed to a live ttrpc Server over a real unix
// connection (echo, typed, throwing, late-answering and never-answering methods are
// registered), and then to a Client, as if they were the server's answers to calls in
// flight. Whatever the bytes: no crash, no leak, and every connection ends.
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "hcs/ttrpc/client.hpp"
#include "hcs/ttrpc/frame.hpp"
#include "hcs/ttrpc/server.hpp"
#include "hcs/ttrpc/socket.hpp"
#include "proto/ttrpc.pb.h"

namespace {

namespace asio = boost::asio;
using namespace hcs;
using namespace hcs::ttrpc;
using namespace std::chrono_literals;

struct World {
  asio::io_context io;
  std::string address = "@hcskit-ttrpc-fuzz-" + std::to_string(::getpid());
  Server server{io.get_executor()};
  std::vector<Reply> never;  // answered only after the connection is gone
  std::vector<std::shared_ptr<asio::steady_timer>> timers;

  World() {
    spdlog::set_level(spdlog::level::off);
    server.register_method("f.S", "Echo", [](Call c, Reply r) { r(std::move(c.payload)); });
    server.register_method<hcskit::ttrpc::KeyValue, hcskit::ttrpc::KeyValue>(
        "f.S", "Kv", [](hcskit::ttrpc::KeyValue kv, std::function<void(Result<hcskit::ttrpc::KeyValue>)> r) {
          r(std::move(kv));
        });
    server.register_method("f.S", "Throw", [](Call c, Reply) { throw Error(uint32_t(c.payload.size()), c.payload); });
    server.register_method("f.S", "Later", [this](Call c, Reply r) {
      auto t = std::make_shared<asio::steady_timer>(io, std::chrono::microseconds(c.payload.size() % 1000));
      timers.push_back(t);
      t->async_wait([r, p = std::move(c.payload)](auto) {
        r(p);
        r(Error(hr::Fail, "twice"));
      });
    });
    server.register_method("f.S", "Never", [this](Call, Reply r) { never.push_back(std::move(r)); });
    server.listen(address);
  }

  // Runs what is ready; waits briefly only when nothing is.
  void pump() {
    io.restart();
    if (io.poll() == 0) io.run_one_for(200us);
  }

  // Writes `data` into `fd` while the loop runs and drains what comes back, until the
  // other side hangs up (server) or `done` holds (client).
  void feed(int fd, const uint8_t* data, size_t size, const std::function<bool()>& done) {
    size_t written = 0;
    bool shut = false;
    const auto limit = std::chrono::steady_clock::now() + 30s;
    for (;;) {
      if (written < size) {
        ssize_t n = ::send(fd, data + written, size - written, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) written += size_t(n);
      }
      if (written == size && !shut) {
        ::shutdown(fd, SHUT_WR);
        shut = true;
      }
      char sink[65536];
      ssize_t n;
      while ((n = ::recv(fd, sink, sizeof sink, MSG_DONTWAIT)) > 0) {
      }
      if (n == 0 && shut && (!done || done())) return;
      if (done && done()) return;
      if (std::chrono::steady_clock::now() > limit) std::abort();  // a connection that never ends
      pump();
    }
  }
};

World& world() {
  static World* w = new World();  // lives for the whole run
  return *w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& w = world();
  if (size >= kHeaderSize) (void)decode_header(std::span<const std::byte, kHeaderSize>(
                                reinterpret_cast<const std::byte*>(data), kHeaderSize));

  // 1. The bytes as requests to the server.
  {
    UniqueFd fd = connect_unix(w.address);
    w.feed(fd.get(), data, size, {});
  }
  while (w.server.connections() != 0) w.pump();
  for (auto& r : w.never) r(std::string("too late"));
  w.never.clear();
  w.pump();
  w.timers.clear();

  // 2. The bytes as answers to a client with calls in flight on streams 1, 3, 5, 7.
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  UniqueFd peer(fds[1]);
  auto client = Client::adopt(w.io.get_executor(), UniqueFd(fds[0]), "fuzz");
  int answered = 0;
  for (int i = 0; i < 4; ++i)
    client->async_call("f.S", "M", "", [&](Result<std::string>) { ++answered; }, i == 3 ? 5ms : 0ms);
  w.feed(peer.get(), data, size, [&] { return client->closed() && answered == 4; });
  client.reset();
  w.pump();
  return 0;
}
