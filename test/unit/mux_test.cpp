#include "hcs/transport/mux.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <csignal>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "hcs/core/error.hpp"
#include "run_loop.hpp"

namespace mux_test {

namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using namespace hcs::transport;
using namespace hcs::transport::mux;
using hcs::test::run_for;
using hcs::test::run_until;

std::pair<std::shared_ptr<FdStream>, std::shared_ptr<FdStream>> socket_pair(asio::io_context& io) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
  return {FdStream::adopt(io.get_executor(), hcs::UniqueFd(fds[0]), FdStream::Kind::Socket),
          FdStream::adopt(io.get_executor(), hcs::UniqueFd(fds[1]), FdStream::Kind::Socket)};
}

std::string pattern(std::size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = char(x);
  }
  return s;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Views bytes that outlive the operation: literals or long-lived strings.
std::span<const std::byte> bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

// Reads a stream to its end; `paused` holds further reads until resume().
struct Reader : std::enable_shared_from_this<Reader> {
  StreamPtr s;
  std::string got;
  std::vector<std::byte> buf = std::vector<std::byte>(16 * 1024);
  error_code end;
  bool done = false;

  static std::shared_ptr<Reader> start(StreamPtr s) {
    auto r = std::make_shared<Reader>();
    r->s = std::move(s);
    r->next();
    return r;
  }
  void next() {
    s->async_read_some(buf, [self = shared_from_this()](const error_code& ec, std::size_t n) {
      self->got.append(reinterpret_cast<const char*>(self->buf.data()), n);
      if (ec) {
        self->end = ec;
        self->done = true;
        return;
      }
      self->next();
    });
  }
};

// Writes `data` in async_write_some steps, counting completed bytes; shuts down at the end.
struct Writer : std::enable_shared_from_this<Writer> {
  StreamPtr s;
  std::string data;
  std::size_t sent = 0;
  error_code error;
  bool done = false;

  static std::shared_ptr<Writer> start(StreamPtr s, std::string data) {
    auto w = std::make_shared<Writer>();
    w->s = std::move(s);
    w->data = std::move(data);
    w->next();
    return w;
  }
  void next() {
    if (sent == data.size()) {
      s->shutdown_write();
      done = true;
      return;
    }
    s->async_write_some(bytes(data).subspan(sent), [self = shared_from_this()](const error_code& ec, std::size_t n) {
      self->sent += n;
      if (ec) {
        self->error = ec;
        self->done = true;
        return;
      }
      self->next();
    });
  }
};

void accept_loop(Listener& l, std::function<void(StreamPtr)> on) {
  l.async_accept([&l, on](const error_code& ec, StreamPtr s) {
    if (ec) return;
    on(std::move(s));
    accept_loop(l, on);
  });
}

// Raw frame bytes, without the encoder's validation.
std::string raw_frame(uint8_t type, uint32_t id, uint32_t arg, const std::string& payload = {}, uint32_t length = ~0u) {
  std::string f(kHeaderSize, '\0');
  f[0] = char(type);
  const uint32_t len = length == ~0u ? uint32_t(payload.size()) : length;
  std::memcpy(&f[4], &id, 4);  // the test host is little-endian, as the wire is
  std::memcpy(&f[8], &arg, 4);
  std::memcpy(&f[12], &len, 4);
  return f + payload;
}

struct MuxTestBase : ::testing::Test {
  asio::io_context io;
  void SetUp() override { std::signal(SIGPIPE, SIG_IGN); }
  // Lets every posted completion run so nothing is left to leak.
  void drain() { run_for(io, 20ms); }
};

// Two sessions over one socketpair.
struct MuxSession : MuxTestBase {
  std::shared_ptr<FdStream> host_carrier, guest_carrier;
  std::shared_ptr<Session> host, guest;
  int host_closes = 0, guest_closes = 0;
  error_code host_close_ec, guest_close_ec;

  void SetUp() override {
    MuxTestBase::SetUp();
    std::tie(host_carrier, guest_carrier) = socket_pair(io);
    host = Session::start(host_carrier, Role::Host, [this](const error_code& ec) { ++host_closes, host_close_ec = ec; });
    guest = Session::start(guest_carrier, Role::Guest, [this](const error_code& ec) { ++guest_closes, guest_close_ec = ec; });
  }
  void TearDown() override {
    host.reset();
    guest.reset();
    drain();
  }

