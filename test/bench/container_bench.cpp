// container_bench: what the gcs adds to an OCI runtime, and how it copes with many
// containers at once, measured against the real gcs and runc/crun on this host.
//
// For each runtime it times, alternating sample by sample so that drift hits both alike:
//   direct  the runtime binary itself: write config.json, create, start, wait for the
//           init's exit, delete;
//   gcs     the same through the bridge: Create, ExecuteProcess (init), WaitForProcess,
//           the exit notification, DeleteContainerState;
//   gcs+overlay  the same plus CombinedLayers Add/Remove around it (hcsshim's order);
// and then creates, starts, waits for and deletes N containers in parallel through the gcs.
//
// Usage: container_bench [--runtime runc|crun]... [--iterations N] [--parallel N] [--json]
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "bench_util.hpp"
#include "hcs/bridge/guest_container.hpp"
#include "hcs/core/json.hpp"
#include "hcs/core/process.hpp"
#include "hcs/runtime/runtime.hpp"
#include "hcs/transport/address.hpp"

#ifndef GCS_BIN
#error GCS_BIN must name the gcs binary under test
#endif
#ifndef FIXTURES_SCRIPT
#error FIXTURES_SCRIPT must name test/fixtures/make-fixtures
#endif

namespace {

using namespace bench;
namespace fs = std::filesystem;
using hcs::Json;
using hcs::Result;

constexpr const char* kCgroupParent = "/hcskit-bench";

struct Options {
  std::vector<std::string> runtimes;
  std::size_t iterations = 40;
  std::size_t parallel = 50;
  bool json = false;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

void write(const fs::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::trunc);
  out << data;
  if (!out) throw std::runtime_error("write " + p.string());
}

Json true_spec(const fs::path& fixtures, const fs::path& rootfs) {
  Json s = hcs::parse_json(slurp(fixtures / "bundle" / "config.json"), "config.json");
  s["process"]["args"] = {"true"};
  s["process"]["terminal"] = false;
  s["root"]["path"] = rootfs.string();
  s["root"]["readonly"] = true;  // many containers share the one rootfs
  return s;
}

class RuntimeBench {
 public:
  RuntimeBench(std::string runtime, fs::path fixtures) : runtime_(std::move(runtime)), fixtures_(std::move(fixtures)) {
    char tmpl[] = "/tmp/hcskit-cbench-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    config_ = hcs::runtime::choose(hcs::runtime::parse_kind(runtime_), dir_ / "direct-state", dir_ / "direct-work");
    fs::create_directories(config_.root);
    address_ = hcs::transport::Address::parse("unix:" + (dir_ / "gcs.sock").string());
    listener_ = std::make_unique<hcs::transport::HostListener>(io_.get_executor(), address_);
    start_gcs();
  }
  ~RuntimeBench() {
    if (guest_) guest_->close();
    if (gcs_.pidfd() >= 0) {
      gcs_.signal(SIGTERM);
      gcs_.wait_exit();
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // One sample of the runtime alone; returns microseconds.
  double direct(std::size_t i) {
    const std::string id = "d" + std::to_string(i);
    const fs::path bundle = dir_ / "direct" / id;
    auto t0 = Clock::now();
    fs::create_directories(bundle);
    Json spec = true_spec(fixtures_, fixtures_ / "rootfs");
    spec["linux"]["cgroupsPath"] = std::string(kCgroupParent) + "/" + id;
    write(bundle / "config.json", hcs::dump_json(spec));
    run({"create", "--bundle", bundle.string(), "--pid-file", (bundle / "pid").string(), id});
    pid_t pid = std::stoi(slurp(bundle / "pid"));
    hcs::Child init = hcs::adopt_child(pid);
    run({"start", id});
    init.wait_exit();
    run({"delete", id});
    fs::remove_all(bundle);
    return micros(Clock::now() - t0);
  }

  // One sample through the gcs; with `overlay` the layers are combined and removed too.
  double through_gcs(std::size_t i, bool overlay) {
    const std::string id = (overlay ? "o" : "g") + std::to_string(i);
    auto t0 = Clock::now();
    if (overlay) check(modify(layers(id, "Add")), "CombinedLayers Add");
    auto c = create(id, overlay ? bundle(id) / "rootfs" : fixtures_ / "rootfs");
    auto init = start(c);
    await<Result<uint32_t>>(io_, [&](auto cb) { init->async_wait(cb); }, "wait").value();
    await<Result<std::string>>(io_, [&](auto cb) { c->async_wait_exit(cb); }, "exit notification").value();
    if (overlay) check(modify(layers(id, "Remove")), "CombinedLayers Remove");
    check(await<Result<void>>(io_, [&](auto cb) { guest_->async_delete_container_state(id, cb); }, "delete"),
          "DeleteContainerState");
    return micros(Clock::now() - t0);
  }

  struct Parallel {
    double seconds = 0;
    std::size_t failures = 0;
    std::string first_error;
  };
  // N containers at once: every Create in flight together, then every start, wait, delete.
  Parallel parallel(std::size_t n) {
    Parallel out;
    auto fail = [&](const hcs::Error& e) {
      if (out.failures++ == 0) out.first_error = e.text();
    };
    auto t0 = Clock::now();
    std::vector<std::shared_ptr<hcs::bridge::GuestContainer>> cs(n);
    std::size_t left = n;
    for (std::size_t i = 0; i < n; ++i) {
      hcs::schema::VmHostedContainerSettingsV2 st = settings("p" + std::to_string(i), fixtures_ / "rootfs");
      guest_->async_create_container("p" + std::to_string(i), st, [&, i](Result<std::shared_ptr<hcs::bridge::GuestContainer>> r) {
        --left;
        if (r.ok()) cs[i] = r.value(); else fail(r.error());
      });
    }
    run_until(io_, [&] { return left == 0; }, 300s, "parallel create");
    left = 0;
    for (auto& c : cs) {
      if (!c) continue;
      ++left;
      hcs::schema::ProcessParameters p;
      c->async_create_process(p, [&, c](Result<std::shared_ptr<hcs::bridge::GuestProcess>> r) {
        if (!r.ok()) {
          fail(r.error());
          --left;
          return;
        }
        c->async_wait_exit([&, c](Result<std::string> e) {
          if (!e.ok()) fail(e.error());
          guest_->async_delete_container_state(c->id(), [&](Result<void> d) {
            if (!d.ok()) fail(d.error());
            --left;
          });
        });
      });
    }
    run_until(io_, [&] { return left == 0; }, 300s, "parallel run");
    out.seconds = micros(Clock::now() - t0) / 1e6;
    return out;
  }

 private:
  void start_gcs() {
    hcs::SpawnOptions o;
    o.argv = {GCS_BIN, "--transport", address_.str(), "--no-poweroff", "--log-level", "warn", "--runtime", runtime_,
              "--root", (dir_ / "gcs").string(), "--cgroup-parent", kCgroupParent};
    o.die_with_parent = true;
    gcs_ = hcs::spawn(o);
    auto conn = await<Result<hcs::transport::Connection>>(io_, [&](auto cb) { listener_->async_accept(cb); }, "accept");
    guest_ = await<Result<std::shared_ptr<hcs::bridge::GuestConnection>>>(
                 io_, [&](auto cb) { hcs::bridge::GuestConnection::async_open(conn.value(), {}, cb); }, "negotiate")
                 .value();
  }
  void run(std::vector<std::string> args) {
    hcs::SpawnOptions o;
    o.argv = {config_.binary, "--root", config_.root.string()};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    o.hide_mounts = config_.hide_mounts;
    auto st = hcs::spawn(o).wait_exit();
    if (st.code() != 0) throw std::runtime_error(runtime_ + " " + args.front() + " failed: " + std::to_string(st.code()));
  }
  fs::path bundle(const std::string& id) const { return dir_ / "gcs" / "c" / id; }
  hcs::schema::VmHostedContainerSettingsV2 settings(const std::string& id, const fs::path& rootfs) const {
    hcs::schema::VmHostedContainerSettingsV2 st;
    st.schema_version = {2, 1, {}};
    st.oci_bundle_path = bundle(id).string();
    st.oci_specification = true_spec(fixtures_, rootfs);
    return st;
  }
  hcs::schema::ModificationRequest layers(const std::string& id, const char* type) const {
    hcs::schema::ModificationRequest r;
    r.resource_type = "CombinedLayers";
    r.request_type = type;
    r.settings = Json{{"ContainerID", id},
                      {"ContainerRootPath", (bundle(id) / "rootfs").string()},
                      {"Layers", Json::array({Json{{"Path", (fixtures_ / "rootfs").string()}}})},
                      {"ScratchPath", (bundle(id) / "scratch").string()}};
    return r;
  }
  Result<void> modify(const hcs::schema::ModificationRequest& r) {
    return await<Result<void>>(io_, [&](auto cb) { guest_->async_modify(r, cb); }, "modify");
  }
  static void check(const Result<void>& r, const char* what) {
    if (!r.ok()) throw std::runtime_error(std::string(what) + ": " + r.error().text());
  }
  std::shared_ptr<hcs::bridge::GuestContainer> create(const std::string& id, const fs::path& rootfs) {
    auto st = settings(id, rootfs);
    return await<Result<std::shared_ptr<hcs::bridge::GuestContainer>>>(
               io_, [&](auto cb) { guest_->async_create_container(id, st, cb); }, "create")
        .value();
  }
  std::shared_ptr<hcs::bridge::GuestProcess> start(const std::shared_ptr<hcs::bridge::GuestContainer>& c) {
    hcs::schema::ProcessParameters p;
    return await<Result<std::shared_ptr<hcs::bridge::GuestProcess>>>(
               io_, [&](auto cb) { c->async_create_process(p, cb); }, "start")
        .value();
  }

  std::string runtime_;
  fs::path fixtures_, dir_;
  hcs::runtime::Config config_;
  asio::io_context io_{1};
  hcs::transport::Address address_;
  std::unique_ptr<hcs::transport::HostListener> listener_;
  hcs::Child gcs_;
  std::shared_ptr<hcs::bridge::GuestConnection> guest_;
};

struct RuntimeResult {
  std::string runtime;
  Stats direct, gcs, overlay;
  RuntimeBench::Parallel parallel;
  std::size_t parallel_n = 0;
};

Json stats_json(const Stats& s) {
  return Json{{"n", s.n}, {"median_ms", s.median / 1000}, {"p99_ms", s.p99 / 1000}, {"min_ms", s.min / 1000},
              {"max_ms", s.max / 1000}};
}

int usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: container_bench [--runtime runc|crun]... [--iterations N] [--parallel N] [--json]\n");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(usage(2));
      return argv[++i];
    };
    if (a == "--runtime") opts.runtimes.push_back(next());
    else if (a == "--iterations") opts.iterations = std::stoul(next());
    else if (a == "--parallel") opts.parallel = std::stoul(next());
    else if (a == "--json") opts.json = true;
    else if (a == "-h" || a == "--help") return usage(0);
    else return usage(2);
  }
  if (opts.runtimes.empty()) opts.runtimes = {"runc", "crun"};
  // The runtimes' init processes come back to us when the runtime exits.
  ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  ::signal(SIGPIPE, SIG_IGN);
  const fs::path fixtures = fs::temp_directory_path() / "hcskit-fixtures";
  if (std::system((std::string(FIXTURES_SCRIPT) + " " + fixtures.string()).c_str()) != 0) {
    std::cerr << "container_bench: make-fixtures failed\n";
    return 1;
  }
  std::vector<RuntimeResult> results;
  try {
    for (const auto& rt : opts.runtimes) {
      RuntimeBench b(rt, fixtures);
      RuntimeResult r;
      r.runtime = rt;
      std::vector<double> d, g, o;
      b.direct(1000), b.through_gcs(1000, false);  // warm-up: page cache, cgroup parents
      for (std::size_t i = 0; i < opts.iterations; ++i) {
        d.push_back(b.direct(i));
        g.push_back(b.through_gcs(i, false));
        o.push_back(b.through_gcs(i, true));
      }
      r.direct = summarize(d);
      r.gcs = summarize(g);
      r.overlay = summarize(o);
      r.parallel_n = opts.parallel;
      r.parallel = b.parallel(opts.parallel);
      results.push_back(r);
    }
  } catch (const std::exception& e) {
    std::cerr << "container_bench: " << e.what() << "\n";
    return 1;
  }
  if (opts.json) {
    Json out = Json::array();
    for (const auto& r : results)
      out.push_back(Json{{"runtime", r.runtime},
                         {"direct", stats_json(r.direct)},
                         {"gcs", stats_json(r.gcs)},
                         {"gcs_overlay", stats_json(r.overlay)},
                         {"ratio", r.gcs.median / r.direct.median},
                         {"parallel", {{"containers", r.parallel_n}, {"seconds", r.parallel.seconds},
                                       {"failures", r.parallel.failures}}}});
    std::cout << out.dump(2) << "\n";
  } else {
    std::printf("%-6s %14s %14s %10s %16s   %s\n", "", "direct median", "gcs median", "ratio", "gcs+overlay",
                "parallel");
    for (const auto& r : results)
      std::printf("%-6s %11.1f ms %11.1f ms %10.3f %13.1f ms   %zu in %.2f s, %zu failed%s%s\n", r.runtime.c_str(),
                  r.direct.median / 1000, r.gcs.median / 1000, r.gcs.median / r.direct.median, r.overlay.median / 1000,
                  r.parallel_n, r.parallel.seconds, r.parallel.failures,
                  r.parallel.first_error.empty() ? "" : ": ", r.parallel.first_error.c_str());
  }
  return 0;
}
