#include "hcs/bridge/guest_connection.hpp"

#include <boost/asio/post.hpp>

#include <spdlog/spdlog.h>

#include "hcs/bridge/guest_container.hpp"
#include "hcs/bridge/messages.hpp"

namespace hcs::bridge {

using transport::error_code;
using transport::StreamPtr;

void GuestConnection::async_open(transport::Connection conn, Options options,
                                 std::function<void(Result<std::shared_ptr<GuestConnection>>)> done) {
  auto self = std::shared_ptr<GuestConnection>(new GuestConnection(std::move(conn)));
  self->user_on_notification_ = std::move(options.on_notification);
  self->user_on_close_ = std::move(options.on_close);
  // Weak: the client lives inside the connection and must not keep it alive.
  std::weak_ptr<GuestConnection> weak = self;
  BridgeClient::Options copts;
  copts.timeout = options.timeout;
  copts.on_notification = [weak](uint32_t type, const Json& body) {
    if (auto s = weak.lock()) s->on_notification(type, body);
  };
  copts.on_close = [weak](const Error& why) {
    if (auto s = weak.lock()) s->on_close(why);
  };
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

void GuestConnection::on_notification(uint32_t type, const Json& body) {
  if (type == msg::ContainerNotification) {
    try {
      auto n = schema::decode<schema::ContainerNotification>(body);
      std::shared_ptr<ContainerExit> exit;
      {
        std::lock_guard lock(watch_mu_);
        if (auto it = watches_.find(n.base.container_id); it != watches_.end()) exit = it->second;
      }
      // hcsshim's host closes the bridge here; one stray notification is not worth
      // losing every other container on the connection.
      if (!exit)
        spdlog::warn("bridge: ignoring a {} notification for unknown container {}", n.type, n.base.container_id);
      else
        exit->complete(n.type);
    } catch (const Error& e) {
      spdlog::warn("bridge: ignoring a malformed container notification: {}", e.text());
    }
  } else {
    spdlog::warn("bridge: ignoring unexpected {} from the guest", message_name(type));
  }
  if (user_on_notification_) user_on_notification_(type, body);
}

void GuestConnection::on_close(const Error& why) {
  std::map<std::string, std::shared_ptr<ContainerExit>> watches;
  {
    std::lock_guard lock(watch_mu_);
    closed_ = why;
    watches = watches_;
  }
  for (auto& [id, exit] : watches) exit->complete(why);
  if (user_on_close_) user_on_close_(why);
}

std::shared_ptr<ContainerExit> GuestConnection::watch(const std::string& id) {
  auto exit = std::make_shared<ContainerExit>();
  std::lock_guard lock(watch_mu_);
  auto [it, added] = watches_.try_emplace(id, exit);
  if (!added) {
    // An exited container's id may be reused once the old one's state is deleted; a
    // running one's may not.
    if (!it->second->done()) return nullptr;
    it->second = exit;
  }
  if (closed_) exit->complete(*closed_);
  return exit;
}

void GuestConnection::unwatch(const std::string& id, const ContainerExit* exit) {
  std::lock_guard lock(watch_mu_);
  if (auto it = watches_.find(id); it != watches_.end() && it->second.get() == exit) watches_.erase(it);
}

void GuestConnection::call_in(uint32_t type, std::string container_id, std::function<void(Result<void>)> done,
                              std::optional<std::chrono::milliseconds> timeout) {
  schema::Request req;
  req.base.container_id = std::move(container_id);
  client_->async_call(
      type, schema::encode(req),
      [done = std::move(done)](Result<Json> r) {
        if (!r.ok()) return done(r.error());
        done(Result<void>());
      },
      timeout);
}

void GuestConnection::modify_in(std::string container_id, schema::ModificationRequest request,
                                std::function<void(Result<void>)> done) {
  schema::ModifySettingsRequest req;
  req.base.container_id = std::move(container_id);
  std::string what = "modify " + (request.request_type.empty() ? std::string("Add") : request.request_type) + " " +
                     request.resource_type;
  req.request = std::move(request);
  client_->async_call(msg::ModifySettings, schema::encode(req),
                      [done = std::move(done), what = std::move(what)](Result<Json> r) {
                        if (!r.ok()) return done(r.error().wrapped(what));
                        done(Result<void>());
                      });
}

void GuestConnection::async_modify(schema::ModificationRequest request, std::function<void(Result<void>)> done) {
  modify_in(std::string(kNullContainerId), std::move(request), std::move(done));
}

void GuestConnection::async_create_container(std::string id, schema::VmHostedContainerSettingsV2 settings,
                                             std::function<void(Result<std::shared_ptr<GuestContainer>>)> done) {
  auto fail_soon = [this, &done](Error e) {
    boost::asio::post(client_->get_executor(), [done = std::move(done), e = std::move(e)] { done(e); });
  };
  if (!is_valid_container_id(id) || id == kNullContainerId)
    return fail_soon(Error(hr::ErrInvalidArg, "invalid container id '" + id + "'"));
  // Registered before Create, so that no exit notification can slip past.
  auto exit = watch(id);
  if (!exit)
    return fail_soon(Error(hr::VmcomputeSystemAlreadyExists, "container " + id + " already exists on this connection"));
  if (settings.schema_version == schema::Version{})
    settings.schema_version = schema::Version{2, 1, {}};
  bool terminal = false;
  if (const auto& spec = settings.oci_specification; spec.is_object())
    if (auto p = spec.find("process"); p != spec.end() && p->is_object())
      if (auto t = p->find("terminal"); t != p->end() && t->is_boolean()) terminal = t->get<bool>();
  schema::ContainerCreateRequest req;
  req.base.container_id = id;
  req.container_config.value = std::move(settings);
  auto self = shared_from_this();
  client_->async_call(msg::Create, schema::encode(req),
                      [self, id, exit, terminal, done = std::move(done)](Result<Json> r) {
                        if (!r.ok()) {
                          self->unwatch(id, exit.get());
                          return done(r.error().wrapped("create container " + id));
                        }
                        done(std::shared_ptr<GuestContainer>(new GuestContainer(self, id, exit, terminal)));
                      });
}

void GuestConnection::async_delete_container_state(std::string id, std::function<void(Result<void>)> done) {
  auto self = shared_from_this();
  call_in(msg::DeleteContainerState, id, [self, id, done = std::move(done)](Result<void> r) {
    if (!r.ok()) return done(r.error().wrapped("delete container state " + id));
    // The guest has forgotten the container: its id is free for a new one.
    std::lock_guard lock(self->watch_mu_);
    if (auto it = self->watches_.find(id); it != self->watches_.end() && it->second->done()) self->watches_.erase(it);
    done(Result<void>());
  });
}

void GuestConnection::async_create_process(schema::ProcessParameters params,
                                           std::function<void(Result<std::shared_ptr<GuestProcess>>)> done) {
  create_process_in(std::string(kNullContainerId), std::move(params), std::move(done));
}

void GuestConnection::create_process_in(std::string container_id, schema::ProcessParameters params,
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
  req.base.container_id = container_id;
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
  auto finish = [st, client, container_id, done]() {
    if (st->waiting > 0 || st->finished) return;
    st->finished = true;
    for (auto* p : {&st->in, &st->out, &st->err})
      if (p->listener) p->listener->close();
    if (st->error) {
      for (auto* p : {&st->in, &st->out, &st->err})
        if (p->stream) p->stream->close();
      return done(*st->error);
    }
    done(std::make_shared<GuestProcess>(client, container_id, st->pid, st->in.stream,
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
