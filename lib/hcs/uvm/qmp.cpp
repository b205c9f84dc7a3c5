#include "hcs/uvm/qmp.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <span>

#include "hcs/transport/socket.hpp"

namespace hcs::uvm {

namespace asio = boost::asio;
using transport::error_code;

namespace {

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()) + " ms"; }

Error closed_error(std::string why) { return Error(hr::BridgeClosed, "connection to QEMU " + std::move(why)); }

// QMP's error classes (qapi/error.json), mapped onto HRESULTs.
uint32_t code_for_class(const std::string& cls) {
  if (cls == "DeviceNotFound") return hr::ErrNotFound;
  if (cls == "CommandNotFound") return hr::NotImpl;
  return hr::Fail;
}

bool blank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

// Retries connecting while the socket is missing or refuses, until the deadline.
struct Dialer : std::enable_shared_from_this<Dialer> {
  asio::any_io_executor ex;
  std::string path;
  std::chrono::milliseconds wait;
  std::chrono::steady_clock::time_point deadline;
  Qmp::ConnectHandler done;
  asio::steady_timer timer;

  Dialer(asio::any_io_executor e, std::string p, std::chrono::milliseconds w, Qmp::ConnectHandler d)
      : ex(e), path(std::move(p)), wait(w), deadline(std::chrono::steady_clock::now() + w), done(std::move(d)), timer(e) {}

  void attempt() {
    auto self = shared_from_this();
    transport::dial_unix(ex, path, [self](const error_code& ec, transport::StreamPtr stream) {
      if (!ec) return Qmp::async_handshake(std::move(stream), Qmp::kHandshakeTimeout, std::move(self->done));
      const bool not_yet = ec == boost::system::errc::no_such_file_or_directory ||
                           ec == boost::system::errc::connection_refused ||
                           ec == boost::system::errc::resource_unavailable_try_again;
      const auto now = std::chrono::steady_clock::now();
      if (not_yet && now < self->deadline) {
        self->timer.expires_after(std::min<std::chrono::steady_clock::duration>(std::chrono::milliseconds(10),
                                                                                self->deadline - now));
        self->timer.async_wait([self](const error_code&) { self->attempt(); });
        return;
      }
      std::string msg = "qmp: connect to " + self->path + ": " + ec.message();
      if (not_yet && self->wait.count() > 0) msg += " (waited " + ms(self->wait) + ")";
      self->done(Error(hr::Fail, msg));
    });
  }
};

}  // namespace

Qmp::Qmp(transport::StreamPtr stream) : stream_(std::move(stream)), chunk_(64 * 1024) {}

void Qmp::async_connect(asio::any_io_executor ex, std::string path, std::chrono::milliseconds wait,
                        ConnectHandler done) {
  auto d = std::make_shared<Dialer>(ex, std::move(path), wait, std::move(done));
  asio::dispatch(ex, [d] { d->attempt(); });
}

namespace {

// One handshake in progress: exactly one outcome (success, a failure of the connection,
// or the timer) reaches `done`.
struct Handshake : std::enable_shared_from_this<Handshake> {
  std::shared_ptr<Qmp> q;
  asio::steady_timer timer;
  Qmp::ConnectHandler done;
  Handshake(std::shared_ptr<Qmp> qmp, asio::any_io_executor ex, Qmp::ConnectHandler d)
      : q(std::move(qmp)), timer(ex), done(std::move(d)) {}
  void finish(Result<std::shared_ptr<Qmp>> r) {
    if (!done) return;
    auto cb = std::move(done);
    done = nullptr;
    timer.cancel();
    cb(std::move(r));
  }
};

}  // namespace

