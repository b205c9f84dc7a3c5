// BridgeClient: the host end of the bridge. Many requests in flight, responses matched
// by ID, notifications to a callback, per-request timeouts, and every pending request
// failed cleanly (hr::BridgeClosed) when the connection drops.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "hcs/bridge/frame_reader.hpp"
#include "hcs/core/error.hpp"
#include "hcs/core/json.hpp"
#include "hcs/transport/deadlines.hpp"
#include "hcs/transport/stream.hpp"

namespace hcs::bridge {

class BridgeClient : public std::enable_shared_from_this<BridgeClient> {
 public:
  struct Options {
    std::chrono::milliseconds timeout = std::chrono::minutes(5);  // per request unless overridden
    std::function<void(uint32_t type, const Json& body)> on_notification;
    std::function<void(const Error& why)> on_close;  // once
  };
  using Callback = std::function<void(Result<Json>)>;

  static std::shared_ptr<BridgeClient> start(transport::StreamPtr stream, Options options);

  // Sends a request; `done` runs on the stream's executor with the response body, or an
  // Error carrying the guest's Result and ErrorMessage. Callable from any thread.
  // A zero timeout waits forever.
  void async_call(uint32_t type, Json body, Callback done,
                  std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Blocking form for threads other than the stream's executor; throws hcs::Error.
  Json call(uint32_t type, Json body, std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  void close();
  bool closed() const noexcept { return closed_; }
  std::size_t pending() const noexcept { return pending_.size(); }
  boost::asio::any_io_executor get_executor() { return stream_->get_executor(); }

 private:
  BridgeClient(transport::StreamPtr stream, Options options);
  void send(uint32_t type, Json body, Callback done, std::chrono::milliseconds timeout);
  void on_frame(uint32_t type, uint64_t id, std::string body);
  void fail_all(const Error& why);
  void expire(uint64_t id);

  struct Pending {
    uint32_t type;
    Callback done;
    std::optional<transport::Deadlines::Handle> deadline;
    std::chrono::milliseconds timeout;
  };
  transport::StreamPtr stream_;
  Options options_;
  std::shared_ptr<transport::WriteQueue> out_;
  std::map<uint64_t, Pending> pending_;
  transport::Deadlines deadlines_;
  uint64_t next_id_ = 0;
  std::shared_ptr<FrameReader> reader_;
  bool closed_ = false;
};

}  // namespace hcs::bridge