  StreamPtr dial(Session& from, uint32_t port) {
    StreamPtr out;
    error_code err;
    bool done = false;
    from.async_dial(port, [&](const error_code& ec, StreamPtr s) { err = ec, out = std::move(s), done = true; });
    EXPECT_TRUE(run_until(io, [&] { return done; }));
    EXPECT_FALSE(err) << err.message();
    return out;
  }
  StreamPtr accept(Listener& l) {
    StreamPtr out;
    bool done = false;
    l.async_accept([&](const error_code& ec, StreamPtr s) {
      EXPECT_FALSE(ec) << ec.message();
      out = std::move(s), done = true;
    });
    EXPECT_TRUE(run_until(io, [&] { return done; }));
    return out;
  }
  std::string read_all(const StreamPtr& s) {
    auto r = Reader::start(s);
    EXPECT_TRUE(run_until(io, [&] { return r->done; }));
    EXPECT_EQ(r->end, asio::error::eof) << r->end.message();
    return r->got;
  }
  void write_all(const StreamPtr& s, const std::string& data) {
    auto w = Writer::start(s, data);
    EXPECT_TRUE(run_until(io, [&] { return w->done; }));
    EXPECT_FALSE(w->error) << w->error.message();
  }
};

// One session and the raw other end of its carrier, to speak bytes at it directly.
struct MuxRaw : MuxTestBase {
  std::shared_ptr<FdStream> raw;
  std::shared_ptr<WriteQueue> raw_out;
  std::shared_ptr<Reader> raw_in;
  std::shared_ptr<Session> session;
  int closes = 0;
  error_code close_ec;

  void start(Role role) {
    std::shared_ptr<FdStream> carrier;
    std::tie(carrier, raw) = socket_pair(io);
    session = Session::start(carrier, role, [this](const error_code& ec) { ++closes, close_ec = ec; });
    raw_out = WriteQueue::create(raw, [](const error_code&) {});
    raw_in = Reader::start(raw);
  }
  void TearDown() override {
    session.reset();
    if (raw) raw->close();
    drain();
  }
  void send(const std::string& bytes) { raw_out->send(bytes); }
  // The frames the session has sent so far (payloads skipped).
  std::vector<FrameHeader> frames() const {
    std::vector<FrameHeader> out;
    const std::string& in = raw_in->got;
    for (std::size_t at = 0; at + kHeaderSize <= in.size();) {
      auto h = decode_header(std::span<const std::byte, kHeaderSize>(
          reinterpret_cast<const std::byte*>(in.data() + at), kHeaderSize));
      out.push_back(h);
      at += kHeaderSize + h.length;
    }
    return out;
  }
};

TEST(MuxFrame, GoldenConnectHeader) {
  const auto b = encode_header({FrameType::Connect, 1, kGcsPort, 0});
  const std::array<uint8_t, 16> want{1, 0, 0, 0, 1, 0, 0, 0, 0x00, 0x00, 0x00, 0x40, 0, 0, 0, 0};
  EXPECT_EQ(std::memcmp(b.data(), want.data(), 16), 0);
  const auto h = decode_header(b);
  EXPECT_EQ(h.type, FrameType::Connect);
  EXPECT_EQ(h.stream, 1u);
  EXPECT_EQ(h.arg, kGcsPort);
  EXPECT_EQ(h.length, 0u);
}

TEST(MuxFrame, GoldenDataHeader) {
  const auto b = encode_header({FrameType::Data, 0x01020304, 0, 0x10000});
  const std::array<uint8_t, 16> want{4, 0, 0, 0, 0x04, 0x03, 0x02, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x01, 0x00};
  EXPECT_EQ(std::memcmp(b.data(), want.data(), 16), 0);
  const auto h = decode_header(b);
  EXPECT_EQ(h.type, FrameType::Data);
  EXPECT_EQ(h.stream, 0x01020304u);
  EXPECT_EQ(h.length, kMaxData);
}

