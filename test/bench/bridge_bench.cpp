// bridge_bench: latency of the GCS bridge and the memory of an idle gcs, measured
// against the real gcs binary on this host (the way test/integration's harness runs it).
//
// For each transport (unix:, mux+unix:) it starts a gcs that dials a fresh listener,
// negotiates protocol v4 through GuestConnection, then times
//   - NegotiateProtocol round trips (BridgeClient::async_call),
//   - ExecuteProcess + WaitForProcess of /bin/true (no stdio),
//   - ExecuteProcess + WaitForProcess of `echo hi` with a stdout pipe read to EOF,
// and reads the gcs's VmRSS/VmHWM from /proc before and after the load.
//
// Usage: bridge_bench [--iterations-scale F] [--json] [--gcs-log-level LEVEL] [--gcs PATH]
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <spdlog/spdlog.h>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "hcs/bridge/guest_connection.hpp"
#include "hcs/bridge/messages.hpp"
#include "hcs/core/json.hpp"
#include "hcs/core/process.hpp"
#include "hcs/schema/bridge.hpp"
#include "hcs/transport/address.hpp"
#include "hcs/transport/stream.hpp"
#include "bench_util.hpp"

#ifndef GCS_BIN
#error GCS_BIN must name the gcs binary under test
#endif

namespace {

using namespace bench;

// ---- /proc ----------------------------------------------------------------------------

struct Memory {
  long vm_rss = -1, vm_hwm = -1, rss_anon = -1, rss_file = -1;  // KiB
};

Memory read_memory(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  if (!in) throw std::runtime_error("cannot read /proc/" + std::to_string(pid) + "/status");
  Memory m;
  std::string line;
  while (std::getline(in, line)) {
    auto field = [&](const char* name, long& out) {
      auto len = std::char_traits<char>::length(name);
      if (line.compare(0, len, name) == 0) out = std::strtol(line.c_str() + len, nullptr, 10);
    };
    field("VmRSS:", m.vm_rss);
    field("VmHWM:", m.vm_hwm);
    field("RssAnon:", m.rss_anon);
    field("RssFile:", m.rss_file);
  }
  return m;
}

// ---- one gcs --------------------------------------------------------------------------

struct Options {
  double scale = 1.0;
  bool json = false;
  std::string gcs_log_level = "info";
  std::string gcs = GCS_BIN;
};

struct TransportResult {
  std::string transport;
  Stats negotiate, exec_true, exec_echo;
  Memory fresh, after;
};

std::size_t scaled(std::size_t n, double scale) {
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::llround(static_cast<double>(n) * scale)));
}

class Bench {
 public:
  Bench(std::string scheme, const Options& opts) : scheme_(std::move(scheme)), opts_(opts) {
    char tmpl[] = "/tmp/hcskit-bench-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    address_ = hcs::transport::Address::parse(scheme_ + (dir_ / "gcs.sock").string());
    listener_ = std::make_unique<hcs::transport::HostListener>(io_.get_executor(), address_);
  }

