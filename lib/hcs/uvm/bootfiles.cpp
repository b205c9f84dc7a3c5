#include "hcs/uvm/bootfiles.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <spdlog/spdlog.h>
#include <sstream>

#include "hcs/core/error.hpp"
#include "hcs/core/fd.hpp"
#include "hcs/core/json.hpp"
#include "hcs/core/process.hpp"

namespace hcs::uvm {
namespace fs = std::filesystem;

namespace {

// The layout of the initrd: bump it when what write_initrd() writes changes, so that
// initrds built by an older hcskit are rebuilt.
constexpr int kInitrdLayout = 1;

// The modules a utility VM needs, by feature; their dependencies are added. The first
// two are the "early" set: what the gcs needs to reach the host (virtio-serial on the
// microvm's virtio-mmio bus). hcs-init loads those before it starts the gcs and the rest
// in the background (then creates /run/modules.ready).
const std::vector<std::string> kEarlyModules = {"virtio_mmio", "virtio_console"};
const std::vector<std::string> kWantedModules = {
    "virtio_mmio", "virtio_console",  // the gcs's connection
    "virtio_scsi", "sd_mod",          // SCSI disks (layers, scratch)
    "virtio_blk",
    "crc32c_generic", "ext4",         // ext4 finds its crc32c through the crypto API: no modprobe to load one
    "overlay",                        // container root filesystems
    "9pnet_virtio", "9p",             // Plan9 shares
    "virtio_pmem", "nd_pmem",         // VPMem layers as /dev/pmemN
    "virtio_net",                     // network adapters
};

// --- small host helpers ---------------------------------------------------------------

UniqueFd memfd(const char* name) {
  UniqueFd fd(::memfd_create(name, MFD_CLOEXEC));
  if (!fd) throw_errno("memfd_create");
  return fd;
}

std::string read_all(int fd) {
  if (::lseek(fd, 0, SEEK_SET) < 0) throw_errno("lseek");
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read");
    if (n == 0) return out;
    out.append(buf, size_t(n));
  }
}

std::string join(const std::vector<std::string>& words, const char* sep = " ") {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : sep) + w;
  return out;
}

struct Run {
  std::vector<std::string> argv;
  std::string cwd;
  int stdin_fd = -1, stdout_fd = -1;  // -1: /dev/null in, captured out
};

