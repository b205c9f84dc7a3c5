// ttrpc: frame codec and envelope bytes, the status mapping, and Server and Client over
// real unix sockets, including every malformed-input path of containerd-shim.md §1–2.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "hcs/core/error.hpp"
#include "hcs/ttrpc/client.hpp"
#include "hcs/ttrpc/frame.hpp"
#include "hcs/ttrpc/server.hpp"
#include "hcs/ttrpc/socket.hpp"
#include "hcs/ttrpc/status.hpp"
#include "proto/ttrpc.pb.h"
#include "run_loop.hpp"

namespace ttrpc_test {

namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace pb = hcskit::ttrpc;
using namespace std::chrono_literals;
using namespace hcs;
using namespace hcs::ttrpc;
using hcs::test::run_for;
using hcs::test::run_until;

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(char(x));
  return s;
}

std::string hex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
    out += ' ';
  }
  return out;
}

std::string request_bytes(const std::string& service, const std::string& method, const std::string& payload,
                          int64_t timeout_nano = 0) {
  pb::Request r;
  r.set_service(service);
  r.set_method(method);
  r.set_payload(payload);
  r.set_timeout_nano(timeout_nano);
  return r.SerializeAsString();
}

std::string raw_frame(uint32_t length, uint32_t id, uint8_t type, std::string_view payload, uint8_t flags = 0) {
  auto h = encode_header(Header{length, id, type, flags});
  return std::string(reinterpret_cast<const char*>(h.data()), h.size()) + std::string(payload);
}

std::string request_frame(uint32_t id, const std::string& service, const std::string& method,
                          const std::string& payload, int64_t timeout_nano = 0) {
  return encode_frame(id, MessageType::Request, request_bytes(service, method, payload, timeout_nano));
}

// A hand-driven peer on a non-blocking socket, pumping the loop while it waits, so
// that the server under test runs on the same thread.
struct Raw {
  asio::io_context& io;
  UniqueFd fd;
  std::string in;

  Raw(asio::io_context& i, const std::string& path) : io(i), fd(connect_unix(path)) { set_nonblocking(fd.get(), true); }

  void pump() {
    if (io.stopped()) io.restart();
    io.run_one_for(1ms);
  }
  void write(std::string_view data) {
    std::size_t off = 0;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (off < data.size()) {
      ssize_t n = ::send(fd.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += std::size_t(n);
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != EINTR) throw std::runtime_error(std::string("send: ") + strerror(errno));
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("send: stuck");
      pump();
    }
  }
  // Receives what is there; false at EOF or error.
  bool receive() {
    char buf[65536];
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) in.append(buf, std::size_t(n));
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR));
  }
  std::optional<std::pair<Header, std::string>> frame(std::chrono::milliseconds limit = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      if (in.size() >= kHeaderSize) {
        Header h = decode_header(std::span<const std::byte, kHeaderSize>(reinterpret_cast<const std::byte*>(in.data()),
                                                                          kHeaderSize));
        if (in.size() >= kHeaderSize + h.length) {
          std::string payload = in.substr(kHeaderSize, h.length);
          in.erase(0, kHeaderSize + h.length);
          return std::make_pair(h, payload);
        }
      }
      if (!receive()) return std::nullopt;
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      pump();
    }
  }
  pb::Response response(uint32_t expect_id) {
    auto f = frame();
    EXPECT_TRUE(f.has_value()) << "no response on stream " << expect_id;
    if (!f) return {};
    EXPECT_EQ(f->first.stream_id, expect_id);
    EXPECT_EQ(f->first.type, uint8_t(MessageType::Response));
    EXPECT_EQ(f->first.flags, 0);
    pb::Response r;
    EXPECT_TRUE(r.ParseFromString(f->second)) << hex(f->second);
    return r;
  }
  // True when the server hangs up within `limit` without sending anything.
  bool hung_up(std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!receive()) return in.empty();
      pump();
    }
    return false;
  }
  // True when nothing arrives for `d`.
  bool quiet_for(std::chrono::milliseconds d) {
    const auto deadline = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < deadline) {
      if (!receive()) return false;
      pump();
    }
    return in.empty();
  }
};

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/ttrpc-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// A server with an echo method, listening in a temporary directory.
struct Fixture {
  asio::io_context io;
  TempDir dir;
  std::string path = (dir.path / "ttrpc.sock").string();
  Server server{io.get_executor()};

  Fixture() {
    server.register_method("test.Echo", "Echo", [](Call c, Reply r) { r(std::move(c.payload)); });
    server.listen(path);
  }
  std::shared_ptr<Client> client() { return Client::connect(io.get_executor(), path); }
  Result<std::string> call(const std::shared_ptr<Client>& c, const std::string& service, const std::string& method,
                           std::string payload, std::chrono::nanoseconds timeout = {}) {
    std::optional<Result<std::string>> r;
    c->async_call(service, method, std::move(payload), [&](Result<std::string> x) { r.emplace(std::move(x)); },
                  timeout);
    if (!run_until(io, [&] { return r.has_value(); })) return Error(hr::Fail, "test: no answer");
    return std::move(*r);
  }
};

}  // namespace

// ---- frames and envelopes -----------------------------------------------------------

