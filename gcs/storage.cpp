#include "storage.hpp"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <spdlog/spdlog.h>
#include <string>
#include <vector>

#include "hcs/core/fd.hpp"
#include "hcs/core/process.hpp"
#include "hcs/schema/guest_resource.hpp"
#include "hcs/uvm/options.hpp"
#include "paths.hpp"

namespace gcs {

namespace asio = boost::asio;
namespace fs = std::filesystem;
namespace schema = hcs::schema;
namespace resource = hcs::schema::resource_type;
namespace request = hcs::schema::request_type;
namespace hr = hcs::hr;
using hcs::Error;
using namespace std::chrono_literals;

namespace {

// hcsshim polls sysfs every 10 ms within a 5 s mount context.
constexpr auto kDevicePollInterval = 10ms;
constexpr auto kDeviceTimeout = 5s;

constexpr const char* kPlan9Options = "trans=virtio,version=9p2000.L,msize=262144";

// ---------------------------------------------------------------------------------
// Paths

// errno is read before the message is built: building it may allocate and clobber errno.
[[noreturn]] void throw_last(const std::function<std::string()>& what) {
  int err = errno;
  throw Error::from_errno(err, what());
}

// Removes directories we created (deepest first) while they are empty.
void remove_dirs(const std::vector<fs::path>& made) {
  for (const auto& d : made) ::rmdir(d.c_str());
}

// Creates `dir` and its missing parents; returns the ones made here, deepest first.
std::vector<fs::path> make_dirs(const fs::path& dir) {
  std::vector<fs::path> missing;
  for (fs::path p = dir; !p.empty() && p != p.root_path(); p = p.parent_path()) {
    struct stat st{};
    if (::stat(p.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) throw Error(hr::ErrInvalidArg, p.string() + " exists and is not a directory");
      break;
    }
    if (int err = errno; err != ENOENT) throw Error::from_errno(err, "stat " + p.string());
    missing.push_back(p);
  }
  std::vector<fs::path> made;
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0755) == 0) {
      made.insert(made.begin(), *it);
    } else if (errno != EEXIST) {
      int err = errno;
      remove_dirs(made);
      throw Error::from_errno(err, "mkdir " + it->string());
    }
  }
  return made;
}

// Undoes the steps of a half-done add when it fails.
class Rollback {
 public:
  Rollback() = default;
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() {
    for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) (*it)();
  }
  void add(std::function<void()> step) { steps_.push_back(std::move(step)); }
  void commit() { steps_.clear(); }

 private:
  std::vector<std::function<void()>> steps_;
};

// ---------------------------------------------------------------------------------
// mount(2)

struct MountArgs {
  unsigned long flags = 0;
  std::string data;
};

// Splits mount(8)-style options into flags and the data the filesystem parses.
MountArgs parse_options(const std::vector<std::string>& options) {
  struct Flag {
    unsigned long bit;
    bool set;
  };
  static const std::map<std::string, Flag, std::less<>> flags = {
      {"ro", {MS_RDONLY, true}},          {"rw", {MS_RDONLY, false}},
      {"nosuid", {MS_NOSUID, true}},      {"suid", {MS_NOSUID, false}},
      {"nodev", {MS_NODEV, true}},        {"dev", {MS_NODEV, false}},
      {"noexec", {MS_NOEXEC, true}},      {"exec", {MS_NOEXEC, false}},
      {"sync", {MS_SYNCHRONOUS, true}},   {"async", {MS_SYNCHRONOUS, false}},
      {"dirsync", {MS_DIRSYNC, true}},    {"noatime", {MS_NOATIME, true}},
      {"atime", {MS_NOATIME, false}},     {"nodiratime", {MS_NODIRATIME, true}},
      {"diratime", {MS_NODIRATIME, false}}, {"relatime", {MS_RELATIME, true}},
      {"norelatime", {MS_RELATIME, false}}, {"strictatime", {MS_STRICTATIME, true}},
      {"lazytime", {MS_LAZYTIME, true}},  {"nolazytime", {MS_LAZYTIME, false}},
      {"defaults", {0, true}},
  };
  MountArgs args;
  for (const auto& o : options) {
    if (o.empty()) continue;
    if (auto it = flags.find(o); it != flags.end()) {
      args.flags = it->second.set ? (args.flags | it->second.bit) : (args.flags & ~it->second.bit);
    } else {
      if (!args.data.empty()) args.data += ',';
      args.data += o;
    }
  }
  return args;
}