// Runs a host tool to completion; returns its stdout (when not redirected). A failure
// throws with the tool's stderr.
std::string run(const Run& r) {
  UniqueFd out = r.stdout_fd < 0 ? memfd("stdout") : UniqueFd();
  UniqueFd err = memfd("stderr");
  SpawnOptions so;
  so.argv = r.argv;
  so.cwd = r.cwd;
  so.stdin_fd = r.stdin_fd;
  so.stdout_fd = r.stdout_fd < 0 ? out.get() : r.stdout_fd;
  so.stderr_fd = err.get();
  Child child;
  try {
    child = spawn(so);
  } catch (Error& e) {
    throw e.wrap("run " + r.argv[0]);
  }
  ExitStatus st = child.wait_exit();
  if (st.code() != 0) {
    std::string text = read_all(err.get());
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    if (text.size() > 2000) text = "..." + text.substr(text.size() - 2000);
    throw Error(hr::Fail, "`" + join(r.argv) + "` failed (exit code " + std::to_string(st.code()) + ")" +
                              (text.empty() ? "" : ": " + text));
  }
  return out ? read_all(out.get()) : std::string();
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error::from_errno(errno, "read " + path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The first `n` bytes of a file.
std::string read_head(const fs::path& path, size_t n) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw_errno("open " + path.string());
  std::string out(n, '\0');
  ssize_t got = ::pread(fd.get(), out.data(), n, 0);
  if (got < 0) throw_errno("read " + path.string());
  out.resize(size_t(got));
  return out;
}

fs::file_time_type mtime(const fs::path& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  return ec ? fs::file_time_type::min() : t;
}

// A file written under a temporary name in the destination's directory and renamed
// into place by commit(): a reader sees the old file or the new one, never half of one.
class AtomicFile {
 public:
  explicit AtomicFile(fs::path dest) : dest_(std::move(dest)) {
    std::string tmpl = (dest_.parent_path() / ("." + dest_.filename().string() + ".tmp-XXXXXX")).string();
    fd_.reset(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!fd_) throw_errno("create a temporary file beside " + dest_.string());
    tmp_ = tmpl;
    ::fchmod(fd_.get(), 0644);
  }
  ~AtomicFile() {
    if (!tmp_.empty()) ::unlink(tmp_.c_str());
  }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  int fd() const { return fd_.get(); }
  const std::string& temp_path() const { return tmp_; }
  void write(std::string_view data) {
    for (size_t off = 0; off < data.size();) {
      ssize_t n = ::write(fd_.get(), data.data() + off, data.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("write " + tmp_);
      off += size_t(n);
    }
  }
  void commit() {
    if (::close(fd_.release()) != 0) throw_errno("write " + tmp_);
    if (::rename(tmp_.c_str(), dest_.c_str()) != 0) throw_errno("rename " + tmp_ + " to " + dest_.string());
    tmp_.clear();
  }

 private:
  fs::path dest_;
  std::string tmp_;
  UniqueFd fd_;
};

void write_atomically(const fs::path& dest, std::string_view data) {
  AtomicFile f(dest);
  f.write(data);
  f.commit();
}

// A directory removed with everything in it when the scope ends.
struct TempDir {
  fs::path path;
  explicit TempDir(fs::path p) : path(std::move(p)) {
    std::error_code ec;
    fs::remove_all(path, ec);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// True when the ELF file at `path` names a program interpreter (is dynamically linked).
bool is_dynamic_elf(const fs::path& path) {
  std::string head = read_head(path, 65536);
  auto u16 = [&](size_t off) { return off + 2 <= head.size() ? uint16_t(uint8_t(head[off]) | uint8_t(head[off + 1]) << 8) : 0; };
  auto u64 = [&](size_t off) {
    uint64_t v = 0;
    for (int i = 7; i >= 0 && off + 8 <= head.size(); --i) v = v << 8 | uint8_t(head[off + size_t(i)]);
    return v;
  };
  if (head.size() < 64 || head.compare(0, 4, "\x7f" "ELF") != 0 || head[4] != 2)
    throw Error(hr::ErrInvalidArg, path.string() + " is not a 64-bit ELF program");
  uint64_t phoff = u64(32);
  uint16_t phentsize = u16(54), phnum = u16(56);
  for (uint16_t i = 0; i < phnum; ++i) {
    size_t off = size_t(phoff) + size_t(i) * phentsize;
    if (off + 4 > head.size()) break;
    if (uint32_t(u16(off)) == 3 /* PT_INTERP */ && u16(off + 2) == 0) return true;
  }
  return false;
}

std::string require_static(const std::string& path, const char* what, const char* flag) {
  if (!fs::is_regular_file(path)) throw Error(hr::ErrNotFound, std::string(what) + " " + path + " does not exist (" + flag + ")");
  if (is_dynamic_elf(path))
    throw Error(hr::ErrInvalidArg, std::string(what) + " " + path +
                                       " is dynamically linked (a sanitizer build?): the guest needs a static one");
  return fs::canonical(path).string();
}

// --- the kernel package ----------------------------------------------------------------

const std::regex kVersionedImage(R"(^linux-image-(\d+\.\d+\.\d+-\d+)-amd64$)");

std::string newest_kernel_package() {
  std::string names;
  try {
    names = run({{"apt-cache", "pkgnames", "linux-image-"}});
  } catch (Error& e) {
    throw e.wrap("find a kernel package (pass --kernel-package)");
  }
  std::string best, best_version;
  std::istringstream in(names);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (!std::regex_match(line, m, kVersionedImage)) continue;
    if (best.empty() || bootfiles::compare_versions(m[1].str(), best_version) > 0) {
      best = line;
      best_version = m[1].str();
    }
  }
  if (best.empty())
    throw Error(hr::ErrNotFound, "apt-cache knows no linux-image-<version>-amd64 package (run apt-get update, or pass --kernel-package)");
  return best;
}

std::optional<fs::path> cached_deb(const fs::path& cache, const std::string& package) {
  std::optional<fs::path> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(cache, ec)) {
    std::string n = e.path().filename().string();
    if (n.starts_with(package + "_") && n.ends_with(".deb") && (!found || mtime(e.path()) > mtime(*found))) found = e.path();
  }
  return found;
}

struct KernelPackage {
  std::string name;
  fs::path deb;
};

KernelPackage kernel_package(const BootFilesOptions& o, const fs::path& cache) {
  if (o.kernel_package.ends_with(".deb")) {
    if (!fs::is_regular_file(o.kernel_package)) throw Error(hr::ErrNotFound, "no such package file: " + o.kernel_package);
    std::string name = run({{"dpkg-deb", "-f", o.kernel_package, "Package"}});
    while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
    return {name, fs::absolute(o.kernel_package)};
  }
  KernelPackage k;
  k.name = o.kernel_package.empty() ? newest_kernel_package() : o.kernel_package;
  if (k.name.empty() || k.name.find_first_of("/ \t\n") != std::string::npos || k.name[0] == '-')
    throw Error(hr::ErrInvalidArg, "bad kernel package name '" + k.name + "'");
  if (auto deb = cached_deb(cache, k.name)) {
    k.deb = *deb;
    return k;
  }
  std::vector<std::string> argv = {"apt-get", "download", "-q"};
  // As root, apt hands the download to its unprivileged _apt user, which cannot write here.
  if (::geteuid() == 0) argv.insert(argv.end(), {"-o", "APT::Sandbox::User=root"});
  argv.push_back(k.name);
  try {
    run({argv, cache.string()});
  } catch (Error& e) {
    throw e.wrap("download " + k.name);
  }
  auto deb = cached_deb(cache, k.name);
  if (!deb) throw Error(hr::ErrNotFound, "apt-get download " + k.name + " left no .deb in " + cache.string());
  k.deb = *deb;
  return k;
}

// Decompresses the XZ payload of a bzImage into `dest` (an uncompressed ELF vmlinux).
void extract_vmlinux(const fs::path& vmlinuz, const fs::path& dest) {
  std::string image = read_file(vmlinuz);
  for (auto off = bootfiles::find_xz_magic(image); off; off = bootfiles::find_xz_magic(image, *off + 1)) {
    UniqueFd in(::open(vmlinuz.c_str(), O_RDONLY | O_CLOEXEC));
    if (!in || ::lseek(in.get(), off_t(*off), SEEK_SET) < 0) throw_errno("open " + vmlinuz.string());
    AtomicFile out(dest);
    // --single-stream: the bzImage goes on after the XZ stream; that is not an error.
    try {
      run({{"xz", "--decompress", "--stdout", "--single-stream"}, "", in.get(), out.fd()});
    } catch (const Error&) {
      continue;  // a stray magic inside something else: try the next
    }
    if (!bootfiles::is_elf_kernel(read_head(out.temp_path(), 64))) continue;
    out.commit();
    return;
  }
  throw Error(hr::ErrInvalidArg, vmlinuz.string() + " holds no XZ-compressed ELF kernel");
}

// What stage one (the kernel package) leaves in the cache for stage two.
struct KernelParts {
  std::string version;
  fs::path modules_root;               // holds lib/modules/<version>/...
  std::vector<std::string> order;      // guest paths, load order
  std::vector<std::string> names;      // module names, load order
  std::vector<std::string> early;      // guest paths loaded before the gcs starts
};

Json wanted_json() { return Json{{"wanted", kWantedModules}, {"early", kEarlyModules}}; }

std::optional<KernelParts> read_kernel_parts(const fs::path& stamp) {
  try {
    Json j = parse_json(read_file(stamp), stamp.string());
    if (j.at("modules_for") != wanted_json()) return std::nullopt;  // the wanted set changed
    KernelParts k;
    k.version = j.at("kernel_version").get<std::string>();
    k.modules_root = stamp.parent_path();
    k.order = j.at("load_order").get<std::vector<std::string>>();
    k.names = j.at("modules").get<std::vector<std::string>>();
    k.early = j.at("early").get<std::vector<std::string>>();
    return k;
  } catch (...) {
    return std::nullopt;
  }
}

// Stage one: vmlinux from the package's bzImage, and the wanted modules (with their
// dependencies) copied into `parts_dir`, whose kernel.json records the load order.
KernelParts unpack_kernel(const KernelPackage& pkg, const fs::path& dir, const fs::path& parts_dir) {
  TempDir x(dir / "cache" / (".extract-" + std::to_string(::getpid())));
  run({{"dpkg-deb", "-x", pkg.deb.string(), x.path.string()}});

  std::vector<fs::path> images;
  for (const auto& e : fs::directory_iterator(x.path / "boot"))
    if (e.path().filename().string().starts_with("vmlinuz-")) images.push_back(e.path());
  if (images.size() != 1) throw Error(hr::ErrInvalidArg, pkg.deb.string() + " does not hold exactly one boot/vmlinuz-*");
  KernelParts k;
  k.version = images[0].filename().string().substr(std::strlen("vmlinuz-"));
  extract_vmlinux(images[0], dir / "vmlinux");

  const fs::path root = x.path / "lib/modules" / k.version;
  std::set<std::string> builtin;
  {
    std::ifstream in(root / "modules.builtin");
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) builtin.insert(bootfiles::module_name(fs::path(line).filename().string()));
  }
  std::map<std::string, fs::path> files;  // module name → .ko
  for (const auto& e : fs::recursive_directory_iterator(root / "kernel"))
    if (e.is_regular_file() && e.path().extension() == ".ko")
      files.emplace(bootfiles::module_name(e.path().filename().string()), e.path());

  // Read the .modinfo of what is wanted and, transitively, of what that depends on.
  std::map<std::string, bootfiles::ModInfo> infos;
  std::vector<std::string> todo(kWantedModules.begin(), kWantedModules.end());
  while (!todo.empty()) {
    std::string name = bootfiles::module_name(todo.back());
    todo.pop_back();
    if (infos.count(name) || builtin.count(name) || !files.count(name)) continue;  // load_order names the missing
    std::string elf = read_file(files[name]);
    auto section = bootfiles::elf_section(elf, ".modinfo");
    if (!section) throw Error(hr::ErrInvalidArg, files[name].string() + " has no .modinfo section");
    auto info = bootfiles::parse_modinfo(*section, files[name].filename().string());
    todo.insert(todo.end(), info.depends.begin(), info.depends.end());
    infos[name] = std::move(info);
  }
  k.names = bootfiles::load_order(kWantedModules, infos, builtin);
  auto early = bootfiles::load_order(kEarlyModules, infos, builtin);

  TempDir staged(dir / "cache" / (".modules-" + std::to_string(::getpid())));
  for (const auto& name : k.names) {
    fs::path rel = fs::path("lib/modules") / k.version / fs::relative(files.at(name), root);
    fs::create_directories(staged.path / rel.parent_path());
    fs::copy_file(files.at(name), staged.path / rel);
    k.order.push_back("/" + rel.string());
    if (std::find(early.begin(), early.end(), name) != early.end()) k.early.push_back("/" + rel.string());
  }
  Json stamp = {{"kernel_package", pkg.name},
                {"deb", pkg.deb.filename().string()},
                {"kernel_version", k.version},
                {"modules_for", wanted_json()},
                {"modules", k.names},
                {"load_order", k.order},
                {"early", k.early}};
  write_atomically(staged.path / "kernel.json", stamp.dump(2) + "\n");
  std::error_code ec;
  fs::remove_all(parts_dir, ec);
  fs::rename(staged.path, parts_dir);
  k.modules_root = parts_dir;
  return k;
}

// --- the initrd ------------------------------------------------------------------------

struct Program {
  std::string host_path, guest_path;
};

// Stage two: the initrd's contents, in the order they are written.
struct InitrdPlan {
  std::string init, gcs, busybox;
  std::vector<Program> runtimes;      // runc, crun
  std::vector<std::string> libraries; // host paths, also their guest paths
  std::vector<std::string> applets;
  const KernelParts* kernel = nullptr;

  std::vector<std::string> inputs() const {
    std::vector<std::string> in = {init, gcs, busybox};
    for (const auto& r : runtimes) in.push_back(r.host_path);
    in.insert(in.end(), libraries.begin(), libraries.end());
    in.push_back((kernel->modules_root / "kernel.json").string());
    return in;
  }
};

InitrdPlan plan_initrd(const std::string& init, const std::string& gcs, const KernelParts& kernel) {
  InitrdPlan p;
  p.init = init;
  p.gcs = gcs;
  p.kernel = &kernel;
  const std::vector<std::string> env = {std::string("PATH=") + kDefaultPath};
  p.busybox = fs::canonical(find_executable("busybox", env)).string();
  for (const char* rt : {"runc", "crun"}) {
    std::string host = fs::canonical(find_executable(rt, env)).string();
    p.runtimes.push_back({host, std::string("/usr/bin/") + rt});
  }
  std::set<std::string> libs;
  for (const auto& prog : {p.busybox, p.runtimes[0].host_path, p.runtimes[1].host_path}) {
    if (!is_dynamic_elf(prog)) continue;
    try {
      for (auto& lib : bootfiles::parse_ldd(run({{"ldd", prog}}))) libs.insert(lib);
    } catch (Error& e) {
      throw e.wrap("find the libraries of " + prog);
    }
  }
  p.libraries.assign(libs.begin(), libs.end());
  std::istringstream list(run({{p.busybox, "--list"}}));
  for (std::string a; std::getline(list, a);)
    if (!a.empty() && a.find('/') == std::string::npos && a != "busybox") p.applets.push_back(a);
  return p;
}

// Writes the initrd to `out`: a cpio "newc" archive, uncompressed.
//
// Uncompressed, because the guest's CPU is the bottleneck: under TCG, gunzip of the
// 10 MB gzip'd initrd costs about 1.1 s of boot (zstd as much, lz4 0.3 s), while QEMU
// reads the 27 MB plain archive into guest memory in a few milliseconds.
//
// We write the cpio ourselves rather than run `cpio -o`: no staging tree to copy
// everything into, /dev/console without being root (mknod), every entry owned by root
// with a fixed mtime whoever builds it, and a stable order, so the same inputs give the
// same initrd.
void write_initrd(const InitrdPlan& p, AtomicFile& out) {
  auto sink = [&](std::string_view data) { out.write(data); };
  bootfiles::CpioWriter cpio(sink);
  for (const char* d : {"bin", "sbin", "usr/bin", "usr/sbin", "lib", "etc", "dev", "proc", "sys", "run", "mnt", "var"})
    cpio.directory(d);
  cpio.directory("tmp", 01777);
  cpio.directory("root", 0700);
  cpio.symlink("var/run", "../run");
  cpio.char_device("dev/console", 5, 1, 0600);
  cpio.file_from("init", p.init, 0755);
  cpio.file_from("bin/gcs", p.gcs, 0755);
  cpio.file_from("bin/busybox", p.busybox, 0755);
  for (const auto& a : p.applets) cpio.symlink("bin/" + a, "busybox");
  for (const auto& r : p.runtimes) cpio.file_from(r.guest_path, r.host_path, 0755);
  for (const auto& lib : p.libraries) cpio.file_from(lib, lib, 0755);
  cpio.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  cpio.file("etc/group", "root:x:0:\ntty:x:5:\nnogroup:x:65534:\n");
  cpio.file("etc/hostname", "uvm\n");
  for (const auto& m : p.kernel->order) cpio.file_from(m, (p.kernel->modules_root / m.substr(1)).string(), 0644);
  cpio.file("lib/modules/load.list", join(p.kernel->order, "\n") + "\n");
  cpio.file("lib/modules/early.list", join(p.kernel->early, "\n") + "\n");
  cpio.finish();
}

// A copy of `program` without symbols or debug information (the program itself when
// there is no `strip` on the host).
std::string strip_copy(const std::string& program, const fs::path& dest) {
  try {
    run({{"strip", "--strip-all", "-o", dest.string(), program}});
    return dest.string();
  } catch (const Error& e) {
    spdlog::warn("not stripping {}: {}", program, e.text());
    return program;
  }
}

BootFiles boot_files_from(const fs::path& dir, const Json& record) {
  BootFiles b;
  b.kernel = (dir / "vmlinux").string();
  b.initrd = (dir / "initrd.img").string();
  b.kernel_version = record.value("kernel_version", "");
  b.kernel_package = record.value("kernel_package", "");
  if (record.contains("modules")) b.modules = record.at("modules").get<std::vector<std::string>>();
  std::error_code ec;
  b.kernel_size = fs::file_size(b.kernel, ec);
  b.initrd_size = fs::file_size(b.initrd, ec);
  return b;
}

}  // namespace

