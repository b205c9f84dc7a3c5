#include "hcs/runtime/cgroups.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include "hcs/core/error.hpp"
#include "hcs/core/mountinfo.hpp"

namespace hcs::runtime {
namespace fs = std::filesystem;

namespace {

// ---- text helpers ----

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

// Whitespace-separated words, runs of blanks collapsed.
std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\n') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  s = trim(s);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::optional<std::string> read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(ss).str();
}

std::optional<uint64_t> read_u64(const fs::path& p) {
  auto t = read_text(p);
  return t ? parse_u64(*t) : std::nullopt;
}

// A v2 limit file: "max" means unlimited, reported as `unlimited`.
std::optional<uint64_t> read_limit(const fs::path& p, uint64_t unlimited) {
  auto t = read_text(p);
  if (!t) return std::nullopt;
  if (trim(*t) == "max") return unlimited;
  return parse_u64(*t);
}

// The "key value" lines of memory.stat, cpu.stat, memory.events, cpuacct.stat.
using Flat = std::map<std::string, uint64_t, std::less<>>;

// Unparsable lines are skipped.
std::optional<Flat> read_flat(const fs::path& p) {
  auto t = read_text(p);
  if (!t) return std::nullopt;
  Flat out;
  for (auto line : split(*t, '\n')) {
    auto w = words(line);
    if (w.size() != 2) continue;
    if (auto v = parse_u64(w[1])) out.emplace(std::string(w[0]), *v);
  }
  return out;
}

// ---- mountinfo ----

struct CgroupMount {
  std::string root;  // field 4: the cgroup path shown at the mount point
  fs::path mountpoint;
  bool v2 = false;
  std::set<std::string, std::less<>> options;  // superblock options: controllers, name=...
};

std::vector<CgroupMount> parse_cgroup_mounts(std::string_view mountinfo) {
  std::vector<CgroupMount> out;
  for (auto& e : parse_mountinfo(mountinfo)) {
    if (e.fstype != "cgroup" && e.fstype != "cgroup2") continue;
    CgroupMount m;
    m.root = std::move(e.root);
    m.mountpoint = std::move(e.mount_point);
    m.v2 = e.fstype == "cgroup2";
    for (auto o : split(e.super_options, ',')) m.options.emplace(o);
    out.push_back(std::move(m));
  }
  return out;
}

// The cgroup path relative to `root` when it lies at or below it.
std::optional<std::string> below_root(std::string_view path, std::string_view root) {
  while (!root.empty() && root.back() == '/') root.remove_suffix(1);  // "/" becomes ""
  if (path.substr(0, root.size()) != root) return std::nullopt;
  std::string_view rest = path.substr(root.size());
  if (!rest.empty() && rest.front() != '/') return std::nullopt;  // "/ab" is not below "/a"
  while (!rest.empty() && rest.front() == '/') rest.remove_prefix(1);
  return std::string(rest);
}

// The directory of `path` in the best-fitting mount: when a hierarchy is mounted more than
// once (bind mounts of sub-trees), the one with the deepest root that still contains it.
std::optional<fs::path> locate(const std::vector<const CgroupMount*>& candidates, std::string_view path) {
  const CgroupMount* best = nullptr;
  std::string best_rel;
  for (const auto* m : candidates) {
    auto rel = below_root(path, m->root);
    if (!rel) continue;
    if (!best || m->root.size() > best->root.size()) {
      best = m;
      best_rel = std::move(*rel);
    }
  }
  if (!best) return std::nullopt;
  return best_rel.empty() ? best->mountpoint : best->mountpoint / best_rel;
}

constexpr uint64_t kNsPerUs = 1000;
constexpr uint64_t kNsPerSecond = 1000000000;

// One field of a JSON object written as Go's omitempty would: zero and missing are left out.
void put(Json& obj, const char* key, std::optional<uint64_t> v) {
  if (v && *v != 0) obj[key] = *v;
}

// A MemoryEntry {limit, usage, max, failcnt}; nullopt when none of its sources exist.
struct Entry {
  std::optional<uint64_t> limit, usage, max, failcnt;
  bool any() const { return limit || usage || max || failcnt; }
  Json json() const {
    Json j = Json::object();
    put(j, "limit", limit);
    put(j, "usage", usage);
    put(j, "max", max);
    put(j, "failcnt", failcnt);
    return j;
  }
};

Entry v1_entry(const fs::path& dir, const std::string& prefix) {
  return Entry{read_u64(dir / (prefix + "limit_in_bytes")), read_u64(dir / (prefix + "usage_in_bytes")),
               read_u64(dir / (prefix + "max_usage_in_bytes")), read_u64(dir / (prefix + "failcnt"))};
}

// MemoryStat's flat fields in declaration order: json key, v1 memory.stat key, v2 memory.stat
// key (nullptr when v2 has no equivalent).
struct StatKey {
  const char* json;
  const char* v1;
  const char* v2;
};
constexpr StatKey kMemoryStatKeys[] = {
    {"cache", "cache", "file"},
    {"rss", "rss", "anon"},
    {"rss_huge", "rss_huge", "anon_thp"},
    {"mapped_file", "mapped_file", "file_mapped"},
    {"dirty", "dirty", "file_dirty"},
    {"writeback", "writeback", "file_writeback"},
    {"pg_pg_in", "pgpgin", nullptr},
    {"pg_pg_out", "pgpgout", nullptr},
    {"pg_fault", "pgfault", "pgfault"},
    {"pg_maj_fault", "pgmajfault", "pgmajfault"},
    {"inactive_anon", "inactive_anon", "inactive_anon"},
    {"active_anon", "active_anon", "active_anon"},
    {"inactive_file", "inactive_file", "inactive_file"},
    {"active_file", "active_file", "active_file"},
    {"unevictable", "unevictable", "unevictable"},
    {"hierarchical_memory_limit", "hierarchical_memory_limit", nullptr},
    {"hierarchical_swap_limit", "hierarchical_memsw_limit", nullptr},
    {"total_cache", "total_cache", nullptr},
    {"total_rss", "total_rss", nullptr},
    {"total_rss_huge", "total_rss_huge", nullptr},
    {"total_mapped_file", "total_mapped_file", nullptr},
    {"total_dirty", "total_dirty", nullptr},
    {"total_writeback", "total_writeback", nullptr},
    {"total_pg_pg_in", "total_pgpgin", nullptr},
    {"total_pg_pg_out", "total_pgpgout", nullptr},
    {"total_pg_fault", "total_pgfault", nullptr},
    {"total_pg_maj_fault", "total_pgmajfault", nullptr},
    {"total_inactive_anon", "total_inactive_anon", nullptr},
    {"total_active_anon", "total_active_anon", nullptr},
    {"total_inactive_file", "total_inactive_file", nullptr},
    {"total_active_file", "total_active_file", nullptr},
    {"total_unevictable", "total_unevictable", nullptr},
};

std::optional<uint64_t> lookup(const Flat& m, const char* key) {
  if (!key) return std::nullopt;
  auto it = m.find(std::string_view(key));
  if (it == m.end()) return std::nullopt;
  return it->second;
}

// The memory object: flat stat fields, then the usage/swap/kernel/kernel_tcp entries.
std::optional<Json> memory_json(const std::optional<Flat>& stat, bool v2, const Entry& usage, const Entry& swap,
                                const Entry& kernel, const Entry& kernel_tcp) {
  if (!stat && !usage.any() && !swap.any() && !kernel.any() && !kernel_tcp.any()) return std::nullopt;
  Json j = Json::object();
  if (stat)
    for (const auto& k : kMemoryStatKeys) put(j, k.json, lookup(*stat, v2 ? k.v2 : k.v1));
  if (usage.any()) j["usage"] = usage.json();
  if (swap.any()) j["swap"] = swap.json();
  if (kernel.any()) j["kernel"] = kernel.json();
  if (kernel_tcp.any()) j["kernel_tcp"] = kernel_tcp.json();
  return j;
}

std::optional<Json> pids_json(const fs::path& dir) {
  auto current = read_u64(dir / "pids.current");
  auto limit = read_limit(dir / "pids.max", 0);  // v1 and the Metrics message report no limit as 0
  if (!current && !limit) return std::nullopt;
  Json j = Json::object();
  put(j, "current", current);
  put(j, "limit", limit);
  return j;
}

std::optional<Json> throttling_json(const std::optional<Flat>& stat, bool v2) {
  if (!stat) return std::nullopt;
  Json j = Json::object();
  put(j, "periods", lookup(*stat, "nr_periods"));
  put(j, "throttled_periods", lookup(*stat, "nr_throttled"));
  auto time = v2 ? lookup(*stat, "throttled_usec") : lookup(*stat, "throttled_time");
  if (v2 && time) *time *= kNsPerUs;
  put(j, "throttled_time", time);
  return j;
}

std::optional<uint64_t> times(std::optional<uint64_t> v, uint64_t k) {
  if (v) *v *= k;
  return v;
}

Json cpu_json(const std::optional<Json>& usage, const std::optional<Json>& throttling) {
  Json j = Json::object();
  if (usage) j["usage"] = *usage;
  if (throttling) j["throttling"] = *throttling;
  return j;
}

Json metrics_v1(const CgroupSet& set) {
  Json out = Json::object();
  auto dir_of = [&](const char* name) -> const fs::path* {
    auto it = set.controllers.find(name);
    return it == set.controllers.end() ? nullptr : &it->second;
  };

  if (const auto* d = dir_of("pids"))
    if (auto p = pids_json(*d)) out["pids"] = *p;

  std::optional<Json> usage;
  if (const auto* d = dir_of("cpuacct")) {
    auto total = read_u64(*d / "cpuacct.usage");
    auto percpu_text = read_text(*d / "cpuacct.usage_percpu");
    auto stat = read_flat(*d / "cpuacct.stat");
    if (total || percpu_text || stat) {
      // cpuacct.stat counts USER_HZ ticks.
      long hz = sysconf(_SC_CLK_TCK);
      uint64_t ns_per_tick = kNsPerSecond / static_cast<uint64_t>(hz > 0 ? hz : 100);
      Json u = Json::object();
      put(u, "total", total);
      if (stat) {
        put(u, "kernel", times(lookup(*stat, "system"), ns_per_tick));
        put(u, "user", times(lookup(*stat, "user"), ns_per_tick));
      }
      if (percpu_text) {
        Json per = Json::array();
        for (auto w : words(*percpu_text))
          if (auto v = parse_u64(w)) per.push_back(*v);
        if (!per.empty()) u["per_cpu"] = per;
      }
      usage = u;
    }
  }
  std::optional<Json> throttling;
  if (const auto* d = dir_of("cpu")) throttling = throttling_json(read_flat(*d / "cpu.stat"), false);
  if (usage || throttling) out["cpu"] = cpu_json(usage, throttling);

  if (const auto* d = dir_of("memory")) {
    auto mem = memory_json(read_flat(*d / "memory.stat"), false, v1_entry(*d, "memory."),
                           v1_entry(*d, "memory.memsw."), v1_entry(*d, "memory.kmem."),
                           v1_entry(*d, "memory.kmem.tcp."));
    if (mem) out["memory"] = *mem;
  }
  return out;
}

Json metrics_v2(const fs::path& dir) {
  Json out = Json::object();
  if (auto p = pids_json(dir)) out["pids"] = *p;

  auto cpu_stat = read_flat(dir / "cpu.stat");
  if (cpu_stat) {
    Json u = Json::object();
    put(u, "total", times(lookup(*cpu_stat, "usage_usec"), kNsPerUs));
    put(u, "kernel", times(lookup(*cpu_stat, "system_usec"), kNsPerUs));
    put(u, "user", times(lookup(*cpu_stat, "user_usec"), kNsPerUs));
    // Throttling counters exist only when the cpu controller is enabled for the cgroup.
    std::optional<Json> throttling;
    if (cpu_stat->count("nr_periods")) throttling = throttling_json(cpu_stat, true);
    out["cpu"] = cpu_json(u, throttling);
  }

  // v1 reports "no limit" as the largest int64 rounded down to a page.
  long page = sysconf(_SC_PAGESIZE);
  uint64_t unlimited = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (page > 0) unlimited -= unlimited % static_cast<uint64_t>(page);

  auto stat = read_flat(dir / "memory.stat");
  Entry usage{read_limit(dir / "memory.max", unlimited), read_u64(dir / "memory.current"),
              read_u64(dir / "memory.peak"), std::nullopt};
  if (auto events = read_flat(dir / "memory.events")) usage.failcnt = lookup(*events, "max");
  // v2 has no separate kernel accounting files, but memory.stat breaks the kernel's share out.
  Entry kernel, kernel_tcp;
  if (stat) {
    kernel.usage = lookup(*stat, "kernel");
    kernel_tcp.usage = lookup(*stat, "sock");
  }
  if (auto mem = memory_json(stat, true, usage, Entry{}, kernel, kernel_tcp)) out["memory"] = *mem;
  return out;
}

// True when `dir` is a mount point: the root of a hierarchy, which rmdir can never remove and
// which no runtime created.
bool is_mount_point(const fs::path& dir) {
  struct stat self {}, parent {};
  if (::stat(dir.c_str(), &self) != 0) return false;
  fs::path up = dir.parent_path();
  if (up.empty() || up == dir) return true;
  if (::stat(up.c_str(), &parent) != 0) return false;
  return self.st_dev != parent.st_dev;
}

void add_subdirectories(const fs::path& dir, std::vector<fs::path>& out) {
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec))
    if (it->is_directory(ec) && !it->is_symlink(ec)) out.push_back(it->path());
}

}  // namespace

