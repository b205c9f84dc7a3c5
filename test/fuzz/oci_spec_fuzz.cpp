// Arbitrary bytes as an OCI config.json: validated, trimmed into the guest's document
// and wrapped into a Create request, as uvmctl gcs run does with a user's bundle; and
// as a runtime's JSON log, whose last error becomes the message the host sees; and as
// the guest reads a pod's network from it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hcs/container/bundle.hpp"
#include "hcs/container/pod_network.hpp"
#include "hcs/runtime/runtime.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)hcs::runtime::last_log_error(text);
  hcs::Json spec;
  try {
    spec = hcs::parse_json(text, "fuzz input");
  } catch (const hcs::Error&) {
    return 0;
  }
  // What the gcs reads of a pod's network, and the spec rewritten to join it.
  (void)hcs::container::network_namespace_of(spec);
  (void)hcs::container::skips_pod_networking(spec);
  hcs::Json joined = spec;
  hcs::container::join_network_namespace(joined, "/run/netns/hcn-fuzz", "/etc/netns/hcn-fuzz/resolv.conf");
  (void)hcs::dump_json(joined);
  try {
    hcs::container::validate_spec(spec);
    auto paths = hcs::container::guest_paths("fuzz");
    auto guest = hcs::container::guest_spec(spec, paths);
    (void)hcs::dump_json(hcs::schema::encode(hcs::container::container_settings(guest, paths)));
  } catch (const hcs::Error&) {
  }
  return 0;
}
