// Test harness: a real gcs binary dialling a host-side listener on a unix socket (with
// or without mux), and synchronous helpers over the asynchronous library.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include "hcs/bridge/guest_connection.hpp"
#include "hcs/core/process.hpp"
#include "hcs/transport/address.hpp"

namespace it {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Runs `io` until `done` holds or `limit` passes (then the test fails).
inline bool run_until(asio::io_context& io, const std::function<bool()>& done, std::chrono::milliseconds limit = 20s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    io.restart();
    io.run_for(10ms);
  }
  return true;
}

// Calls `start(cb)` and runs the loop until cb delivers a value.
template <class T>
T await(asio::io_context& io, const std::function<void(std::function<void(T)>)>& start,
        std::chrono::milliseconds limit = 20s) {
  std::optional<T> out;
  start([&](T v) { out.emplace(std::move(v)); });
  if (!run_until(io, [&] { return out.has_value(); }, limit)) throw std::runtime_error("timed out waiting for a result");
  return std::move(*out);
}

struct ProcessResult {
  int exit_code = -1;
  std::string out, err;
};

class Gcs {
 public:
  // Starts listening at a fresh socket; the gcs is started by start_gcs().
  explicit Gcs(bool mux);
  ~Gcs();
  void start_gcs();
  // SIGKILLs the gcs and reaps it.
  void kill_gcs();
  // SIGTERMs the gcs; returns its exit status code (0 = clean, LeakSanitizer gives 23).
  int stop_gcs();
  // Accepts the gcs's connection (raw: without negotiating).
  hcs::transport::Connection accept();
  // Accepts and negotiates.
  std::shared_ptr<hcs::bridge::GuestConnection> connect();

  // Runs a command in the guest to completion.
  ProcessResult run(std::shared_ptr<hcs::bridge::GuestConnection> guest, std::vector<std::string> args,
                    std::optional<std::string> input = std::nullopt, bool tty = false);
  std::shared_ptr<hcs::bridge::GuestProcess> start(std::shared_ptr<hcs::bridge::GuestConnection> guest,
                                                   hcs::schema::ProcessParameters params);
  // Feeds `input` (then EOF) and collects the output and exit code of a started process.
  ProcessResult finish(std::shared_ptr<hcs::bridge::GuestProcess> proc, std::optional<std::string> input = std::nullopt);
  // Reads a stream to its end.
  std::string read_all(const hcs::transport::StreamPtr& s);

  asio::io_context io{1};
  std::filesystem::path dir;
  hcs::transport::Address address;
  std::unique_ptr<hcs::transport::HostListener> listener;
  hcs::Child gcs;
  std::string log_path;
  std::vector<std::string> gcs_args;  // more flags for the gcs, set before start_gcs()
  std::vector<std::string> wrapper;   // a command the gcs runs under (e.g. nsenter --net=...)
};

// Collects a stream into a string in the background.
struct Collector {
  std::string data;
  bool done = false;
  void start(const hcs::transport::StreamPtr& s);
};

}  // namespace it
