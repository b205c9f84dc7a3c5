#include "hcs/network/dns.hpp"

#include <fstream>
#include <sstream>

#include "hcs/core/error.hpp"

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

namespace fs = std::filesystem;

fs::path netns_resolv_conf(const fs::path& etc, const std::string& netns_name) {
  return etc / "netns" / netns_name / "resolv.conf";
}

void write_resolv_conf(const fs::path& file, const std::string& text) {
  std::error_code ec;
  fs::create_directories(file.parent_path(), ec);
  if (ec) throw Error(hr::Fail, "create " + file.parent_path().string() + ": " + ec.message());
  const fs::path tmp = file.string() + ".tmp";
  std::ofstream out(tmp);
  out << text;
  out.close();
  if (!out) throw Error(hr::Fail, "write " + tmp.string());
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    throw Error(hr::Fail, "write " + file.string() + ": " + ec.message());
  }
}

void remove_netns_resolv_conf(const fs::path& etc, const std::string& netns_name) {
  std::error_code ec;
  fs::remove_all(netns_resolv_conf(etc, netns_name).parent_path(), ec);
}

}  // namespace hcs::network
