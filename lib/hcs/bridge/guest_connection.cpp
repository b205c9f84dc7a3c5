#include "hcs/bridge/guest_connection.hpp"

#include <boost/asio/post.hpp>

#include "hcs/bridge/messages.hpp"

namespace hcs::bridge {

using transport::error_code;
using transport::StreamPtr;

void GuestConnection::async_open(transport::Connection conn, Options options,
                                 std::function<void(Result<std::shared_ptr<GuestConnection>>)> done) {
  auto self = std::shared_ptr<GuestConnection>(new GuestConnection(std::move(conn)));
  BridgeClient::Options copts;
  copts.timeout = options.timeout;
  copts.on_notification = std::move(options.on_notification);
  copts.on_close = std::move(options.on_close);
  self->client_ = BridgeClient::start(self->conn_.bridge, std::move(copts));
  schema::NegotiateProtocolRequest req;
  req.minimum_version = kProtocolV4;
  req.maximum_version = kProtocolV4;
  self->client_->async_call(msg::NegotiateProtocol, schema::encode(req), [self, done](Result<Json> r) {
    if (!r.ok()) return done(r.error().wrapped("negotiate protocol"));
    try {
      auto resp = schema::decode<schema::NegotiateProtocolResponse>(r.value());
      if (resp.version != kProtocolV4)
        return done(Error(hr::VmcomputeUnsupportedProtocolVersion,
                          "guest chose protocol version " + std::to_string(resp.version) + ", not 4"));
      self->version_ = resp.version;
      self->caps_ = std::move(resp.capabilities);
      done(self);
    } catch (const Error& e) {
      done(e.wrapped("negotiate protocol"));
    }
  });
}

void GuestConnection::close() {
  client_->close();
  conn_.close();
}

void GuestConnection::async_create_process(schema::ProcessParameters params,
                                           std::function<void(Result<std::shared_ptr<GuestProcess>>)> done) {
  // One listener per requested pipe, opened before the request so the guest's dial
  // always finds it.
  struct Pending {
    std::unique_ptr<transport::Listener> listener;
    StreamPtr stream;
    uint32_t port = 0;
  };
  struct State {
    Pending in, out, err;
    int waiting = 0;  // accepts + the response
    std::optional<Error> error;
    uint32_t pid = 0;
    bool finished = false;
  };
  auto st = std::make_shared<State>();
  if (params.emulate_console) params.create_std_err_pipe = false;  // a tty has one output
  schema::ExecuteProcessRequest req;
  try {
    auto open = [&](bool wanted, Pending& p, uint32_t& port_field) {
      if (!wanted) return;
      p.port = next_port();
      p.listener = conn_.transport->listen(p.port);
      port_field = p.port;
      ++st->waiting;
    };
    open(params.create_std_in_pipe, st->in, req.settings.vsock_stdio_relay_settings.std_in);
    open(params.create_std_out_pipe, st->out, req.settings.vsock_stdio_relay_settings.std_out);
    open(params.create_std_err_pipe, st->err, req.settings.vsock_stdio_relay_settings.std_err);
  } catch (const Error& e) {
    auto ex = client_->get_executor();
    boost::asio::post(ex, [done, e] { done(e.wrapped("listen for stdio")); });
    return;
  }
  ++st->waiting;  // the ExecuteProcess response

  auto client = client_;
  auto finish = [st, client, done]() {
    if (st->waiting > 0 || st->finished) return;
    st->finished = true;
    for (auto* p : {&st->in, &st->out, &st->err})
      if (p->listener) p->listener->close();
    if (st->error) {
      for (auto* p : {&st->in, &st->out, &st->err})
        if (p->stream) p->stream->close();
      return done(*st->error);
    }
    done(std::make_shared<GuestProcess>(client, std::string(kNullContainerId), st->pid, st->in.stream,
                                        st->out.stream, st->err.stream));
  };
  auto fail = [st, finish](Error e) {
    if (!st->error) st->error = std::move(e);
    // Nothing more will arrive on the listeners: stop waiting for them.
    for (auto* p : {&st->in, &st->out, &st->err})
      if (p->listener && !p->stream) p->listener->close();
    finish();
  };
  for (auto* p : {&st->in, &st->out, &st->err}) {
    if (!p->listener) continue;
    p->listener->async_accept([st, p, finish, fail](const error_code& ec, StreamPtr s) {
      --st->waiting;
      if (ec) {
        if (!st->error) st->error = Error(hr::Fail, "accept stdio port " + std::to_string(p->port) + ": " + ec.message());
        return finish();
      }
      p->stream = std::move(s);
      finish();
    });
  }
  req.settings.process_parameters.value = std::move(params);
  client_->async_call(msg::ExecuteProcess, schema::encode(req), [st, finish, fail](Result<Json> r) {
    --st->waiting;
    if (!r.ok()) return fail(r.error().wrapped("execute process"));
    try {
      st->pid = schema::decode<schema::ExecuteProcessResponse>(r.value()).process_id;
    } catch (const Error& e) {
      return fail(e);
    }
    finish();
  });
}

schema::RequestBase GuestProcess::base() const {
  schema::RequestBase b;
  b.container_id = container_id_;
  return b;
}

void GuestProcess::async_wait(std::function<void(Result<uint32_t>)> done, uint32_t timeout_ms) {
  schema::WaitForProcessRequest req;
  req.base = base();
  req.process_id = pid_;
  req.timeout_in_ms = timeout_ms;
  // The guest enforces the wait's timeout; the client adds none of its own.
  client_->async_call(
      msg::WaitForProcess, schema::encode(req),
      [done](Result<Json> r) {
        if (!r.ok()) return done(r.error());
        try {
          done(schema::decode<schema::WaitForProcessResponse>(r.value()).exit_code);
        } catch (const Error& e) {
          done(e);
        }
      },
      std::chrono::milliseconds(0));
}

void GuestProcess::async_signal(int signal, std::function<void(Result<Json>)> done) {
  schema::SignalProcessRequest req;
  req.base = base();
  req.process_id = pid_;
  if (signal != 0) req.options = Json{{"Signal", signal}};
  client_->async_call(msg::SignalProcess, schema::encode(req), std::move(done));
}

void GuestProcess::async_resize(uint16_t height, uint16_t width, std::function<void(Result<Json>)> done) {
  schema::ResizeConsoleRequest req;
  req.base = base();
  req.process_id = pid_;
  req.height = height;
  req.width = width;
  client_->async_call(msg::ResizeConsole, schema::encode(req), std::move(done));
}

}  // namespace hcs::bridge
