#include "hcs/bridge/server.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/error.hpp>
#include <cstdio>

#include "hcs/bridge/frame.hpp"
#include "hcs/bridge/messages.hpp"

namespace hcs::bridge {

using transport::error_code;

std::shared_ptr<BridgeServer> BridgeServer::create(transport::StreamPtr stream, Options options) {
  return std::shared_ptr<BridgeServer>(new BridgeServer(std::move(stream), std::move(options)));
}

BridgeServer::BridgeServer(transport::StreamPtr stream, Options options)
    : stream_(std::move(stream)), options_(std::move(options)) {}

void BridgeServer::on(uint32_t request_type, Handler handler) { handlers_[request_type] = std::move(handler); }

void BridgeServer::start() {
  std::weak_ptr<BridgeServer> weak = shared_from_this();
  out_ = transport::WriteQueue::create(stream_, [weak](const error_code& ec) {
    if (auto self = weak.lock()) self->finish(ec);
  });
  FrameReader::Events ev;
  ev.frame = [weak](const Header& h, std::string body) {
    if (auto self = weak.lock()) self->dispatch(h.type, h.id, std::move(body));
  };
  ev.bad_size = [weak](const Header& h) {
    auto self = weak.lock();
    return self && self->on_bad_size(h);
  };
  ev.end = [weak](const error_code& ec, std::optional<FrameReader::Events::Partial> partial) {
    if (auto self = weak.lock()) self->on_end(ec, partial);
  };
  reader_ = FrameReader::start(stream_, std::move(ev));
}

void BridgeServer::close() { finish(boost::asio::error::operation_aborted); }

void BridgeServer::flush(std::function<void()> then) { out_->flush(std::move(then)); }

void BridgeServer::finish(const error_code& ec) {
  if (closed_) return;
  closed_ = true;
  if (reader_) reader_->stop();
  stream_->close();
  if (options_.on_close) options_.on_close(ec);
}

bool BridgeServer::on_bad_size(const Header& h) {
  respond(h.type, h.id, "", Error(hr::ErrInvalidArg, size_error(h.size)));
  if (check_size(h.size) == SizeCheck::TooSmall) return true;  // still in step: the 16 bytes are consumed
  // Skipping gigabytes is no recovery: answer, then drop the connection (the guest
  // re-dials and the host negotiates afresh).
  spdlog::warn("bridge: {}; closing the connection", size_error(h.size));
  auto self = shared_from_this();
  out_->flush([self] { self->finish(boost::asio::error::message_size); });
  return false;
}

void BridgeServer::on_end(const error_code& ec, const std::optional<FrameReader::Events::Partial>& partial) {
  if (partial && partial->header) {
    // The peer may only have half-closed: tell it why.
    const Header& h = *partial->header;
    auto msg = "truncated message: " + std::to_string(partial->bytes - kHeaderSize) + " of " +
               std::to_string(h.size - kHeaderSize) + " body bytes before end of stream";
    spdlog::warn("bridge: {}", msg);
    respond(h.type, h.id, "", Error(hr::ErrInvalidArg, msg));
    auto self = shared_from_this();
    out_->flush([self, ec] { self->finish(ec); });
    return;
  }
  if (partial) spdlog::warn("bridge: connection ended inside a frame header ({} of 16 bytes)", partial->bytes);
  finish(ec);
}

void BridgeServer::dispatch(uint32_t type, uint64_t id, std::string body) {
  Call call;
  call.type = type;
  call.id = id;
  try {
    call.body = parse_json(body, "request body");
    // The base fields are read leniently, so that even a request the handler rejects
    // is answered with its ActivityId.
    if (call.body.is_object()) {
      if (auto it = call.body.find("ContainerId"); it != call.body.end() && it->is_string())
        call.base.container_id = it->get<std::string>();
      if (auto it = call.body.find("ActivityId"); it != call.body.end() && it->is_string())
        call.base.activity_id = it->get<std::string>();
      if (auto it = call.body.find("otsc"); it != call.body.end()) call.base.otsc = *it;
    }
  } catch (const Error& e) {
    return respond(type, id, "", e);
  }
  std::string activity = call.base.activity_id;
  std::weak_ptr<BridgeServer> weak = shared_from_this();
  auto reply = [weak, type, id, activity, answered = std::make_shared<bool>(false)](Result<Json> r) {
    if (*answered) return;  // a handler answers once; a second answer is a bug, not a frame
    *answered = true;
    if (auto self = weak.lock()) self->respond(type, id, activity, std::move(r));
  };

  if (type == msg::NegotiateProtocol) {
    try {
      negotiate(call, reply);
    } catch (const Error& e) {
      reply(e);
    }
    return;
  }
  Handler* handler = nullptr;
  if (version_ != 0) {
    if (auto it = handlers_.find(type); it != handlers_.end()) handler = &it->second;
  }
  if (!handler) {
    char hex[16];
    std::snprintf(hex, sizeof hex, "0x%08x", type);
    return reply(Error(hr::NotImpl, std::string("bridge: function not supported, header type: ") + hex +
                                        (version_ == 0 ? " (protocol not negotiated yet)" : "")));
  }
  try {
    (*handler)(call, reply);
  } catch (const Error& e) {
    reply(e);
  } catch (const std::exception& e) {
    reply(Error(hr::Fail, e.what()));
  }
}

void BridgeServer::negotiate(const Call& call, Reply reply) {
  auto req = schema::decode<schema::NegotiateProtocolRequest>(call.body);
  version_ = 0;  // a new negotiation starts afresh
  if (req.maximum_version < kProtocolV4 || req.minimum_version > kProtocolV4)
    return reply(Error(hr::VmcomputeUnsupportedProtocolVersion,
                       "unsupported protocol version range [" + std::to_string(req.minimum_version) + ", " +
                           std::to_string(req.maximum_version) + "]: this guest speaks version 4"));
  version_ = std::min(kProtocolV4, req.maximum_version);
  schema::NegotiateProtocolResponse resp;
  resp.version = version_;
  resp.capabilities = options_.capabilities;
  reply(schema::encode(resp));
  if (options_.on_negotiated) options_.on_negotiated(version_);
}

Json BridgeServer::error_body(const Error& err, const std::string& activity_id) {
  schema::Response resp;
  resp.base.result = static_cast<int32_t>(err.code());
  resp.base.activity_id = activity_id;
  resp.base.error_message = err.text();
  schema::ErrorRecord rec;
  rec.result = resp.base.result;
  rec.message = err.text();
  rec.module_name = "gcs";
  rec.file_name = err.site().file;
  rec.line = err.site().line;
  rec.function_name = err.site().function;
  resp.base.error_records.push_back(std::move(rec));
  return schema::encode(resp);
}

void BridgeServer::respond(uint32_t type, uint64_t id, const std::string& activity_id, Result<Json> result) {
  if (closed_) return;
  Json body;
  if (result.ok()) {
    body = std::move(result).value();
    if (!body.is_object()) body = Json::object();
    body["Result"] = 0;
    if (!activity_id.empty()) body["ActivityId"] = activity_id;
  } else {
    const Error& e = result.error();
    if (e.code() != hr::VmcomputeTimeout) spdlog::debug("bridge: {} failed: {}", message_name(type), e.text());
    body = error_body(e, activity_id);
  }
  try {
    out_->send(encode_frame(response_for(type), id, dump_json(body)));
  } catch (const Error& e) {
    // A response too large for a frame: send the error instead.
    spdlog::error("bridge: {}", e.text());
    out_->send(encode_frame(response_for(type), id, dump_json(error_body(e, activity_id))));
  }
}

void BridgeServer::notify(uint32_t type, const Json& body) {
  if (closed_) return;
  out_->send(encode_frame(type, 0, dump_json(body)));
}

}  // namespace hcs::bridge