std::string default_boot_files_dir() {
  const char* env = std::getenv("HCSKIT_BOOT_FILES");
  return env && *env ? env : "/var/lib/hcskit/boot";
}

BootFiles find_boot_files(const std::string& dir_arg) {
  const fs::path dir = dir_arg.empty() ? default_boot_files_dir() : dir_arg;
  for (const char* f : {"vmlinux", "initrd.img"})
    if (!fs::is_regular_file(dir / f))
      throw Error(hr::ErrNotFound, "no " + (dir / f).string() + ": run `uvmctl bootfiles build --dir " + dir.string() + "`");
  Json record = Json::object();
  try {
    record = parse_json(read_file(dir / "boot.json"), "boot.json");
  } catch (const Error&) {
    // Boot files put there by hand: the paths are all we know.
  }
  return boot_files_from(dir, record);
}

BootFiles build_boot_files(const BootFilesOptions& o) {
  const fs::path dir = fs::absolute(o.dir.empty() ? default_boot_files_dir() : o.dir);
  const fs::path cache = dir / "cache";
  try {
    fs::create_directories(cache);
  } catch (const fs::filesystem_error& e) {
    throw Error(hr::Fail, "create " + cache.string() + ": " + e.code().message());
  }
  // One builder at a time per directory.
  UniqueFd lock(::open((dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  if (!lock || ::flock(lock.get(), LOCK_EX) != 0) throw_errno("lock " + (dir / ".lock").string());

  const std::string init = require_static(o.init.empty() ? find_companion("hcs-init", "../../gcs", "--init") : o.init, "init", "--init");
  const std::string gcs = require_static(o.gcs.empty() ? find_companion("gcs", "../../gcs", "--gcs") : o.gcs, "gcs", "--gcs");
  const KernelPackage pkg = kernel_package(o, cache);

  Json previous = Json::object();
  try {
    previous = parse_json(read_file(dir / "boot.json"), "boot.json");
  } catch (const Error&) {
  }
  const bool same_kernel = previous.value("kernel_package", "") == pkg.name &&
                           previous.value("deb", "") == pkg.deb.filename().string();

  // Stage one: the kernel, when its package (or the wanted module set) changed.
  const fs::path parts_dir = cache / pkg.name;
  const fs::path stamp = parts_dir / "kernel.json";
  std::optional<KernelParts> kernel;
  if (!o.force && same_kernel && fs::is_regular_file(dir / "vmlinux") && mtime(stamp) >= mtime(pkg.deb))
    kernel = read_kernel_parts(stamp);
  const bool kernel_built = !kernel;
  if (!kernel) {
    try {
      kernel = unpack_kernel(pkg, dir, parts_dir);
    } catch (Error& e) {
      throw e.wrap("unpack " + pkg.deb.string());
    }
  }

  // Stage two: the initrd, when anything that goes into it is newer.
  const InitrdPlan plan = plan_initrd(init, gcs, *kernel);
  const fs::path initrd = dir / "initrd.img";
  bool stale = o.force || kernel_built || !same_kernel || !fs::is_regular_file(initrd) ||
               previous.value("initrd_layout", 0) != kInitrdLayout;
  for (const auto& input : plan.inputs()) stale = stale || mtime(input) > mtime(initrd);
  if (stale) {
    // The gcs of a RelWithDebInfo build is 80 MB, 3.5 MB without its debug information.
    TempDir stripped(cache / (".strip-" + std::to_string(::getpid())));
    InitrdPlan small = plan;
    small.init = strip_copy(init, stripped.path / "init");
    small.gcs = strip_copy(gcs, stripped.path / "gcs");
    AtomicFile out(initrd);
    write_initrd(small, out);
    out.commit();
  }

  Json record = {{"kernel_package", pkg.name},
                 {"deb", pkg.deb.filename().string()},
                 {"kernel_version", kernel->version},
                 {"kernel", (dir / "vmlinux").string()},
                 {"kernel_size", fs::file_size(dir / "vmlinux")},
                 {"initrd", initrd.string()},
                 {"initrd_size", fs::file_size(initrd)},
                 {"initrd_compression", "none"},
                 {"initrd_layout", kInitrdLayout},
                 {"init", init},
                 {"gcs", gcs},
                 {"busybox", plan.busybox},
                 {"runtimes", Json::array()},
                 {"libraries", plan.libraries},
                 {"modules", kernel->names},
                 {"load_order", kernel->order},
                 {"early_modules", kernel->early}};
  for (const auto& r : plan.runtimes) record["runtimes"].push_back({{"host", r.host_path}, {"guest", r.guest_path}});
  if (stale || kernel_built || previous != record) write_atomically(dir / "boot.json", record.dump(2) + "\n");
  BootFiles b = boot_files_from(dir, record);
  b.rebuilt = stale || kernel_built;
  return b;
}

// --- building blocks ---------------------------------------------------------------------

namespace bootfiles {

std::optional<size_t> find_xz_magic(std::string_view data, size_t from) {
  static constexpr std::string_view magic("\xFD" "7zXZ\0", 6);
  if (from > data.size()) return std::nullopt;
  size_t at = data.find(magic, from);
  if (at == std::string_view::npos) return std::nullopt;
  return at;
}

bool is_elf_kernel(std::string_view head) {
  return head.size() >= 20 && head.substr(0, 4) == "\x7f" "ELF" && head[4] == 2 /* 64-bit */ &&
         head[5] == 1 /* little-endian */ && uint8_t(head[18]) == 62 && head[19] == 0 /* x86-64 */ &&
         (head[16] == 2 || head[16] == 3) && head[17] == 0 /* executable */;
}

std::string module_name(std::string_view name) {
  if (auto slash = name.rfind('/'); slash != std::string_view::npos) name.remove_prefix(slash + 1);
  if (name.ends_with(".ko")) name.remove_suffix(3);
  std::string out(name);
  std::replace(out.begin(), out.end(), '-', '_');
  return out;
}

ModInfo parse_modinfo(std::string_view section, std::string_view file_name) {
  ModInfo info;
  bool have_depends = false;
  while (!section.empty()) {
    size_t end = section.find('\0');
    std::string_view entry = section.substr(0, end);
    section.remove_prefix(end == std::string_view::npos ? section.size() : end + 1);
    size_t eq = entry.find('=');
    if (eq == std::string_view::npos) continue;  // padding between entries
    std::string_view key = entry.substr(0, eq), value = entry.substr(eq + 1);
    if (key == "name" && !value.empty()) {
      info.name = module_name(value);
    } else if (key == "depends" && !have_depends) {
      have_depends = true;
      while (!value.empty()) {
        size_t comma = value.find(',');
        std::string_view dep = value.substr(0, comma);
        if (!dep.empty()) info.depends.push_back(module_name(dep));
        value.remove_prefix(comma == std::string_view::npos ? value.size() : comma + 1);
      }
    }
  }
  if (info.name.empty()) info.name = module_name(file_name);
  return info;
}

std::optional<std::string_view> elf_section(std::string_view elf, std::string_view name) {
  auto bad = [&](const std::string& why) { return Error(hr::ErrInvalidArg, "not a usable ELF64 file: " + why); };
  auto u = [&](size_t off, int bytes) -> uint64_t {
    if (off + size_t(bytes) > elf.size()) throw bad("a table points past the end");
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = v << 8 | uint8_t(elf[off + size_t(i)]);
    return v;
  };
  if (elf.size() < 64 || elf.substr(0, 4) != "\x7f" "ELF") throw bad("no ELF magic");
  if (elf[4] != 2 || elf[5] != 1) throw bad("not 64-bit little-endian");
  const uint64_t shoff = u(0x28, 8);
  const uint64_t shentsize = u(0x3A, 2), shnum = u(0x3C, 2), shstrndx = u(0x3E, 2);
  if (shentsize < 64 || shstrndx >= shnum || shoff > elf.size() || shnum > (elf.size() - shoff) / shentsize)
    throw bad("bad section header table");
  auto sh = [&](uint64_t i) { return size_t(shoff + i * shentsize); };
  const uint64_t strtab = u(sh(shstrndx) + 0x18, 8), strsize = u(sh(shstrndx) + 0x20, 8);
  if (strtab > elf.size() || strsize > elf.size() - strtab) throw bad("bad section name table");
  const std::string_view names = elf.substr(size_t(strtab), size_t(strsize));
  for (uint64_t i = 0; i < shnum; ++i) {
    const uint64_t name_off = u(sh(i), 4);
    if (name_off >= names.size()) continue;
    std::string_view n = names.substr(size_t(name_off));
    n = n.substr(0, n.find('\0'));
    if (n != name) continue;
    const uint64_t off = u(sh(i) + 0x18, 8), size = u(sh(i) + 0x20, 8);
    if (off > elf.size() || size > elf.size() - off) throw bad("section " + std::string(name) + " points past the end");
    return elf.substr(size_t(off), size_t(size));
  }
  return std::nullopt;
}

std::vector<std::string> load_order(const std::vector<std::string>& wanted, const std::map<std::string, ModInfo>& modules,
                                    const std::set<std::string>& builtin) {
  std::vector<std::string> order;
  std::set<std::string> done, visiting;
  // Depth-first, each module after its dependencies; `chain` names the path for errors.
  std::function<void(const std::string&, const std::string&)> visit = [&](const std::string& raw,
                                                                          const std::string& chain) {
    const std::string name = module_name(raw);
    if (done.count(name) || builtin.count(name)) return;
    const std::string here = chain.empty() ? name : chain + " -> " + name;
    auto it = modules.find(name);
    if (it == modules.end()) throw Error(hr::ErrNotFound, "kernel module " + name + " not found (needed by " + here + ")");
    if (!visiting.insert(name).second) throw Error(hr::ErrInvalidArg, "kernel module dependency cycle: " + here);
    for (const auto& dep : it->second.depends) visit(dep, here);
    visiting.erase(name);
    done.insert(name);
    order.push_back(name);
  };
  for (const auto& w : wanted) visit(w, "");
  return order;
}

std::vector<std::string> parse_ldd(std::string_view output) {
  std::vector<std::string> libs;
  std::istringstream in{std::string(output)};
  for (std::string line; std::getline(in, line);) {
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos) continue;
    line.erase(0, first);
    std::string path;
    if (auto arrow = line.find("=> "); arrow != std::string::npos) {
      path = line.substr(arrow + 3);
      if (path.starts_with("not found"))
        throw Error(hr::ErrNotFound, "library " + line.substr(0, line.find(' ')) + " not found");
    } else if (line[0] == '/') {
      path = line;  // the dynamic loader
    } else {
      continue;  // linux-vdso.so.1, "statically linked"
    }
    path = path.substr(0, path.find(" ("));
    if (!path.empty() && path[0] == '/' && std::find(libs.begin(), libs.end(), path) == libs.end()) libs.push_back(path);
  }
  return libs;
}

int compare_versions(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (std::isdigit(uint8_t(a[i])) && std::isdigit(uint8_t(b[j]))) {
      size_t ie = i, je = j;
      while (ie < a.size() && std::isdigit(uint8_t(a[ie]))) ++ie;
      while (je < b.size() && std::isdigit(uint8_t(b[je]))) ++je;
      std::string_view na = a.substr(i, ie - i), nb = b.substr(j, je - j);
      while (na.size() > 1 && na[0] == '0') na.remove_prefix(1);
      while (nb.size() > 1 && nb[0] == '0') nb.remove_prefix(1);
      if (na.size() != nb.size()) return na.size() < nb.size() ? -1 : 1;
      if (int c = na.compare(nb)) return c < 0 ? -1 : 1;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return uint8_t(a[i]) < uint8_t(b[j]) ? -1 : 1;
      ++i;
      ++j;
    }
  }
  if (i < a.size()) return 1;
  if (j < b.size()) return -1;
  return 0;
}

// --- CpioWriter ---

namespace {
std::string_view relative(std::string_view path) {
  while (path.starts_with('/')) path.remove_prefix(1);
  while (path.ends_with('/')) path.remove_suffix(1);
  return path;
}
}  // namespace

void CpioWriter::put(std::string_view bytes) {
  sink_(bytes);
  written_ += bytes.size();
}

void CpioWriter::pad() {
  static constexpr char zeros[4] = {};
  if (written_ % 4) put(std::string_view(zeros, 4 - written_ % 4));
}

void CpioWriter::header(std::string_view path, uint32_t mode, uint64_t size, uint32_t rdev_major, uint32_t rdev_minor) {
  if (size > 0xFFFFFFFFull) throw Error(hr::ErrInvalidArg, "cpio: " + std::string(path) + " is larger than 4 GiB");
  const bool dir = (mode & S_IFMT) == S_IFDIR;
  char h[111];
  std::snprintf(h, sizeof h, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", next_ino_++, mode, 0u, 0u,
                dir ? 2u : 1u, 0u, uint32_t(size), 0u, 0u, rdev_major, rdev_minor, uint32_t(path.size() + 1), 0u);
  put(std::string_view(h, 110));
  put(path);
  put(std::string_view("\0", 1));
  pad();
}

void CpioWriter::parents(std::string_view path) {
  for (size_t slash = path.find('/'); slash != std::string_view::npos; slash = path.find('/', slash + 1))
    directory(path.substr(0, slash));
}

void CpioWriter::directory(std::string_view path, uint32_t mode) {
  path = relative(path);
  if (path.empty() || dirs_.count(path)) return;
  parents(path);
  dirs_.emplace(path);
  header(path, S_IFDIR | (mode & 07777), 0);
}

void CpioWriter::file(std::string_view path, std::string_view data, uint32_t mode) {
  path = relative(path);
  parents(path);
  header(path, S_IFREG | (mode & 07777), data.size());
  put(data);
  pad();
}

void CpioWriter::file_from(std::string_view path, const std::string& source, uint32_t mode) {
  path = relative(path);
  UniqueFd fd(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
  struct stat st{};
  if (!fd || ::fstat(fd.get(), &st) != 0) throw_errno("open " + source);
  if (!S_ISREG(st.st_mode)) throw Error(hr::ErrInvalidArg, source + " is not a regular file");
  parents(path);
  header(path, S_IFREG | (mode & 07777), uint64_t(st.st_size));
  std::string buf(1 << 20, '\0');
  uint64_t left = uint64_t(st.st_size);
  while (left > 0) {
    ssize_t n = ::read(fd.get(), buf.data(), std::min<uint64_t>(buf.size(), left));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("read " + source);
    if (n == 0) throw Error(hr::Fail, source + " shrank while it was being read");
    put(std::string_view(buf.data(), size_t(n)));
    left -= uint64_t(n);
  }
  pad();
}

void CpioWriter::symlink(std::string_view path, std::string_view target) {
  path = relative(path);
  parents(path);
  header(path, S_IFLNK | 0777, target.size());
  put(target);
  pad();
}

void CpioWriter::char_device(std::string_view path, uint32_t major, uint32_t minor, uint32_t mode) {
  path = relative(path);
  parents(path);
  header(path, S_IFCHR | (mode & 07777), 0, major, minor);
}

void CpioWriter::finish() {
  header("TRAILER!!!", 0, 0);
}

}  // namespace bootfiles
}  // namespace hcs::uvm
