#include "hcs/bridge/messages.hpp"

#include <array>
#include <cstdio>
#include <string_view>

namespace hcs::bridge {

namespace {
struct Entry {
  uint32_t request;
  std::string_view name;
};
constexpr std::array kCatalog = {
    Entry{msg::Create, "Create"},
    Entry{msg::Start, "Start"},
    Entry{msg::ShutdownGraceful, "ShutdownGraceful"},
    Entry{msg::ShutdownForced, "ShutdownForced"},
    Entry{msg::ExecuteProcess, "ExecuteProcess"},
    Entry{msg::WaitForProcess, "WaitForProcess"},
    Entry{msg::SignalProcess, "SignalProcess"},
    Entry{msg::ResizeConsole, "ResizeConsole"},
    Entry{msg::GetProperties, "GetProperties"},
    Entry{msg::ModifySettings, "ModifySettings"},
    Entry{msg::NegotiateProtocol, "NegotiateProtocol"},
    Entry{msg::DumpStacks, "DumpStacks"},
    Entry{msg::DeleteContainerState, "DeleteContainerState"},
    Entry{msg::UpdateContainer, "UpdateContainer"},
    Entry{msg::LifecycleNotification, "LifecycleNotification"},
    Entry{msg::ModifyServiceSettings, "ModifyServiceSettings"},
};
}  // namespace

std::string message_name(uint32_t type) {
  if (type == msg::ContainerNotification) return "ContainerNotification";
  const uint32_t kind = type & kKindMask;
  const uint32_t as_request = kKindRequest | (type & ~kKindMask);
  for (const auto& e : kCatalog) {
    if (e.request != as_request) continue;
    if (kind == kKindRequest) return std::string(e.name) + " request";
    if (kind == kKindResponse) return std::string(e.name) + " response";
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", type);
  return buf;
}

}  // namespace hcs::bridge
