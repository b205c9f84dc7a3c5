// Feeds arbitrary bytes to a mux Session as its carrier, with listeners and dials in
// place so CONNECT/ACCEPT/DATA/CREDIT paths are reachable, and decodes every 16-byte
// window directly. Whatever the bytes, the session must end cleanly: no crash, no leak.
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <spdlog/spdlog.h>

#include "hcs/core/error.hpp"
#include "hcs/transport/mux.hpp"

namespace {

namespace asio = boost::asio;
using namespace hcs::transport;
using namespace hcs::transport::mux;

// Echoes what it reads, so received DATA is consumed (CREDIT goes out) and DATA is sent.
struct Echo : std::enable_shared_from_this<Echo> {
  StreamPtr s;
  std::array<std::byte, 4096> buf;
  void run() {
    s->async_read_some(buf, [self = shared_from_this()](const error_code& ec, std::size_t n) {
      if (ec == asio::error::eof) return self->s->shutdown_write();
      if (ec) return self->s->close();
      async_write_all(self->s, std::span(self->buf.data(), n), [self](const error_code& wec, std::size_t) {
        if (!wec) self->run();
      });
    });
  }
};

void serve(StreamPtr s) {
  auto e = std::make_shared<Echo>();
  e->s = std::move(s);
  e->run();
}

void accept_loop(const std::shared_ptr<Listener>& l) {
  l->async_accept([l](const error_code& ec, StreamPtr s) {
    if (ec) return;
    serve(std::move(s));
    accept_loop(l);
  });
}

void check_headers(const uint8_t* data, size_t size) {
  for (size_t i = 0; i + kHeaderSize <= size; ++i) {
    std::span<const std::byte, kHeaderSize> window(reinterpret_cast<const std::byte*>(data + i), kHeaderSize);
    try {
      const auto encoded = encode_header(decode_header(window));
      if (std::memcmp(encoded.data(), window.data(), kHeaderSize) != 0) __builtin_trap();  // must round-trip
    } catch (const hcs::Error& e) {
      if (e.code() != hcs::hr::ErrInvalidArg) __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool once = [] {
    std::signal(SIGPIPE, SIG_IGN);  // the session may write after the peer end closed
    spdlog::set_level(spdlog::level::off);
    return true;
  }();
  (void)once;
  check_headers(data, size);

  asio::io_context io;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  auto carrier = FdStream::adopt(io.get_executor(), hcs::UniqueFd(fds[0]), FdStream::Kind::Socket);
  auto raw = FdStream::adopt(io.get_executor(), hcs::UniqueFd(fds[1]), FdStream::Kind::Socket);

  int closes = 0;
  auto session = Session::start(carrier, Role::Host, [&](const error_code&) { ++closes; });
  std::shared_ptr<Listener> l1 = session->listen(1), l2 = session->listen(kGcsPort);
  accept_loop(l1);
  accept_loop(l2);
  for (uint32_t port : {1u, 2u})  // stream ids 2 and 4, for ACCEPT/REJECT in the input
    session->async_dial(port, [](const error_code& ec, StreamPtr s) {
      if (!ec) serve(std::move(s));
    });

  // The input is everything the peer ever says; then its side of the carrier ends.
  const std::string input(reinterpret_cast<const char*>(data), size);
  async_write_all(raw, std::as_bytes(std::span(input.data(), input.size())),
                  [raw](const error_code&, std::size_t) { raw->shutdown_write(); });
  auto sink = std::make_shared<std::array<std::byte, 4096>>();
  std::function<void()> drain = [&] {
    raw->async_read_some(*sink, [&, sink](const error_code& ec, std::size_t) {
      if (!ec) drain();
    });
  };
  drain();

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (closes == 0 && std::chrono::steady_clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(10));
  }
  if (closes != 1) __builtin_trap();  // EOF on the carrier must end the session

  l1->close();
  l2->close();
  session.reset();
  raw->close();
  io.restart();
  io.poll();
  if (closes != 1) __builtin_trap();
  return 0;
}
