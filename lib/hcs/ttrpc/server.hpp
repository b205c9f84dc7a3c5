// Server: a ttrpc server on one Asio event loop. Any number of connections, each with
// many requests in flight; handlers answer through a Reply whenever they like, so
// answers leave in completion order, each frame written whole. Protocol errors are
// answered on their stream and never end the connection; only a broken stream or a
// peer of another user (SO_PEERCRED) does.
//
// Threading: the executor must be single-threaded (one io_context thread, or a strand).
// Every member function runs on that thread, or while the loop is not running. Replies
// may be called from any thread.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "hcs/core/error.hpp"
#include "hcs/core/fd.hpp"
#include "hcs/ttrpc/status.hpp"

namespace hcs::ttrpc {

using Metadata = std::multimap<std::string, std::string>;

struct Call {
  std::string service;
  std::string method;
  std::string payload;  // the serialized method request
  std::optional<std::chrono::steady_clock::time_point> deadline;  // from the request's timeout_nano
  Metadata metadata;
  uint32_t stream_id = 0;
  uint32_t peer_uid = 0;
  pid_t peer_pid = 0;
};

// A handler's answer: the serialized response message, or an Error (sent as a status,
// see status.hpp). The first answer counts; later ones, and any after the deadline or
// after the connection or the Server closed, are dropped. Callable from any thread, for
// as long as the executor's execution context (the io_context) exists.
using Reply = std::function<void(Result<std::string>)>;
// Runs on the loop: must not block it. A thrown hcs::Error is the answer.
using Handler = std::function<void(Call, Reply)>;

struct ServerOptions {
  // As containerd's shims do: a peer whose uid or gid is not our euid/egid is hung up on.
  bool require_same_user = true;
};

class Server {
 public:
  explicit Server(boost::asio::any_io_executor ex, ServerOptions options = ServerOptions());
  ~Server();  // close()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Registers (or replaces) the handler of service/method, e.g. "containerd.task.v2.Task",
  // "Create". Takes effect for requests that arrive afterwards, on every connection.
  void register_method(std::string service, std::string method, Handler handler);

  // Typed form for protobuf messages. `f` is called as f(Req, TypedReply) or as
  // f(const Call&, Req, TypedReply), with TypedReply = std::function<void(Result<Resp>)>.
  // A payload that does not parse as Req is answered INTERNAL, as ttrpc does.
  template <class Req, class Resp, class F>
  void register_method(std::string service, std::string method, F f);

  // Listens on a unix socket (mode 0600; a stale socket file is replaced, a live one
  // refused) and removes it again on close(). Throws hcs::Error.
  void listen(const std::string& address);
  // Serves an already-listening unix socket, e.g. fd 3 from a shim's `start`. Throws
  // hcs::Error when it is not one.
  void serve(UniqueFd listening_socket);
  // Stops accepting and hangs up every connection; pending handlers' replies are dropped.
  void close();

  std::size_t connections() const;
  boost::asio::any_io_executor get_executor() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

template <class Req, class Resp, class F>
void Server::register_method(std::string service, std::string method, F f) {
  using TypedReply = std::function<void(Result<Resp>)>;
  static_assert(std::is_invocable_v<F&, const Call&, Req, TypedReply> || std::is_invocable_v<F&, Req, TypedReply>,
                "handler must take (Req, TypedReply) or (const Call&, Req, TypedReply)");
  register_method(std::move(service), std::move(method), [f = std::move(f)](Call call, Reply reply) mutable {
    Req req;
    if (!req.ParseFromString(call.payload))
      return reply(status_error(Code::Internal, "ttrpc: error unmarshalling payload: cannot parse " +
                                                    req.GetTypeName()));
    TypedReply typed = [reply = std::move(reply)](Result<Resp> r) {
      if (!r) return reply(r.error());
      std::string out;
      if (!r.value().SerializeToString(&out))
        return reply(status_error(Code::Internal, "ttrpc: cannot serialize " + r.value().GetTypeName()));
      reply(std::move(out));
    };
    if constexpr (std::is_invocable_v<F&, const Call&, Req, TypedReply>)
      f(call, std::move(req), std::move(typed));
    else
      f(std::move(req), std::move(typed));
  });
}

}  // namespace hcs::ttrpc
