#include "hcs/network/dns.hpp"

#include <sstream>

namespace hcs::network {

std::vector<std::string> split_list(const std::string& csv) {
  std::vector<std::string> out;
  std::string item;
  std::istringstream in(csv);
  while (std::getline(in, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::string resolv_conf(const std::vector<std::string>& search, const std::vector<std::string>& servers,
                        const std::vector<std::string>& options) {
  std::string text;
  if (!search.empty()) {
    text += "search";
    for (const auto& s : search) text += " " + s;
    text += "\n";
  }
  for (const auto& s : servers) text += "nameserver " + s + "\n";
  for (const auto& o : options) text += "options " + o + "\n";
  return text;
}

}  // namespace hcs::network
