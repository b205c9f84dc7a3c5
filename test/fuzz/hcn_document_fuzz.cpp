// Arbitrary bytes as the HCN documents hnsctl reads from a user (-f): a network, an
// endpoint with its policies, a load balancer. Each is decoded, checked as the Linux
// backend checks it, and rendered into nft rules, which must never throw anything but
// hcs::Error (a bad document is refused, never crashes the tool or writes a rule).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "hcs/core/error.hpp"
#include "hcs/core/json.hpp"
#include "hcs/network/ruleset.hpp"

namespace hcn = hcs::schema::hcn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  hcs::Json doc;
  try {
    doc = hcs::parse_json(text, "fuzz input");
  } catch (const hcs::Error&) {
    return 0;
  }
  try {
    auto net = doc.get<hcn::HostComputeNetwork>();
    auto ep = doc.get<hcn::HostComputeEndpoint>();
    if (net.id.empty()) net.id = "net";
    if (ep.id.empty()) ep.id = "ep";
    if (ep.ip_configurations.empty()) ep.ip_configurations.push_back({.ip_address = "172.30.0.2", .prefix_length = 24});
    (void)hcs::network::network_ruleset(net, {ep});
    (void)hcs::dump_json(hcs::Json(ep));
  } catch (const hcs::Error&) {
  }
  try {
    auto lb = doc.get<hcn::HostComputeLoadBalancer>();
    hcn::HostComputeEndpoint ep;
    ep.id = lb.host_compute_endpoints.empty() ? "ep" : lb.host_compute_endpoints[0];
    ep.ip_configurations.push_back({.ip_address = "172.30.0.2", .prefix_length = 24});
    (void)hcs::network::load_balancer_ruleset({lb}, {ep});
  } catch (const hcs::Error&) {
  }
  return 0;
}
