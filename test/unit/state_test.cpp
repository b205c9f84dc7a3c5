// The state root (hcs::state::Store) in a temporary directory: owned objects and their
// owner locks across fork/exec, pruning of dead owners, unowned records, cross-process
// locks, and the validation that keeps every path inside the root.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>

#include "hcs/core/error.hpp"
#include "hcs/state/store.hpp"

namespace state_test {

using namespace hcs;
using namespace hcs::state;
namespace fs = std::filesystem;

namespace {

struct TempRoot {
  fs::path dir;
  TempRoot() {
    char tmpl[] = "/tmp/hcskit-state-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir = tmpl;
  }
  ~TempRoot() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string root() const { return (dir / "root").string(); }
};

// Runs `body` in a forked child whose exit status is its return value (or 99 on an exception).
pid_t fork_child(const std::function<int()>& body) {
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    int rc = 99;
    try {
      rc = body();
    } catch (...) {
    }
    ::_exit(rc);
  }
  return pid;
}

int wait_status(pid_t pid) {
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

uint32_t error_code_of(const std::function<void()>& body, const std::string& needle = "") {
  try {
    body();
  } catch (const Error& e) {
    if (!needle.empty()) {
      EXPECT_NE(e.text().find(needle), std::string::npos) << e.text();
    }
    return e.code();
  }
  ADD_FAILURE() << "no error";
  return 0;
}

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

std::set<std::string> ids(const std::vector<Record>& records) {
  std::set<std::string> out;
  for (const auto& r : records) out.insert(r.id);
  return out;
}

mode_t mode_of(const fs::path& p) {
  struct stat st{};
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

}  // namespace

TEST(State, DefaultRootFollowsEnvironment) {
  const char* old = std::getenv("HCSKIT_ROOT");
  std::string saved = old ? old : "";
  ::setenv("HCSKIT_ROOT", "/tmp/elsewhere", 1);
  EXPECT_EQ(default_root(), "/tmp/elsewhere");
  ::unsetenv("HCSKIT_ROOT");
  EXPECT_EQ(default_root(), "/run/hcskit");
  if (old) ::setenv("HCSKIT_ROOT", saved.c_str(), 1);
}

TEST(State, CreateListReadRemove) {
  TempRoot t;
  Store s(t.root());
  EXPECT_TRUE(s.list("vm").empty());
  EXPECT_FALSE(s.read_record("vm", "a").has_value());
  EXPECT_FALSE(s.alive("vm", "a"));

  Owned a = s.create("vm", "a");
  EXPECT_EQ(a.dir, t.root() + "/vm/a");
  EXPECT_TRUE(a.lock.valid());
  EXPECT_TRUE(s.alive("vm", "a"));
  Store::write_record(a.dir, Json{{"id", "a"}, {"state", "running"}});
  Owned b = s.create("vm", "b");
  Store::write_record(b.dir, Json{{"id", "b"}});

  auto all = s.list("vm");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].id, "a");
  EXPECT_EQ(all[0].record.at("state"), "running");
  EXPECT_EQ(all[1].id, "b");
  EXPECT_EQ(s.read_record("vm", "a")->at("state"), "running");
  EXPECT_TRUE(s.list("container").empty());

  // Private: directories 0700, files 0600.
  EXPECT_EQ(mode_of(t.root()), 0700u);
  EXPECT_EQ(mode_of(t.root() + "/vm"), 0700u);
  EXPECT_EQ(mode_of(a.dir), 0700u);
  EXPECT_EQ(mode_of(a.dir + "/record.json"), 0600u);
  EXPECT_EQ(mode_of(a.dir + "/owner.lock"), 0600u);

