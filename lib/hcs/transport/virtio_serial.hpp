// virtio-serial: a guest finds its port by name under /sys/class/virtio-ports (there is
// no udev to make /dev/virtio-ports/NAME) and opens /dev/vportNpM once, read-write.
#pragma once

#include <string>

#include "hcs/core/fd.hpp"

namespace hcs::transport {

// The /dev path of the port named `name`; throws hcs::Error(HrErrNotFound) when absent.
std::string find_virtio_port(const std::string& name, const std::string& sysfs_root = "/sys",
                             const std::string& dev_root = "/dev");
UniqueFd open_virtio_port(const std::string& dev_path);

}  // namespace hcs::transport