void Qmp::async_handshake(transport::StreamPtr stream, std::chrono::milliseconds timeout, ConnectHandler done) {
  auto q = std::shared_ptr<Qmp>(new Qmp(std::move(stream)));
  auto ex = q->stream_->get_executor();
  auto hs = std::make_shared<Handshake>(q, ex, std::move(done));
  asio::dispatch(ex, [hs, timeout] {
    Qmp& q = *hs->q;
    // Any end of the connection before the handshake is over is its failure.
    q.on_handshake_error_ = [hs](const Error& e) { hs->finish(e); };
    hs->timer.expires_after(timeout);
    hs->timer.async_wait([hs, timeout](const error_code& ec) {
      if (ec || !hs->done) return;
      hs->q->fail_all(Error(hr::VmcomputeTimeout, "qmp: no handshake from QEMU within " + ms(timeout)));
    });
    q.on_greeting_ = [hs](const Json&) {
      hs->q->send("qmp_capabilities", Json(), [hs](Result<Json> r) {
        Qmp& q = *hs->q;
        if (!r.ok()) return q.fail_all(r.error());  // reaches hs through on_handshake_error_
        q.on_handshake_error_ = nullptr;
        spdlog::debug("qmp: connected to QEMU {}", dump_json(q.greeting_["QMP"].value("version", Json())));
        hs->finish(hs->q);
      }, std::chrono::milliseconds(0));
    };
    q.start_reading();
  });
}

void Qmp::start_reading() {
  std::weak_ptr<Qmp> weak = shared_from_this();
  out_ = transport::WriteQueue::create(stream_, [weak](const error_code& ec) {
    if (auto self = weak.lock()) self->fail_all(closed_error("broken: write failed: " + ec.message()));
  });
  reading_ = true;
  read_more();
}

void Qmp::read_more() {
  auto self = shared_from_this();
  stream_->async_read_some(std::as_writable_bytes(std::span(chunk_)), [self](const error_code& ec, std::size_t n) {
    if (self->closed_) return;
    if (ec) {
      // A reset is QEMU going away with our last command unread (killed, crashed).
      self->fail_all(closed_error(ec == asio::error::eof               ? "closed: QEMU closed the socket"
                                  : ec == asio::error::connection_reset ? "closed: QEMU closed the socket (reset)"
                                                                        : "broken: " + ec.message()));
      return;
    }
    self->inbuf_.append(self->chunk_.data(), n);
    std::size_t start = 0;
    // A line is complete once its newline is in; only the new bytes need searching.
    std::size_t scan = self->inbuf_.size() - n;
    while (!self->closed_) {
      auto nl = self->inbuf_.find('\n', std::max(start, scan));
      if (nl == std::string::npos) break;
      if (nl - start > kMaxLine) break;  // reported below
      self->on_line(std::string_view(self->inbuf_).substr(start, nl - start));
      start = nl + 1;
    }
    if (self->closed_) return;
    self->inbuf_.erase(0, start);
    if (self->inbuf_.size() > kMaxLine) {
      self->fail_all(closed_error("broken: QEMU sent a line longer than " + std::to_string(kMaxLine) + " bytes"));
      return;
    }
    self->read_more();
  });
}

void Qmp::on_line(std::string_view line) {
  if (blank(line)) return;
  Json msg;
  try {
    msg = parse_json(line, "QMP message");
  } catch (const Error& e) {
    return fail_all(closed_error("broken: " + e.message()));
  }
  if (!msg.is_object()) return fail_all(closed_error("broken: QEMU sent a message that is not a JSON object"));
  if (on_greeting_) {
    if (!msg.contains("QMP") || !msg["QMP"].is_object()) return fail_all(closed_error("broken: expected the QMP greeting, got " + dump_json(msg).substr(0, 200)));
    greeting_ = msg;
    auto g = std::move(on_greeting_);
    on_greeting_ = nullptr;
    g(greeting_);
    return;
  }
  if (msg.contains("event")) return on_event_message(msg);
  if (msg.contains("return") || msg.contains("error")) return on_reply(msg);
  spdlog::debug("qmp: ignoring message {}", dump_json(msg).substr(0, 200));
}