  // Only the dead may be removed by others; the owner removes its own.
  EXPECT_EQ(error_code_of([&] { s.remove("vm", "a"); }, "still owned"), hr::VmcomputeInvalidState);
  s.remove(a);
  EXPECT_FALSE(a.lock.valid());
  EXPECT_FALSE(fs::exists(t.root() + "/vm/a"));
  EXPECT_FALSE(s.read_record("vm", "a").has_value());
  EXPECT_EQ(ids(s.list("vm")), std::set<std::string>{"b"});
  EXPECT_EQ(entries(t.root() + "/vm"), std::set<std::string>{"b"});  // no leftovers

  // Once the owner is gone (its lock closed), anyone may remove it.
  b.lock.reset();
  EXPECT_FALSE(s.alive("vm", "b"));
  s.remove("vm", "b");
  s.remove("vm", "b");  // absent: nothing to do
  EXPECT_FALSE(fs::exists(t.root() + "/vm/b"));
}

// A VM owner binds shared host directories into its state directory: removing that
// directory must never delete what such a mount shows.
TEST(State, RemoveNeverCrossesAMount) {
  TempRoot t;
  const fs::path precious = t.dir / "precious";
  fs::create_directories(precious);
  std::ofstream(precious / "keep.txt") << "mine";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A mount namespace of its own (a user namespace too, when not root).
    if (::unshare(CLONE_NEWNS) != 0 && ::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) ::_exit(77);
    ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
    int code = 0;
    try {
      Store s(t.root());
      Owned o = s.create("vm", "a");
      const std::string at = o.dir + "/plan9/share";
      fs::create_directories(at);
      if (::mount(precious.c_str(), at.c_str(), nullptr, MS_BIND, nullptr) != 0) ::_exit(77);
      try {
        s.remove(o);
        code = 1;  // removed across the mount
      } catch (const Error& e) {
        code = e.text().find("mounted") == std::string::npos ? 2 : 0;
      }
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == 77) GTEST_SKIP() << "no mount namespace for this user";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: removed across the mount, 2: unclear error, 3: setup failed";
  EXPECT_TRUE(fs::exists(precious / "keep.txt"));
}

TEST(State, DuplicateIdFails) {
  TempRoot t;
  Store s(t.root());
  Owned a = s.create("vm", "dup");
  EXPECT_EQ(error_code_of([&] { s.create("vm", "dup"); }, "\"dup\" already exists"), hr::VmcomputeSystemAlreadyExists);
  // The failed attempt left nothing behind and did not disturb the original.
  EXPECT_EQ(entries(t.root() + "/vm"), std::set<std::string>{"dup"});
  EXPECT_TRUE(s.alive("vm", "dup"));
  // The same id under another kind is a different object.
  Owned c = s.create("container", "dup");
  EXPECT_TRUE(s.alive("container", "dup"));
}

TEST(State, CreateReplacesDeadObjectOfSameId) {
  TempRoot t;
  Store s(t.root());
  {
    Owned a = s.create("vm", "again");
    Store::write_record(a.dir, Json{{"gen", 1}});
  }  // owner "dies": lock closed, directory left behind
  EXPECT_TRUE(fs::exists(t.root() + "/vm/again/record.json"));
  Owned a = s.create("vm", "again");
  EXPECT_FALSE(s.read_record("vm", "again").has_value());  // the old record went with the old owner
  EXPECT_TRUE(s.alive("vm", "again"));
}