TEST(MuxFrame, DecodeRejectsInvalidHeaders) {
  auto header = [](uint8_t type, uint32_t id, uint32_t length) {
    const std::string f = raw_frame(type, id, 0, {}, length);
    std::array<std::byte, kHeaderSize> b;
    std::memcpy(b.data(), f.data(), kHeaderSize);
    return b;
  };
  auto expect_invalid = [](std::array<std::byte, kHeaderSize> b, const char* what) {
    try {
      decode_header(b);
      ADD_FAILURE() << "accepted " << what;
    } catch (const hcs::Error& e) {
      EXPECT_EQ(e.code(), hcs::hr::ErrInvalidArg) << what;
      EXPECT_FALSE(e.message().empty());
    }
  };
  expect_invalid(header(0, 1, 0), "type 0");
  expect_invalid(header(8, 1, 0), "type 8");
  expect_invalid(header(0xff, 1, 0), "type 255");
  expect_invalid(header(5, 0, 0), "stream id 0");
  expect_invalid(header(4, 1, 0), "empty DATA");
  expect_invalid(header(4, 1, kMaxData + 1), "oversized DATA");
  expect_invalid(header(1, 1, 1), "CONNECT with a length");
  for (int i = 1; i < 4; ++i) {
    auto b = header(2, 1, 0);
    b[i] = std::byte{1};
    expect_invalid(b, "non-zero flags/reserved");
  }
  EXPECT_NO_THROW(decode_header(header(4, 1, 1)));
  EXPECT_NO_THROW(decode_header(header(7, 0xffffffff, 0)));
}

TEST_F(MuxSession, DialAcceptEchoBothWays) {
  auto l = host->listen(kGcsPort);
  auto g = dial(*guest, kGcsPort);
  auto h = accept(*l);
  ASSERT_TRUE(g && h);
  EXPECT_EQ(host->open_streams(), 1u);
  EXPECT_EQ(guest->open_streams(), 1u);

  write_all(g, "hello from the guest");
  std::string got(64, '\0');
  std::size_t n = 0;
  bool read_done = false;
  h->async_read_some(std::as_writable_bytes(std::span(got)), [&](const error_code& ec, std::size_t k) {
    EXPECT_FALSE(ec);
    n = k, read_done = true;
  });
  ASSERT_TRUE(run_until(io, [&] { return read_done; }));
  EXPECT_EQ(got.substr(0, n), "hello from the guest");

  // The other direction, over a stream the host dials to a guest listener.
  auto gl = guest->listen(7);
  auto h2 = dial(*host, 7);
  auto g2 = accept(*gl);
  write_all(h2, "hello from the host");
  EXPECT_EQ(read_all(g2), "hello from the host");
  write_all(g2, "and back");
  EXPECT_EQ(read_all(h2), "and back");
}

TEST_F(MuxSession, CompletionsAreNeverInline) {
  auto l = host->listen(1);
  auto g = dial(*guest, 1);
  auto h = accept(*l);
  bool wrote = false;
  g->async_write_some(bytes("x"), [&](const error_code&, std::size_t) { wrote = true; });
  EXPECT_FALSE(wrote);  // even with credit available
  ASSERT_TRUE(run_until(io, [&] { return wrote; }));
  run_for(io, 20ms);  // the byte is now buffered on the host side
  std::byte b{};
  bool read = false;
  h->async_read_some(std::span(&b, 1), [&](const error_code&, std::size_t) { read = true; });
  EXPECT_FALSE(read);  // even with data buffered
  ASSERT_TRUE(run_until(io, [&] { return read; }));
  EXPECT_EQ(b, std::byte{'x'});
}