void Qmp::on_reply(const Json& msg) {
  auto idj = msg.find("id");
  if (idj == msg.end() || !idj->is_number_unsigned()) {
    // QEMU answers a command it could not parse without an id; ours always parse.
    spdlog::warn("qmp: reply without a known id: {}", dump_json(msg).substr(0, 300));
    return;
  }
  auto it = pending_.find(idj->get<uint64_t>());
  if (it == pending_.end()) {
    spdlog::debug("qmp: reply to command {} that is no longer waiting", idj->get<uint64_t>());
    return;
  }
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (p.timer) p.timer->cancel();
  if (auto err = msg.find("error"); err != msg.end()) {
    std::string cls = "GenericError", desc;
    if (err->is_object()) {
      if (auto c = err->find("class"); c != err->end() && c->is_string()) cls = c->get<std::string>();
      if (auto d = err->find("desc"); d != err->end() && d->is_string()) desc = d->get<std::string>();
    }
    Error e(code_for_class(cls), cls + ": " + (desc.empty() ? std::string("no description") : desc));
    p.done(e.wrapped("qmp " + p.command));
    return;
  }
  p.done(msg.at("return"));
}

void Qmp::on_event_message(const Json& msg) {
  const Json& ev = msg.at("event");
  if (!ev.is_string()) {
    spdlog::debug("qmp: ignoring event with a non-string name");
    return;
  }
  const std::string name = ev.get<std::string>();
  Json data = Json::object();
  if (auto d = msg.find("data"); d != msg.end()) data = *d;
  if (name == "DEVICE_DELETED" && data.is_object()) {
    // "device" is the id (absent for devices without one); "path" is its QOM path.
    auto dev = data.find("device");
    if (dev != data.end() && dev->is_string()) {
      const std::string id = dev->get<std::string>();
      std::vector<uint64_t> done;
      for (auto& [key, d] : device_dels_) {
        if (d.id != id || d.deleted) continue;
        d.deleted = true;
        if (d.accepted) done.push_back(key);
      }
      for (uint64_t key : done) finish_device_del(key, std::nullopt);
    }
  }
  auto handlers = event_handlers_;  // a handler may add handlers
  for (auto& h : handlers) {
    if (closed_) break;
    h(name, data);
  }
}

void Qmp::async_execute(std::string command, Json arguments, std::function<void(Result<Json>)> done,
                        std::chrono::milliseconds timeout) {
  auto self = shared_from_this();
  asio::dispatch(stream_->get_executor(), [self, command = std::move(command), arguments = std::move(arguments),
                                           done = std::move(done), timeout]() mutable {
    self->send(std::move(command), std::move(arguments), std::move(done), timeout);
  });
}

void Qmp::send(std::string command, Json arguments, std::function<void(Result<Json>)> done,
               std::chrono::milliseconds timeout) {
  auto fail_later = [this, &done](Error e) {
    asio::post(stream_->get_executor(), [cb = std::move(done), e = std::move(e)] { cb(e); });
  };
  if (closed_) return fail_later(close_reason_->wrapped("qmp " + command));
  if (!arguments.is_null() && !arguments.is_object())
    return fail_later(Error(hr::ErrInvalidArg, "qmp " + command + ": arguments must be a JSON object"));
  const uint64_t id = next_id_++;
  Json msg = Json::object();
  msg["execute"] = command;
  if (arguments.is_object() && !arguments.empty()) msg["arguments"] = std::move(arguments);
  msg["id"] = id;
  Pending p{std::move(command), std::move(done), nullptr};
  if (timeout.count() > 0) {
    p.timer = std::make_unique<asio::steady_timer>(stream_->get_executor(), timeout);
    std::weak_ptr<Qmp> weak = shared_from_this();
    p.timer->async_wait([weak, id, timeout](const error_code& ec) {
      if (auto self = weak.lock(); self && !ec) self->expire(id, timeout);
    });
  }
  pending_.emplace(id, std::move(p));
  out_->send(dump_json(msg) + "\n");
}

