#include "paths.hpp"

#include <algorithm>

#include "hcs/core/error.hpp"
#include "hcs/core/mountinfo.hpp"

namespace gcs {

namespace fs = std::filesystem;
namespace hr = hcs::hr;
using hcs::Error;

// Lexically normal, without a trailing separator, so that one directory has one key.
fs::path normal(const fs::path& p) {
  fs::path n = p.lexically_normal();
  if (!n.has_filename() && n != n.root_path()) n = n.parent_path();
  return n;
}

// True when `p` is `dir` or lies beneath it (both normal).
bool within(const fs::path& p, const fs::path& dir) {
  auto [d, q] = std::mismatch(dir.begin(), dir.end(), p.begin(), p.end());
  return d == dir.end();
}

std::size_t depth(const fs::path& p) { return static_cast<std::size_t>(std::distance(p.begin(), p.end())); }

// An absolute path with no ".." (which would let a request climb out of where the host
// meant); `for_overlay` also refuses ':' and ',', the separators of overlay options.
fs::path checked_path(const std::string& what, const std::string& p, bool for_overlay) {
  if (p.empty()) throw Error(hr::ErrInvalidArg, what + " is required");
  fs::path path(p);
  if (!path.is_absolute()) throw Error(hr::ErrInvalidArg, what + " '" + p + "' is not an absolute path");
  for (const auto& part : path)
    if (part == "..") throw Error(hr::ErrInvalidArg, what + " '" + p + "' contains '..'");
  if (for_overlay && p.find_first_of(":,") != std::string::npos)
    throw Error(hr::ErrInvalidArg, what + " '" + p + "' contains ':' or ',', which overlay options cannot carry");
  fs::path n = normal(path);
  if (n == n.root_path()) throw Error(hr::ErrInvalidArg, what + " must not be '/'");
  return n;
}

std::vector<fs::path> mounts_under(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : hcs::read_mountinfo()) {
    fs::path mp = normal(e.mount_point);
    if (within(mp, dir)) out.push_back(mp);
  }
  return out;
}

}  // namespace gcs
