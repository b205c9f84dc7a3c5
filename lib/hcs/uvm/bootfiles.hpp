// uvm/bootfiles: the utility VM's kernel and initrd, built from Debian packages.
//
//   <dir>/vmlinux      the uncompressed ELF kernel of a linux-image-<ver>-amd64 package
//                      (QEMU boots it directly; the XZ bzImage costs ~10 s under TCG)
//   <dir>/initrd.img   cpio (uncompressed: faster to boot): /init (hcs-init), /bin/gcs,
//                      busybox, runc, crun and their libraries, the kernel modules
//   <dir>/boot.json    what went in: package, kernel version, modules, sizes
//   <dir>/cache/       the downloaded .deb and the modules taken from it
//
// The kernel is started with the gcs's command line after " -- ": hcs-init runs it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace hcs::uvm {

// $HCSKIT_BOOT_FILES, else /var/lib/hcskit/boot.
std::string default_boot_files_dir();

struct BootFilesOptions {
  std::string dir;             // output directory (created)
  std::string kernel_package;  // empty: the newest linux-image-<ver>-amd64 apt-cache knows; or a .deb path
  // The static gcs and hcs-init binaries. Empty: looked up from the running program's
  // directory D, first in the build tree (D/../../gcs/), then in an install
  // (D/../lib/hcskit/), then beside it (D/).
  std::string gcs, init;
  bool force = false;          // rebuild even when up to date
};

struct BootFiles {
  std::string kernel, initrd, kernel_version;
  // Filled by build_boot_files (and by find_boot_files from boot.json when present).
  std::string kernel_package;
  std::vector<std::string> modules;  // module names in load order
  uint64_t kernel_size = 0, initrd_size = 0;
  bool rebuilt = false;              // false: everything was already up to date
};

// Builds what is missing or older than its inputs. Throws hcs::Error with a clear message.
BootFiles build_boot_files(const BootFilesOptions& options);

// The kernel and initrd in `dir` without building; throws ErrNotFound (saying to run
// `uvmctl bootfiles build`) when either is missing.
BootFiles find_boot_files(const std::string& dir);

// The building blocks, pure functions of their inputs (exposed for the unit tests).
namespace bootfiles {

// Offset of the first XZ stream header magic (FD 37 7A 58 5A 00) at or after `from`.
std::optional<size_t> find_xz_magic(std::string_view data, size_t from = 0);

// True for a 64-bit little-endian x86-64 ELF executable (what QEMU boots as PVH).
bool is_elf_kernel(std::string_view head);

// A module's name as the kernel spells it: the file name without ".ko", '-' as '_'.
std::string module_name(std::string_view name_or_file);

struct ModInfo {
  std::string name;                  // normalised
  std::vector<std::string> depends;  // normalised
};
// Parses the NUL-separated key=value strings of a .modinfo section. `file_name` names
// the module when the section has no name= field.
ModInfo parse_modinfo(std::string_view section, std::string_view file_name);

// The bytes of section `name` of a 64-bit little-endian ELF file; nullopt when absent.
// Throws ErrInvalidArg when `elf` is not such a file or its tables point outside it.
std::optional<std::string_view> elf_section(std::string_view elf, std::string_view name);

// `wanted` and everything they depend on, each after its dependencies, once. Modules
// in `builtin` are skipped (they are part of the kernel). Throws ErrNotFound for a
// module that is neither known nor built in, ErrInvalidArg for a dependency cycle.
std::vector<std::string> load_order(const std::vector<std::string>& wanted,
                                    const std::map<std::string, ModInfo>& modules,
                                    const std::set<std::string>& builtin);

// The libraries (and the dynamic loader) ldd names, as absolute paths. Throws
// ErrNotFound for a library ldd could not find.
std::vector<std::string> parse_ldd(std::string_view output);

// Debian-ish version order of "6.1.0-57" style strings: digit runs compare as numbers.
int compare_versions(std::string_view a, std::string_view b);

// The cpio "newc" format the kernel unpacks into its initramfs. Entries are owned by
// root, carry a fixed mtime, and each path's parent directories are added before it
// (the kernel does not create them). Paths are written without a leading '/'.
class CpioWriter {
 public:
  using Sink = std::function<void(std::string_view)>;
  explicit CpioWriter(Sink sink) : sink_(std::move(sink)) {}
  void directory(std::string_view path, uint32_t mode = 0755);
  void file(std::string_view path, std::string_view data, uint32_t mode = 0644);
  // A file whose bytes come from `source` on the host (streamed, not held in memory).
  void file_from(std::string_view path, const std::string& source, uint32_t mode);
  void symlink(std::string_view path, std::string_view target);
  void char_device(std::string_view path, uint32_t major, uint32_t minor, uint32_t mode = 0600);
  // Writes the trailer; nothing may be added after it.
  void finish();
  uint64_t bytes_written() const noexcept { return written_; }

 private:
  void parents(std::string_view path);
  void header(std::string_view path, uint32_t mode, uint64_t size, uint32_t rdev_major = 0, uint32_t rdev_minor = 0);
  void put(std::string_view bytes);
  void pad();
  Sink sink_;
  std::set<std::string, std::less<>> dirs_;
  uint32_t next_ino_ = 1;
  uint64_t written_ = 0;
};

}  // namespace bootfiles
}  // namespace hcs::uvm
