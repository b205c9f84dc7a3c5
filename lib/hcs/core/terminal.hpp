// Terminal helpers for programs that attach a user's terminal to a remote process.
#pragma once

#include <termios.h>

#include <cstdint>
#include <optional>
#include <utility>

namespace hcs {

// Puts a terminal in raw mode and restores it on destruction.
class RawTerminal {
 public:
  explicit RawTerminal(int fd);
  ~RawTerminal();
  RawTerminal(const RawTerminal&) = delete;
  RawTerminal& operator=(const RawTerminal&) = delete;

 private:
  int fd_;
  std::optional<termios> saved_;
};

// Restores an fd's file status flags (e.g. O_NONBLOCK, which Asio sets on the open file
// description a shell shares with us) on destruction.
class FdFlagsGuard {
 public:
  explicit FdFlagsGuard(int fd);
  ~FdFlagsGuard();
  FdFlagsGuard(const FdFlagsGuard&) = delete;
  FdFlagsGuard& operator=(const FdFlagsGuard&) = delete;

 private:
  int fd_;
  int flags_;
};

// {rows, columns} of a terminal, or nullopt when fd is not one.
std::optional<std::pair<uint16_t, uint16_t>> terminal_size(int fd);

}  // namespace hcs
