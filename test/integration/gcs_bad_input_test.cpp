// Hostile and malformed bytes sent to a real gcs: each gets the right HRESULT in a
// response, the gcs neither crashes nor leaks (it must exit cleanly, which under
// LeakSanitizer means no leak), and a bad request does not end the connection.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "hcs/bridge/frame.hpp"
#include "hcs/bridge/messages.hpp"
#include "hcs/core/error.hpp"
#include "hcs/schema/bridge.hpp"

namespace gcs_bad_input_test {

using namespace it;
using namespace hcs::bridge;
using hcs::transport::error_code;

class GcsBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    env = std::make_unique<Gcs>(false);
    env->start_gcs();
    conn = env->accept();
  }
  void TearDown() override {
    if (conn.bridge) conn.close();
    EXPECT_EQ(env->stop_gcs(), 0);
  }

  void send_raw(const std::string& bytes) {
    bool done = false;
    error_code err;
    auto keep = std::make_shared<std::string>(bytes);
    hcs::transport::async_write_all(conn.bridge, std::as_bytes(std::span(keep->data(), keep->size())),
                                    [&, keep](const error_code& ec, std::size_t) {
                                      err = ec;
                                      done = true;
                                    });
    ASSERT_TRUE(run_until(env->io, [&] { return done; }));
    ASSERT_FALSE(err) << err.message();
  }
  void send(uint32_t type, uint64_t id, const std::string& body) { send_raw(encode_frame(type, id, body)); }
  std::string header(uint32_t type, uint32_t size, uint64_t id) {
    auto h = encode_header(Header{type, size, id});
    return std::string(reinterpret_cast<const char*>(h.data()), h.size());
  }

  struct Frame {
    Header header;
    hcs::Json body;
  };
  // Reads one frame; nullopt at end of stream.
  std::optional<Frame> read_frame() {
    std::array<std::byte, 16> h{};
    std::optional<error_code> err;
    hcs::transport::async_read_exact(conn.bridge, h, [&](const error_code& ec, std::size_t) { err = ec; });
    if (!run_until(env->io, [&] { return err.has_value(); })) throw std::runtime_error("no frame");
    if (*err) return std::nullopt;
    Frame f{decode_header(h), {}};
    std::string body(f.header.size - 16, '\0');
    err.reset();
    hcs::transport::async_read_exact(conn.bridge, std::as_writable_bytes(std::span(body.data(), body.size())),
                                     [&](const error_code& ec, std::size_t) { err = ec; });
    if (!run_until(env->io, [&] { return err.has_value(); }) || *err) throw std::runtime_error("truncated frame");
    f.body = hcs::Json::parse(body);
    return f;
  }
  uint32_t result_of(const Frame& f) { return static_cast<uint32_t>(f.body.value("Result", int64_t{0})); }

  void negotiate(uint32_t min = 4, uint32_t max = 4, uint64_t id = 1) {
    hcs::schema::NegotiateProtocolRequest req;
    req.minimum_version = min;
    req.maximum_version = max;
    send(msg::NegotiateProtocol, id, hcs::dump_json(hcs::schema::encode(req)));
  }
  // The connection still serves requests.
  void expect_alive(uint64_t id = 99) {
    negotiate(4, 4, id);
    auto f = read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->header.id, id);
    EXPECT_EQ(result_of(*f), 0u);
    EXPECT_EQ(f->body.value("Version", 0), 4);
  }

  std::unique_ptr<Gcs> env;
  hcs::transport::Connection conn;
};

TEST_F(GcsBadInput, HeaderSizeZeroAndFifteen) {
  for (uint32_t size : {0u, 15u}) {
    send_raw(header(msg::NegotiateProtocol, size, 7));
    auto f = read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->header.type, response_for(msg::NegotiateProtocol));
    EXPECT_EQ(f->header.id, 7u);
    EXPECT_EQ(result_of(*f), hcs::hr::ErrInvalidArg);
    EXPECT_NE(f->body.value("ErrorMessage", "").find("invalid message size"), std::string::npos);
    ASSERT_TRUE(f->body.contains("ErrorRecords"));
    EXPECT_EQ(f->body["ErrorRecords"][0].value("ModuleName", ""), "gcs");
  }
  expect_alive();
}

TEST_F(GcsBadInput, HeaderSizeMaxIsAnsweredThenTheConnectionIsDropped) {
  send_raw(header(msg::NegotiateProtocol, 0xFFFFFFFF, 8));
  auto f = read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->header.id, 8u);
  EXPECT_EQ(result_of(*f), hcs::hr::ErrInvalidArg);
  EXPECT_NE(f->body.value("ErrorMessage", "").find("larger than the limit"), std::string::npos);
  EXPECT_FALSE(read_frame());  // closed: the stream cannot be resynchronised
  conn.close();
  conn = env->accept();  // the gcs re-dials
  expect_alive();
}

