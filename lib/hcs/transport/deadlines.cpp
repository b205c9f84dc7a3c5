#include "hcs/transport/deadlines.hpp"

namespace hcs::transport {

Deadlines::Handle Deadlines::add(Clock::time_point when, uint64_t id) {
  auto h = deadlines_.emplace(when, id);
  if (!armed_for_ || when < *armed_for_) arm();
  return h;
}

// The timer stays armed for an erased deadline: when it fires, it finds nothing due
// and re-arms for the next one, which is cheaper than re-arming on every answer.
void Deadlines::erase(Handle h) { deadlines_.erase(h); }

void Deadlines::clear() {
  deadlines_.clear();
  armed_for_.reset();
  timer_.cancel();
}

void Deadlines::arm() {
  if (deadlines_.empty()) {
    armed_for_.reset();
    timer_.cancel();
    return;
  }
  armed_for_ = deadlines_.begin()->first;
  timer_.expires_at(*armed_for_);
  timer_.async_wait([this, weak = owner_()](const boost::system::error_code& ec) {
    // `this` is a member of the owner: alive exactly while the owner is.
    if (auto owner = weak.lock(); owner && !ec) expire();
  });
}

void Deadlines::expire() {
  armed_for_.reset();
  const auto now = Clock::now();
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    const uint64_t id = deadlines_.begin()->second;
    deadlines_.erase(deadlines_.begin());
    expired_(id);
  }
  arm();
}

}  // namespace hcs::transport
