// The state root: one directory per object, <root>/<kind>/<id>/, holding record.json and
// whatever the object's owner keeps there (sockets, logs).
//
// Two sorts of object share the layout:
//  - owned objects (a VM and its vmhost, a container and its runtime) have an owner
//    process. Their directory always contains owner.lock, and the owner holds
//    flock(LOCK_EX) on it for as long as it lives. The lock belongs to the open file
//    description, so it survives fork and exec, ends when the last copy of the fd closes
//    (even on SIGKILL) and cannot be fooled by pid reuse. A directory whose lock is free
//    is the remains of a dead owner: list() and create() prune it.
//  - unowned records (networks, endpoints) persist with no process behind them. Their
//    directory has no owner.lock, and nothing ever prunes them. Writers serialise with
//    lock(), a cross-process critical section.
//
// Every path is built from validated names (the ID pattern of the conventions), and
// directories are opened without following symlinks, so nothing escapes the root.
// Directories are 0700, files 0600.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hcs/core/fd.hpp"
#include "hcs/core/json.hpp"

namespace hcs::state {

// $HCSKIT_ROOT when set and not empty, else /run/hcskit.
std::string default_root();

// ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$
bool valid_id(std::string_view id);
// Throws hcs::Error(hr::ErrInvalidArg) naming `what` when `id` is not valid.
void check_id(std::string_view id, std::string_view what = "id");

// An object created by Store::create(): its directory and the fd holding its owner lock.
//
// Handing ownership to another process: the lock fd is close-on-exec. Either clear that
// with keep_on_exec() before a plain fork+exec, or dup2() the fd onto a number the child
// expects (dup2 clears close-on-exec on the copy). hcs::spawn() marks every fd above 2
// close-on-exec in the child, so with it pass the fd in SpawnOptions::pass_fds (the child
// gets it as fd 3, 4, ...). The new owner takes the fd back with Store::adopt().
// The creator must then close its own copy (reset `lock`): while any copy is open the
// object counts as alive.
struct Owned {
  std::string dir;  // <root>/<kind>/<id>
  UniqueFd lock;    // open on <dir>/owner.lock, flock(LOCK_EX) held
  std::string kind;
  std::string id;

  // Clears FD_CLOEXEC on the lock fd so that an exec'd owner inherits it.
  void keep_on_exec();
};

// A held cross-process lock (Store::lock); released when destroyed.
class Lock {
 public:
  Lock() = default;
  explicit Lock(UniqueFd fd) : fd_(std::move(fd)) {}
  bool held() const noexcept { return fd_.valid(); }
  void unlock() noexcept { fd_.reset(); }

 private:
  UniqueFd fd_;
};

struct Record {
  std::string id;
  Json record;
};

class Store {
 public:
  explicit Store(std::string root = default_root());
  const std::string& root() const noexcept { return root_; }

  // <root>/<kind>/<id>, both validated. Does not touch the filesystem.
  std::string dir(std::string_view kind, std::string_view id) const;

  // --- Owned objects ---

  // Creates <kind>/<id>/ with a locked owner.lock in it, atomically: the directory is
  // built under a temporary name and renamed into place, so that nobody ever sees an
  // owned directory without its lock. An existing object whose owner is dead is pruned
  // and replaced; a live one fails with hr::VmcomputeSystemAlreadyExists. No record is
  // written: the owner writes it with write_record() once it has something to say.
  Owned create(std::string_view kind, std::string_view id);

  // Takes over the lock fd a creator handed to this process: checks that `lock` is open on
  // <kind>/<id>/owner.lock and holds its lock (hr::ErrInvalidArg otherwise).
  Owned adopt(std::string_view kind, std::string_view id, UniqueFd lock);

  // True while some process holds the object's owner lock.
  bool alive(std::string_view kind, std::string_view id) const;

  // The records of every object of `kind`, sorted by id: owned objects whose owner is
  // alive, and unowned records. Owned directories whose owner is gone are removed. An
  // owned object whose owner is alive but has not written its record yet (being created)
  // is skipped, as is a record that cannot be read or parsed (logged as a warning).
  // Leftovers of crashed create()/remove() calls are cleaned up along the way.
  std::vector<Record> list(std::string_view kind);

  // Removes an object whose owner is gone: takes its lock first, so a live object is
  // refused (hr::VmcomputeInvalidState) and a concurrent create() cannot be hit. Does
  // nothing when the object does not exist. Owners remove their own with remove(Owned&).
  void remove(std::string_view kind, std::string_view id);
  // Removes the caller's own object (whose lock it holds) and releases the lock.
  void remove(Owned& owned);

  // --- Records, owned or not ---

  // Atomically replaces <dir>/record.json: a temporary file in `dir`, fsync, rename.
  static void write_record(const std::string& dir, const Json& record);
  // std::nullopt when the object or its record does not exist; a record that is not
  // valid JSON throws hr::VmcomputeInvalidJSON naming the file.
  std::optional<Json> read_record(std::string_view kind, std::string_view id) const;

  // --- Unowned records ---

  // Creates or replaces the record <kind>/<id>/record.json (atomically). Refuses
  // (hr::ErrInvalidArg) to write into an owned object's directory.
  void put(std::string_view kind, std::string_view id, const Json& record);
  std::optional<Json> get(std::string_view kind, std::string_view id) const { return read_record(kind, id); }
  // Removes an unowned record; false when there was none. Refuses owned objects.
  bool erase(std::string_view kind, std::string_view id);

  // Blocks until this process holds <root>/locks/<name>.lock exclusively. For short
  // cross-process critical sections (read-modify-write of unowned records, address
  // allocation); not reentrant across Lock objects, even within one process. The name
  // follows the ID pattern; "locks" is not a valid kind.
  Lock lock(std::string_view name);

 private:
  UniqueFd open_root(bool create) const;
  UniqueFd open_kind(std::string_view kind, bool create) const;
  void prune_leftover(int kind_fd, const std::string& name);

  std::string root_;
};

}  // namespace hcs::state
