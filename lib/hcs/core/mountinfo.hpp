// /proc/<pid>/mountinfo, parsed once for everyone who asks what is mounted where.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace hcs {

struct MountEntry {
  std::string root;                   // field 4: the path within the filesystem shown here
  std::filesystem::path mount_point;  // field 5
  std::string fstype, source, super_options;
};

// Every well-formed line of `text`, in mount order, with \ooo escapes undone.
std::vector<MountEntry> parse_mountinfo(std::string_view text);
// The same for a file; empty when it cannot be read.
std::vector<MountEntry> read_mountinfo(const std::filesystem::path& file = "/proc/self/mountinfo");

}  // namespace hcs
