// BridgeServer: the guest end of the bridge. Negotiates the protocol first, then
// dispatches requests by type to handlers that reply asynchronously, many at a time.
// A bad request gets an error response and never ends the connection; only a frame
// too large to skip safely, or a broken stream, does.
#pragma once

#include <functional>
#include <map>
#include <memory>

#include "hcs/core/error.hpp"
#include "hcs/bridge/frame_reader.hpp"
#include "hcs/core/json.hpp"
#include "hcs/schema/bridge.hpp"
#include "hcs/transport/stream.hpp"

namespace hcs::bridge {

struct Call {
  uint32_t type = 0;
  uint64_t id = 0;
  Json body;                 // the whole request body
  schema::RequestBase base;  // its common fields
};

// A handler's answer: the response body (a record encoded with its ResponseBase
// fields; Result and ActivityId are filled in by the server) or an error.
using Reply = std::function<void(Result<Json>)>;
using Handler = std::function<void(const Call&, Reply)>;

class BridgeServer : public std::enable_shared_from_this<BridgeServer> {
 public:
  struct Options {
    schema::GcsCapabilities capabilities;
    std::function<void(const transport::error_code&)> on_close;  // once, when the stream ends
    std::function<void(uint32_t version)> on_negotiated;          // after each successful negotiation
  };
  static std::shared_ptr<BridgeServer> create(transport::StreamPtr stream, Options options);

  // Registers a handler for a request type, valid once protocol v4 is negotiated.
  void on(uint32_t request_type, Handler handler);
  void start();
  // Sends a notification (ID 0). Safe to call only on the stream's executor.
  void notify(uint32_t type, const Json& body);
  void close();
  // Runs `then` once every response queued so far is written.
  void flush(std::function<void()> then);
  uint32_t negotiated_version() const noexcept { return version_; }
  bool closed() const noexcept { return closed_; }

  // The error response body for `err` (Result, ErrorMessage, ErrorRecords).
  static Json error_body(const Error& err, const std::string& activity_id);

 private:
  BridgeServer(transport::StreamPtr stream, Options options);
  bool on_bad_size(const Header& h);
  void on_end(const transport::error_code& ec, const std::optional<FrameReader::Events::Partial>& partial);
  void dispatch(uint32_t type, uint64_t id, std::string body);
  void negotiate(const Call& call, Reply reply);
  void respond(uint32_t type, uint64_t id, const std::string& activity_id, Result<Json> result);
  void finish(const transport::error_code& ec);

  transport::StreamPtr stream_;
  Options options_;
  std::shared_ptr<transport::WriteQueue> out_;
  std::map<uint32_t, Handler> handlers_;
  std::shared_ptr<FrameReader> reader_;
  uint32_t version_ = 0;
  bool closed_ = false;
};

}  // namespace hcs::bridge
