#include "hcs/uvm/disk_image.hpp"

#include <sys/stat.h>

#include <fcntl.h>

#include <filesystem>
#include <fstream>

#include "hcs/core/error.hpp"
#include "hcs/core/process.hpp"

namespace hcs::uvm {
namespace fs = std::filesystem;

// Bytes the tree takes, counting each file's blocks and an inode's worth per entry.
static uint64_t tree_size(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st{};
    if (::lstat(it->path().c_str(), &st) == 0) total += uint64_t(st.st_blocks) * 512 + 256;
  }
  if (ec) throw Error(hr::Fail, "read " + dir.string() + ": " + ec.message());
  return total;
}

void make_ext4_image(const std::string& dir, const std::string& image) {
  if (!fs::is_directory(dir)) throw Error(hr::ErrInvalidArg, "not a directory: " + dir);
  const uint64_t size_kib = (tree_size(dir) * 5 / 4) / 1024 + 16 * 1024;
  std::error_code ec;
  fs::remove(image, ec);
  SpawnOptions o;
  o.argv = {"mkfs.ext4", "-q", "-F", "-m", "0", "-d", dir, image, std::to_string(size_kib) + "k"};
  // mkfs talks only when it fails; keep that for the error.
  const std::string log = image + ".mkfs.log";
  UniqueFd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  o.stdout_fd = o.stderr_fd = out.get();
  ExitStatus st = spawn(o).wait_exit();
  std::string said;
  if (st.code() != 0) {
    std::ifstream in(log);
    said.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  fs::remove(log, ec);
  if (st.code() != 0) {
    fs::remove(image, ec);
    throw Error(hr::Fail, "mkfs.ext4 -d " + dir + " failed (exit " + std::to_string(st.code()) + "): " + said);
  }
}

}  // namespace hcs::uvm