TEST(TtrpcFrame, HeaderIsBigEndianTenBytes) {
  auto b = encode_header(Header{0x01020304, 0xA0B0C0D0, 3, 0x05});
  std::string s(reinterpret_cast<const char*>(b.data()), b.size());
  EXPECT_EQ(s, bytes({0x01, 0x02, 0x03, 0x04, 0xA0, 0xB0, 0xC0, 0xD0, 0x03, 0x05}));
  EXPECT_EQ(decode_header(b), (Header{0x01020304, 0xA0B0C0D0, 3, 0x05}));
  EXPECT_EQ(kHeaderSize, 10u);
  EXPECT_EQ(kMaxPayload, 4u * 1024 * 1024);
}

TEST(TtrpcFrame, GoldenRequest) {
  // Request{service "svc", method "M", payload 08 01, timeout_nano 1e9, metadata {k: v}}
  // on stream 1, as written by hand from the field numbers.
  const std::string golden = bytes({
      0x00, 0x00, 0x00, 0x1a, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00,  // length 26, stream 1, Request, flags 0
      0x0a, 0x03, 's',  'v',  'c',                                 // 1: service
      0x12, 0x01, 'M',                                             // 2: method
      0x1a, 0x02, 0x08, 0x01,                                      // 3: payload
      0x20, 0x80, 0x94, 0xeb, 0xdc, 0x03,                          // 4: timeout_nano 1000000000
      0x2a, 0x06, 0x0a, 0x01, 'k',  0x12, 0x01, 'v',               // 5: metadata {1: key, 2: value}
  });
  pb::Request r;
  r.set_service("svc");
  r.set_method("M");
  r.set_payload(bytes({0x08, 0x01}));
  r.set_timeout_nano(1'000'000'000);
  auto* kv = r.add_metadata();
  kv->set_key("k");
  kv->set_value("v");
  EXPECT_EQ(hex(encode_frame(1, MessageType::Request, r)), hex(golden));
  EXPECT_EQ(hex(encode_frame(1, MessageType::Request, r.SerializeAsString())), hex(golden));

  pb::Request back;
  ASSERT_TRUE(back.ParseFromString(golden.substr(kHeaderSize)));
  EXPECT_EQ(back.service(), "svc");
  EXPECT_EQ(back.method(), "M");
  EXPECT_EQ(back.timeout_nano(), 1'000'000'000);
  ASSERT_EQ(back.metadata_size(), 1);
  EXPECT_EQ(back.metadata(0).key(), "k");
}

TEST(TtrpcFrame, GoldenSuccessResponseHasNoStatus) {
  const std::string golden = bytes({0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x03, 0x02, 0x00,  // 4 bytes, stream 3
                                    0x12, 0x02, 0x08, 0x2a});  // 2: payload; no field 1
  pb::Response r;
  r.set_payload(bytes({0x08, 0x2a}));
  EXPECT_EQ(hex(encode_frame(3, MessageType::Response, r)), hex(golden));
  pb::Response back;
  ASSERT_TRUE(back.ParseFromString(golden.substr(kHeaderSize)));
  EXPECT_FALSE(back.has_status());
  // An empty success is an empty frame (what the real shim answers Shutdown with).
  EXPECT_EQ(hex(encode_frame(5, MessageType::Response, pb::Response())),
            hex(bytes({0, 0, 0, 0, 0, 0, 0, 5, 2, 0})));
}

TEST(TtrpcFrame, GoldenErrorResponse) {
  const std::string golden = bytes({0x00, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x07, 0x02, 0x00,
                                    0x0a, 0x08,                         // 1: status, 8 bytes
                                    0x08, 0x05,                         //   1: code 5 (NOT_FOUND)
                                    0x12, 0x04, 'n', 'o', 'p', 'e'});  //   2: message
  pb::Response r;
  to_status(Error(hr::ErrNotFound, "nope"), *r.mutable_status());
  EXPECT_EQ(hex(encode_frame(7, MessageType::Response, r)), hex(golden));
}

TEST(TtrpcFrame, RefusesOversizedPayload) {
  std::string big(kMaxPayload + 1, 'x');
  try {
    encode_frame(1, MessageType::Request, big);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(code_of(e), Code::ResourceExhausted);
  }
  EXPECT_EQ(encode_frame(1, MessageType::Request, std::string(kMaxPayload, 'x')).size(), kHeaderSize + kMaxPayload);
}

// ---- status mapping -------------------------------------------------------------------

TEST(TtrpcStatus, HresultsMapToCodes) {
  EXPECT_EQ(code_for(hr::VmcomputeSystemNotFound), Code::NotFound);
  EXPECT_EQ(code_for(hr::ErrNotFound), Code::NotFound);
  EXPECT_EQ(code_for(hr::VmcomputeSystemAlreadyExists), Code::AlreadyExists);
  EXPECT_EQ(code_for(hr::VmcomputeInvalidState), Code::FailedPrecondition);
  EXPECT_EQ(code_for(hr::ErrInvalidArg), Code::InvalidArgument);
  EXPECT_EQ(code_for(hr::VmcomputeInvalidJSON), Code::InvalidArgument);
  EXPECT_EQ(code_for(hr::NotImpl), Code::Unimplemented);
  EXPECT_EQ(code_for(hr::VmcomputeTimeout), Code::DeadlineExceeded);
  EXPECT_EQ(code_for(hr::BridgeClosed), Code::Unavailable);
  EXPECT_EQ(code_for(hr::Fail), Code::Unknown);
  EXPECT_EQ(code_for(0x80070002), Code::Unknown);
  EXPECT_EQ(code_of(Error(hr::Ok, "odd")), Code::Unknown);  // an error is never OK
  EXPECT_EQ(code_name(Code::ResourceExhausted), "RESOURCE_EXHAUSTED");
  EXPECT_EQ(code_name(Code(42)), "CODE(42)");
}

TEST(TtrpcStatus, EveryCodeRoundTrips) {
  for (int32_t i = 0; i <= 16; ++i) {
    Code c = Code(i);
    EXPECT_EQ(code_for(hresult_for(c)), c) << code_name(c);
    if (c == Code::Ok) continue;
    pb::Status s;
    s.set_code(i);
    s.set_message("m");
    Error e = from_status(s);
    EXPECT_EQ(code_of(e), c);
    pb::Status again;
    to_status(e, again);
    EXPECT_EQ(again.code(), i);
    EXPECT_EQ(again.details_size(), 0) << "the default HRESULT needs no detail";
  }
  pb::Status s;
  s.set_code(99);
  EXPECT_EQ(from_status(s).code(), hr::Fail);
  EXPECT_EQ(from_status(s).message(), "CODE(99)");
}

TEST(TtrpcStatus, ExactHresultCrossesInADetail) {
  for (uint32_t h : {hr::VmcomputeSystemNotFound, hr::VmcomputeInvalidJSON, uint32_t(0x80070002), hr::ErrNotFound}) {
    Error e(h, "what happened");
    e.wrap("outer");
    pb::Status s;
    to_status(e, s);
    EXPECT_EQ(s.code(), int32_t(code_for(h)) == 0 ? 2 : int32_t(code_for(h)));
    EXPECT_EQ(s.message(), "outer: what happened");
    Error back = from_status(s);
    EXPECT_EQ(back.code(), h) << std::hex << h;
    EXPECT_EQ(back.message(), "outer: what happened");
  }
  // A detail that contradicts the code loses to the code.
  pb::Status s;
  to_status(Error(hr::VmcomputeSystemNotFound, "x"), s);
  ASSERT_EQ(s.details_size(), 1);
  s.set_code(int32_t(Code::AlreadyExists));
  EXPECT_EQ(from_status(s).code(), hr::VmcomputeSystemAlreadyExists);
  // containerd-style bare type URLs are understood too.
  to_status(Error(hr::VmcomputeSystemNotFound, "x"), s);
  s.mutable_details(0)->set_type_url("hcskit.ttrpc.ErrorDetail");
  EXPECT_EQ(from_status(s).code(), hr::VmcomputeSystemNotFound);
}

TEST(TtrpcStatus, MessageIsValidUtf8) {
  pb::Status s;
  to_status(Error(hr::Fail, "file \xff\xfe caf\xc3\xa9 \xe2\x82 \xf0\x9f\x99\x82 \xc0\xaf \xed\xa0\x80."), s);
  EXPECT_EQ(s.message(), "file \ufffd\ufffd caf\u00e9 \ufffd\ufffd \U0001F642 \ufffd\ufffd \ufffd\ufffd\ufffd.");
}

// ---- client and server ------------------------------------------------------------------

TEST(Ttrpc, EchoRoundTripAndStreamIds) {
  Fixture f;
  std::vector<uint32_t> ids;
  f.server.register_method("test.Echo", "Id", [&](Call c, Reply r) {
    ids.push_back(c.stream_id);
    r(std::string());
  });
  auto c = f.client();
  auto r = f.call(c, "test.Echo", "Echo", "hello");
  ASSERT_TRUE(r.ok()) << r.error().text();
  EXPECT_EQ(r.value(), "hello");
  // Binary payloads, an empty one and one just under the limit all survive.
  std::string bin = bytes({0, 1, 2, 0xff, 0, 0x80});
  EXPECT_EQ(f.call(c, "test.Echo", "Echo", bin).value(), bin);
  EXPECT_EQ(f.call(c, "test.Echo", "Echo", "").value(), "");
  std::string big(kMaxPayload - 64, 'b');
  EXPECT_EQ(f.call(c, "test.Echo", "Echo", big).value().size(), big.size());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.call(c, "test.Echo", "Id", "").ok());
  EXPECT_EQ(ids, (std::vector<uint32_t>{9, 11, 13}));  // odd, from 1, up by 2
  EXPECT_EQ(f.server.connections(), 1u);
  EXPECT_EQ(c->pending(), 0u);
}

TEST(Ttrpc, TypedHandlersAndCalls) {
  Fixture f;
  f.server.register_method<pb::KeyValue, pb::KeyValue>(
      "test.Kv", "Swap", [](pb::KeyValue kv, std::function<void(Result<pb::KeyValue>)> reply) {
        pb::KeyValue out;
        out.set_key(kv.value());
        out.set_value(kv.key());
        reply(out);
      });
  f.server.register_method<pb::KeyValue, pb::KeyValue>(
      "test.Kv", "Fail", [](const Call& c, pb::KeyValue, std::function<void(Result<pb::KeyValue>)> reply) {
        reply(Error(hr::VmcomputeSystemNotFound, "no system for " + c.method));
      });
  auto c = f.client();
  pb::KeyValue in;
  in.set_key("a");
  in.set_value("b");
  std::optional<Result<pb::KeyValue>> r;
  c->async_call<pb::KeyValue>("test.Kv", "Swap", in, [&](Result<pb::KeyValue> x) { r.emplace(std::move(x)); });
  ASSERT_TRUE(run_until(f.io, [&] { return r.has_value(); }));
  ASSERT_TRUE(r->ok()) << r->error().text();
  EXPECT_EQ(r->value().key(), "b");
  EXPECT_EQ(r->value().value(), "a");

  r.reset();
  c->async_call<pb::KeyValue>("test.Kv", "Fail", in, [&](Result<pb::KeyValue> x) { r.emplace(std::move(x)); });
  ASSERT_TRUE(run_until(f.io, [&] { return r.has_value(); }));
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().code(), hr::VmcomputeSystemNotFound);
  EXPECT_EQ(r->error().message(), "no system for Fail");

  // A payload that is not a KeyValue: INTERNAL, as ttrpc answers an unmarshal failure.
  auto bad = f.call(c, "test.Kv", "Swap", bytes({0xff, 0xff, 0xff}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(code_of(bad.error()), Code::Internal);
  EXPECT_NE(bad.error().message().find("hcskit.ttrpc.KeyValue"), std::string::npos) << bad.error().message();
}

TEST(Ttrpc, BlockingCallFromAnotherThread) {
  Fixture f;
  auto c = f.client();
  std::atomic<bool> stop = false;
  std::thread loop([&] {
    auto guard = asio::make_work_guard(f.io);
    while (!stop) f.io.run_for(5ms);
  });
  pb::KeyValue in;
  in.set_key("k");
  std::string got;
  std::optional<Error> err;
  try {
    got = c->call("test.Echo", "Echo", "sync");
    c->call("test.Echo", "Nope", "");
  } catch (const Error& e) {
    err = e;
  }
  auto kv = c->call<pb::KeyValue>("test.Echo", "Echo", in);
  stop = true;
  loop.join();
  EXPECT_EQ(got, "sync");
  ASSERT_TRUE(err.has_value());
  EXPECT_EQ(err->code(), hr::NotImpl);
  EXPECT_EQ(kv.key(), "k");
}

TEST(Ttrpc, MetadataAndDeadlineReachTheHandler) {
  Fixture f;
  std::optional<Call> seen;
  f.server.register_method("test.Echo", "Look", [&](Call c, Reply r) {
    seen = c;
    r(std::string());
  });
  auto c = f.client();
  std::optional<Result<std::string>> r;
  const auto before = std::chrono::steady_clock::now();
  c->async_call("test.Echo", "Look", "p", [&](Result<std::string> x) { r.emplace(std::move(x)); }, 30s,
                Metadata{{"a", "1"}, {"a", "2"}, {"b", "3"}});
  ASSERT_TRUE(run_until(f.io, [&] { return r.has_value(); }));
  ASSERT_TRUE(r->ok());
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->service, "test.Echo");
  EXPECT_EQ(seen->method, "Look");
  EXPECT_EQ(seen->payload, "p");
  EXPECT_EQ(seen->metadata, (Metadata{{"a", "1"}, {"a", "2"}, {"b", "3"}}));
  EXPECT_EQ(seen->peer_uid, ::geteuid());
  EXPECT_EQ(seen->peer_pid, ::getpid());
  ASSERT_TRUE(seen->deadline.has_value());
  EXPECT_GT(*seen->deadline, before + 29s);
  EXPECT_LT(*seen->deadline, std::chrono::steady_clock::now() + 31s);

  f.call(c, "test.Echo", "Look", "");  // no timeout: no deadline
  EXPECT_FALSE(seen->deadline.has_value());
}

TEST(Ttrpc, ErrorsKeepTheirMeaningAcrossTheHop) {
  Fixture f;
  f.server.register_method("test.Err", "Reply", [](Call c, Reply r) { r(Error(uint32_t(std::stoul(c.payload)), "why")); });
  f.server.register_method("test.Err", "Throw", [](Call, Reply) { throw Error(hr::VmcomputeInvalidState, "bad state"); });
  f.server.register_method("test.Err", "Std", [](Call, Reply) { throw std::runtime_error("boom"); });
  auto c = f.client();
  for (uint32_t h : {hr::VmcomputeSystemNotFound, hr::ErrNotFound, hr::VmcomputeSystemAlreadyExists,
                     hr::VmcomputeInvalidState, hr::ErrInvalidArg, hr::VmcomputeInvalidJSON, hr::NotImpl,
                     hr::VmcomputeTimeout, hr::BridgeClosed, hr::Fail, uint32_t(0x80070005), uint32_t(0xC0370199)}) {
    auto r = f.call(c, "test.Err", "Reply", std::to_string(h));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), h) << std::hex << h;
    EXPECT_EQ(r.error().message(), "why");
  }
  auto t = f.call(c, "test.Err", "Throw", "");
  EXPECT_EQ(t.error().code(), hr::VmcomputeInvalidState);
  EXPECT_EQ(t.error().message(), "bad state");
  auto s = f.call(c, "test.Err", "Std", "");
  EXPECT_EQ(code_of(s.error()), Code::Unknown);
  EXPECT_EQ(s.error().message(), "boom");
  // The connection survives all of it.
  EXPECT_EQ(f.call(c, "test.Echo", "Echo", "still").value(), "still");
}

