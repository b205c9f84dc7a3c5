#include "hcs/bridge/client.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <future>

#include "hcs/bridge/frame.hpp"
#include "hcs/bridge/messages.hpp"

namespace hcs::bridge {

using transport::error_code;

std::shared_ptr<BridgeClient> BridgeClient::start(transport::StreamPtr stream, Options options) {
  auto self = std::shared_ptr<BridgeClient>(new BridgeClient(std::move(stream), std::move(options)));
  std::weak_ptr<BridgeClient> weak = self;
  self->out_ = transport::WriteQueue::create(self->stream_, [weak](const error_code& ec) {
    if (auto s = weak.lock()) s->fail_all(Error(hr::BridgeClosed, "bridge closed: write failed: " + ec.message()));
  });
  FrameReader::Events ev;
  ev.frame = [weak](const Header& h, std::string body) {
    if (auto s = weak.lock()) s->on_frame(h.type, h.id, std::move(body));
  };
  ev.bad_size = [weak](const Header& h) {
    if (auto s = weak.lock()) s->fail_all(Error(hr::BridgeClosed, "bridge closed: " + size_error(h.size)));
    return false;
  };
  ev.end = [weak](const error_code& ec, std::optional<FrameReader::Events::Partial> partial) {
    auto s = weak.lock();
    if (!s) return;
    std::string why = partial                            ? "truncated message"
                      : ec == boost::asio::error::eof ? "guest disconnected"
                                                         : ec.message();
    s->fail_all(Error(hr::BridgeClosed, "bridge closed: " + why));
  };
  boost::asio::dispatch(self->stream_->get_executor(),
                        [self, ev = std::move(ev)]() mutable { self->reader_ = FrameReader::start(self->stream_, std::move(ev)); });
  return self;
}

BridgeClient::BridgeClient(transport::StreamPtr stream, Options options)
    : stream_(std::move(stream)),
      options_(std::move(options)),
      deadlines_(*this, stream_->get_executor(), [this](uint64_t id) { expire(id); }) {}

void BridgeClient::async_call(uint32_t type, Json body, Callback done,
                              std::optional<std::chrono::milliseconds> timeout) {
  auto self = shared_from_this();
  auto t = timeout.value_or(options_.timeout);
  boost::asio::dispatch(stream_->get_executor(), [self, type, body = std::move(body), done = std::move(done), t]() mutable {
    self->send(type, std::move(body), std::move(done), t);
  });
}

Json BridgeClient::call(uint32_t type, Json body, std::optional<std::chrono::milliseconds> timeout) {
  auto promise = std::make_shared<std::promise<Result<Json>>>();
  auto future = promise->get_future();
  async_call(type, std::move(body), [promise](Result<Json> r) { promise->set_value(std::move(r)); }, timeout);
  return future.get().value();
}

void BridgeClient::send(uint32_t type, Json body, Callback done, std::chrono::milliseconds timeout) {
  if (closed_) {
    auto cb = std::move(done);
    boost::asio::post(stream_->get_executor(),
                      [cb] { cb(Error(hr::BridgeClosed, "bridge closed: connection is not open")); });
    return;
  }
  const uint64_t id = next_id_++;
  std::string frame;
  try {
    // Like hcsshim's host encoder, requests end with a newline.
    frame = encode_frame(type, id, dump_json(body) + "\n");
  } catch (const Error& e) {
    auto cb = std::move(done);
    boost::asio::post(stream_->get_executor(), [cb, e] { cb(e); });
    return;
  }
  Pending p{type, std::move(done), std::nullopt, timeout};
  if (timeout.count() > 0) {
    p.deadline = deadlines_.add(std::chrono::steady_clock::now() + timeout, id);
  }
  pending_.emplace(id, std::move(p));
  out_->send(std::move(frame));
}

void BridgeClient::on_frame(uint32_t type, uint64_t id, std::string text) {
  Json body;
  try {
    body = parse_json(text, message_name(type));
  } catch (const Error& e) {
    return fail_all(Error(hr::BridgeClosed, "bridge closed: " + e.text()));
  }
  const uint32_t kind = type & kKindMask;
  if (kind == kKindNotification) {
    if (options_.on_notification) options_.on_notification(type, body);
    return;
  }
  if (kind != kKindResponse) {
    spdlog::warn("bridge: ignoring unexpected {} from the guest", message_name(type));
    return;
  }
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    // Most likely the answer to a request that already timed out.
    spdlog::debug("bridge: response {} for unknown request id {}", message_name(type), id);
    return;
  }
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (p.deadline) deadlines_.erase(*p.deadline);
  if (type != response_for(p.type)) {
    p.done(Error(hr::Fail, "bridge: " + message_name(type) + " does not answer " + message_name(p.type)));
    return;
  }
  int64_t result = body.is_object() ? body.value("Result", int64_t{0}) : 0;
  if (result != 0) {
    std::string msg = body.value("ErrorMessage", std::string());
    for (const auto& rec : body.value("ErrorRecords", Json::array()))
      if (rec.is_object())
        spdlog::debug("guest error record: {}", dump_json(rec));
    p.done(Error(static_cast<uint32_t>(result), "guest RPC failure: " + (msg.empty() ? std::string("no message") : msg)));
    return;
  }
  p.done(std::move(body));
}

void BridgeClient::fail_all(const Error& why) {
  if (closed_) return;
  closed_ = true;
  if (reader_) reader_->stop();
  stream_->close();
  auto pending = std::move(pending_);
  pending_.clear();
  deadlines_.clear();
  for (auto& [id, p] : pending) p.done(why);
  if (options_.on_close) options_.on_close(why);
}

void BridgeClient::expire(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  p.done(Error(hr::VmcomputeTimeout,
               message_name(p.type) + " timed out after " + std::to_string(p.timeout.count()) + " ms"));
}

void BridgeClient::close() {
  auto self = shared_from_this();
  boost::asio::dispatch(stream_->get_executor(),
                        [self] { self->fail_all(Error(hr::BridgeClosed, "bridge closed: closed by the host")); });
}

}  // namespace hcs::bridge
