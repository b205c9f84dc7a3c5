#include "hcs/core/mountinfo.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace hcs {

namespace {

// mountinfo escapes space, tab, newline and backslash in paths as \ooo.
std::string unescape_octal(std::string_view s) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) && octal(s[i + 2]) && octal(s[i + 3])) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountEntry> out;
  std::istringstream lines{std::string(text)};
  for (std::string line; std::getline(lines, line);) {
    std::istringstream f(line);
    std::vector<std::string> w;
    for (std::string word; f >> word;) w.push_back(std::move(word));
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    auto dash = std::find(w.begin(), w.end(), "-");
    if (dash == w.end() || dash - w.begin() < 6 || w.end() - dash < 4) continue;
    MountEntry e;
    e.root = unescape_octal(w[3]);
    e.mount_point = unescape_octal(w[4]);
    e.fstype = dash[1];
    e.source = unescape_octal(dash[2]);
    e.super_options = dash[3];
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<MountEntry> read_mountinfo(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return parse_mountinfo(text);
}

}  // namespace hcs