TEST(Ttrpc, UnknownServiceAndMethod) {
  Fixture f;
  auto c = f.client();
  auto s = f.call(c, "no.such.Service", "Echo", "");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(code_of(s.error()), Code::Unimplemented);
  EXPECT_EQ(s.error().message(), "service no.such.Service");
  auto m = f.call(c, "test.Echo", "NoSuchMethod", "");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(code_of(m.error()), Code::Unimplemented);
  EXPECT_EQ(m.error().message(), "method NoSuchMethod");

  // On the wire: code 12, and no payload.
  Raw raw(f.io, f.path);
  raw.write(request_frame(1, "no.such.Service", "X", ""));
  auto resp = raw.response(1);
  EXPECT_EQ(resp.status().code(), 12);
  EXPECT_EQ(resp.status().message(), "service no.such.Service");
  EXPECT_TRUE(resp.payload().empty());
}

TEST(Ttrpc, SuccessOnTheWireHasOnlyThePayload) {
  Fixture f;
  Raw raw(f.io, f.path);
  raw.write(request_frame(1, "test.Echo", "Echo", bytes({0x08, 0x2a})));
  auto fr = raw.frame();
  ASSERT_TRUE(fr);
  EXPECT_EQ(hex(raw_frame(fr->first.length, fr->first.stream_id, fr->first.type, fr->second)),
            hex(bytes({0, 0, 0, 4, 0, 0, 0, 1, 2, 0, 0x12, 0x02, 0x08, 0x2a})));
  raw.write(request_frame(3, "test.Echo", "Echo", ""));
  fr = raw.frame();
  ASSERT_TRUE(fr);
  EXPECT_EQ(fr->first.length, 0u);  // empty success: an empty body
  EXPECT_EQ(fr->first.stream_id, 3u);
}

