#include "hcs/transport/address.hpp"

#include <boost/asio/post.hpp>

#include "hcs/transport/mux.hpp"
#include "hcs/transport/socket.hpp"
#include "hcs/transport/virtio_serial.hpp"

namespace hcs::transport {

namespace asio = boost::asio;

Address Address::parse(std::string_view text) {
  Address a;
  std::string_view rest = text;
  if (rest.starts_with("mux+")) {
    a.mux = true;
    rest.remove_prefix(4);
  }
  auto bad = [&](const std::string& why) {
    return Error(hr::ErrInvalidArg, "invalid transport address '" + std::string(text) + "': " + why +
                                        " (want unix:PATH, vsock[:CID] or virtio-serial:NAME, optionally mux+...)");
  };
  if (rest.starts_with("unix:")) {
    a.kind = Kind::Unix;
    a.path = rest.substr(5);
    if (a.path.empty()) throw bad("empty path");
  } else if (rest == "vsock" || rest.starts_with("vsock:")) {
    a.kind = Kind::Vsock;
    if (rest.size() > 6) {
      std::string cid(rest.substr(6));
      try {
        size_t used = 0;
        unsigned long v = std::stoul(cid, &used, 0);
        if (used != cid.size() || v > 0xFFFFFFFFul) throw std::out_of_range("cid");
        a.cid = static_cast<uint32_t>(v);
      } catch (const std::exception&) {
        throw bad("bad context id '" + cid + "'");
      }
    }
  } else if (rest.starts_with("virtio-serial:")) {
    a.kind = Kind::VirtioSerial;
    a.path = rest.substr(14);
    if (a.path.empty()) throw bad("empty port name");
  } else {
    throw bad("unknown kind");
  }
  return a;
}

std::string Address::str() const {
  std::string s = mux ? "mux+" : "";
  switch (kind) {
    case Kind::Unix: return s + "unix:" + path;
    case Kind::Vsock: return s + "vsock:" + std::to_string(cid);
    case Kind::VirtioSerial: return s + "virtio-serial:" + path;
  }
  return s;
}

namespace {

// The transport of a connection that carries only the bridge (virtio-serial without mux).
class BridgeOnlyTransport final : public Transport {
 public:
  explicit BridgeOnlyTransport(asio::any_io_executor ex) : ex_(std::move(ex)) {}
  void async_dial(uint32_t, ConnectHandler handler) override {
    asio::post(ex_, [handler] { handler(asio::error::operation_not_supported, nullptr); });
  }
  std::unique_ptr<Listener> listen(uint32_t port) override {
    throw Error(hr::NotImpl, "port " + std::to_string(port) + " needs mux on this transport");
  }
  asio::any_io_executor get_executor() override { return ex_; }

 private:
  asio::any_io_executor ex_;
};

Error connect_error(const Address& a, const error_code& ec) {
  return Error(hr::Fail, "connect to " + a.str() + ": " + ec.message());
}

// Over a carrier stream, opens the mux session and its GCS port.
void start_mux(const StreamPtr& carrier, mux::Role role, std::function<void(Result<Connection>)> done) {
  auto session = mux::Session::start(carrier, role);
  auto finish = [session, done](const error_code& ec, StreamPtr bridge) {
    if (ec) {
      session->close();
      return done(Error(hr::Fail, "mux: GCS port: " + ec.message()));
    }
    done(Connection{bridge, session, [session, bridge] {
                      bridge->close();
                      session->close();
                    }});
  };
  if (role == mux::Role::Guest) {
    session->async_dial(kGcsPort, finish);
  } else {
    auto listener = std::shared_ptr<Listener>(session->listen(kGcsPort));
    listener->async_accept([listener, finish](const error_code& ec, StreamPtr s) {
      listener->close();
      finish(ec, std::move(s));
    });
  }
}

Connection plain(StreamPtr bridge, TransportPtr transport) {
  return Connection{bridge, std::move(transport), [bridge] { bridge->close(); }};
}

}  // namespace

void async_connect(asio::any_io_executor ex, const Address& a, std::function<void(Result<Connection>)> done) {
  auto with_stream = [ex, a, done](const error_code& ec, StreamPtr s) {
    if (ec) return done(connect_error(a, ec));
    if (a.mux) return start_mux(s, mux::Role::Guest, done);
    switch (a.kind) {
      case Address::Kind::Unix: return done(plain(s, std::make_shared<UnixTransport>(ex, a.path)));
      case Address::Kind::Vsock: return done(plain(s, std::make_shared<VsockTransport>(ex, a.cid)));
      case Address::Kind::VirtioSerial: return done(plain(s, std::make_shared<BridgeOnlyTransport>(ex)));
    }
  };
  switch (a.kind) {
    case Address::Kind::Unix: return dial_unix(ex, a.path, with_stream);
    case Address::Kind::Vsock: return VsockTransport(ex, a.cid).async_dial(kGcsPort, with_stream);
    case Address::Kind::VirtioSerial:
      try {
        auto fd = open_virtio_port(find_virtio_port(a.path));
        auto s = FdStream::adopt(ex, std::move(fd), FdStream::Kind::Device);
        asio::post(ex, [with_stream, s] { with_stream({}, s); });
      } catch (const Error& e) {
        asio::post(ex, [done, e] { done(e); });
      }
      return;
  }
}

HostListener::HostListener(asio::any_io_executor ex, const Address& a) : ex_(ex), address_(a) {
  switch (a.kind) {
    case Address::Kind::Unix: listener_ = listen_unix(ex, a.path); break;
    case Address::Kind::Vsock: listener_ = VsockTransport(ex, a.cid).listen(kGcsPort); break;
    case Address::Kind::VirtioSerial:
      throw Error(hr::ErrInvalidArg, "a host listens on unix or vsock; virtio-serial is the guest's end");
  }
}

HostListener::~HostListener() { close(); }

void HostListener::close() {
  if (listener_) listener_->close();
}

void HostListener::async_accept(std::function<void(Result<Connection>)> done) {
  auto ex = ex_;
  auto a = address_;
  listener_->async_accept([ex, a, done](const error_code& ec, StreamPtr s) {
    if (ec) return done(Error(hr::Fail, "accept on " + a.str() + ": " + ec.message()));
    if (a.mux) return start_mux(s, mux::Role::Host, done);
    if (a.kind == Address::Kind::Unix) return done(plain(s, std::make_shared<UnixTransport>(ex, a.path)));
    done(plain(s, std::make_shared<VsockTransport>(ex, a.cid)));
  });
}

}  // namespace hcs::transport
