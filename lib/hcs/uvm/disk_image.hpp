// Disk images the host hands a utility VM.
#pragma once

#include <string>

namespace hcs::uvm {

// An ext4 image of `dir`'s tree at `image` (replaced if it exists), sized to fit with
// room to spare. Uses mkfs.ext4 -d, which fills the image without mounting it.
void make_ext4_image(const std::string& dir, const std::string& image);

}  // namespace hcs::uvm