void do_mount(const std::string& source, const fs::path& target, const std::string& type, unsigned long flags,
              const std::string& data) {
  if (::mount(source.c_str(), target.c_str(), type.empty() ? nullptr : type.c_str(), flags,
              data.empty() ? nullptr : data.c_str()) != 0) {
    int err = errno;
    auto e = Error::from_errno(err, "mount " + source + " (" + type + ") at " + target.string() +
                                        (data.empty() ? "" : " with '" + data + "'"));
    if (err == ENOSPC) e.wrap("no space left for the mount");
    throw e;
  }
  spdlog::debug("storage: mounted {} ({}) at {} flags={:#x} data='{}'", source, type, target.string(), flags, data);
}

// Unmounts one mount at `target`; a mount that is already gone is only a warning.
void do_unmount(const fs::path& target) {
  if (::umount2(target.c_str(), 0) != 0) {
    int err = errno;
    if (err == EINVAL || err == ENOENT) {
      spdlog::warn("storage: {} was no longer mounted", target.string());
      return;
    }
    if (err == EBUSY)
      throw Error(hr::VmcomputeInvalidState,
                  "unmount " + target.string() + ": device or resource busy (a process or another mount still uses it)");
    throw Error::from_errno(err, "unmount " + target.string());
  }
  spdlog::debug("storage: unmounted {}", target.string());
}

// Unmounts `root` and everything mounted beneath it, last mounted first; never lazily,
// so that a busy tree is reported rather than left half-attached.
void unmount_tree(const fs::path& root) {
  auto all = mounts_under(root);
  if (all.empty()) {
    spdlog::warn("storage: {} was no longer mounted", root.string());
    return;
  }
  for (auto it = all.rbegin(); it != all.rend(); ++it) do_unmount(*it);
}

// ---------------------------------------------------------------------------------
// Filesystems

bool has_superblock(const fs::path& device, const std::string& type) {
  hcs::UniqueFd fd(::open(device.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_last([&] { return "open " + device.string(); });
  unsigned char buf[4] = {};
  if (type == "ext4") {
    // s_magic, 0xEF53 little-endian, at 1024 (the superblock) + 56.
    if (::pread(fd.get(), buf, 2, 1080) != 2) return false;
    return buf[0] == 0x53 && buf[1] == 0xEF;
  }
  // xfs: "XFSB" at the start of the first superblock.
  if (::pread(fd.get(), buf, 4, 0) != 4) return false;
  return std::string(reinterpret_cast<char*>(buf), 4) == "XFSB";
}

// Formats `device`. Blocking: the Storage has no Reaper, and a format is rare (a fresh
// scratch disk) and short, so stalling the event loop for it is accepted.
void format(const fs::path& device, const std::string& type) {
  hcs::SpawnOptions o;
  // Forced: the host asked for this filesystem, and with stdin at /dev/null a prompt
  // ("contains a ... filesystem, proceed?") could only fail.
  if (type == "ext4")
    o.argv = {"mkfs.ext4", "-q", "-F", device.string()};
  else
    o.argv = {"mkfs.xfs", "-q", "-f", device.string()};
  auto err = hcs::make_pipe();
  o.stderr_fd = err.write.get();
  spdlog::debug("storage: formatting {} as {}", device.string(), type);
  auto child = hcs::spawn(o);
  err.write.reset();
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(err.read.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (text.size() < 4096) text.append(buf, static_cast<std::size_t>(n));
  }
  auto st = child.wait_exit();
  if (st.code() != 0) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    throw Error(hr::Fail, o.argv[0] + " " + device.string() + " failed with exit code " + std::to_string(st.code()) +
                              (text.empty() ? "" : ": " + text));
  }
}

// ---------------------------------------------------------------------------------
// Requests

template <class T>
T settings_as(const schema::ModificationRequest& r, std::string_view name) {
  try {
    return schema::decode<T>(r.settings.is_null() ? hcs::Json::object() : r.settings);
  } catch (Error& e) {
    throw e.wrap("failed to unmarshal settings as " + std::string(name));
  }
}

Error unsupported_request(const std::string& rt) {
  // hcsshim's guest gives this a plain error, hence HrFail.
  return Error(hr::Fail, "the RequestType \"" + rt + "\" is not supported");
}

std::string scsi_address(uint8_t controller, uint8_t lun) {
  // hcsshim maps the controller index to a Linux SCSI host through VMBus; QEMU's
  // virtio-scsi controllers are hosts in the order they are created, so it is used as is.
  return std::to_string(controller) + ":0:0:" + std::to_string(lun);
}

}  // namespace

