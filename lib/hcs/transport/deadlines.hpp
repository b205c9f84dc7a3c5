// Deadlines: the timeouts of requests in flight on one connection, sharing one timer
// armed for the earliest, so that a request costs no timer syscall of its own. When
// deadlines pass, the owner is told each request id in turn.
//
// A member of its owner, which is held by a shared_ptr: the timer keeps only a
// weak_ptr to the owner, so a timer that fires after the owner is gone does nothing,
// and the owner stays alive while its expiry callback runs. Runs on the executor,
// which must be single-threaded.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>

namespace hcs::transport {

class Deadlines {
 public:
  using Clock = std::chrono::steady_clock;
  using Handle = std::multimap<Clock::time_point, uint64_t>::iterator;

  // `expired` is called with the id of each request whose deadline passed; its entry
  // is already gone. It may add, erase or clear.
  template <class Owner>
  Deadlines(Owner& owner, boost::asio::any_io_executor ex, std::function<void(uint64_t id)> expired)
      : owner_([&owner] { return std::weak_ptr<void>(owner.weak_from_this()); }),
        expired_(std::move(expired)),
        timer_(std::move(ex)) {}
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;

  // The handle stays valid until erase(), clear() or the deadline passes.
  Handle add(Clock::time_point when, uint64_t id);
  // For a request answered in time.
  void erase(Handle h);
  // Forgets every deadline and stops the timer (the connection closed).
  void clear();

 private:
  void arm();
  void expire();

  std::function<std::weak_ptr<void>()> owner_;
  std::function<void(uint64_t)> expired_;
  std::multimap<Clock::time_point, uint64_t> deadlines_;
  boost::asio::steady_timer timer_;
  std::optional<Clock::time_point> armed_for_;
};

}  // namespace hcs::transport
