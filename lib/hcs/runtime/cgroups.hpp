// The cgroup of a container's process: where it is (v1, hybrid or v2), which pids it holds,
// its metrics in the shape hcsshim's guest reports ("LCOWMetrics": containerd's cgroups v1
// Metrics message as Go's encoding/json writes it), and its removal once the container is gone.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "hcs/core/json.hpp"

namespace hcs::runtime {

// The cgroup of one process: on cgroup v2 one directory; on v1 (or hybrid) one directory per
// controller.
struct CgroupSet {
  bool unified = false;       // cgroup v2
  std::filesystem::path dir;  // v2: the directory
  // v1: controller name -> directory. Co-mounted controllers ("cpu,cpuacct") appear under each
  // name; named hierarchies under their full name ("name=systemd"); in hybrid mode the cgroup2
  // hierarchy, when mounted, under "" (as runc keys it).
  std::map<std::string, std::filesystem::path> controllers;

  // Every distinct directory (dir and all controller directories), for clean-up checks.
  std::vector<std::filesystem::path> directories() const;
};

// Resolves the directories from the text of /proc/<pid>/cgroup and of /proc/self/mountinfo.
// Hybrid hosts (v1 controllers plus a cgroup2 mount) resolve as v1. Lines whose hierarchy is not
// mounted, or whose cgroup lies outside every mount's root, are left out.
CgroupSet resolve_cgroup(std::string_view proc_pid_cgroup, std::string_view mountinfo);

// Reads <proc_root>/<pid>/cgroup and <proc_root>/self/mountinfo (our own view of the mounts,
// not the process's: a container sees its own mounts). Throws ErrNotFound if the process is gone.
CgroupSet cgroup_of(pid_t pid, const std::filesystem::path& proc_root = "/proc");

// Every pid in the cgroup and its descendants, sorted and unique. On v1 they are read from the
// "pids" directory, else "memory", else any controller's.
std::vector<pid_t> cgroup_pids(const CgroupSet& set);

// pids, cpu and memory metrics in the JSON of containerd's cgroups v1 Metrics (snake_case keys,
// zero values omitted as omitempty does). On v2 the v1 shape is filled from the v2 files. Files
// that are missing or do not parse leave their fields out; this never throws for them.
Json cgroup_metrics(const CgroupSet& set);

// Removes the directories and any child cgroups below them, deepest first. EBUSY is retried for
// about 2 s (a cgroup stays busy briefly after its last task exits); a missing directory counts
// as removed; a hierarchy's root (a mount point) is left alone. Otherwise throws hcs::Error
// naming the directory.
void remove_cgroup(const CgroupSet& set);

}  // namespace hcs::runtime