void Qmp::expire(uint64_t id, std::chrono::milliseconds after) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  p.done(Error(hr::VmcomputeTimeout, "qmp " + p.command + ": no reply from QEMU within " + ms(after)));
}

void Qmp::on_event(EventHandler handler) { event_handlers_.push_back(std::move(handler)); }

void Qmp::async_device_del(std::string id, std::chrono::milliseconds timeout, std::function<void(Result<void>)> done) {
  auto self = shared_from_this();
  asio::dispatch(stream_->get_executor(), [self, id = std::move(id), timeout, done = std::move(done)]() mutable {
    self->device_del(std::move(id), timeout, std::move(done));
  });
}

void Qmp::device_del(std::string id, std::chrono::milliseconds timeout, std::function<void(Result<void>)> done) {
  if (closed_) {
    Error e = close_reason_->wrapped("qmp device_del " + id);
    asio::post(stream_->get_executor(), [cb = std::move(done), e] { cb(e); });
    return;
  }
  const uint64_t key = next_del_++;
  std::weak_ptr<Qmp> weak = shared_from_this();
  DeviceDel d{id, std::move(done), nullptr};
  if (timeout.count() > 0) {
    d.timer = std::make_unique<asio::steady_timer>(stream_->get_executor(), timeout);
    d.timer->async_wait([weak, key, id, timeout](const error_code& ec) {
      if (auto self = weak.lock(); self && !ec)
        self->finish_device_del(key, Error(hr::VmcomputeTimeout, "qmp device_del " + id +
                                                                     ": QEMU did not report DEVICE_DELETED within " + ms(timeout)));
    });
  }
  device_dels_.emplace(key, std::move(d));
  send("device_del", Json{{"id", id}}, [weak, key](Result<Json> r) {
    auto self = weak.lock();
    if (!self) return;
    auto it = self->device_dels_.find(key);
    if (it == self->device_dels_.end()) return;  // timed out, or the connection ended
    if (!r.ok()) return self->finish_device_del(key, r.error());
    it->second.accepted = true;
    if (it->second.deleted) self->finish_device_del(key, std::nullopt);
  }, std::chrono::milliseconds(0));
}

void Qmp::finish_device_del(uint64_t key, std::optional<Error> error) {
  auto it = device_dels_.find(key);
  if (it == device_dels_.end()) return;
  DeviceDel d = std::move(it->second);
  device_dels_.erase(it);
  if (d.timer) d.timer->cancel();
  if (error) d.done(std::move(*error));
  else d.done(Result<void>());
}

void Qmp::on_close(CloseHandler handler) {
  if (closed_) {
    asio::post(stream_->get_executor(), [h = std::move(handler), e = close_reason_->wrapped("qmp")] { h(e); });
    return;
  }
  close_handlers_.push_back(std::move(handler));
}

void Qmp::close() {
  auto self = shared_from_this();
  asio::dispatch(stream_->get_executor(), [self] { self->fail_all(closed_error("closed by the host")); });
}

void Qmp::fail_all(const Error& why) {
  if (closed_) return;
  closed_ = true;
  close_reason_ = why;
  spdlog::debug("qmp: connection ends: {}", why.text());
  stream_->close();
  on_greeting_ = nullptr;
  auto dels = std::move(device_dels_);
  device_dels_.clear();
  auto pending = std::move(pending_);
  pending_.clear();
  if (auto h = std::move(on_handshake_error_)) {
    on_handshake_error_ = nullptr;
    h(why);
  }
  for (auto& [key, d] : dels) {
    if (d.timer) d.timer->cancel();
    d.done(why.wrapped("qmp device_del " + d.id));
  }
  for (auto& [id, p] : pending) {
    if (p.timer) p.timer->cancel();
    p.done(why.wrapped("qmp " + p.command));
  }
  auto handlers = std::move(close_handlers_);
  close_handlers_.clear();
  event_handlers_.clear();  // handlers often hold their owner: break the cycle
  for (auto& h : handlers) h(why.wrapped("qmp"));
}

}  // namespace hcs::uvm
