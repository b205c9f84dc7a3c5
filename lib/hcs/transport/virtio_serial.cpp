#include "hcs/transport/virtio_serial.hpp"

#include <fcntl.h>

#include <filesystem>
#include <fstream>

#include "hcs/core/error.hpp"

namespace hcs::transport {

std::string find_virtio_port(const std::string& name, const std::string& sysfs_root, const std::string& dev_root) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(sysfs_root) / "class/virtio-ports";
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::ifstream in(entry.path() / "name");
    std::string port_name;
    std::getline(in, port_name);
    if (port_name == name) return (fs::path(dev_root) / entry.path().filename()).string();
  }
  throw Error(hr::ErrNotFound, "no virtio-serial port named '" + name + "' under " + dir.string());
}

UniqueFd open_virtio_port(const std::string& dev_path) {
  UniqueFd fd(::open(dev_path.c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!fd) throw_errno("open " + dev_path);
  return fd;
}

}  // namespace hcs::transport