TEST(Ttrpc, OversizedFrameIsSkippedAndAnsweredThenTheConnectionGoesOn) {
  Fixture f;
  Raw raw(f.io, f.path);
  // The oversized payload even looks like frames, to catch a reader that does not skip
  // exactly `length` bytes.
  std::string junk;
  while (junk.size() < kMaxPayload + 1) junk += request_frame(99, "test.Echo", "Echo", "inside");
  junk.resize(kMaxPayload + 1);
  raw.write(raw_frame(kMaxPayload + 1, 5, 1, junk));
  raw.write(request_frame(7, "test.Echo", "Echo", "after"));
  auto r5 = raw.response(5);
  EXPECT_EQ(r5.status().code(), int32_t(Code::ResourceExhausted));
  EXPECT_FALSE(r5.status().message().empty());
  auto r7 = raw.response(7);
  EXPECT_FALSE(r7.has_status());
  EXPECT_EQ(r7.payload(), "after");

  // Exactly kMaxPayload is allowed: a Request padded to that size reaches its handler.
  std::size_t pad = kMaxPayload - 64;
  for (;;) {
    std::size_t n = request_bytes("test.Echo", "Echo", std::string(pad, 'p')).size();
    if (n == kMaxPayload) break;
    pad += kMaxPayload - n;
  }
  raw.write(request_frame(9, "test.Echo", "Echo", std::string(pad, 'p')));
  auto r9 = raw.response(9);
  EXPECT_FALSE(r9.has_status()) << r9.status().message();
  EXPECT_EQ(r9.payload().size(), pad);
  // An answer too large for a frame goes out as RESOURCE_EXHAUSTED instead.
  f.server.register_method("test.Big", "Big", [](Call, Reply r) { r(std::string(kMaxPayload, 'x')); });
  raw.write(request_frame(11, "test.Big", "Big", ""));
  auto r11 = raw.response(11);
  EXPECT_EQ(r11.status().code(), int32_t(Code::ResourceExhausted));
  EXPECT_TRUE(r11.payload().empty());
  raw.write(request_frame(13, "test.Echo", "Echo", "still"));
  EXPECT_EQ(raw.response(13).payload(), "still");
}

