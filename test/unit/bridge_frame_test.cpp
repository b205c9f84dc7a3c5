#include <gtest/gtest.h>

#include "hcs/bridge/frame.hpp"
#include "hcs/bridge/messages.hpp"
#include "hcs/core/error.hpp"
#include "hcs/schema/bridge.hpp"

namespace bridge_frame_test {

using namespace hcs;
using namespace hcs::bridge;

TEST(BridgeFrame, NegotiateProtocolGoldenBytes) {
  schema::NegotiateProtocolRequest req;
  req.minimum_version = 4;
  req.maximum_version = 4;
  std::string body = dump_json(schema::encode(req)) + "\n";
  EXPECT_EQ(body,
            "{\"ContainerId\":\"00000000-0000-0000-0000-000000000000\","
            "\"ActivityId\":\"00000000-0000-0000-0000-000000000000\",\"MinimumVersion\":4,\"MaximumVersion\":4}\n");
  std::string frame = encode_frame(msg::NegotiateProtocol, 7, body);
  ASSERT_EQ(frame.size(), 16 + body.size());
  const unsigned char expected_header[16] = {0x01, 0x0b, 0x10, 0x10,  // type 0x10100b01
                                             static_cast<unsigned char>(frame.size()), 0, 0, 0,
                                             7, 0, 0, 0, 0, 0, 0, 0};
  EXPECT_EQ(0, std::memcmp(frame.data(), expected_header, 16));
  EXPECT_EQ(frame.substr(16), body);
}

TEST(BridgeFrame, HeaderRoundTrip) {
  Header h{0x20100501, 1234, 0x0102030405060708ull};
  auto bytes = encode_header(h);
  EXPECT_EQ(decode_header(bytes), h);
  EXPECT_EQ(static_cast<uint8_t>(bytes[8]), 0x08);  // little-endian ID
  EXPECT_EQ(static_cast<uint8_t>(bytes[15]), 0x01);
}

TEST(BridgeFrame, SizeLimits) {
  EXPECT_EQ(check_size(0), SizeCheck::TooSmall);
  EXPECT_EQ(check_size(15), SizeCheck::TooSmall);
  EXPECT_EQ(check_size(16), SizeCheck::Ok);
  EXPECT_EQ(check_size(kMaxMessageSize), SizeCheck::Ok);
  EXPECT_EQ(check_size(kMaxMessageSize + 1), SizeCheck::TooLarge);
  EXPECT_EQ(check_size(0xFFFFFFFF), SizeCheck::TooLarge);
  EXPECT_NE(size_error(15).find("smaller than the 16-byte header"), std::string::npos);
  EXPECT_THROW(encode_frame(msg::Create, 1, std::string(kMaxMessageSize, 'x')), Error);
}

TEST(BridgeMessages, CatalogCodes) {
  EXPECT_EQ(msg::Create, 0x10100101u);
  EXPECT_EQ(msg::Start, 0x10100201u);
  EXPECT_EQ(msg::ShutdownGraceful, 0x10100301u);
  EXPECT_EQ(msg::ShutdownForced, 0x10100401u);
  EXPECT_EQ(msg::ExecuteProcess, 0x10100501u);
  EXPECT_EQ(msg::WaitForProcess, 0x10100601u);
  EXPECT_EQ(msg::SignalProcess, 0x10100701u);
  EXPECT_EQ(msg::ResizeConsole, 0x10100801u);
  EXPECT_EQ(msg::GetProperties, 0x10100901u);
  EXPECT_EQ(msg::ModifySettings, 0x10100a01u);
  EXPECT_EQ(msg::NegotiateProtocol, 0x10100b01u);
  EXPECT_EQ(msg::DumpStacks, 0x10100c01u);
  EXPECT_EQ(msg::DeleteContainerState, 0x10100d01u);
  EXPECT_EQ(msg::UpdateContainer, 0x10100e01u);
  EXPECT_EQ(msg::LifecycleNotification, 0x10100f01u);
  EXPECT_EQ(msg::ModifyServiceSettings, 0x10200101u);
  EXPECT_EQ(msg::ContainerNotification, 0x30100101u);
  EXPECT_EQ(response_for(msg::ExecuteProcess), 0x20100501u);
  EXPECT_EQ(response_for(msg::ModifyServiceSettings), 0x20200101u);
  EXPECT_EQ(message_name(0x20100b01), "NegotiateProtocol response");
  EXPECT_EQ(message_name(msg::DumpStacks), "DumpStacks request");
  EXPECT_EQ(message_name(0x12345678), "0x12345678");
}

}  // namespace bridge_frame_test
