// Arbitrary bytes from a hostile host, fed to a BridgeServer as its stream: frames are
// decoded, sizes checked, bodies parsed and dispatched (to the negotiation handler and
// an echo handler). Must neither crash nor leak, whatever the bytes.
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>

#include "hcs/bridge/frame.hpp"
#include "hcs/bridge/messages.hpp"
#include "hcs/bridge/server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hcs;
  if (size >= bridge::kHeaderSize) {
    auto h = bridge::decode_header(std::span<const std::byte, 16>(reinterpret_cast<const std::byte*>(data), 16));
    (void)bridge::check_size(h.size);
    (void)bridge::message_name(h.type);
  }
  boost::asio::io_context io;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return 0;
  UniqueFd peer(fds[1]);
  auto stream = transport::FdStream::adopt(io.get_executor(), UniqueFd(fds[0]), transport::FdStream::Kind::Socket);
  bool closed = false;
  bridge::BridgeServer::Options opts;
  opts.on_close = [&](const auto&) { closed = true; };
  auto server = bridge::BridgeServer::create(stream, opts);
  server->on(bridge::msg::DumpStacks, [](const bridge::Call& c, bridge::Reply r) {
    schema::decode<schema::Request>(c.body);
    r(Json{{"GuestStacks", c.body.dump()}});
  });
  server->start();
  // Write the input in the background: the socket buffer may be smaller than it.
  size_t written = 0;
  while (!closed) {
    if (written < size) {
      ssize_t n = ::send(peer.get(), data + written, size - written, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) written += static_cast<size_t>(n);
      if (written == size) ::shutdown(peer.get(), SHUT_WR);
    } else if (size == 0) {
      ::shutdown(peer.get(), SHUT_WR);
    }
    // Drain responses so the server never blocks on a full socket.
    char sink[65536];
    while (::recv(peer.get(), sink, sizeof sink, MSG_DONTWAIT) > 0) {
    }
    io.restart();
    io.run_for(std::chrono::milliseconds(1));
  }
  server.reset();
  io.restart();
  io.poll();
  return 0;
}