TEST(Ttrpc, EvenStreamIdIsInvalidArgument) {
  Fixture f;
  int ran = 0;
  f.server.register_method("test.Echo", "Count", [&](Call, Reply r) {
    ++ran;
    r(std::string());
  });
  Raw raw(f.io, f.path);
  raw.write(request_frame(2, "test.Echo", "Count", ""));
  auto r = raw.response(2);
  EXPECT_EQ(r.status().code(), int32_t(Code::InvalidArgument));
  EXPECT_EQ(ran, 0);
  raw.write(request_frame(0, "test.Echo", "Count", ""));
  EXPECT_EQ(raw.response(0).status().code(), int32_t(Code::InvalidArgument));
  raw.write(request_frame(3, "test.Echo", "Count", ""));
  EXPECT_FALSE(raw.response(3).has_status());
  EXPECT_EQ(ran, 1);
}

TEST(Ttrpc, GarbageEnvelopeAndPayload) {
  Fixture f;
  Raw raw(f.io, f.path);
  // Field 1 claims 100 bytes that are not there.
  raw.write(encode_frame(1, MessageType::Request, bytes({0x0a, 0x64, 'x'})));
  auto r1 = raw.response(1);
  ASSERT_TRUE(r1.has_status());
  EXPECT_EQ(r1.status().code(), int32_t(Code::InvalidArgument));
  EXPECT_TRUE(r1.payload().empty());
  // A typed method given a payload that is not its message: INTERNAL.
  f.server.register_method<pb::KeyValue, pb::KeyValue>(
      "test.Kv", "Id", [](pb::KeyValue kv, std::function<void(Result<pb::KeyValue>)> r) { r(kv); });
  raw.write(request_frame(3, "test.Kv", "Id", bytes({0x0a, 0x64})));
  EXPECT_EQ(raw.response(3).status().code(), int32_t(Code::Internal));
  raw.write(request_frame(5, "test.Echo", "Echo", "ok"));
  EXPECT_EQ(raw.response(5).payload(), "ok");
}