TEST_F(GcsBadInput, TruncatedFrame) {
  send_raw(header(msg::NegotiateProtocol, 100, 9) + std::string(20, '{'));
  conn.bridge->shutdown_write();
  auto f = read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->header.id, 9u);
  EXPECT_EQ(result_of(*f), hcs::hr::ErrInvalidArg);
  EXPECT_NE(f->body.value("ErrorMessage", "").find("truncated message: 20 of 84"), std::string::npos);
  EXPECT_FALSE(read_frame());
  conn.close();
  conn = env->accept();
  expect_alive();
}

TEST_F(GcsBadInput, BodyThatIsNotJson) {
  send(msg::NegotiateProtocol, 10, "this is not JSON");
  auto f = read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(result_of(*f), hcs::hr::VmcomputeInvalidJSON);
  // Valid JSON of the wrong shape is just as invalid.
  send(msg::NegotiateProtocol, 11, R"({"MinimumVersion":"four","MaximumVersion":4})");
  f = read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(result_of(*f), hcs::hr::VmcomputeInvalidJSON);
  EXPECT_NE(f->body.value("ErrorMessage", "").find("MinimumVersion"), std::string::npos);
  send(msg::NegotiateProtocol, 12, "[1,2,3]");
  EXPECT_EQ(result_of(*read_frame()), hcs::hr::VmcomputeInvalidJSON);
  expect_alive();
}

TEST_F(GcsBadInput, RequestBeforeNegotiation) {
  hcs::schema::ExecuteProcessRequest req;
  req.settings.process_parameters.value.command_args = {"true"};
  send(msg::ExecuteProcess, 13, hcs::dump_json(hcs::schema::encode(req)));
  auto f = read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(f->header.type, response_for(msg::ExecuteProcess));
  EXPECT_EQ(result_of(*f), hcs::hr::NotImpl);
  expect_alive();
}

TEST_F(GcsBadInput, UnknownMessageTypes) {
  expect_alive(1);
  for (uint32_t type : {msg::UpdateContainer, msg::ModifyServiceSettings, 0x10ffff01u, 0x7fffffffu}) {
    send(type, 14, "{}");
    auto f = read_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(f->header.type, response_for(type));
    EXPECT_EQ(result_of(*f), hcs::hr::NotImpl) << std::hex << type;
  }
  expect_alive();
}

TEST_F(GcsBadInput, NegotiationWithMaximumVersion3) {
  negotiate(3, 3, 15);
  auto f = read_frame();
  ASSERT_TRUE(f);
  EXPECT_EQ(result_of(*f), hcs::hr::VmcomputeUnsupportedProtocolVersion);
  negotiate(5, 9, 16);
  EXPECT_EQ(result_of(*read_frame()), hcs::hr::VmcomputeUnsupportedProtocolVersion);
  // Still not negotiated: requests are refused.
  send(msg::DumpStacks, 17, "{}");
  EXPECT_EQ(result_of(*read_frame()), hcs::hr::NotImpl);
  negotiate(1, 9, 18);  // a range that includes 4
  auto ok = read_frame();
  EXPECT_EQ(result_of(*ok), 0u);
  EXPECT_EQ(ok->body.value("Version", 0), 4);
}

TEST_F(GcsBadInput, InvalidProcessRequests) {
  expect_alive(1);
  // No command, a bad signal, an oversize signal options object, an unknown pid.
  send(msg::ExecuteProcess, 20, R"({"Settings":{"ProcessParameters":"{}"}})");
  EXPECT_EQ(result_of(*read_frame()), hcs::hr::ErrInvalidArg);
  send(msg::ExecuteProcess, 21, R"({"Settings":{"ProcessParameters":"{not json"}})");
  EXPECT_EQ(result_of(*read_frame()), hcs::hr::VmcomputeInvalidJSON);
  send(msg::SignalProcess, 22, R"({"ProcessId":1,"Options":{"Signal":99999}})");
  EXPECT_EQ(result_of(*read_frame()), hcs::hr::ErrInvalidArg);
  send(msg::WaitForProcess, 23, R"({"ProcessId":4000000,"TimeoutInMs":10})");
  EXPECT_EQ(result_of(*read_frame()), hcs::hr::ErrNotFound);
  send(msg::ShutdownForced, 24, R"({"ContainerId":"not-a-container"})");
  EXPECT_EQ(result_of(*read_frame()), hcs::hr::VmcomputeSystemNotFound);
  expect_alive();
}

TEST_F(GcsBadInput, StdioPortNobodyListensOn) {
  expect_alive(1);
  hcs::schema::ExecuteProcessRequest req;
  req.settings.process_parameters.value.command_args = {"true"};
  req.settings.process_parameters.value.create_std_out_pipe = true;
  req.settings.vsock_stdio_relay_settings.std_out = 0x40001234;
  send(msg::ExecuteProcess, 30, hcs::dump_json(hcs::schema::encode(req)));
  auto f = read_frame();
  EXPECT_EQ(result_of(*f), hcs::hr::Fail);
  EXPECT_NE(f->body.value("ErrorMessage", "").find("dial stdio port"), std::string::npos);
  expect_alive();
}

}  // namespace gcs_bad_input_test