// ---------------------------------------------------------------------------------

struct Storage::Impl {
  enum class Kind { ScsiDisk, ScsiBlockDev, Pmem, Plan9, Overlay };

  // Work held until options.wait_for exists.
  bool ready = false;
  std::vector<std::function<void()>> held;
  std::unique_ptr<asio::steady_timer> ready_timer;
  std::chrono::steady_clock::time_point ready_deadline;

  struct Mount {
    Kind kind;
    std::string source;                // device, share name, or "overlay"
    uint8_t controller = 0, lun = 0;   // SCSI
    std::vector<fs::path> layers;      // overlay
    fs::path scratch;                  // overlay, may be empty
    std::vector<fs::path> made;        // directories made for it, deepest first
  };

  // A MappedVirtualDisk add waiting for its device to appear.
  struct DeviceWait {
    explicit DeviceWait(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    std::chrono::steady_clock::time_point deadline;
    schema::MappedVirtualDisk settings;
    fs::path target;
    std::function<void(hcs::Result<void>)> done;
  };

  asio::any_io_executor ex;
  StorageOptions options;
  std::map<fs::path, Mount> mounts;
  std::set<fs::path> adding;  // targets of adds still waiting for a device
  bool staging_mounted = false;  // the Plan9 staging device, at options.plan9_staging
  std::set<std::shared_ptr<DeviceWait>> waits;

  static const char* kind_name(Kind k) {
    switch (k) {
      case Kind::ScsiDisk: return "SCSI disk";
      case Kind::ScsiBlockDev: return "SCSI block device";
      case Kind::Pmem: return "VPMem device";
      case Kind::Plan9: return "Plan9 share";
      case Kind::Overlay: return "overlay";
    }
    return "mount";
  }

