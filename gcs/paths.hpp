// Paths from the host and the mounts below them: the checks and lookups that the
// guest's storage and containers share.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace gcs {

// Lexically normal, without a trailing separator, so that one directory has one key.
std::filesystem::path normal(const std::filesystem::path& p);
// True when `p` is `dir` or lies beneath it (both normal).
bool within(const std::filesystem::path& p, const std::filesystem::path& dir);
std::size_t depth(const std::filesystem::path& p);
// An absolute path with no ".." (which would let a request climb out of where the host
// meant), normalised; `for_overlay` also refuses ':' and ',', the separators of overlay
// options. Throws ErrInvalidArg naming `what`.
std::filesystem::path checked_path(const std::string& what, const std::string& p, bool for_overlay = false);
// Mount points at or under `dir` (normal), in mount order, from /proc/self/mountinfo.
std::vector<std::filesystem::path> mounts_under(const std::filesystem::path& dir);

}  // namespace gcs