TEST_F(MuxSession, FiftyStreamsOneMiBEachBothDirections) {
  constexpr int kStreams = 50;
  constexpr std::size_t kSize = 1 << 20;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::vector<std::shared_ptr<Reader>> readers;
  std::vector<std::shared_ptr<Writer>> writers;
  for (int i = 0; i < kStreams; ++i) {
    const uint32_t port = 1000 + i;
    listeners.push_back(host->listen(port));
    accept_loop(*listeners.back(), [&, i](StreamPtr s) {
      readers.push_back(Reader::start(s));
      writers.push_back(Writer::start(s, pattern(kSize, 5000 + i)));
    });
  }
  std::vector<std::shared_ptr<Reader>> guest_readers(kStreams);
  for (int i = 0; i < kStreams; ++i) {
    guest->async_dial(1000 + i, [&, i](const error_code& ec, StreamPtr s) {
      ASSERT_FALSE(ec) << ec.message();
      guest_readers[i] = Reader::start(s);
      writers.push_back(Writer::start(s, pattern(kSize, i)));
    });
  }
  auto all_done = [&] {
    if (readers.size() != kStreams) return false;
    for (auto& r : readers) if (!r->done) return false;
    for (auto& r : guest_readers) if (!r || !r->done) return false;
    return true;
  };
  ASSERT_TRUE(run_until(io, all_done));
  EXPECT_EQ(host->open_streams(), std::size_t(kStreams));
  std::set<uint64_t> want_on_host;
  for (int i = 0; i < kStreams; ++i) want_on_host.insert(fnv1a(pattern(kSize, i)));
  std::set<uint64_t> got_on_host;
  for (auto& r : readers) {
    EXPECT_EQ(r->end, asio::error::eof);
    EXPECT_EQ(r->got.size(), kSize);
    got_on_host.insert(fnv1a(r->got));
  }
  EXPECT_EQ(got_on_host, want_on_host);
  for (int i = 0; i < kStreams; ++i) {
    EXPECT_EQ(guest_readers[i]->end, asio::error::eof);
    EXPECT_EQ(fnv1a(guest_readers[i]->got), fnv1a(pattern(kSize, 5000 + i))) << "stream " << i;
  }
  for (auto& w : writers) EXPECT_FALSE(w->error);
  EXPECT_EQ(host_closes + guest_closes, 0);
}

TEST_F(MuxSession, StalledReaderDoesNotBlockOtherStreams) {
  auto slow_l = host->listen(1);
  auto fast_l = host->listen(2);
  auto slow_g = dial(*guest, 1);
  auto fast_g = dial(*guest, 2);
  auto slow_h = accept(*slow_l);
  auto fast_h = accept(*fast_l);

  const std::string slow_data = pattern(1 << 20, 1);
  auto slow_w = Writer::start(slow_g, slow_data);  // nobody reads this yet
  const std::string fast_data = pattern(4 << 20, 2);
  auto fast_w = Writer::start(fast_g, fast_data);
  auto fast_r = Reader::start(fast_h);
  ASSERT_TRUE(run_until(io, [&] { return fast_r->done; }));
  EXPECT_EQ(fast_r->end, asio::error::eof);
  EXPECT_TRUE(fast_r->got == fast_data);

  // The stalled stream's writer used its window and now waits for CREDIT.
  run_for(io, 50ms);
  EXPECT_FALSE(slow_w->done);
  EXPECT_LE(slow_w->sent, kWindow);
  EXPECT_GT(slow_w->sent, 0u);

  auto slow_r = Reader::start(slow_h);
  ASSERT_TRUE(run_until(io, [&] { return slow_r->done; }));
  EXPECT_TRUE(slow_w->done);
  EXPECT_FALSE(slow_w->error);
  EXPECT_EQ(slow_r->end, asio::error::eof);
  EXPECT_TRUE(slow_r->got == slow_data);
  EXPECT_EQ(host_closes + guest_closes, 0);
}

TEST_F(MuxSession, HalfCloseStillCarriesTheReply) {
  auto l = host->listen(3);
  auto g = dial(*guest, 3);
  auto h = accept(*l);
  write_all(g, "request");  // ends with shutdown_write
  EXPECT_EQ(read_all(h), "request");
  write_all(h, "reply");
  EXPECT_EQ(read_all(g), "reply");
  // Reads at EOF stay at EOF; writing after shutdown_write is a broken pipe.
  EXPECT_EQ(read_all(h), "");
  error_code wec;
  bool done = false;
  g->async_write_some(bytes("late"), [&](const error_code& ec, std::size_t) { wec = ec, done = true; });
  ASSERT_TRUE(run_until(io, [&] { return done; }));
  EXPECT_EQ(wec, asio::error::broken_pipe);
}