  // Returns true when `done` was taken over, to be called later.
  bool start(const schema::ModificationRequest& r, const std::function<void(hcs::Result<void>)>& done) {
    const std::string& type = r.resource_type;
    const std::string rt = r.request_type.empty() ? std::string(request::Add) : r.request_type;
    const bool add = rt == request::Add, remove = rt == request::Remove;

    if (type == resource::MappedVirtualDisk) {
      auto s = settings_as<schema::MappedVirtualDisk>(r, type);
      if (add) return add_disk(s, done);
      if (!remove) throw unsupported_request(rt);
      remove_disk(s);
      return false;
    }
    if (type == resource::SCSIDevice) {
      auto s = settings_as<schema::ScsiDevice>(r, type);
      if (!remove) throw unsupported_request(rt);
      unplug(s);
      return false;
    }
    if (type == resource::VPMemDevice) {
      auto s = settings_as<schema::VPMemDevice>(r, type);
      if (add)
        add_pmem(s);
      else if (remove)
        remove_mount(checked_path("MountPath", s.mount_path), {Kind::Pmem});
      else
        throw unsupported_request(rt);
      return false;
    }
    if (type == resource::MappedDirectory) {
      auto s = settings_as<schema::MappedDirectory>(r, type);
      if (add)
        add_share(s);
      else if (remove)
        remove_mount(checked_path("MountPath", s.mount_path), {Kind::Plan9});
      else
        throw unsupported_request(rt);
      return false;
    }
    if (type == resource::CombinedLayers) {
      auto s = settings_as<schema::CombinedLayers>(r, type);
      if (add)
        add_overlay(s);
      else if (remove)
        remove_mount(checked_path("ContainerRootPath", s.container_root_path), {Kind::Overlay});
      else
        throw unsupported_request(rt);
      return false;
    }
    if (type == resource::ContainerConstraints) {
      // As hcsshim: constraints address a container, and the UVM is none.
      settings_as<schema::ContainerConstraints>(r, type);
      throw Error(hr::VmcomputeSystemNotFound, "the ResourceType \"" + type + "\" needs a container id");
    }
    if (type == resource::VPCIDevice || type == resource::SecurityPolicy ||
        type == resource::SecurityPolicyFragment || type == resource::PodCgroupMemoryLimit)
      throw Error(hr::NotImpl, "the ResourceType \"" + type + "\" is not supported by this guest yet");
    // hcsshim fails to unmarshal the request: settings are typed by their resource.
    throw Error(hr::VmcomputeInvalidJSON, "invalid ResourceType '" + type + "'");
  }

  void check_free(const fs::path& target) const {
    if (auto it = mounts.find(target); it != mounts.end())
      throw Error(hr::VmcomputeSystemAlreadyExists,
                  "a " + std::string(kind_name(it->second.kind)) + " is already mounted at " + target.string());
    if (adding.contains(target))
      throw Error(hr::VmcomputeSystemAlreadyExists, "a SCSI disk is already being mounted at " + target.string());
  }

  // Refuses to take away `target` while something of ours depends on it.
  void check_unused(const fs::path& target) const {
    for (const auto& [path, m] : mounts) {
      if (m.kind == Kind::Overlay && path != target) {
        for (const auto& l : m.layers)
          if (within(l, target))
            throw Error(hr::VmcomputeInvalidState, target.string() + " is in use: the overlay at " + path.string() +
                                                       " has layer " + l.string());
        if (!m.scratch.empty() && within(m.scratch, target))
          throw Error(hr::VmcomputeInvalidState, target.string() + " is in use: the overlay at " + path.string() +
                                                     " has its scratch at " + m.scratch.string());
      }
      if (path != target && within(path, target))
        throw Error(hr::VmcomputeInvalidState, target.string() + " is in use: the " + kind_name(m.kind) +
                                                   " at " + path.string() + " is mounted beneath it");
    }
  }

  // ---- SCSI

  std::optional<fs::path> find_scsi_device(uint8_t controller, uint8_t lun, uint64_t partition) const {
    std::error_code ec;
    fs::directory_iterator it(options.scsi_devices / scsi_address(controller, lun) / "block", ec);
    if (ec || it == fs::directory_iterator()) return std::nullopt;
    std::string name = it->path().filename().string();
    if (partition != 0) {
      // sda -> sda1, but loop0 -> loop0p1 and nvme0n1 -> nvme0n1p1.
      if (std::isdigit(static_cast<unsigned char>(name.back()))) name += 'p';
      name += std::to_string(partition);
    }
    fs::path node = options.dev / name;
    struct stat st{};
    if (::stat(node.c_str(), &st) != 0) return std::nullopt;
    return node;
  }