TEST(State, BadIdsAreRejected) {
  TempRoot t;
  Store s(t.root());
  const std::string too_long(129, 'a');
  for (const std::string& id : {std::string("../x"), std::string(""), too_long, std::string(".hidden"),
                                std::string("a/b"), std::string("-a"), std::string("a b"), std::string("a\nb"),
                                std::string("..")}) {
    EXPECT_EQ(error_code_of([&] { s.create("vm", id); }, "invalid id"), hr::ErrInvalidArg) << id;
    EXPECT_EQ(error_code_of([&] { s.read_record("vm", id); }), hr::ErrInvalidArg) << id;
    EXPECT_EQ(error_code_of([&] { s.alive("vm", id); }), hr::ErrInvalidArg) << id;
    EXPECT_EQ(error_code_of([&] { s.put("net", id, Json::object()); }), hr::ErrInvalidArg) << id;
    EXPECT_EQ(error_code_of([&] { s.remove("vm", id); }), hr::ErrInvalidArg) << id;
    EXPECT_EQ(error_code_of([&] { s.erase("net", id); }), hr::ErrInvalidArg) << id;
    EXPECT_EQ(error_code_of([&] { s.lock(id); }, "invalid lock name"), hr::ErrInvalidArg) << id;
  }
  for (const std::string& kind : {std::string("../vm"), std::string(""), std::string("locks"), std::string("a/b")}) {
    EXPECT_EQ(error_code_of([&] { s.create(kind, "x"); }), hr::ErrInvalidArg) << kind;
    EXPECT_EQ(error_code_of([&] { s.list(kind); }), hr::ErrInvalidArg) << kind;
  }
  // Nothing was created by any of that (the root does not even exist).
  EXPECT_FALSE(fs::exists(t.root()));
  EXPECT_FALSE(fs::exists(t.dir / "x"));
  // The longest valid id and the punctuation the pattern allows.
  Owned ok = s.create("vm", std::string(128, 'z'));
  Owned ok2 = s.create("vm", "A0_b.c-d");
  EXPECT_EQ(s.list("vm").size(), 0u);  // no records written yet: being created
}

TEST(State, AtomicWriteLeavesNoTemporaryFiles) {
  TempRoot t;
  Store s(t.root());
  Owned a = s.create("vm", "w");
  for (int i = 0; i < 20; ++i) Store::write_record(a.dir, Json{{"n", i}, {"pad", std::string(i * 100, 'x')}});
  EXPECT_EQ(s.read_record("vm", "w")->at("n"), 19);
  EXPECT_EQ(entries(a.dir), (std::set<std::string>{"owner.lock", "record.json"}));
  // A failed write (no such directory) leaves the old record alone.
  EXPECT_THROW(Store::write_record(a.dir + "/missing", Json::object()), Error);
  EXPECT_EQ(s.read_record("vm", "w")->at("n"), 19);
}

TEST(State, CorruptRecordIsAnErrorNamingTheFile) {
  TempRoot t;
  Store s(t.root());
  Owned a = s.create("vm", "bad");
  Owned b = s.create("vm", "good");
  Store::write_record(b.dir, Json{{"ok", true}});
  std::ofstream(a.dir + "/record.json") << "{\"half\": ";
  EXPECT_EQ(error_code_of([&] { s.read_record("vm", "bad"); }, a.dir + "/record.json"), hr::VmcomputeInvalidJSON);
  // list() skips it (with a warning) rather than hiding every other object.
  EXPECT_EQ(ids(s.list("vm")), std::set<std::string>{"good"});
  EXPECT_TRUE(fs::exists(a.dir));  // alive: not pruned
}

TEST(State, SymlinksInsideTheRootAreNotFollowed) {
  TempRoot t;
  Store s(t.root());
  fs::create_directories(t.dir / "outside");
  std::ofstream(t.dir / "outside" / "record.json") << "{\"secret\": 1}";
  Owned a = s.create("vm", "real");
  Store::write_record(a.dir, Json::object());
  fs::create_directory_symlink(t.dir / "outside", t.root() + "/vm/evil");
  EXPECT_FALSE(s.read_record("vm", "evil").has_value());
  EXPECT_FALSE(s.alive("vm", "evil"));
  EXPECT_EQ(ids(s.list("vm")), std::set<std::string>{"real"});
  EXPECT_EQ(error_code_of([&] { s.create("vm", "evil"); }), hr::VmcomputeSystemAlreadyExists);
  EXPECT_TRUE(fs::exists(t.dir / "outside" / "record.json"));
}