std::vector<fs::path> CgroupSet::directories() const {
  std::vector<fs::path> out;
  auto add = [&](const fs::path& p) {
    if (!p.empty() && std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
  };
  add(dir);
  for (const auto& [name, p] : controllers) add(p);
  return out;
}

CgroupSet resolve_cgroup(std::string_view proc_pid_cgroup, std::string_view mountinfo) {
  auto mounts = parse_cgroup_mounts(mountinfo);
  CgroupSet set;
  std::optional<fs::path> v2_dir;
  bool any_v1 = false;

  for (auto line : split(proc_pid_cgroup, '\n')) {
    // hierarchy-id:controller-list:cgroup-path; the path may itself contain ':'.
    size_t c1 = line.find(':');
    if (c1 == std::string_view::npos) continue;
    size_t c2 = line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view id = line.substr(0, c1), ctrls = line.substr(c1 + 1, c2 - c1 - 1);
    std::string_view path = line.substr(c2 + 1);
    // A v2 cgroup removed while a process still names it.
    constexpr std::string_view deleted = " (deleted)";
    if (path.size() > deleted.size() && path.substr(path.size() - deleted.size()) == deleted)
      path.remove_suffix(deleted.size());
    if (path.empty() || path.front() != '/') continue;

    std::vector<const CgroupMount*> candidates;
    if (id == "0" && ctrls.empty()) {
      for (const auto& m : mounts)
        if (m.v2) candidates.push_back(&m);
      if (auto d = locate(candidates, path)) v2_dir = *d;
      continue;
    }
    auto names = split(ctrls, ',');
    names.erase(std::remove(names.begin(), names.end(), std::string_view()), names.end());
    if (names.empty()) continue;
    for (const auto& m : mounts) {
      if (m.v2) continue;
      bool all = std::all_of(names.begin(), names.end(), [&](std::string_view n) { return m.options.count(n) > 0; });
      if (all) candidates.push_back(&m);
    }
    auto d = locate(candidates, path);
    if (!d) continue;
    any_v1 = true;
    for (auto n : names) set.controllers[std::string(n)] = *d;
  }

  if (any_v1) {
    // Hybrid: the cgroup2 hierarchy carries no controllers we read, but its directory belongs
    // to the process all the same.
    if (v2_dir) set.controllers[""] = *v2_dir;
  } else if (v2_dir) {
    set.unified = true;
    set.dir = *v2_dir;
  }
  return set;
}

CgroupSet cgroup_of(pid_t pid, const fs::path& proc_root) {
  fs::path cgroup_file = proc_root / std::to_string(pid) / "cgroup";
  auto cgroup = read_text(cgroup_file);
  if (!cgroup) throw Error(hr::ErrNotFound, "cannot read " + cgroup_file.string() + ": no such process");
  fs::path mountinfo_file = proc_root / "self" / "mountinfo";
  auto mountinfo = read_text(mountinfo_file);
  if (!mountinfo) throw Error(hr::Fail, "cannot read " + mountinfo_file.string());
  return resolve_cgroup(*cgroup, *mountinfo);
}

std::vector<pid_t> cgroup_pids(const CgroupSet& set) {
  fs::path base;
  if (set.unified) {
    base = set.dir;
  } else {
    for (const char* name : {"pids", "memory"}) {
      if (auto it = set.controllers.find(name); it != set.controllers.end()) {
        base = it->second;
        break;
      }
    }
    if (base.empty() && !set.controllers.empty()) base = set.controllers.begin()->second;
  }
  std::vector<pid_t> pids;
  if (base.empty()) return pids;

  std::vector<fs::path> dirs{base};
  add_subdirectories(base, dirs);
  for (const auto& d : dirs) {
    auto text = read_text(d / "cgroup.procs");
    if (!text) continue;
    for (auto w : words(*text))
      if (auto v = parse_u64(w); v && *v > 0 && *v <= static_cast<uint64_t>(std::numeric_limits<pid_t>::max()))
        pids.push_back(static_cast<pid_t>(*v));
  }
  std::sort(pids.begin(), pids.end());
  pids.erase(std::unique(pids.begin(), pids.end()), pids.end());
  return pids;
}

Json cgroup_metrics(const CgroupSet& set) {
  return set.unified ? metrics_v2(set.dir) : metrics_v1(set);
}

void remove_cgroup(const CgroupSet& set) {
  std::vector<fs::path> targets;
  for (const auto& d : set.directories()) {
    if (is_mount_point(d)) continue;
    targets.push_back(d);
    add_subdirectories(d, targets);  // child cgroups keep a parent busy until they go
  }
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  auto depth = [](const fs::path& p) { return std::distance(p.begin(), p.end()); };
  std::stable_sort(targets.begin(), targets.end(),
                   [&](const fs::path& a, const fs::path& b) { return depth(a) > depth(b); });

  // One deadline for all: the directories free up together once the last task is reaped.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  for (const auto& d : targets) {
    while (::rmdir(d.c_str()) != 0) {
      int err = errno;
      if (err == ENOENT) break;
      if (err == EBUSY && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      throw Error::from_errno(err, "remove cgroup " + d.string());
    }
  }
}

}  // namespace hcs::runtime