TEST(Ttrpc, OtherFrameTypesAreIgnored) {
  Fixture f;
  Raw raw(f.io, f.path);
  raw.write(encode_frame(1, MessageType::Response, "whatever"));
  raw.write(encode_frame(3, MessageType::Data, request_bytes("test.Echo", "Echo", "data")));
  raw.write(raw_frame(0, 5, 0x7f, ""));
  raw.write(request_frame(7, "test.Echo", "Echo", "req", 0));
  auto fr = raw.frame();
  ASSERT_TRUE(fr);
  EXPECT_EQ(fr->first.stream_id, 7u);
  EXPECT_TRUE(raw.quiet_for(100ms));
}

TEST(Ttrpc, ManyCallsInFlightAnsweredOutOfOrder) {
  Fixture f;
  std::vector<std::shared_ptr<asio::steady_timer>> timers;
  std::vector<int> answer_order;
  f.server.register_method("test.Slow", "After", [&](Call c, Reply r) {
    int n = std::stoi(c.payload);
    auto t = std::make_shared<asio::steady_timer>(f.io, std::chrono::milliseconds((200 - n) / 2));
    timers.push_back(t);
    t->async_wait([r, n, &answer_order](auto) {
      answer_order.push_back(n);
      r("r" + std::to_string(n));
    });
  });
  auto c = f.client();
  std::map<int, std::string> got;
  int errors = 0;
  for (int i = 0; i < 200; ++i)
    c->async_call("test.Slow", "After", std::to_string(i), [&, i](Result<std::string> r) {
      if (r)
        got[i] = r.value();
      else
        ++errors;
    });
  ASSERT_TRUE(run_until(f.io, [&] { return got.size() + errors == 200; }));
  EXPECT_EQ(errors, 0);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(got[i], "r" + std::to_string(i));
  ASSERT_EQ(answer_order.size(), 200u);
  EXPECT_GT(answer_order.front(), answer_order.back());  // really out of order
}

TEST(Ttrpc, SlowHandlerDoesNotBlockAFastOne) {
  Fixture f;
  std::optional<Reply> held;
  f.server.register_method("test.Slow", "Hold", [&](Call, Reply r) { held = r; });
  auto c = f.client();
  std::vector<std::string> order;
  c->async_call("test.Slow", "Hold", "", [&](Result<std::string> r) { order.push_back("slow:" + r.value()); });
  c->async_call("test.Echo", "Echo", "fast", [&](Result<std::string> r) { order.push_back("fast:" + r.value()); });
  ASSERT_TRUE(run_until(f.io, [&] { return order.size() == 1; }));
  EXPECT_EQ(order[0], "fast:fast");
  ASSERT_TRUE(held);
  // A reply from another thread lands on the loop.
  std::thread([r = *held] { r(std::string("done")); }).join();
  ASSERT_TRUE(run_until(f.io, [&] { return order.size() == 2; }));
  EXPECT_EQ(order[1], "slow:done");
  // A second answer to the same request is dropped, not sent.
  (*held)(std::string("again"));
  EXPECT_EQ(f.call(c, "test.Echo", "Echo", "x").value(), "x");
}

TEST(Ttrpc, ServerDeadlineAnswersDeadlineExceededAndDropsTheLateReply) {
  Fixture f;
  std::optional<Reply> held;
  f.server.register_method("test.Slow", "Hold", [&](Call, Reply r) { held = r; });
  Raw raw(f.io, f.path);
  const auto start = std::chrono::steady_clock::now();
  raw.write(request_frame(1, "test.Slow", "Hold", "", 50'000'000));  // 50 ms
  auto r = raw.response(1);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 45ms);
  EXPECT_EQ(r.status().code(), int32_t(Code::DeadlineExceeded));
  ASSERT_TRUE(held);
  (*held)(std::string("late"));
  EXPECT_TRUE(raw.quiet_for(50ms));
  // The stream id may be used again; the old reply must not answer the new request.
  auto old = *held;
  raw.write(request_frame(1, "test.Slow", "Hold", ""));
  run_for(f.io, 20ms);
  old(std::string("stale"));
  EXPECT_TRUE(raw.quiet_for(50ms));
  (*held)(std::string("fresh"));
  EXPECT_EQ(raw.response(1).payload(), "fresh");
}

TEST(Ttrpc, ClientTimeoutFailsTheCallEvenIfTheServerIgnoresIt) {
  asio::io_context io;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd silent(fds[1]);  // a "server" that never answers
  auto c = Client::adopt(io.get_executor(), UniqueFd(fds[0]), "silent");
  std::optional<Result<std::string>> r;
  c->async_call("s", "m", "", [&](Result<std::string> x) { r.emplace(std::move(x)); }, 30ms);
  ASSERT_TRUE(run_until(io, [&] { return r.has_value(); }));
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().code(), hr::VmcomputeTimeout);
  EXPECT_EQ(c->pending(), 0u);
  EXPECT_FALSE(c->closed());
}

TEST(Ttrpc, ClientSkipsOversizedAndStrayResponses) {
  asio::io_context io;
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd peer(fds[1]);
  auto c = Client::adopt(io.get_executor(), UniqueFd(fds[0]), "fake");
  std::map<int, Result<std::string>> got;
  for (int i = 0; i < 3; ++i)
    c->async_call("s", "m", "", [&, i](Result<std::string> x) { got.emplace(i, std::move(x)); });
  run_for(io, 20ms);
  pb::Response ok;
  ok.set_payload("third");
  std::string out = encode_frame(77, MessageType::Response, ok);               // stray
  out += raw_frame(kMaxPayload + 1, 1, 2, std::string(kMaxPayload + 1, 'z'));  // too big for call 1
  out += encode_frame(3, MessageType::Response, bytes({0x0a, 0x64}));          // unparsable for call 2
  out += encode_frame(5, MessageType::Response, ok);
  std::size_t off = 0;
  set_nonblocking(peer.get(), true);
  ASSERT_TRUE(run_until(io, [&] {
    ssize_t n = ::send(peer.get(), out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n > 0) off += std::size_t(n);
    return got.size() == 3;
  }));
  EXPECT_EQ(code_of(got.at(0).error()), Code::ResourceExhausted);
  EXPECT_EQ(code_of(got.at(1).error()), Code::Internal);
  EXPECT_EQ(got.at(2).value(), "third");
  EXPECT_FALSE(c->closed());
}