  ~Bench() {
    if (guest_) guest_->close();
    if (gcs_.pidfd() >= 0) {
      gcs_.signal(SIGKILL);
      try {
        gcs_.wait_exit();
      } catch (...) {
      }
    }
    listener_.reset();
    io_.restart();
    io_.poll();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  TransportResult run() {
    try {
      return measure();
    } catch (const hcs::Error& e) {
      throw std::runtime_error(scheme_ + " " + e.text() + log_tail());
    } catch (const std::exception& e) {
      throw std::runtime_error(scheme_ + " " + e.what() + log_tail());
    }
  }

 private:
  TransportResult measure() {
    TransportResult res;
    res.transport = scheme_;
    start_gcs();
    connect();
    run_for(io_, 1s);  // settle: the gcs's log-port dial, allocator warm state
    res.fresh = read_memory(gcs_.pid());

    res.negotiate = bench_negotiate(scaled(2000, opts_.scale), scaled(200, opts_.scale));
    res.exec_true = bench_exec(scaled(300, opts_.scale), scaled(20, opts_.scale), false);
    res.exec_echo = bench_exec(scaled(300, opts_.scale), scaled(20, opts_.scale), true);

    run_for(io_, 1s);
    res.after = read_memory(gcs_.pid());
    stop_gcs();
    return res;
  }

  std::string log_tail() const {
    std::ifstream in(dir_ / "gcs.log");
    std::string all((std::istreambuf_iterator<char>(in)), {});
    if (all.empty()) return "";
    return "\n-- the gcs's log (tail):\n" + all.substr(all.size() > 4000 ? all.size() - 4000 : 0);
  }

  void start_gcs() {
    hcs::SpawnOptions o;
    o.argv = {opts_.gcs, "--transport", address_.str(), "--no-poweroff", "--log-level", opts_.gcs_log_level};
    auto log_path = (dir_ / "gcs.log").string();
    int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    o.stderr_fd = log;
    o.die_with_parent = true;
    try {
      gcs_ = hcs::spawn(o);
    } catch (...) {
      if (log >= 0) ::close(log);
      throw;
    }
    if (log >= 0) ::close(log);
  }

  void connect() {
    auto conn = await<hcs::Result<hcs::transport::Connection>>(
        io_, [&](auto cb) { listener_->async_accept(cb); }, "accept the gcs");
    auto r = await<hcs::Result<std::shared_ptr<hcs::bridge::GuestConnection>>>(
        io_, [&](auto cb) { hcs::bridge::GuestConnection::async_open(std::move(conn).value(), {}, cb); },
        "negotiate");
    guest_ = std::move(r).value();
  }

  void stop_gcs() {
    guest_->close();
    guest_.reset();
    gcs_.signal(SIGTERM);
    auto st = gcs_.wait_exit();
    if (st.code() != 0) std::cerr << "bridge_bench: warning: gcs (" << scheme_ << ") exited with " << st.code() << "\n";
  }

  Stats bench_negotiate(std::size_t n, std::size_t warmup) {
    hcs::schema::NegotiateProtocolRequest req;
    req.minimum_version = hcs::bridge::kProtocolV4;
    req.maximum_version = hcs::bridge::kProtocolV4;
    const hcs::Json body = hcs::schema::encode(req);
    auto client = guest_->client();
    std::vector<double> samples;
    samples.reserve(n);
    struct Done {
      std::optional<hcs::Result<hcs::Json>> result;
      Clock::time_point end;
    };
    for (std::size_t i = 0; i < warmup + n; ++i) {
      auto done = std::make_shared<Done>();
      auto begin = Clock::now();
      client->async_call(hcs::bridge::msg::NegotiateProtocol, body, [done](hcs::Result<hcs::Json> r) {
        done->end = Clock::now();
        done->result.emplace(std::move(r));
      });
      run_until(io_, [&] { return done->result.has_value(); }, 10s, "NegotiateProtocol");
      if (!done->result->ok()) throw std::runtime_error("NegotiateProtocol failed: " + done->result->error().text());
      if (i >= warmup) samples.push_back(micros(done->end - begin));
    }
    return summarize(std::move(samples));
  }

  Stats bench_exec(std::size_t n, std::size_t warmup, bool with_stdout) {
    hcs::schema::ProcessParameters params;
    if (with_stdout) {
      params.command_args = {"echo", "hi"};
      params.create_std_out_pipe = true;
    } else {
      params.command_args = {"/bin/true"};
    }
    std::vector<double> samples;
    samples.reserve(n);
    for (std::size_t i = 0; i < warmup + n; ++i) {
      auto begin = Clock::now();
      auto proc = await<hcs::Result<std::shared_ptr<hcs::bridge::GuestProcess>>>(
                      io_, [&](auto cb) { guest_->async_create_process(params, cb); }, "ExecuteProcess")
                      .value();
      auto out = with_stdout ? Collector::start(proc->stdout_stream()) : nullptr;
      auto code = std::make_shared<std::optional<hcs::Result<uint32_t>>>();
      proc->async_wait([code](hcs::Result<uint32_t> r) { code->emplace(std::move(r)); });
      // run_until returns right after the handler that completed the last of the two.
      run_until(io_, [&] { return code->has_value() && (!out || out->done); }, 20s, "WaitForProcess");
      auto end = Clock::now();
      auto& exit = **code;
      if (!exit.ok()) throw std::runtime_error("WaitForProcess failed: " + exit.error().text());
      if (exit.value() != 0) throw std::runtime_error("process exited with " + std::to_string(exit.value()));
      if (out && (out->error || out->data != "hi\n"))
        throw std::runtime_error("unexpected stdout from echo: '" + out->data + "'");
      if (i >= warmup) samples.push_back(micros(end - begin));
    }
    return summarize(std::move(samples));
  }

  std::string scheme_;
  Options opts_;
  asio::io_context io_{1};
  std::filesystem::path dir_;
  hcs::transport::Address address_;
  std::unique_ptr<hcs::transport::HostListener> listener_;
  hcs::Child gcs_;
  std::shared_ptr<hcs::bridge::GuestConnection> guest_;
};

// ---- output ---------------------------------------------------------------------------

std::string fixed(double v, int prec = 1) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

void print_table(const std::vector<TransportResult>& results) {
  std::printf("%-10s %-36s %6s %10s %10s %10s\n", "transport", "metric", "n", "median", "p99", "mean");
  std::printf("%-10s %-36s %6s %10s %10s %10s\n", "", "", "", "(us)", "(us)", "(us)");
  auto row = [](const std::string& t, const char* metric, const Stats& s) {
    std::printf("%-10s %-36s %6zu %10s %10s %10s\n", t.c_str(), metric, s.n, fixed(s.median).c_str(),
                fixed(s.p99).c_str(), fixed(s.mean).c_str());
  };
  for (const auto& r : results) {
    row(r.transport, "NegotiateProtocol round trip", r.negotiate);
    row(r.transport, "ExecuteProcess+Wait /bin/true", r.exec_true);
    row(r.transport, "ExecuteProcess+Wait echo hi (stdout)", r.exec_echo);
  }
  std::printf("\n%-10s %-26s %10s %10s %10s %10s %9s\n", "transport", "gcs memory", "VmRSS", "VmHWM", "RssAnon",
              "RssFile", "VmRSS");
  std::printf("%-10s %-26s %10s %10s %10s %10s %9s\n", "", "", "(KiB)", "(KiB)", "(KiB)", "(KiB)", "(MiB)");
  auto mem = [](const std::string& t, const char* when, const Memory& m) {
    std::printf("%-10s %-26s %10ld %10ld %10ld %10ld %9s\n", t.c_str(), when, m.vm_rss, m.vm_hwm, m.rss_anon,
                m.rss_file, fixed(static_cast<double>(m.vm_rss) / 1024.0, 2).c_str());
  };
  for (const auto& r : results) {
    mem(r.transport, "fresh (negotiated, idle 1s)", r.fresh);
    mem(r.transport, "after load + 1s idle", r.after);
  }
  std::fflush(stdout);
}

hcs::Json stats_json(const Stats& s) {
  hcs::Json j = hcs::Json::object();
  j["n"] = s.n;
  j["median_us"] = s.median;
  j["p99_us"] = s.p99;
  j["mean_us"] = s.mean;
  j["min_us"] = s.min;
  j["max_us"] = s.max;
  return j;
}

hcs::Json memory_json(const Memory& m) {
  hcs::Json j = hcs::Json::object();
  j["vm_rss_kib"] = m.vm_rss;
  j["vm_hwm_kib"] = m.vm_hwm;
  j["rss_anon_kib"] = m.rss_anon;
  j["rss_file_kib"] = m.rss_file;
  j["vm_rss_mib"] = static_cast<double>(m.vm_rss) / 1024.0;
  return j;
}

void print_json(const std::vector<TransportResult>& results, const Options& opts) {
  hcs::Json j = hcs::Json::object();
  struct utsname u {};
  ::uname(&u);
  j["nproc"] = std::thread::hardware_concurrency();
  j["kernel"] = std::string(u.release);
  j["iterations_scale"] = opts.scale;
  j["gcs"] = opts.gcs;
  j["targets"] = {{"negotiate_median_us_max", 50}, {"gcs_idle_rss_mib_max", 3}};
  hcs::Json ts = hcs::Json::object();
  for (const auto& r : results) {
    hcs::Json t = hcs::Json::object();
    t["negotiate_protocol"] = stats_json(r.negotiate);
    t["exec_wait_true"] = stats_json(r.exec_true);
    t["exec_wait_echo_stdout"] = stats_json(r.exec_echo);
    t["gcs_rss_fresh"] = memory_json(r.fresh);
    t["gcs_rss_after_load"] = memory_json(r.after);
    t["meets_negotiate_target"] = r.negotiate.median < 50.0;
    t["meets_rss_target"] = r.after.vm_rss >= 0 && r.after.vm_rss < 3 * 1024;
    std::string name = r.transport;
    if (!name.empty() && name.back() == ':') name.pop_back();
    ts[name] = std::move(t);
  }
  j["transports"] = std::move(ts);
  std::cout << j.dump(2) << "\n";
}

int usage(int code) {
  (code ? std::cerr : std::cout)
      << "usage: bridge_bench [--iterations-scale F] [--json] [--gcs-log-level LEVEL] [--gcs PATH]\n"
         "  --iterations-scale F  multiply every iteration count (defaults: 2000 negotiations after\n"
         "                        200 warm-up; 300 process runs after 20 warm-up) by F\n"
         "  --json                also print every figure as one JSON object\n"
         "  --gcs-log-level L     the gcs's --log-level (default info)\n"
         "  --gcs PATH            the gcs binary to run (default: the one built beside this program)\n";
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    try {
      if (a == "--iterations-scale") {
        std::size_t pos = 0;
        auto v = value();
        opts.scale = std::stod(v, &pos);
        if (pos != v.size() || !(opts.scale > 0)) throw std::invalid_argument("bad --iterations-scale " + v);
      } else if (a == "--json") {
        opts.json = true;
      } else if (a == "--gcs-log-level") {
        opts.gcs_log_level = value();
      } else if (a == "--gcs") {
        opts.gcs = value();
      } else if (a == "-h" || a == "--help") {
        return usage(0);
      } else {
        std::cerr << "bridge_bench: unknown argument " << a << "\n";
        return usage(2);
      }
    } catch (const std::exception& e) {
      std::cerr << "bridge_bench: " << e.what() << "\n";
      return usage(2);
    }
  }

  ::signal(SIGPIPE, SIG_IGN);
  spdlog::set_level(spdlog::level::warn);  // the library's debug chatter is not part of the figures

  std::vector<TransportResult> results;
  try {
    for (const char* scheme : {"unix:", "mux+unix:"}) {
      Bench b(scheme, opts);
      results.push_back(b.run());
    }
  } catch (const hcs::Error& e) {
    std::cerr << "bridge_bench: " << e.text() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "bridge_bench: " << e.what() << "\n";
    return 1;
  }
  print_table(results);
  if (opts.json) {
    std::printf("\n");
    std::fflush(stdout);
    print_json(results, opts);
  }
  return 0;
}
