#include "hcs/network/linux/netns.hpp"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <filesystem>
#include <thread>

#include "hcs/core/error.hpp"
#include "hcs/network/linux/netlink.hpp"

namespace hcs::network::netns {

namespace {

// /run/netns as a shared mount point, as iproute2 makes it: a namespace mounted there
// later then shows in every mount namespace that was cloned from this one (a runtime's,
// a shell's), instead of as a plain empty file.
void prepare_dir() {
  if (::mkdir(kDir, 0755) != 0 && errno != EEXIST) throw_errno(std::string("mkdir ") + kDir);
  for (;;) {
    if (::mount("", kDir, "none", MS_SHARED | MS_REC, nullptr) == 0) return;
    if (errno != EINVAL) throw_errno(std::string("make ") + kDir + " shared");
    // Not a mount point yet: make it one, then try again.
    if (::mount(kDir, kDir, "none", MS_BIND | MS_REC, nullptr) != 0) throw_errno(std::string("bind ") + kDir);
  }
}

}  // namespace

std::string path(const std::string& name) { return std::string(kDir) + "/" + name; }

bool exists(const std::string& name) {
  struct stat st{};
  return ::stat(path(name).c_str(), &st) == 0;
}

void create(const std::string& name) {
  prepare_dir();
  const std::string p = path(name);
  UniqueFd file(::open(p.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
  if (!file) {
    if (errno == EEXIST) throw Error(hr::VmcomputeSystemAlreadyExists, "the network namespace " + p + " exists");
    throw_errno("create " + p);
  }
  file.reset();
  // A fresh thread unshares, so this thread's namespace never changes.
  std::exception_ptr failed;
  std::thread([&] {
    try {
      if (::unshare(CLONE_NEWNET) != 0) throw_errno("unshare(CLONE_NEWNET)");
      if (::mount("/proc/thread-self/ns/net", p.c_str(), "none", MS_BIND, nullptr) != 0)
        throw_errno("bind the new network namespace to " + p);
      Netlink().set_up("lo");
    } catch (...) {
      failed = std::current_exception();
    }
  }).join();
  if (failed) {
    ::umount2(p.c_str(), MNT_DETACH);
    ::unlink(p.c_str());
    std::rethrow_exception(failed);
  }
}

void remove(const std::string& name) {
  const std::string p = path(name);
  if (::umount2(p.c_str(), MNT_DETACH) != 0 && errno != EINVAL && errno != ENOENT) throw_errno("unmount " + p);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT) throw_errno("remove " + p);
}

uint32_t inode(const std::string& name) {
  struct stat st{};
  if (::stat(path(name).c_str(), &st) != 0) throw_errno("stat " + path(name));
  return uint32_t(st.st_ino);
}

UniqueFd open(const std::string& name) {
  UniqueFd fd(::open(path(name).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) throw Error(hr::ErrNotFound, "no network namespace " + path(name));
    throw_errno("open " + path(name));
  }
  return fd;
}

bool in_use(const std::string& name) {
  struct stat ns{};
  if (::stat(path(name).c_str(), &ns) != 0) return false;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    struct stat st{};
    if (::stat((entry.path() / "ns/net").c_str(), &st) == 0 && st.st_ino == ns.st_ino && st.st_dev == ns.st_dev)
      return true;
  }
  return false;
}

UniqueFd current() {
  UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open this thread's network namespace");
  return fd;
}

Scope::Scope(int netns_fd) : home_(current()) {
  if (::setns(netns_fd, CLONE_NEWNET) != 0) throw_errno("enter a network namespace");
}

Scope::~Scope() {
  // Failing to come back would leave the thread in the wrong namespace for good.
  if (::setns(home_.get(), CLONE_NEWNET) != 0) std::terminate();
}

}  // namespace hcs::network::netns
