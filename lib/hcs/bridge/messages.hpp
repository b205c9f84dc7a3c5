// The bridge message catalog: type codes of protocol v4.
//   bits 28-31 kind (request/response/notification), 20-27 category, 8-19 id, 0-7 version.
#pragma once

#include <cstdint>
#include <string>

namespace hcs::bridge {

inline constexpr uint32_t kKindMask = 0xF0000000;
inline constexpr uint32_t kKindRequest = 0x10000000;
inline constexpr uint32_t kKindResponse = 0x20000000;
inline constexpr uint32_t kKindNotification = 0x30000000;
inline constexpr uint32_t kCategoryComputeSystem = 0x00100000;
inline constexpr uint32_t kCategoryComputeService = 0x00200000;

inline constexpr uint32_t kProtocolV4 = 4;

constexpr uint32_t rpc_code(uint32_t category, uint32_t n) { return category | (n << 8) | 1; }
constexpr uint32_t response_for(uint32_t request_type) { return kKindResponse | (request_type & ~kKindMask); }

namespace msg {
inline constexpr uint32_t Create = kKindRequest | rpc_code(kCategoryComputeSystem, 1);
inline constexpr uint32_t Start = kKindRequest | rpc_code(kCategoryComputeSystem, 2);
inline constexpr uint32_t ShutdownGraceful = kKindRequest | rpc_code(kCategoryComputeSystem, 3);
inline constexpr uint32_t ShutdownForced = kKindRequest | rpc_code(kCategoryComputeSystem, 4);
inline constexpr uint32_t ExecuteProcess = kKindRequest | rpc_code(kCategoryComputeSystem, 5);
inline constexpr uint32_t WaitForProcess = kKindRequest | rpc_code(kCategoryComputeSystem, 6);
inline constexpr uint32_t SignalProcess = kKindRequest | rpc_code(kCategoryComputeSystem, 7);
inline constexpr uint32_t ResizeConsole = kKindRequest | rpc_code(kCategoryComputeSystem, 8);
inline constexpr uint32_t GetProperties = kKindRequest | rpc_code(kCategoryComputeSystem, 9);
inline constexpr uint32_t ModifySettings = kKindRequest | rpc_code(kCategoryComputeSystem, 10);
inline constexpr uint32_t NegotiateProtocol = kKindRequest | rpc_code(kCategoryComputeSystem, 11);
inline constexpr uint32_t DumpStacks = kKindRequest | rpc_code(kCategoryComputeSystem, 12);
inline constexpr uint32_t DeleteContainerState = kKindRequest | rpc_code(kCategoryComputeSystem, 13);
inline constexpr uint32_t UpdateContainer = kKindRequest | rpc_code(kCategoryComputeSystem, 14);
inline constexpr uint32_t LifecycleNotification = kKindRequest | rpc_code(kCategoryComputeSystem, 15);
inline constexpr uint32_t ModifyServiceSettings = kKindRequest | rpc_code(kCategoryComputeService, 1);
inline constexpr uint32_t ContainerNotification = kKindNotification | rpc_code(kCategoryComputeSystem, 1);
}  // namespace msg

// "ExecuteProcess request", "NegotiateProtocol response", or "0x12345678" when unknown.
std::string message_name(uint32_t type);

}  // namespace hcs::bridge
