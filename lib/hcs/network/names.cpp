#include "hcs/network/names.hpp"

#include <cstdint>
#include <cctype>
#include <cstdio>

#include "hcs/core/error.hpp"

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

std::string fold_case(std::string text) {
  for (char& c : text) c = char(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string kernel_mac(const std::string& mac) {
  std::string out;
  int digits = 0;
  for (char c : mac) {
    if (std::isxdigit(static_cast<unsigned char>(c))) {
      if (digits > 0 && digits % 2 == 0) out += ':';
      out += char(std::tolower(static_cast<unsigned char>(c)));
      ++digits;
    } else if (c != '-' && c != ':') {
      digits = -1;
      break;
    }
  }
  if (digits != 12 || out.size() != 17) throw Error(hr::ErrInvalidArg, "'" + mac + "' is not a MAC address");
  return out;
}

}  // namespace hcs::network::names