TEST_F(MuxSession, DialWithoutListenerIsRefused) {
  error_code err;
  StreamPtr s;
  bool done = false;
  guest->async_dial(4242, [&](const error_code& ec, StreamPtr st) { err = ec, s = st, done = true; });
  ASSERT_TRUE(run_until(io, [&] { return done; }));
  EXPECT_EQ(err, asio::error::connection_refused);
  EXPECT_EQ(s, nullptr);

  // A closed listener refuses too, and the session keeps working.
  auto l = host->listen(4242);
  EXPECT_THROW(host->listen(4242), hcs::Error);
  l->close();
  done = false;
  guest->async_dial(4242, [&](const error_code& ec, StreamPtr) { err = ec, done = true; });
  ASSERT_TRUE(run_until(io, [&] { return done; }));
  EXPECT_EQ(err, asio::error::connection_refused);
  EXPECT_EQ(host_closes + guest_closes, 0);
}

TEST_F(MuxSession, ListenerQueuesUntilAcceptAndAbortsOnClose) {
  auto l = host->listen(9);
  auto a = dial(*guest, 9);
  auto b = dial(*guest, 9);  // both accepted by the session before any async_accept
  write_all(a, "first");
  write_all(b, "second");
  EXPECT_EQ(read_all(accept(*l)), "first");
  EXPECT_EQ(read_all(accept(*l)), "second");

  error_code err;
  bool done = false;
  l->async_accept([&](const error_code& ec, StreamPtr) { err = ec, done = true; });
  l->close();
  EXPECT_FALSE(done);
  ASSERT_TRUE(run_until(io, [&] { return done; }));
  EXPECT_EQ(err, asio::error::operation_aborted);
}

TEST_F(MuxSession, CloseEndsTheStreamForBothSides) {
  auto l = host->listen(5);
  auto g = dial(*guest, 5);
  auto h = accept(*l);
  // Guest: data, then close; its pending read is aborted.
  bool wrote = false;
  g->async_write_some(bytes("last words"), [&](const error_code& ec, std::size_t) {
    EXPECT_FALSE(ec);
    wrote = true;
  });
  ASSERT_TRUE(run_until(io, [&] { return wrote; }));
  error_code gread;
  bool gdone = false;
  std::byte b;
  g->async_read_some(std::span(&b, 1), [&](const error_code& ec, std::size_t) { gread = ec, gdone = true; });
  g->close();
  EXPECT_EQ(guest->open_streams(), 0u);
  ASSERT_TRUE(run_until(io, [&] { return gdone; }));
  EXPECT_EQ(gread, asio::error::operation_aborted);

  // Host: the buffered data, then EOF; writes are a broken pipe.
  EXPECT_EQ(read_all(h), "last words");
  EXPECT_EQ(host->open_streams(), 0u);
  error_code wec;
  bool done = false;
  h->async_write_some(bytes("anyone?"), [&](const error_code& ec, std::size_t) { wec = ec, done = true; });
  ASSERT_TRUE(run_until(io, [&] { return done; }));
  EXPECT_EQ(wec, asio::error::broken_pipe);
  h->close();

  // Dropping the last reference closes a stream as well.
  g = dial(*guest, 5);
  h = accept(*l);
  EXPECT_EQ(host->open_streams(), 1u);
  g.reset();
  EXPECT_EQ(guest->open_streams(), 0u);
  EXPECT_EQ(read_all(h), "");
  EXPECT_EQ(host->open_streams(), 0u);
  EXPECT_EQ(host_closes + guest_closes, 0);
}

