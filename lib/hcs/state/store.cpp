#include "hcs/state/store.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>

#include "hcs/core/error.hpp"
#include "hcs/core/guid.hpp"

namespace hcs::state {

namespace {

constexpr const char* kRecord = "record.json";
constexpr const char* kOwnerLock = "owner.lock";
constexpr const char* kLocksDir = "locks";
// Names of work directories inside a kind directory; never valid ids (they start with a dot).
constexpr std::string_view kCreatePrefix = ".create-";
constexpr std::string_view kDeadPrefix = ".dead-";
// A .create- directory whose creator left no locked owner.lock for this long is debris.
constexpr auto kStaleCreate = std::chrono::seconds(60);
constexpr std::size_t kMaxRecordSize = 16u << 20;

std::string random_suffix() {
  std::string s = Guid::random().str();
  s.erase(std::remove(s.begin(), s.end(), '-'), s.end());
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// A directory under `dirfd`, opened without following a symlink. Returns an invalid fd and
// leaves errno set on failure.
UniqueFd open_dir_at(int dirfd, const std::string& name) {
  return UniqueFd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
}

// Opens an existing owner.lock; invalid fd with errno set when it cannot.
UniqueFd open_owner_lock(int dirfd) {
  return UniqueFd(::openat(dirfd, kOwnerLock, O_RDWR | O_NOFOLLOW | O_CLOEXEC));
}

bool try_flock(int fd, int op) {
  while (::flock(fd, op | LOCK_NB) != 0) {
    if (errno == EINTR) continue;
    if (errno == EWOULDBLOCK) return false;
    throw_errno("flock");
  }
  return true;
}

void mkdir_at(int dirfd, const std::string& name, const std::string& what) {
  if (::mkdirat(dirfd, name.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("create " + what);
}

// rm -rf of `name` under `dirfd` without following symlinks. Entries that vanish meanwhile
// (a concurrent remover) are not errors.
// True when dirfd/name is the root of a mount (a bind of some host directory, say).
bool is_mount_root(int dirfd, const std::string& name) {
  struct statx stx{};
  if (::statx(dirfd, name.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &stx) != 0) return false;
  return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

// Never crosses into a mount: whatever is mounted in a state directory is not ours to
// delete, so that removal fails instead.
void remove_tree_at(int dirfd, const std::string& name) {
  if (is_mount_root(dirfd, name))
    throw Error(hr::VmcomputeInvalidState, "not removing " + name + ": something is mounted on it");
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return;
    if (errno != ENOTDIR && errno != ELOOP) throw_errno("open " + name);
    if (::unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) throw_errno("remove " + name);
    return;
  }
  int listfd = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);
  if (listfd < 0) throw_errno("dup");
  DIR* d = ::fdopendir(listfd);
  if (!d) {
    ::close(listfd);
    throw_errno("list " + name);
  }
  std::vector<std::pair<std::string, bool>> entries;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    bool is_dir = e->d_type == DT_DIR;
    if (e->d_type == DT_UNKNOWN) {
      struct stat st{};
      is_dir = ::fstatat(fd.get(), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
    }
    entries.emplace_back(std::move(n), is_dir);
  }
  ::closedir(d);
  for (const auto& [n, is_dir] : entries) {
    if (is_dir) {
      remove_tree_at(fd.get(), n);
    } else if (::unlinkat(fd.get(), n.c_str(), 0) != 0 && errno != ENOENT) {
      throw_errno("remove " + name + "/" + n);
    }
  }
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) throw_errno("remove " + name);
}

// Moves `name` out of the way under a fresh dead name and deletes it: the id is free the
// moment the rename happens, however long the deletion takes.
void discard_at(int kind_fd, const std::string& name) {
  std::string dead = std::string(kDeadPrefix) + random_suffix();
  if (::renameat(kind_fd, name.c_str(), kind_fd, dead.c_str()) != 0) {
    if (errno == ENOENT) return;
    throw_errno("remove " + name);
  }
  remove_tree_at(kind_fd, dead);
}

bool same_file(const struct stat& a, const struct stat& b) { return a.st_dev == b.st_dev && a.st_ino == b.st_ino; }

enum class Status { Missing, Unowned, Alive, Pruned };

// Looks at <kind>/<name>: a dead owned object is removed, while holding its lock, so that
// no one else (pruner, creator, remover) can act on it meanwhile.
Status probe(int kind_fd, const std::string& name) {
  UniqueFd dfd = open_dir_at(kind_fd, name);
  if (!dfd) {
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return Status::Missing;
    throw_errno("open " + name);
  }
  UniqueFd lfd = open_owner_lock(dfd.get());
  if (!lfd) {
    if (errno == ENOENT) return Status::Unowned;
    throw_errno("open " + name + "/" + kOwnerLock);
  }
  if (!try_flock(lfd.get(), LOCK_EX)) return Status::Alive;
  // The owner is gone and we hold its lock. Only act if <name> is still the directory we
  // opened (it may have been pruned and recreated between our open and our flock).
  struct stat opened{}, now{};
  if (::fstat(dfd.get(), &opened) != 0) throw_errno("stat " + name);
  if (::fstatat(kind_fd, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::Missing;
    throw_errno("stat " + name);
  }
  if (!same_file(opened, now)) return Status::Alive;  // someone else's new object: leave it
  spdlog::debug("state: pruning {} (its owner is gone)", name);
  discard_at(kind_fd, name);
  return Status::Pruned;
}

std::optional<std::string> read_file_at(int dirfd, const char* name, const std::string& path) {
  UniqueFd fd(::openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("open " + path);
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("read " + path);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxRecordSize)
      throw Error(hr::VmcomputeInvalidJSON, path + " is larger than " + std::to_string(kMaxRecordSize) + " bytes");
  }
  return text;
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("write " + path);
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void write_record_at(int dirfd, const std::string& dir, const Json& record) {
  const std::string text = record.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
  const std::string tmp = std::string(".") + kRecord + "." + random_suffix();
  const std::string path = dir + "/" + kRecord;
  UniqueFd fd(::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) throw_errno("create " + dir + "/" + tmp);
  try {
    write_all(fd.get(), text, path);
    if (::fsync(fd.get()) != 0) throw_errno("fsync " + path);
    fd.reset();
    if (::renameat(dirfd, tmp.c_str(), dirfd, kRecord) != 0) throw_errno("rename to " + path);
  } catch (...) {
    ::unlinkat(dirfd, tmp.c_str(), 0);
    throw;
  }
  ::fsync(dirfd);  // the rename itself; best effort
}

void check_kind(std::string_view kind) {
  check_id(kind, "kind");
  if (kind == kLocksDir) throw Error(hr::ErrInvalidArg, "invalid kind \"locks\": reserved for the lock directory");
}

}  // namespace

std::string default_root() {
  const char* env = std::getenv("HCSKIT_ROOT");
  return env && *env ? std::string(env) : std::string("/run/hcskit");
}

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  if (!alnum(id[0])) return false;
  return std::all_of(id.begin() + 1, id.end(), [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

void check_id(std::string_view id, std::string_view what) {
  if (valid_id(id)) return;
  std::string shown(id.substr(0, 160));
  for (char& c : shown)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  throw Error(hr::ErrInvalidArg, "invalid " + std::string(what) + " \"" + shown + (id.size() > 160 ? "...\"" : "\"") +
                                     ": must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$");
}

void Owned::keep_on_exec() {
  int flags = ::fcntl(lock.get(), F_GETFD);
  if (flags < 0 || ::fcntl(lock.get(), F_SETFD, flags & ~FD_CLOEXEC) != 0) throw_errno("fcntl(F_SETFD) on owner lock");
}

Store::Store(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  if (root_.empty()) throw Error(hr::ErrInvalidArg, "state root must not be empty");
}

std::string Store::dir(std::string_view kind, std::string_view id) const {
  check_kind(kind);
  check_id(id);
  return root_ + "/" + std::string(kind) + "/" + std::string(id);
}

UniqueFd Store::open_root(bool create) const {
  if (create) {
    // The parents are the administrator's business; the root itself is private.
    const auto slash = root_.find_last_of('/');
    std::string parent = slash == std::string::npos ? std::string() : root_.substr(0, slash);
    if (!parent.empty() && ::access(parent.c_str(), F_OK) != 0) {
      std::error_code ec;
      std::filesystem::create_directories(parent, ec);
      if (ec) throw Error(hr::Fail, "create " + parent + ": " + ec.message());
    }
    if (::mkdir(root_.c_str(), 0700) != 0 && errno != EEXIST) throw_errno("create state root " + root_);
  }
  UniqueFd fd(::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd && !(errno == ENOENT && !create)) throw_errno("open state root " + root_);
  return fd;
}

UniqueFd Store::open_kind(std::string_view kind, bool create) const {
  UniqueFd rfd = open_root(create);
  if (!rfd) return rfd;
  const std::string name(kind);
  if (create) mkdir_at(rfd.get(), name, root_ + "/" + name);
  UniqueFd fd = open_dir_at(rfd.get(), name);
  if (!fd && !(errno == ENOENT && !create)) throw_errno("open " + root_ + "/" + name);
  return fd;
}

Owned Store::create(std::string_view kind, std::string_view id) {
  const std::string path = dir(kind, id);
  const std::string name(id);
  UniqueFd kfd = open_kind(kind, true);
  // A later round follows the pruning of a dead object of the same id, or gives a lock
  // that looked held a moment to let go: another process's list() or alive() may be
  // holding a dead object's lock for an instant while it looks at it.
  for (int round = 0; round < 4; ++round) {
    if (round > 0) ::usleep(2000);
    const std::string tmp = std::string(kCreatePrefix) + random_suffix();
    if (::mkdirat(kfd.get(), tmp.c_str(), 0700) != 0) throw_errno("create " + root_ + "/" + std::string(kind) + "/" + tmp);
    try {
      UniqueFd tfd = open_dir_at(kfd.get(), tmp);
      if (!tfd) throw_errno("open " + tmp);
      UniqueFd lfd(::openat(tfd.get(), kOwnerLock, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (!lfd) throw_errno("create " + path + "/" + kOwnerLock);
      if (!try_flock(lfd.get(), LOCK_EX)) throw Error(hr::Fail, "a fresh owner lock is already locked: " + tmp);
      if (::renameat2(kfd.get(), tmp.c_str(), kfd.get(), name.c_str(), RENAME_NOREPLACE) == 0)
        return Owned{path, std::move(lfd), std::string(kind), name};
      if (errno != EEXIST && errno != ENOTEMPTY) throw_errno("rename into " + path);
    } catch (...) {
      remove_tree_at(kfd.get(), tmp);
      throw;
    }
    remove_tree_at(kfd.get(), tmp);
    if (probe(kfd.get(), name) == Status::Unowned) break;
  }
  throw Error(hr::VmcomputeSystemAlreadyExists, std::string(kind) + " \"" + name + "\" already exists");
}

Owned Store::adopt(std::string_view kind, std::string_view id, UniqueFd lock) {
  const std::string path = dir(kind, id);
  struct stat held{}, on_disk{};
  if (!lock || ::fstat(lock.get(), &held) != 0)
    throw Error(hr::ErrInvalidArg, "adopt " + path + ": the owner lock fd is not open");
  if (::lstat((path + "/" + kOwnerLock).c_str(), &on_disk) != 0 || !same_file(held, on_disk))
    throw Error(hr::ErrInvalidArg, "adopt " + path + ": the fd is not that object's owner lock");
  // flock on the open file description that holds the lock succeeds (a no-op), while one
  // on another description would fail: so after this the lock is ours, handed over or not.
  if (!try_flock(lock.get(), LOCK_EX))
    throw Error(hr::ErrInvalidArg, "adopt " + path + ": the owner lock is held by another open file");
  ::fcntl(lock.get(), F_SETFD, FD_CLOEXEC);
  return Owned{path, std::move(lock), std::string(kind), std::string(id)};
}

bool Store::alive(std::string_view kind, std::string_view id) const {
  const std::string path = dir(kind, id);
  UniqueFd kfd = open_kind(kind, false);
  if (!kfd) return false;
  UniqueFd dfd = open_dir_at(kfd.get(), std::string(id));
  if (!dfd) return false;
  UniqueFd lfd = open_owner_lock(dfd.get());
  if (!lfd) {
    if (errno == ENOENT) return false;
    throw_errno("open " + path + "/" + kOwnerLock);
  }
  // A shared probe: it conflicts with the owner's exclusive lock and nothing else.
  return !try_flock(lfd.get(), LOCK_SH);
}

void Store::prune_leftover(int kind_fd, const std::string& name) {
  try {
    if (starts_with(name, kDeadPrefix)) {
      remove_tree_at(kind_fd, name);  // a remover crashed half-way (or is still at it)
      return;
    }
    // A .create- directory: debris once old enough and without a held lock.
    UniqueFd dfd = open_dir_at(kind_fd, name);
    if (!dfd) return;
    struct stat st{};
    if (::fstat(dfd.get(), &st) != 0) return;
    if (std::chrono::system_clock::now() - std::chrono::system_clock::from_time_t(st.st_mtime) < kStaleCreate) return;
    UniqueFd lfd = open_owner_lock(dfd.get());
    if (lfd && !try_flock(lfd.get(), LOCK_EX)) return;
    remove_tree_at(kind_fd, name);
  } catch (const Error& e) {
    spdlog::warn("state: cannot clean up {}/{}: {}", root_, name, e.text());
  }
}

std::vector<Record> Store::list(std::string_view kind) {
  check_kind(kind);
  UniqueFd kfd = open_kind(kind, false);
  std::vector<Record> out;
  if (!kfd) return out;
  std::vector<std::string> names;
  {
    int listfd = ::fcntl(kfd.get(), F_DUPFD_CLOEXEC, 0);
    if (listfd < 0) throw_errno("dup");
    DIR* d = ::fdopendir(listfd);
    if (!d) {
      ::close(listfd);
      throw_errno("list " + root_ + "/" + std::string(kind));
    }
    while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    if (starts_with(name, kCreatePrefix) || starts_with(name, kDeadPrefix)) {
      prune_leftover(kfd.get(), name);
      continue;
    }
    if (!valid_id(name)) continue;
    const std::string path = root_ + "/" + std::string(kind) + "/" + name;
    try {
      Status st = probe(kfd.get(), name);
      if (st != Status::Alive && st != Status::Unowned) continue;
      UniqueFd dfd = open_dir_at(kfd.get(), name);
      if (!dfd) continue;
      auto text = read_file_at(dfd.get(), kRecord, path + "/" + kRecord);
      if (!text) continue;  // being created: the owner has not written its record yet
      out.push_back(Record{name, parse_json(*text, path + "/" + kRecord)});
    } catch (const Error& e) {
      spdlog::warn("state: skipping {}: {}", path, e.text());
    }
  }
  return out;
}

void Store::remove(std::string_view kind, std::string_view id) {
  const std::string path = dir(kind, id);
  UniqueFd kfd = open_kind(kind, false);
  if (!kfd) return;
  switch (probe(kfd.get(), std::string(id))) {
    case Status::Missing:
    case Status::Pruned: return;
    case Status::Alive:
      throw Error(hr::VmcomputeInvalidState, std::string(kind) + " \"" + std::string(id) + "\" is still owned by a running process");
    case Status::Unowned:
      throw Error(hr::ErrInvalidArg, path + " is an unowned record (erase it instead)");
  }
}

void Store::remove(Owned& owned) {
  if (!owned.lock) throw Error(hr::ErrInvalidArg, "remove " + owned.dir + ": not the owner (no lock held)");
  const std::string path = dir(owned.kind, owned.id);
  UniqueFd kfd = open_kind(owned.kind, false);
  struct stat held{}, on_disk{};
  if (kfd && ::fstat(owned.lock.get(), &held) == 0 &&
      ::fstatat(kfd.get(), (owned.id + "/" + kOwnerLock).c_str(), &on_disk, AT_SYMLINK_NOFOLLOW) == 0 &&
      same_file(held, on_disk)) {
    discard_at(kfd.get(), owned.id);  // while still holding the lock
  } else {
    spdlog::warn("state: {} is no longer this owner's directory; leaving it", path);
  }
  owned.lock.reset();
}

void Store::write_record(const std::string& dir, const Json& record) {
  UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dfd) throw_errno("open " + dir);
  write_record_at(dfd.get(), dir, record);
}

std::optional<Json> Store::read_record(std::string_view kind, std::string_view id) const {
  const std::string path = dir(kind, id);
  UniqueFd kfd = open_kind(kind, false);
  if (!kfd) return std::nullopt;
  UniqueFd dfd = open_dir_at(kfd.get(), std::string(id));
  if (!dfd) {
    if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) return std::nullopt;
    throw_errno("open " + path);
  }
  const std::string file = path + "/" + kRecord;
  auto text = read_file_at(dfd.get(), kRecord, file);
  if (!text) return std::nullopt;
  return parse_json(*text, file);
}

void Store::put(std::string_view kind, std::string_view id, const Json& record) {
  const std::string path = dir(kind, id);
  UniqueFd kfd = open_kind(kind, true);
  mkdir_at(kfd.get(), std::string(id), path);
  UniqueFd dfd = open_dir_at(kfd.get(), std::string(id));
  if (!dfd) throw_errno("open " + path);
  if (::faccessat(dfd.get(), kOwnerLock, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    throw Error(hr::ErrInvalidArg, path + " belongs to an owned object; put() is for unowned records");
  write_record_at(dfd.get(), path, record);
}

bool Store::erase(std::string_view kind, std::string_view id) {
  const std::string path = dir(kind, id);
  UniqueFd kfd = open_kind(kind, false);
  if (!kfd) return false;
  UniqueFd dfd = open_dir_at(kfd.get(), std::string(id));
  if (!dfd) return false;
  if (::faccessat(dfd.get(), kOwnerLock, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
    throw Error(hr::ErrInvalidArg, path + " belongs to an owned object; erase() is for unowned records");
  dfd.reset();
  discard_at(kfd.get(), std::string(id));
  return true;
}

Lock Store::lock(std::string_view name) {
  check_id(name, "lock name");
  UniqueFd rfd = open_root(true);
  mkdir_at(rfd.get(), kLocksDir, root_ + "/" + kLocksDir);
  UniqueFd ldir = open_dir_at(rfd.get(), kLocksDir);
  if (!ldir) throw_errno("open " + root_ + "/" + kLocksDir);
  const std::string file = std::string(name) + ".lock";
  UniqueFd fd(::openat(ldir.get(), file.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) throw_errno("open " + root_ + "/" + kLocksDir + "/" + file);
  while (::flock(fd.get(), LOCK_EX) != 0) {
    if (errno != EINTR) throw_errno("lock " + root_ + "/" + kLocksDir + "/" + file);
  }
  return Lock(std::move(fd));
}

}  // namespace hcs::state