TEST(State, ListPrunesDeadOwnerAndKeepsLiveOne) {
  TempRoot t;
  Store s(t.root());
  // A child creates an object and exits without cleaning up: its owner is dead.
  pid_t dead = fork_child([&] {
    Owned o = Store(t.root()).create("vm", "dead");
    Store::write_record(o.dir, Json{{"who", "dead"}});
    o.lock.release();  // as if killed: no destructor, the kernel closes the fd at exit
    return 0;
  });
  ASSERT_EQ(wait_status(dead), 0);

  // Another child creates one and stays alive until told to go.
  Pipe ready = make_pipe(), hold = make_pipe();
  pid_t live = fork_child([&] {
    ready.read.reset();
    hold.write.reset();
    Owned o = Store(t.root()).create("vm", "live");
    Store::write_record(o.dir, Json{{"who", "live"}});
    char c = 1;
    if (::write(ready.write.get(), &c, 1) != 1) return 2;
    ::read(hold.read.get(), &c, 1);  // until the parent closes its end
    return 0;
  });
  ready.write.reset();
  hold.read.reset();
  char c;
  ASSERT_EQ(::read(ready.read.get(), &c, 1), 1);

  EXPECT_TRUE(fs::exists(t.root() + "/vm/dead"));
  EXPECT_FALSE(s.alive("vm", "dead"));
  EXPECT_TRUE(s.alive("vm", "live"));
  auto all = s.list("vm");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, "live");
  EXPECT_EQ(all[0].record.at("who"), "live");
  EXPECT_FALSE(fs::exists(t.root() + "/vm/dead"));
  EXPECT_EQ(entries(t.root() + "/vm"), std::set<std::string>{"live"});
  EXPECT_EQ(error_code_of([&] { s.remove("vm", "live"); }), hr::VmcomputeInvalidState);

  hold.write.reset();
  ASSERT_EQ(wait_status(live), 0);
  EXPECT_FALSE(s.alive("vm", "live"));
  EXPECT_TRUE(s.list("vm").empty());
  EXPECT_TRUE(entries(t.root() + "/vm").empty());
}