TEST_F(MuxSession, CarrierClosedMidTransferResetsEverything) {
  auto l = host->listen(1);
  auto idle_l = host->listen(2);
  auto busy_g = dial(*guest, 1);
  auto busy_h = accept(*l);
  auto quiet_g = dial(*guest, 1);
  auto quiet_h = accept(*l);
  auto busy_w = Writer::start(busy_g, pattern(1 << 20, 3));  // stalls: the host doesn't read
  auto quiet_gr = Reader::start(quiet_g);
  auto quiet_hr = Reader::start(quiet_h);
  error_code accept_ec;
  bool accept_done = false;
  idle_l->async_accept([&](const error_code& ec, StreamPtr) { accept_ec = ec, accept_done = true; });
  run_for(io, 50ms);
  ASSERT_FALSE(busy_w->done);

  // The carrier goes away under both sessions; a dial is in flight.
  error_code dial_ec;
  bool dial_done = false;
  guest->async_dial(1, [&](const error_code& ec, StreamPtr) { dial_ec = ec, dial_done = true; });
  ::shutdown(guest_carrier->native_handle(), SHUT_RDWR);
  ASSERT_TRUE(run_until(io, [&] {
    return busy_w->done && quiet_gr->done && quiet_hr->done && accept_done && dial_done && host_closes && guest_closes;
  }));
  EXPECT_EQ(busy_w->error, asio::error::connection_reset);
  EXPECT_EQ(quiet_gr->end, asio::error::connection_reset);
  EXPECT_EQ(quiet_hr->end, asio::error::connection_reset);
  EXPECT_EQ(accept_ec, asio::error::connection_reset);
  EXPECT_EQ(dial_ec, asio::error::connection_reset);
  EXPECT_TRUE(host_close_ec);  // eof, or EPIPE if the host was answering the dial
  EXPECT_EQ(host->open_streams(), 0u);

  // Streams stay usable objects; everything now fails the same way, and on_close ran once.
  error_code wec;
  bool done = false;
  busy_h->async_write_some(bytes("x"), [&](const error_code& ec, std::size_t) { wec = ec, done = true; });
  ASSERT_TRUE(run_until(io, [&] { return done; }));
  EXPECT_EQ(wec, asio::error::connection_reset);
  done = false;
  host->async_dial(1, [&](const error_code& ec, StreamPtr) { wec = ec, done = true; });
  ASSERT_TRUE(run_until(io, [&] { return done; }));
  EXPECT_EQ(wec, asio::error::connection_reset);
  host->close();
  run_for(io, 20ms);
  EXPECT_EQ(host_closes, 1);
  EXPECT_EQ(guest_closes, 1);
}

TEST_F(MuxSession, LocalCloseAndDestroyedSession) {
  auto l = host->listen(1);
  auto g = dial(*guest, 1);
  auto h = accept(*l);
  auto hr = Reader::start(h);
  auto gr = Reader::start(g);

  // Dropping the guest session: its streams fail, on_close is not called, nothing crashes.
  guest.reset();
  ASSERT_TRUE(run_until(io, [&] { return gr->done && hr->done && host_closes == 1; }));
  EXPECT_EQ(gr->end, asio::error::connection_reset);
  EXPECT_EQ(hr->end, asio::error::connection_reset);
  error_code wec;
  bool done = false;
  g->async_write_some(bytes("x"), [&](const error_code& ec, std::size_t) { wec = ec, done = true; });
  ASSERT_TRUE(run_until(io, [&] { return done; }));
  EXPECT_EQ(wec, asio::error::connection_reset);
  EXPECT_EQ(guest_closes, 0);
  g->close();
  h->shutdown_write();

  // close() reports once, however often it is called.
  host->close();
  host->close();
  run_for(io, 20ms);
  EXPECT_EQ(host_closes, 1);
}

TEST_F(MuxRaw, StreamIdsFollowTheRole) {
  start(Role::Host);
  std::vector<error_code> results;
  for (uint32_t port : {10u, 11u, 12u})
    session->async_dial(port, [&](const error_code& ec, StreamPtr) { results.push_back(ec); });
  ASSERT_TRUE(run_until(io, [&] { return frames().size() == 3; }));
  auto f = frames();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(f[i].type, FrameType::Connect);
    EXPECT_EQ(f[i].stream, 2 + 2 * i);
    EXPECT_EQ(f[i].arg, 10 + i);
  }
  send(raw_frame(2, 2, 0));
  send(raw_frame(3, 4, ECONNREFUSED));
  send(raw_frame(3, 6, ETIMEDOUT));
  ASSERT_TRUE(run_until(io, [&] { return results.size() == 3; }));
  EXPECT_FALSE(results[0]);
  EXPECT_EQ(results[1], asio::error::connection_refused);
  EXPECT_EQ(results[2], asio::error::timed_out);
  EXPECT_EQ(closes, 0);
}