TEST(Ttrpc, ServerGoingAwayFailsPendingClientCalls) {
  Fixture f;
  std::optional<Reply> held;
  f.server.register_method("test.Slow", "Hold", [&](Call, Reply r) { held = r; });
  auto c = f.client();
  std::optional<Error> closed;
  c->on_close([&](const Error& e) { closed = e; });
  std::vector<Result<std::string>> got;
  for (int i = 0; i < 5; ++i)
    c->async_call("test.Slow", "Hold", "", [&](Result<std::string> r) { got.push_back(std::move(r)); });
  ASSERT_TRUE(run_until(f.io, [&] { return held.has_value() && c->pending() == 5; }));
  f.server.close();
  EXPECT_EQ(f.server.connections(), 0u);
  EXPECT_FALSE(fs::exists(f.path)) << "close() removes the socket";
  ASSERT_TRUE(run_until(f.io, [&] { return got.size() == 5; }));
  for (auto& r : got) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), hr::BridgeClosed);
    EXPECT_EQ(code_of(r.error()), Code::Unavailable);
    EXPECT_NE(r.error().message().find(f.path), std::string::npos) << r.error().message();
  }
  ASSERT_TRUE(closed);
  EXPECT_EQ(closed->code(), hr::BridgeClosed);
  EXPECT_TRUE(c->closed());
  (*held)(std::string("too late"));  // the connection is gone: nothing happens
  run_for(f.io, 10ms);
  auto after = f.call(c, "test.Echo", "Echo", "");
  EXPECT_EQ(after.error().code(), hr::BridgeClosed);
  // on_close after the fact runs at once.
  bool late_cb = false;
  c->on_close([&](const Error&) { late_cb = true; });
  EXPECT_TRUE(run_until(f.io, [&] { return late_cb; }));
}

TEST(Ttrpc, ClientGoingAwayLeavesPendingHandlersHarmless) {
  asio::io_context io;
  TempDir dir;
  std::string path = (dir.path / "s.sock").string();
  auto server = std::make_unique<Server>(io.get_executor());
  std::vector<Reply> held;
  server->register_method("test.Slow", "Hold", [&](Call, Reply r) { held.push_back(r); });
  server->listen(path);
  {
    auto c = Client::connect(io.get_executor(), path);
    std::optional<Error> failed;
    c->async_call("test.Slow", "Hold", "", [&](Result<std::string> r) { failed = r.error(); });
    ASSERT_TRUE(run_until(io, [&] { return held.size() == 1 && server->connections() == 1; }));
    c->close();
    ASSERT_TRUE(run_until(io, [&] { return failed.has_value(); }));
    EXPECT_EQ(failed->code(), hr::BridgeClosed);
  }
  ASSERT_TRUE(run_until(io, [&] { return server->connections() == 0; }));
  held[0](std::string("nobody listens"));
  run_for(io, 10ms);

  // A call pending when the Server itself is destroyed: its Reply stays safe to call.
  auto c2 = Client::connect(io.get_executor(), path);
  std::optional<Error> failed2;
  c2->async_call("test.Slow", "Hold", "", [&](Result<std::string> r) { failed2 = r.error(); });
  ASSERT_TRUE(run_until(io, [&] { return held.size() == 2; }));
  server.reset();
  held[1](std::string("after the server"));
  held[0](Error(hr::Fail, "after everything"));
  ASSERT_TRUE(run_until(io, [&] { return failed2.has_value(); }));
  EXPECT_EQ(failed2->code(), hr::BridgeClosed);
  EXPECT_FALSE(fs::exists(path));
}

TEST(Ttrpc, DestroyedClientFailsItsPendingCalls) {
  Fixture f;
  f.server.register_method("test.Slow", "Hold", [](Call, Reply) {});
  std::optional<Error> e;
  {
    auto c = f.client();
    c->async_call("test.Slow", "Hold", "", [&](Result<std::string> r) { e = r.error(); });
    run_for(f.io, 20ms);
  }
  ASSERT_TRUE(e);
  EXPECT_EQ(e->code(), hr::BridgeClosed);
}

TEST(Ttrpc, ListenReplacesStaleRefusesLiveAndIsPrivate) {
  asio::io_context io;
  TempDir dir;
  std::string path = (dir.path / "s.sock").string();
  {
    // A stale socket: bound, then its listener gone.
    UniqueFd stale = listen_unix(path);
  }
  ASSERT_TRUE(fs::exists(path));
  Server a(io.get_executor());
  a.register_method("x", "y", [](Call, Reply r) { r(std::string("a")); });
  a.listen("unix://" + path);
  struct stat st{};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  Server b(io.get_executor());
  EXPECT_THROW(b.listen(path), Error);  // a's socket is live
  EXPECT_TRUE(fs::exists(path));

  std::string file = (dir.path / "plain").string();
  std::ofstream(file) << "x";
  try {
    b.listen(file);
    FAIL() << "replaced a regular file";
  } catch (const Error& e) {
    EXPECT_NE(e.text().find(file), std::string::npos);
  }
  EXPECT_TRUE(fs::is_regular_file(file));

  // Still a's socket, and a still answers.
  auto c = Client::connect(io.get_executor(), "unix://" + path);
  std::optional<Result<std::string>> r;
  c->async_call("x", "y", "", [&](Result<std::string> x) { r.emplace(std::move(x)); });
  ASSERT_TRUE(run_until(io, [&] { return r.has_value(); }));
  EXPECT_EQ(r->value(), "a");

  // A successor's socket at the same path survives our close().
  a.close();
  EXPECT_FALSE(fs::exists(path));
  b.listen(path);
  Server a2(io.get_executor());
  a2.close();
  EXPECT_TRUE(fs::exists(path));
}

