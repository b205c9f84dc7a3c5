#include "hcs/core/terminal.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace hcs {

RawTerminal::RawTerminal(int fd) : fd_(fd) {
  termios t{};
  if (::isatty(fd) && ::tcgetattr(fd, &t) == 0) {
    saved_ = t;
    ::cfmakeraw(&t);
    ::tcsetattr(fd, TCSANOW, &t);
  }
}

RawTerminal::~RawTerminal() {
  if (saved_) ::tcsetattr(fd_, TCSANOW, &*saved_);
}

FdFlagsGuard::FdFlagsGuard(int fd) : fd_(fd), flags_(::fcntl(fd, F_GETFL)) {}

FdFlagsGuard::~FdFlagsGuard() {
  if (flags_ >= 0) ::fcntl(fd_, F_SETFL, flags_);
}

std::optional<std::pair<uint16_t, uint16_t>> terminal_size(int fd) {
  winsize ws{};
  if (!::isatty(fd) || ::ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0) return std::nullopt;
  return std::pair<uint16_t, uint16_t>(ws.ws_row, ws.ws_col);
}

}  // namespace hcs