TEST_F(MuxRaw, GuestDialsOddIds) {
  start(Role::Guest);
  session->async_dial(1, [](const error_code&, StreamPtr) {});
  session->async_dial(2, [](const error_code&, StreamPtr) {});
  ASSERT_TRUE(run_until(io, [&] { return frames().size() == 2; }));
  EXPECT_EQ(frames()[0].stream, 1u);
  EXPECT_EQ(frames()[1].stream, 3u);
  // A CONNECT from the host with an odd (guest) id is a protocol violation.
  send(raw_frame(1, 5, 1));
  ASSERT_TRUE(run_until(io, [&] { return closes == 1; }));
}

TEST_F(MuxRaw, MalformedFrameBreaksTheSession) {
  start(Role::Host);
  auto l = session->listen(7);
  send(raw_frame(1, 1, 7));  // CONNECT stream 1 to port 7
  StreamPtr s;
  l->async_accept([&](const error_code&, StreamPtr st) { s = st; });
  ASSERT_TRUE(run_until(io, [&] { return s != nullptr; }));
  auto r = Reader::start(s);
  send(raw_frame(9, 1, 0));  // unknown type
  ASSERT_TRUE(run_until(io, [&] { return closes == 1 && r->done && raw_in->done; }));
  EXPECT_EQ(close_ec, boost::system::errc::protocol_error);
  EXPECT_EQ(r->end, asio::error::connection_reset);
  EXPECT_EQ(raw_in->end, asio::error::eof);  // the session closed the carrier
  ASSERT_FALSE(frames().empty());
  EXPECT_EQ(frames()[0].type, FrameType::Accept);
  run_for(io, 20ms);
  EXPECT_EQ(closes, 1);
}

TEST_F(MuxRaw, UnknownPortIsRejectedOnTheWire) {
  start(Role::Guest);
  send(raw_frame(1, 2, 1234));
  ASSERT_TRUE(run_until(io, [&] { return frames().size() == 1; }));
  EXPECT_EQ(frames()[0].type, FrameType::Reject);
  EXPECT_EQ(frames()[0].stream, 2u);
  EXPECT_EQ(frames()[0].arg, uint32_t(ECONNREFUSED));
}

TEST_F(MuxRaw, PeerExceedingTheWindowBreaksTheSession) {
  start(Role::Host);
  auto l = session->listen(7);
  send(raw_frame(1, 1, 7));
  const std::string chunk = pattern(kMaxData, 9);
  for (uint32_t sent = 0; sent < kWindow; sent += kMaxData) send(raw_frame(4, 1, 0, chunk));
  run_for(io, 100ms);
  EXPECT_EQ(closes, 0) << "a full window is allowed";
  EXPECT_EQ(session->open_streams(), 1u);
  send(raw_frame(4, 1, 0, "x"));
  ASSERT_TRUE(run_until(io, [&] { return closes == 1; }));
  EXPECT_EQ(close_ec, boost::system::errc::protocol_error);
  EXPECT_EQ(session->open_streams(), 0u);
}

TEST_F(MuxRaw, CreditIsReturnedAsTheApplicationReads) {
  start(Role::Host);
  auto l = session->listen(7);
  send(raw_frame(1, 1, 7));
  const std::string chunk = pattern(kMaxData, 9);
  for (uint32_t sent = 0; sent < kWindow; sent += kMaxData) send(raw_frame(4, 1, 0, chunk));
  StreamPtr s;
  l->async_accept([&](const error_code&, StreamPtr st) { s = st; });
  ASSERT_TRUE(run_until(io, [&] { return s != nullptr; }));
  run_for(io, 50ms);
  EXPECT_EQ(frames().size(), 1u);  // ACCEPT only: nothing consumed, no credit
  auto r = Reader::start(s);
  ASSERT_TRUE(run_until(io, [&] { return r->got.size() == kWindow; }));
  run_for(io, 20ms);
  uint64_t credited = 0;
  for (auto& f : frames())
    if (f.type == FrameType::Credit) credited += f.arg;
  EXPECT_EQ(credited, kWindow);
  EXPECT_EQ(closes, 0);
}

}  // namespace

}  // namespace mux_test