  bool add_disk(const schema::MappedVirtualDisk& s, const std::function<void(hcs::Result<void>)>& done) {
    // hcsshim only waits for the device when there is nothing to mount.
    if (s.mount_path.empty()) return false;
    fs::path target = checked_path("MountPath", s.mount_path);
    if (s.encrypted)
      throw Error(hr::NotImpl, "encrypted SCSI disks (dm-crypt) are not supported by this guest yet");
    if (s.verity_info)
      throw Error(hr::NotImpl, "SCSI disks with VerityInfo (dm-verity) are not supported by this guest yet");
    std::string fs_type = s.filesystem.empty() ? "ext4" : s.filesystem;
    if (s.ensure_filesystem && fs_type != "ext4" && fs_type != "xfs")
      throw Error(hr::NotImpl, "EnsureFilesystem knows ext4 and xfs, not '" + fs_type + "'");
    check_free(target);

    if (auto dev = find_scsi_device(s.controller, s.lun, s.partition)) {
      mount_disk(s, target, *dev);
      return false;
    }
    auto w = std::make_shared<DeviceWait>(ex);
    w->deadline = std::chrono::steady_clock::now() + kDeviceTimeout;
    w->settings = s;
    w->target = target;
    w->done = done;
    waits.insert(w);
    adding.insert(target);
    spdlog::debug("storage: waiting for SCSI {} to mount at {}", scsi_address(s.controller, s.lun), target.string());
    poll(w);
    return true;
  }

  void poll(const std::shared_ptr<DeviceWait>& w) {
    w->timer.expires_after(kDevicePollInterval);
    // Weak: the Impl owns every wait, so a live wait means a live Impl.
    w->timer.async_wait([this, weak = std::weak_ptr<DeviceWait>(w)](const auto& ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      finish_wait(self);
    });
  }

  // One poll: mount when the device is there, give up after the deadline.
  void finish_wait(const std::shared_ptr<DeviceWait>& w) {
    const auto& s = w->settings;
    auto dev = find_scsi_device(s.controller, s.lun, s.partition);
    if (!dev && std::chrono::steady_clock::now() < w->deadline) return this->poll(w);
    waits.erase(w);
    adding.erase(w->target);
    hcs::Result<void> result;
    try {
      if (!dev)
        throw Error(hr::VmcomputeTimeout,
                    "timed out after " + std::to_string(kDeviceTimeout.count()) + " s waiting for SCSI device " +
                        scsi_address(s.controller, s.lun) + (s.partition ? " partition " + std::to_string(s.partition) : "") +
                        " (no block device under " + (options.scsi_devices / scsi_address(s.controller, s.lun) / "block").string() +
                        " with a node in " + options.dev.string() + ")");
      mount_disk(s, w->target, *dev);
    } catch (const Error& e) {
      result = e;
    } catch (const std::exception& e) {
      result = Error(hr::Fail, e.what());
    }
    w->done(result);
  }

  void mount_disk(const schema::MappedVirtualDisk& s, const fs::path& target, const fs::path& device) {
    std::string fs_type = s.filesystem.empty() ? "ext4" : s.filesystem;
    if (s.ensure_filesystem && !has_superblock(device, fs_type)) format(device, fs_type);
    Mount m{s.block_dev ? Kind::ScsiBlockDev : Kind::ScsiDisk, device.string(), s.controller, s.lun, {}, {}, {}};
    Rollback undo;
    if (s.block_dev) {
      m.made = make_dirs(target.parent_path());
      undo.add([made = m.made] { remove_dirs(made); });
      if (::symlink(device.c_str(), target.c_str()) != 0)
        throw_last([&] { return "symlink " + target.string() + " -> " + device.string(); });
      spdlog::debug("storage: linked {} -> {}", target.string(), device.string());
    } else {
      m.made = make_dirs(target);
      undo.add([made = m.made] { remove_dirs(made); });
      auto args = parse_options(s.options);
      if (s.read_only) args.flags |= MS_RDONLY;
      do_mount(device.string(), target, fs_type, args.flags, args.data);
    }
    undo.commit();
    mounts.emplace(target, std::move(m));
  }

  void remove_disk(const schema::MappedVirtualDisk& s) {
    if (s.mount_path.empty()) return;  // as hcsshim: nothing was mounted
    remove_mount(checked_path("MountPath", s.mount_path), {Kind::ScsiDisk, Kind::ScsiBlockDev});
  }