TEST(Ttrpc, ConnectFailureNamesThePath) {
  asio::io_context io;
  try {
    Client::connect(io.get_executor(), "/nonexistent/ttrpc.sock");
    FAIL() << "connected to nothing";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), hr::BridgeClosed);
    EXPECT_NE(e.text().find("/nonexistent/ttrpc.sock"), std::string::npos) << e.text();
  }
  EXPECT_THROW(Client::connect(io.get_executor(), std::string(200, 'p')), Error);
}

TEST(Ttrpc, ServeAnInheritedListeningSocketAndAbstractAddresses) {
  asio::io_context io;
  TempDir dir;
  std::string path = (dir.path / "fd3.sock").string();
  Server s(io.get_executor());
  s.register_method("x", "y", [](Call c, Reply r) { r("fd:" + c.payload); });
  s.serve(listen_unix(path));
  auto c = Client::connect(io.get_executor(), path);
  std::optional<Result<std::string>> r;
  c->async_call("x", "y", "1", [&](Result<std::string> x) { r.emplace(std::move(x)); });
  ASSERT_TRUE(run_until(io, [&] { return r.has_value(); }));
  EXPECT_EQ(r->value(), "fd:1");

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  UniqueFd keep(fds[1]);
  EXPECT_THROW(s.serve(UniqueFd(fds[0])), Error);
  UniqueFd unbound(::socket(AF_UNIX, SOCK_STREAM, 0));
  EXPECT_THROW(s.serve(std::move(unbound)), Error);

  std::string abstract = "@hcskit-ttrpc-test-" + std::to_string(::getpid());
  s.listen(abstract);
  auto c2 = Client::connect(io.get_executor(), abstract);
  r.reset();
  c2->async_call("x", "y", "2", [&](Result<std::string> x) { r.emplace(std::move(x)); });
  ASSERT_TRUE(run_until(io, [&] { return r.has_value(); }));
  EXPECT_EQ(r->value(), "fd:2");
  EXPECT_EQ(s.connections(), 2u);
}

namespace {

// In a child running as nobody: connects, sends an Echo, and exits 0 when answered,
// 1 when hung up on, 2 on any other failure.
int call_as_nobody(const std::string& path) {
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
    try {
      UniqueFd fd = connect_unix(path);
      std::string req = request_frame(1, "test.Echo", "Echo", "hi");
      if (::send(fd.get(), req.data(), req.size(), MSG_NOSIGNAL) != ssize_t(req.size())) ::_exit(1);
      char buf[64];
      ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
      ::_exit(n > 0 ? 0 : 1);
    } catch (...) {
      ::_exit(2);
    }
  }
  return pid;
}

}  // namespace

TEST(Ttrpc, PeerOfAnotherUserIsHungUpOn) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  for (bool require : {true, false}) {
    asio::io_context io;
    TempDir dir;
    ::chmod(dir.path.c_str(), 0755);
    std::string path = (dir.path / "s.sock").string();
    ServerOptions opts;
    opts.require_same_user = require;
    Server s(io.get_executor(), opts);
    s.register_method("test.Echo", "Echo", [](Call c, Reply r) {
      EXPECT_EQ(c.peer_uid, 65534u);
      r(std::move(c.payload));
    });
    s.listen(path);
    ::chmod(path.c_str(), 0666);  // let the other user reach the socket at all
    int pid = call_as_nobody(path);
    ASSERT_GT(pid, 0);
    int status = 0;
    ASSERT_TRUE(run_until(io, [&] { return ::waitpid(pid, &status, WNOHANG) == pid; }));
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), require ? 1 : 0) << "require_same_user=" << require;
    if (require) {
      EXPECT_EQ(s.connections(), 0u);
    }
  }
}

TEST(Ttrpc, ThroughputWithManyInFlight) {
  // Not a benchmark (scripts/bench is), but a guard against a pathological slow path:
  // 20000 small calls, 64 at a time, on one connection.
  Fixture f;
  auto c = f.client();
  constexpr int kTotal = 20000, kWindow = 64;
  int sent = 0, done = 0, errors = 0;
  std::function<void()> more = [&] {
    while (sent < kTotal && sent - done < kWindow) {
      ++sent;
      c->async_call("test.Echo", "Echo", "0123456789abcdef", [&](Result<std::string> r) {
        ++done;
        if (!r || r.value().size() != 16) ++errors;
        more();
      });
    }
  };
  const auto start = std::chrono::steady_clock::now();
  more();
  ASSERT_TRUE(run_until(f.io, [&] { return done == kTotal; }, 60s));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(errors, 0);
  std::printf("[ ttrpc    ] %d calls in %.3f s: %.0f calls/s\n", kTotal, secs, kTotal / secs);
}

}  // namespace ttrpc_test
