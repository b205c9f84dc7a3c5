// Helpers that drive a test's io_context by hand, for tests of asynchronous code.
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>

namespace hcs::test {

// Runs the loop until `done` holds; false after `limit`, so a bug fails instead of hanging.
inline bool run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Runs whatever is ready for a while (to show that something does *not* happen).
inline void run_for(boost::asio::io_context& io, std::chrono::milliseconds d) {
  const auto deadline = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < deadline) {
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(5));
  }
}

}  // namespace hcs::test