  void unplug(const schema::ScsiDevice& s) {
    for (const auto& [path, m] : mounts)
      if ((m.kind == Kind::ScsiDisk || m.kind == Kind::ScsiBlockDev) && m.controller == s.controller && m.lun == s.lun)
        throw Error(hr::VmcomputeInvalidState, "SCSI device " + scsi_address(s.controller, s.lun) +
                                                   " is in use: it is mounted at " + path.string());
    fs::path del = options.scsi_devices / scsi_address(s.controller, s.lun) / "delete";
    hcs::UniqueFd fd(::open(del.c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) {
      int err = errno;
      if (err == ENOENT)
        throw Error(hr::ErrNotFound, "no SCSI device " + scsi_address(s.controller, s.lun) + " (" + del.string() + ")");
      throw Error::from_errno(err, "open " + del.string());
    }
    if (::write(fd.get(), "1\n", 2) != 2) throw_last([&] { return "write " + del.string(); });
    spdlog::debug("storage: unplugged SCSI device {}", scsi_address(s.controller, s.lun));
  }

  // ---- VPMem, Plan9

  void add_pmem(const schema::VPMemDevice& s) {
    fs::path target = checked_path("MountPath", s.mount_path);
    if (s.mapping_info)
      throw Error(hr::NotImpl, "VPMem devices with MappingInfo (dm-linear) are not supported by this guest yet");
    if (s.verity_info)
      throw Error(hr::NotImpl, "VPMem devices with VerityInfo (dm-verity) are not supported by this guest yet");
    check_free(target);
    fs::path device = options.dev / ("pmem" + std::to_string(s.device_number));
    struct stat st{};
    if (::stat(device.c_str(), &st) != 0)
      throw Error(hr::ErrNotFound, "no VPMem device " + std::to_string(s.device_number) + " (" + device.string() + ")");
    Mount m{Kind::Pmem, device.string(), 0, 0, {}, {}, make_dirs(target)};
    Rollback undo;
    undo.add([made = m.made] { remove_dirs(made); });
    // Read-only layers: "noload" skips journal replay, which a read-only device cannot take.
    do_mount(device.string(), target, "ext4", MS_RDONLY, "noload");
    undo.commit();
    mounts.emplace(target, std::move(m));
  }

  // True when a virtio-9p device carries this mount tag (sysfs ends it with a newline).
  bool has_9p_tag(const std::string& tag) const {
    std::error_code ec;
    for (fs::directory_iterator it(options.virtio_9p, ec), end; !ec && it != end; it.increment(ec)) {
      std::ifstream in(it->path() / "mount_tag");
      std::string t;
      std::getline(in, t);
      while (!t.empty() && (t.back() == '\0' || t.back() == '\n')) t.pop_back();
      if (t == tag) return true;
    }
    return false;
  }

  // The staging device's directory for a share the host added while the VM runs; the
  // device is mounted on first use and stays for the VM's life.
  fs::path staged_share(const std::string& name) {
    if (!staging_mounted) {
      if (!has_9p_tag(hcs::uvm::kPlan9StagingTag))
        throw Error(hr::ErrNotFound, "no Plan9 share '" + name + "': no 9p device has that tag, and the VM has no " +
                                         "staging device (" + hcs::uvm::kPlan9StagingTag + ") for added shares");
      auto made = make_dirs(options.plan9_staging);
      try {
        do_mount(hcs::uvm::kPlan9StagingTag, options.plan9_staging, "9p", 0, kPlan9Options);
      } catch (...) {
        remove_dirs(made);
        throw;
      }
      staging_mounted = true;
    }
    fs::path source = options.plan9_staging / name;
    struct stat st{};
    if (::stat(source.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      throw Error(hr::ErrNotFound, "no Plan9 share '" + name + "': the host has not added it (" + source.string() + ")");
    return source;
  }

  void add_share(const schema::MappedDirectory& s) {
    fs::path target = checked_path("MountPath", s.mount_path);
    if (s.share_name.empty() ||
        !std::all_of(s.share_name.begin(), s.share_name.end(), [](unsigned char c) { return std::isdigit(c); }))
      throw Error(hr::ErrInvalidArg, "invalid Plan9 share name '" + s.share_name + "': it must match ^[0-9]+$");
    check_free(target);
    // hcsshim's guest dials vsock port `Port` and mounts with trans=fd. A QEMU utility VM
    // has a virtio-9p device tagged with the share's name for a share given at boot, and
    // the share under the staging device's root for one added while it runs.
    const bool own_device = has_9p_tag(s.share_name);
    fs::path source;
    if (!own_device) source = staged_share(s.share_name);
    Mount m{Kind::Plan9, s.share_name, 0, 0, {}, {}, make_dirs(target)};
    Rollback undo;
    undo.add([made = m.made] { remove_dirs(made); });
    if (own_device) {
      do_mount(s.share_name, target, "9p", s.read_only ? MS_RDONLY : 0, kPlan9Options);
    } else {
      do_mount(source.string(), target, "", MS_BIND, "");
      if (s.read_only) {
        undo.add([target] { do_unmount(target); });
        do_mount("", target, "", MS_BIND | MS_REMOUNT | MS_RDONLY, "");
      }
    }
    undo.commit();
    mounts.emplace(target, std::move(m));
  }

  // ---- Overlays

  void add_overlay(const schema::CombinedLayers& s) {
    fs::path root = checked_path("ContainerRootPath", s.container_root_path, true);
    if (s.layers.empty()) throw Error(hr::ErrInvalidArg, "CombinedLayers for " + root.string() + " has no layers");
    Mount m{Kind::Overlay, "overlay", 0, 0, {}, {}, {}};
    std::string lower;
    for (std::size_t i = 0; i < s.layers.size(); ++i) {
      m.layers.push_back(checked_path("Layers[" + std::to_string(i) + "].Path", s.layers[i].path, true));
      if (i) lower += ':';
      lower += m.layers.back().string();
    }
    if (!s.scratch_path.empty()) m.scratch = checked_path("ScratchPath", s.scratch_path, true);
    check_free(root);

    Rollback undo;
    m.made = make_dirs(root);
    undo.add([made = m.made] { remove_dirs(made); });
    std::string data = "lowerdir=" + lower;
    unsigned long flags = 0;
    if (!m.scratch.empty()) {
      for (const char* sub : {"upper", "work"}) {
        auto made = make_dirs(m.scratch / sub);
        undo.add([made] { remove_dirs(made); });
      }
      data += ",upperdir=" + (m.scratch / "upper").string() + ",workdir=" + (m.scratch / "work").string();
    } else {
      flags = MS_RDONLY;
    }
    if (m.scratch.empty() && m.layers.size() == 1) {
      // overlayfs wants two lowers when it has no upper; one read-only layer alone is
      // the same tree as a read-only bind mount of it.
      do_mount(m.layers[0].string(), root, "", MS_BIND, "");
      undo.add([root] { ::umount2(root.c_str(), 0); });
      do_mount("", root, "", MS_REMOUNT | MS_BIND | MS_RDONLY, "");
    } else {
      do_mount("overlay", root, "overlay", flags, data);
    }
    undo.commit();
    mounts.emplace(root, std::move(m));
  }

  // ---- Removal

  void remove_mount(const fs::path& target, std::initializer_list<Kind> kinds) {
    auto it = mounts.find(target);
    if (it == mounts.end()) {
      if (adding.contains(target))
        throw Error(hr::VmcomputeInvalidState, "the SCSI disk for " + target.string() + " is still being mounted");
      throw Error(hr::ErrNotFound, std::string("no ") + kind_name(*kinds.begin()) + " is mounted at " + target.string());
    }
    if (std::find(kinds.begin(), kinds.end(), it->second.kind) == kinds.end())
      throw Error(hr::ErrNotFound, std::string("no ") + kind_name(*kinds.begin()) + " is mounted at " +
                                       target.string() + " (it holds a mount of kind: " + kind_name(it->second.kind) + ")");
    check_unused(target);
    release(it);
  }

  // Takes one recorded mount away; on failure it stays recorded.
  void release(std::map<fs::path, Mount>::iterator it) {
    const fs::path& target = it->first;
    const Mount& m = it->second;
    switch (m.kind) {
      case Kind::ScsiBlockDev: {
        struct stat st{};
        if (::lstat(target.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
          if (::unlink(target.c_str()) != 0) throw_last([&] { return "unlink " + target.string(); });
          spdlog::debug("storage: unlinked {}", target.string());
        }
        break;
      }
      case Kind::Overlay:
        // Recursive: a runtime may have mounted inside the container's root.
        unmount_tree(target);
        break;
      default:
        do_unmount(target);
        break;
    }
    if (m.kind != Kind::ScsiBlockDev) ::rmdir(target.c_str());
    remove_dirs(m.made);
    mounts.erase(it);
  }

  void release_under(const fs::path& dir) {
    std::vector<fs::path> targets;
    for (const auto& [path, m] : mounts)
      if (within(path, dir)) targets.push_back(path);
    // Overlays first (they hold their layers), then the deepest first.
    std::stable_sort(targets.begin(), targets.end(), [&](const fs::path& a, const fs::path& b) {
      bool oa = mounts.at(a).kind == Kind::Overlay, ob = mounts.at(b).kind == Kind::Overlay;
      if (oa != ob) return oa;
      return depth(a) > depth(b);
    });
    for (const auto& t : targets) {
      try {
        check_unused(t);
        release(mounts.find(t));
      } catch (const Error& e) {
        spdlog::warn("storage: releasing {}: {}", t.string(), e.text());
      }
    }
  }
};

Storage::Storage(asio::any_io_executor ex, StorageOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->ex = std::move(ex);
  impl_->options = std::move(options);
}

Storage::~Storage() = default;

void Storage::modify(const schema::ModificationRequest& request, std::function<void(hcs::Result<void>)> done) {
  after_modules([this, request, done = std::move(done)]() mutable { apply(request, std::move(done)); });
}

void Storage::after_modules(std::function<void()> work) {
  auto& w = *impl_;
  if (!w.options.wait_for.empty() && !w.ready) {
    std::error_code ec;
    w.ready = fs::exists(w.options.wait_for, ec);
    if (!w.ready) {
      // Held in order until the modules are in; then run as if they had just come.
      w.held.push_back(std::move(work));
      if (w.held.size() == 1) {
        w.ready_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        wait_ready();
      }
      return;
    }
  }
  work();
}

void Storage::wait_ready() {
  auto& w = *impl_;
  if (!w.ready_timer) w.ready_timer = std::make_unique<asio::steady_timer>(w.ex);
  w.ready_timer->expires_after(std::chrono::milliseconds(10));
  w.ready_timer->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    auto& w = *impl_;
    std::error_code fec;
    w.ready = fs::exists(w.options.wait_for, fec);
    if (!w.ready && std::chrono::steady_clock::now() < w.ready_deadline) return wait_ready();
    if (!w.ready) spdlog::warn("{} did not appear within 10 s: going on without it", w.options.wait_for.string());
    w.ready = true;
    auto held = std::move(w.held);
    for (auto& work : held) work();
  });
}

void Storage::apply(const schema::ModificationRequest& request, std::function<void(hcs::Result<void>)> done) {
  hcs::Result<void> result;
  try {
    if (impl_->start(request, done)) return;
  } catch (const Error& e) {
    result = e;
  } catch (const std::exception& e) {
    result = Error(hr::Fail, e.what());
  }
  done(result);
}

void Storage::release_under(const fs::path& dir) { impl_->release_under(normal(dir)); }

bool Storage::overlay_mounted(const fs::path& root) const {
  auto it = impl_->mounts.find(normal(root));
  return it != impl_->mounts.end() && it->second.kind == Impl::Kind::Overlay;
}

}  // namespace gcs
