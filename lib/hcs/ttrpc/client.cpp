#include "hcs/ttrpc/client.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>

#include "hcs/ttrpc/frame.hpp"
#include "hcs/ttrpc/reader.hpp"
#include "hcs/ttrpc/socket.hpp"
#include "proto/ttrpc.pb.h"

namespace hcs::ttrpc {

namespace asio = boost::asio;
using transport::error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kMaxTimeoutNs = int64_t(10) * 365 * 24 * 3600 * 1'000'000'000;

}  // namespace

std::shared_ptr<Client> Client::connect(asio::any_io_executor ex, const std::string& address) {
  return adopt(std::move(ex), connect_unix(address), socket_path(address));
}

std::shared_ptr<Client> Client::adopt(asio::any_io_executor ex, UniqueFd socket, std::string name) {
  auto stream = transport::FdStream::adopt(ex, std::move(socket), transport::FdStream::Kind::Socket);
  auto self = std::shared_ptr<Client>(new Client(ex, std::move(stream), std::move(name)));
  // Reading starts on the loop; calls made meanwhile queue up behind it.
  asio::dispatch(ex, [self] { self->start(); });
  return self;
}

Client::Client(asio::any_io_executor ex, transport::StreamPtr stream, std::string name)
    : ex_(std::move(ex)), stream_(std::move(stream)), name_(std::move(name)),
      deadlines_(*this, ex_, [this](uint64_t id) { expire(uint32_t(id)); }) {}

Client::~Client() {
  if (closed_) return;
  if (reader_) reader_->stop();
  stream_->close();
  Error why(hr::BridgeClosed, "ttrpc: connection to " + name_ + " closed: the client was destroyed");
  for (auto& [id, p] : pending_) p.done(why);
}

void Client::start() {
  if (closed_) return;
  std::weak_ptr<Client> weak = shared_from_this();
  out_ = transport::WriteQueue::create(stream_, [weak](const error_code& ec) {
    if (auto self = weak.lock())
      self->fail_all(Error(hr::BridgeClosed, "ttrpc: connection to " + self->name_ + " closed: write failed: " +
                                                 ec.message()));
  });
  FrameReader::Events ev;
  ev.frame = [weak](const Header& h, std::string_view payload) {
    auto self = weak.lock();
    if (!self) return;
    if (h.type == uint8_t(MessageType::Response)) return self->on_response(h.stream_id, payload);
    spdlog::debug("ttrpc: {}: ignoring frame of type {} on stream {}", self->name_, h.type, h.stream_id);
  };
  ev.oversized = [weak](const Header& h) {
    if (auto self = weak.lock())
      self->fail_one(h.stream_id, status_error(Code::ResourceExhausted,
                                               "ttrpc: response of " + std::to_string(h.length) +
                                                   " bytes exceeds the maximum of " + std::to_string(kMaxPayload)));
  };
  ev.end = [weak](const error_code& ec, bool inside_frame) {
    auto self = weak.lock();
    if (!self) return;
    std::string why = inside_frame                  ? "the server hung up inside a frame"
                      : ec == asio::error::eof      ? "the server hung up"
                                                    : ec.message();
    self->fail_all(Error(hr::BridgeClosed, "ttrpc: connection to " + self->name_ + " closed: " + why));
  };
  reader_ = FrameReader::start(stream_, std::move(ev));
}

void Client::async_call(std::string service, std::string method, std::string payload, Done done,
                        std::chrono::nanoseconds timeout, Metadata metadata) {
  asio::dispatch(ex_, [self = shared_from_this(), service = std::move(service), method = std::move(method),
                       payload = std::move(payload), done = std::move(done), timeout,
                       metadata = std::move(metadata)]() mutable {
    self->send(std::move(service), std::move(method), std::move(payload), std::move(done), timeout,
               std::move(metadata));
  });
}

void Client::fail_later(Done done, Error why) {
  asio::post(ex_, [done = std::move(done), why = std::move(why)] { done(why); });
}

