#include "hcs/network/names.hpp"

#include <cstdint>
#include <cstdio>

namespace hcs::network::names {

std::string tag(const std::string& id) {
  uint32_t h = 2166136261u;
  for (unsigned char c : id) h = (h ^ c) * 16777619u;
  char out[9];
  std::snprintf(out, sizeof out, "%08x", h);
  return out;
}

std::string bridge(const std::string& network_id) { return "hcnbr" + tag(network_id); }
std::string host_port(const std::string& endpoint_id) { return "hcnv" + tag(endpoint_id); }
std::string peer(const std::string& endpoint_id) { return "hcnp" + tag(endpoint_id); }
std::string table(const std::string& network_id) { return "hcskit-" + tag(network_id); }
std::string netns(const std::string& namespace_id) { return "hcn-" + namespace_id; }

}  // namespace hcs::network::names
