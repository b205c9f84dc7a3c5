// What the benchmarks share: waiting on an event loop, reading streams, and summary
// statistics of samples.
#pragma once

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hcs/transport/stream.hpp"

namespace bench {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ---- event loop helpers ---------------------------------------------------------------

// Runs `io` until `done` holds; throws when `limit` passes first. Unlike a run_for(10ms)
// loop this returns right after the handler that satisfied `done`, so the next sample
// starts without waiting out a time slice.
inline void run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit,
               const char* what) {
  auto deadline = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > deadline) throw std::runtime_error(std::string("timed out: ") + what);
    if (io.stopped()) io.restart();
    io.run_one_until(deadline);
  }
}

// Runs `io` for `d` (keeps serving whatever is in flight, e.g. the gcs's log-port dial).
inline void run_for(asio::io_context& io, std::chrono::milliseconds d) {
  auto deadline = Clock::now() + d;
  while (Clock::now() < deadline) {
    if (io.stopped()) io.restart();
    if (io.run_one_until(deadline) == 0 && io.stopped()) std::this_thread::sleep_until(deadline);
  }
}

// Completion state lives on the heap: when a benchmark throws, handlers still pending
// run later (when the connection closes) and must not touch a dead stack frame.
template <class T>
T await(asio::io_context& io, const std::function<void(std::function<void(T)>)>& start, const char* what,
        std::chrono::milliseconds limit = 20s) {
  auto out = std::make_shared<std::optional<T>>();
  start([out](T v) { out->emplace(std::move(v)); });
  run_until(io, [&] { return out->has_value(); }, limit, what);
  return std::move(**out);
}

// Reads a stream to EOF in the background.
struct Collector {
  std::string data;
  bool done = false;
  std::optional<hcs::transport::error_code> error;
  static std::shared_ptr<Collector> start(const hcs::transport::StreamPtr& s) {
    auto c = std::make_shared<Collector>();
    auto buf = std::make_shared<std::vector<std::byte>>(4096);
    auto step = std::make_shared<std::function<void()>>();
    *step = [c, s, buf, step] {
      s->async_read_some(*buf, [c, buf, step](const hcs::transport::error_code& ec, std::size_t n) {
        c->data.append(reinterpret_cast<const char*>(buf->data()), n);
        if (ec) {
          if (ec != asio::error::eof) c->error = ec;
          c->done = true;
          *step = nullptr;  // breaks the step <-> closure cycle
          return;
        }
        (*step)();
      });
    };
    (*step)();
    return c;
  }
};

// ---- statistics -----------------------------------------------------------------------

struct Stats {
  std::size_t n = 0;
  double median = 0, p99 = 0, mean = 0, min = 0, max = 0;  // microseconds
};

inline Stats summarize(std::vector<double> us) {
  Stats s;
  s.n = us.size();
  if (us.empty()) return s;
  std::sort(us.begin(), us.end());
  auto rank = [&](double q) {  // nearest-rank percentile
    auto k = static_cast<std::size_t>(std::ceil(q * static_cast<double>(us.size())));
    return us[std::clamp<std::size_t>(k, 1, us.size()) - 1];
  };
  s.median = us.size() % 2 ? us[us.size() / 2] : (us[us.size() / 2 - 1] + us[us.size() / 2]) / 2;
  s.p99 = rank(0.99);
  s.mean = std::accumulate(us.begin(), us.end(), 0.0) / static_cast<double>(us.size());
  s.min = us.front();
  s.max = us.back();
  return s;
}

inline double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

}  // namespace bench