void Client::send(std::string service, std::string method, std::string payload, Done done,
                  std::chrono::nanoseconds timeout, Metadata metadata) {
  if (closed_)
    return fail_later(std::move(done), closed_why_ ? *closed_why_
                                                   : Error(hr::BridgeClosed, "ttrpc: connection to " + name_ + " is closed"));
  // Odd ids from 1 up; after 2^31 calls they wrap, skipping any still in flight.
  uint32_t id = next_id_;
  while (pending_.count(id)) id += 2;
  next_id_ = id + 2;

  hcskit::ttrpc::Request req;
  req.set_service(service);
  req.set_method(method);
  req.set_payload(std::move(payload));
  if (timeout.count() > 0) req.set_timeout_nano(std::min<int64_t>(timeout.count(), kMaxTimeoutNs));
  for (auto& [k, v] : metadata) {
    auto* kv = req.add_metadata();
    kv->set_key(k);
    kv->set_value(std::move(v));
  }
  std::string frame;
  try {
    frame = encode_frame(id, MessageType::Request, req);
  } catch (const Error& e) {
    return fail_later(std::move(done), e);
  }
  Pending p{std::move(done), std::nullopt, std::move(service) + "/" + method};
  if (timeout.count() > 0) {
    p.deadline = deadlines_.add(Clock::now() + std::chrono::nanoseconds(req.timeout_nano()), id);
  }
  pending_.emplace(id, std::move(p));
  out_->send(std::move(frame));
}

void Client::on_response(uint32_t id, std::string_view bytes) {
  auto it = pending_.find(id);
  if (it == pending_.end()) {
    // Most likely the answer to a call that timed out here first.
    spdlog::debug("ttrpc: {}: response on stream {} matches no call", name_, id);
    return;
  }
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (p.deadline) deadlines_.erase(*p.deadline);
  hcskit::ttrpc::Response resp;
  if (!resp.ParseFromArray(bytes.data(), int(bytes.size())))
    return p.done(status_error(Code::Internal, "ttrpc: " + p.what + ": cannot parse the response from " + name_));
  if (resp.has_status() && resp.status().code() != 0) return p.done(from_status(resp.status()));
  p.done(std::move(*resp.mutable_payload()));
}

void Client::fail_one(uint32_t id, const Error& why) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (p.deadline) deadlines_.erase(*p.deadline);
  p.done(why);
}

void Client::fail_all(const Error& why) {
  if (closed_) return;
  closed_ = true;
  closed_why_ = why;
  if (reader_) reader_->stop();
  stream_->close();
  deadlines_.clear();
  auto pending = std::move(pending_);
  pending_.clear();
  for (auto& [id, p] : pending) p.done(why);
  if (auto cb = std::move(on_close_)) cb(why);
}

void Client::expire(uint32_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  it->second.deadline.reset();  // its entry is gone already
  fail_one(id, status_error(Code::DeadlineExceeded, "ttrpc: " + it->second.what + ": deadline exceeded"));
}

std::string Client::call(std::string service, std::string method, std::string payload,
                         std::chrono::nanoseconds timeout) {
  if (auto* io = ex_.target<asio::io_context::executor_type>(); io && io->running_in_this_thread())
    throw Error(hr::Fail, "ttrpc: a blocking call on the event loop's own thread would never finish");
  auto promise = std::make_shared<std::promise<Result<std::string>>>();
  auto future = promise->get_future();
  async_call(std::move(service), std::move(method), std::move(payload),
             [promise](Result<std::string> r) { promise->set_value(std::move(r)); }, timeout);
  return future.get().value();
}

void Client::on_close(std::function<void(const Error&)> callback) {
  asio::dispatch(ex_, [self = shared_from_this(), cb = std::move(callback)]() mutable {
    if (self->closed_)
      cb(*self->closed_why_);
    else
      self->on_close_ = std::move(cb);
  });
}

void Client::close() {
  asio::dispatch(ex_, [self = shared_from_this()] {
    self->fail_all(Error(hr::BridgeClosed, "ttrpc: connection to " + self->name_ + " closed by the client"));
  });
}

}  // namespace hcs::ttrpc
