// Arbitrary bytes as a bridge message body: parsed, then decoded into every payload
// type (including the JSON-inside-a-string fields) and encoded back.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hcs/schema/bridge.hpp"
#include "hcs/schema/guest_resource.hpp"

namespace {

template <class T>
void try_decode(const hcs::Json& j) {
  try {
    auto rec = hcs::schema::decode<T>(j);
    (void)hcs::dump_json(hcs::schema::encode(rec));
  } catch (const hcs::Error&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace hcs::schema;
  hcs::Json j;
  try {
    j = hcs::parse_json(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz input");
  } catch (const hcs::Error&) {
    return 0;
  }
  try_decode<Request>(j);
  try_decode<Response>(j);
  try_decode<NegotiateProtocolRequest>(j);
  try_decode<NegotiateProtocolResponse>(j);
  try_decode<ContainerCreateRequest>(j);
  try_decode<ContainerCreateResponse>(j);
  try_decode<ExecuteProcessRequest>(j);
  try_decode<ExecuteProcessResponse>(j);
  try_decode<WaitForProcessRequest>(j);
  try_decode<WaitForProcessResponse>(j);
  try_decode<SignalProcessRequest>(j);
  try_decode<ResizeConsoleRequest>(j);
  try_decode<GetPropertiesRequest>(j);
  try_decode<GetPropertiesResponse>(j);
  try_decode<ModifySettingsRequest>(j);
  try_decode<DumpStacksResponse>(j);
  try_decode<ContainerNotification>(j);
  // ModifySettings settings, by resource type.
  try_decode<MappedVirtualDisk>(j);
  try_decode<ScsiDevice>(j);
  try_decode<MappedDirectory>(j);
  try_decode<VPMemDevice>(j);
  try_decode<CombinedLayers>(j);
  try_decode<ContainerConstraints>(j);
  return 0;
}
