// Client: one ttrpc connection to a unix socket, many calls in flight (odd stream ids
// from 1 up), answers matched by stream id whatever their order. A call with a timeout
// sends it as the request's deadline and also gives up locally when it passes. When
// the connection drops, every pending call fails with hr::BridgeClosed (UNAVAILABLE).
//
// Threading: calls may be started from any thread; callbacks run on the executor,
// which must be single-threaded (one io_context thread, or a strand).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "hcs/core/error.hpp"
#include "hcs/core/fd.hpp"
#include "hcs/transport/deadlines.hpp"
#include "hcs/transport/stream.hpp"
#include "hcs/ttrpc/server.hpp"
#include "hcs/ttrpc/status.hpp"

namespace hcs::ttrpc {

class FrameReader;

class Client : public std::enable_shared_from_this<Client> {
 public:
  using Done = std::function<void(Result<std::string>)>;

  // Connects (blocking, which a unix socket does not do for long) to "unix:///path",
  // "/path" or "@abstract". Throws hcs::Error naming the address.
  static std::shared_ptr<Client> connect(boost::asio::any_io_executor ex, const std::string& address);
  // Takes over an already-connected stream socket; `name` appears in error messages.
  static std::shared_ptr<Client> adopt(boost::asio::any_io_executor ex, UniqueFd socket, std::string name);
  ~Client();  // pending calls fail (on the destroying thread); on_close is not called

  // Calls service/method with a serialized request; `done` gets the serialized response
  // or an hcs::Error (the server's status, see status.hpp). A zero timeout waits forever.
  void async_call(std::string service, std::string method, std::string payload, Done done,
                  std::chrono::nanoseconds timeout = std::chrono::nanoseconds::zero(), Metadata metadata = {});
  // Typed form: client->async_call<Resp>(service, method, req, [](Result<Resp>) {...}).
  template <class Resp, class Req>
  void async_call(std::string service, std::string method, const Req& request, std::function<void(Result<Resp>)> done,
                  std::chrono::nanoseconds timeout = std::chrono::nanoseconds::zero());

  // Blocking forms, for threads other than the executor's (which must be running).
  // Throw hcs::Error.
  std::string call(std::string service, std::string method, std::string payload,
                   std::chrono::nanoseconds timeout = std::chrono::nanoseconds::zero());
  template <class Resp, class Req>
  Resp call(std::string service, std::string method, const Req& request,
            std::chrono::nanoseconds timeout = std::chrono::nanoseconds::zero());

  // Runs once when the connection ends (or at once, on the executor, if it has).
  void on_close(std::function<void(const Error& why)> callback);
  // Hangs up; pending calls fail with hr::BridgeClosed.
  void close();

  bool closed() const noexcept { return closed_; }
  std::size_t pending() const noexcept { return pending_.size(); }
  const std::string& address() const noexcept { return name_; }
  boost::asio::any_io_executor get_executor() const { return ex_; }

 private:
  Client(boost::asio::any_io_executor ex, transport::StreamPtr stream, std::string name);
  void start();
  void send(std::string service, std::string method, std::string payload, Done done, std::chrono::nanoseconds timeout,
            Metadata metadata);
  void fail_later(Done done, Error why);
  void on_response(uint32_t id, std::string_view bytes);
  void fail_one(uint32_t id, const Error& why);
  void fail_all(const Error& why);
  void expire(uint32_t id);

  struct Pending {
    Done done;
    std::optional<transport::Deadlines::Handle> deadline;
    std::string what;  // "service/method"
  };
  boost::asio::any_io_executor ex_;
  transport::StreamPtr stream_;
  std::string name_;
  std::shared_ptr<transport::WriteQueue> out_;
  std::shared_ptr<FrameReader> reader_;
  std::unordered_map<uint32_t, Pending> pending_;
  transport::Deadlines deadlines_;
  std::function<void(const Error&)> on_close_;
  std::optional<Error> closed_why_;
  uint32_t next_id_ = 1;
  bool closed_ = false;
};

template <class Resp, class Req>
void Client::async_call(std::string service, std::string method, const Req& request,
                        std::function<void(Result<Resp>)> done, std::chrono::nanoseconds timeout) {
  std::string payload;
  if (!request.SerializeToString(&payload)) {
    auto d = std::move(done);
    return fail_later([d](Result<std::string> r) { d(r.error()); },
                      status_error(Code::Internal, "ttrpc: cannot serialize " + request.GetTypeName()));
  }
  async_call(
      std::move(service), std::move(method), std::move(payload),
      [done = std::move(done)](Result<std::string> r) {
        if (!r) return done(r.error());
        Resp resp;
        if (!resp.ParseFromString(r.value()))
          return done(status_error(Code::Internal, "ttrpc: cannot parse the " + resp.GetTypeName() + " response"));
        done(std::move(resp));
      },
      timeout);
}

template <class Resp, class Req>
Resp Client::call(std::string service, std::string method, const Req& request, std::chrono::nanoseconds timeout) {
  std::string payload;
  if (!request.SerializeToString(&payload))
    throw status_error(Code::Internal, "ttrpc: cannot serialize " + request.GetTypeName());
  std::string bytes = call(std::move(service), std::move(method), std::move(payload), timeout);
  Resp resp;
  if (!resp.ParseFromString(bytes))
    throw status_error(Code::Internal, "ttrpc: cannot parse the " + resp.GetTypeName() + " response");
  return resp;
}

}  // namespace hcs::ttrpc