TEST(State, OwnerLockSurvivesForkAndExec) {
  TempRoot t;
  Store s(t.root());
  Owned o = s.create("vm", "handed");
  Store::write_record(o.dir, Json::object());

  // fork: the child's copy of the fd shares the lock; the parent lets go of its own.
  Pipe hold = make_pipe();
  pid_t child = fork_child([&] {
    hold.write.reset();
    char c;
    ::read(hold.read.get(), &c, 1);
    return 0;
  });
  hold.read.reset();
  o.lock.reset();
  EXPECT_TRUE(s.alive("vm", "handed"));
  EXPECT_EQ(s.list("vm").size(), 1u);
  hold.write.reset();
  ASSERT_EQ(wait_status(child), 0);
  EXPECT_FALSE(s.alive("vm", "handed"));

  // exec: keep_on_exec() lets an exec'd program hold it (here: sleep, killed later).
  Owned e = s.create("vm", "exec");
  e.keep_on_exec();
  pid_t sleeper = ::fork();
  ASSERT_GE(sleeper, 0);
  if (sleeper == 0) {
    ::execlp("sleep", "sleep", "60", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  e.lock.reset();
  // The exec has happened by the time /proc shows the new program.
  for (int i = 0; i < 500; ++i) {
    std::ifstream comm("/proc/" + std::to_string(sleeper) + "/comm");
    std::string name;
    comm >> name;
    if (name == "sleep") break;
    ::usleep(2000);
  }
  EXPECT_TRUE(s.alive("vm", "exec"));
  ::kill(sleeper, SIGKILL);
  wait_status(sleeper);
  EXPECT_FALSE(s.alive("vm", "exec"));
  EXPECT_TRUE(s.list("vm").empty());
}

TEST(State, AdoptChecksTheFd) {
  TempRoot t;
  Store s(t.root());
  Owned o = s.create("vm", "a");
  Owned other = s.create("vm", "b");
  // The same open file description: accepted.
  Owned adopted = s.adopt("vm", "a", UniqueFd(::dup(o.lock.get())));
  EXPECT_EQ(adopted.dir, o.dir);
  EXPECT_EQ(::fcntl(adopted.lock.get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  // Another object's lock, another open of this one's lock, or no fd: refused.
  EXPECT_EQ(error_code_of([&] { s.adopt("vm", "a", UniqueFd(::dup(other.lock.get()))); }, "not that object"),
            hr::ErrInvalidArg);
  UniqueFd reopened(::open((o.dir + "/owner.lock").c_str(), O_RDWR | O_CLOEXEC));
  EXPECT_EQ(error_code_of([&] { s.adopt("vm", "a", std::move(reopened)); }, "another open file"), hr::ErrInvalidArg);
  EXPECT_EQ(error_code_of([&] { s.adopt("vm", "a", UniqueFd()); }), hr::ErrInvalidArg);
  o.lock.reset();
  EXPECT_TRUE(s.alive("vm", "a"));  // `adopted` still holds it
  s.remove(adopted);
  EXPECT_FALSE(fs::exists(t.root() + "/vm/a"));
}

TEST(State, ConcurrentCreatesOfOneIdExactlyOneWins) {
  TempRoot t;
  constexpr int kProcs = 8;
  for (int round = 0; round < 5; ++round) {
    const std::string id = "race" + std::to_string(round);
    Pipe start = make_pipe(), results = make_pipe(), hold = make_pipe();
    std::vector<pid_t> kids;
    for (int i = 0; i < kProcs; ++i) {
      kids.push_back(fork_child([&] {
        start.write.reset();
        hold.write.reset();
        char c;
        ::read(start.read.get(), &c, 1);  // everyone starts at once, when the parent closes it
        Store s(t.root());
        char verdict = 'E';
        std::optional<Owned> o;
        try {
          o.emplace(s.create("vm", id));
          verdict = 'W';
        } catch (const Error& e) {
          verdict = e.code() == hr::VmcomputeSystemAlreadyExists ? 'L' : 'E';
        }
        if (::write(results.write.get(), &verdict, 1) != 1) return 2;
        if (o) ::read(hold.read.get(), &c, 1);  // the winner stays alive until released
        return 0;
      }));
    }
    start.read.reset();
    results.write.reset();
    hold.read.reset();
    start.write.reset();  // go
    std::string verdicts;
    char v;
    while (verdicts.size() < kProcs && ::read(results.read.get(), &v, 1) == 1) verdicts += v;
    EXPECT_EQ(std::count(verdicts.begin(), verdicts.end(), 'W'), 1) << verdicts;
    EXPECT_EQ(std::count(verdicts.begin(), verdicts.end(), 'L'), kProcs - 1) << verdicts;
    EXPECT_EQ(entries(t.root() + "/vm").count(id), 1u);
    hold.write.reset();
    for (pid_t k : kids) EXPECT_EQ(wait_status(k), 0);
  }
  Store s(t.root());
  EXPECT_TRUE(s.list("vm").empty());  // all owners gone: everything pruned
  EXPECT_TRUE(entries(t.root() + "/vm").empty());
}

TEST(State, LockExcludesOtherProcesses) {
  TempRoot t;
  Store(t.root()).put("net", "counter", Json{{"n", 0}});
  constexpr int kProcs = 4, kRounds = 25;
  std::vector<pid_t> kids;
  for (int i = 0; i < kProcs; ++i) {
    kids.push_back(fork_child([&] {
      Store s(t.root());
      for (int r = 0; r < kRounds; ++r) {
        Lock l = s.lock("ipam");
        if (!l.held()) return 3;
        int n = s.get("net", "counter")->at("n").get<int>();
        ::usleep(100);  // widen the window a lost update would need
        s.put("net", "counter", Json{{"n", n + 1}});
      }
      return 0;
    }));
  }
  for (pid_t k : kids) EXPECT_EQ(wait_status(k), 0);
  Store s(t.root());
  EXPECT_EQ(s.get("net", "counter")->at("n"), kProcs * kRounds);
  EXPECT_EQ(mode_of(t.root() + "/locks/ipam.lock"), 0600u);

  // Held here, a child cannot take it without waiting.
  Lock mine = s.lock("ipam");
  pid_t probe = fork_child([&] {
    int fd = ::open((t.root() + "/locks/ipam.lock").c_str(), O_RDWR | O_CLOEXEC);
    return ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK ? 0 : 1;
  });
  EXPECT_EQ(wait_status(probe), 0);
  mine.unlock();
  EXPECT_FALSE(mine.held());
}

TEST(State, UnownedRecordsAreNeverPruned) {
  TempRoot t;
  Store s(t.root());
  s.put("network", "n1", Json{{"subnet", "10.0.0.0/24"}});
  s.put("network", "n2", Json{{"subnet", "10.0.1.0/24"}});
  s.put("network", "n1", Json{{"subnet", "10.0.9.0/24"}});  // replaces
  EXPECT_EQ(s.get("network", "n1")->at("subnet"), "10.0.9.0/24");
  EXPECT_FALSE(s.alive("network", "n1"));
  auto all = s.list("network");
  EXPECT_EQ(ids(all), (std::set<std::string>{"n1", "n2"}));
  EXPECT_EQ(ids(s.list("network")), (std::set<std::string>{"n1", "n2"}));  // still there
  EXPECT_EQ(entries(t.root() + "/network/n1"), std::set<std::string>{"record.json"});

  // Owned and unowned do not mix.
  EXPECT_EQ(error_code_of([&] { s.create("network", "n1"); }), hr::VmcomputeSystemAlreadyExists);
  EXPECT_EQ(error_code_of([&] { s.remove("network", "n1"); }, "unowned"), hr::ErrInvalidArg);
  Owned vm = s.create("vm", "v");
  EXPECT_EQ(error_code_of([&] { s.put("vm", "v", Json::object()); }, "owned object"), hr::ErrInvalidArg);
  EXPECT_EQ(error_code_of([&] { s.erase("vm", "v"); }, "owned object"), hr::ErrInvalidArg);
  EXPECT_TRUE(s.alive("vm", "v"));

  EXPECT_TRUE(s.erase("network", "n1"));
  EXPECT_FALSE(s.erase("network", "n1"));
  EXPECT_FALSE(s.get("network", "n1").has_value());
  EXPECT_EQ(ids(s.list("network")), std::set<std::string>{"n2"});
  EXPECT_EQ(entries(t.root() + "/network"), std::set<std::string>{"n2"});
}

TEST(State, ListCleansUpAfterCrashedCreatesAndRemoves) {
  TempRoot t;
  Store s(t.root());
  Owned keep = s.create("vm", "keep");
  Store::write_record(keep.dir, Json::object());
  const fs::path kind = t.root() + "/vm";
  // A remover died half-way through deleting.
  fs::create_directories(kind / ".dead-0123" / "sub");
  std::ofstream(kind / ".dead-0123" / "sub" / "f") << "x";
  // A creator died long ago after making its lock; another one is creating right now.
  fs::create_directories(kind / ".create-old");
  std::ofstream(kind / ".create-old" / "owner.lock") << "";
  struct timespec old_times[2] = {{0, UTIME_OMIT}, {::time(nullptr) - 3600, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (kind / ".create-old").c_str(), old_times, 0), 0);
  fs::create_directories(kind / ".create-fresh");
  EXPECT_EQ(ids(s.list("vm")), std::set<std::string>{"keep"});
  EXPECT_EQ(entries(kind), (std::set<std::string>{"keep", ".create-fresh"}));
}

}  // namespace state_test
