#include "hcs/container/run.hpp"

#include <signal.h>

#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <spdlog/spdlog.h>

#include "hcs/bridge/guest_container.hpp"
#include "hcs/bridge/run.hpp"
#include "hcs/container/bundle.hpp"
#include "hcs/schema/guest_resource.hpp"

namespace hcs::container {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using bridge::GuestConnection;
using bridge::GuestContainer;
using bridge::GuestProcess;

namespace {

// How long teardown waits for the guest's exit notification before going on.
constexpr auto kExitNotificationWait = std::chrono::seconds(10);

// One run, driven by callbacks on the session's loop. Set-up goes forward one request
// at a time; every failure, and the init's exit, lead to teardown(), which undoes
// what was done, in reverse, as far as the bridge still allows.
struct ContainerRun {
  const RunContainerOptions& opts;
  bridge::GuestSession& session;
  std::string id;
  GuestPaths paths;
  std::vector<std::string> layers;
  schema::VmHostedContainerSettingsV2 settings;

  std::shared_ptr<GuestConnection> guest;
  std::shared_ptr<GuestContainer> container;
  std::shared_ptr<GuestProcess> init;
  bool layers_added = false;
  bool tearing_down = false;
  bool exit_step_done = false;
  int stop_signals = 0;
  std::optional<Error> error;
  std::optional<uint32_t> exit_code;
  bool outputs_done = false;
  asio::steady_timer stop_timer;
  asio::steady_timer exit_timer;

  ContainerRun(const RunContainerOptions& o, bridge::GuestSession& s)
      : opts(o), session(s), stop_timer(s.get_executor()), exit_timer(s.get_executor()) {}

  void start(std::shared_ptr<GuestConnection> g) {
    guest = std::move(g);
    session.on_signal([this](int sig) { on_stop_signal(sig); });
    guest->async_modify(combined_layers(schema::request_type::Add, id, layers, paths), [this](Result<void> r) {
      if (!r.ok()) return fail(r.error().wrapped("container " + id));
      layers_added = true;
      if (stop_signals) return teardown();
      create();
    });
  }

  void create() {
    guest->async_create_container(id, std::move(settings), [this](Result<std::shared_ptr<GuestContainer>> r) {
      if (!r.ok()) return fail(r.error());
      container = r.value();
      spdlog::info("created container {}", id);
      if (opts.on_created) opts.on_created(id);
      if (stop_signals) return teardown();
      container->async_start([this](Result<void> r) {
        if (!r.ok()) return fail(r.error());
        if (stop_signals) return teardown();
        start_init();
      });
    });
  }

  void start_init() {
    schema::ProcessParameters p;  // no OciProcess: the spec's own process, the init
    session.request_stdio(p);
    container->async_create_process(std::move(p), [this](Result<std::shared_ptr<GuestProcess>> r) {
      if (!r.ok()) return fail(r.error().wrapped("start the init process of container " + id));
      init = r.value();
      session.attach(init, [this] {
        outputs_done = true;
        maybe_done();
      });
      if (opts.tty) session.resize();
      if (stop_signals) shutdown(stop_signals > 1);
      init->async_wait([this](Result<uint32_t> r) {
        if (!r.ok()) return fail(r.error().wrapped("wait for the init process of container " + id));
        exit_code = r.value();
        maybe_done();
      });
    });
  }

  // SIGINT/SIGTERM: the first asks the container to stop, a second insists.
  void on_stop_signal(int sig) {
    ++stop_signals;
    if (tearing_down) return;
    if (!init) {
      std::string name = sig == SIGINT ? "SIGINT" : "SIGTERM";
      if (!error) error = Error(hr::Fail, "interrupted by " + name + " before container " + id + " started");
      // Set-up stops after the request in flight; a second signal stops waiting for it.
      if (stop_signals > 1) session.fail(*error);
      return;
    }
    shutdown(stop_signals > 1);
  }

  void shutdown(bool forced) {
    if (!container || container->exited()) return;
    container->async_shutdown(forced, [this](Result<void> r) {
      if (!r.ok() && !tearing_down) spdlog::warn("{}", r.error().text());
    });
    if (forced) return;
    stop_timer.expires_after(opts.stop_timeout);
    stop_timer.async_wait([this](const transport::error_code& ec) {
      if (!ec && !tearing_down) shutdown(true);
    });
  }

  void maybe_done() {
    if (exit_code && outputs_done) teardown();
  }

  void fail(Error e) {
    if (!error) error = std::move(e);
    teardown();
  }

  bool bridge_gone() const { return guest->client()->closed(); }

  void teardown() {
    if (tearing_down) return;
    tearing_down = true;
    stop_timer.cancel();
    if (bridge_gone()) return finish();
    if (!container || !init || container->exited()) return remove_layers();
    // The init may still run on a failure path; the guest refuses to delete a running container.
    if (!exit_code) container->async_shutdown(true, [](Result<void>) {});
    exit_timer.expires_after(kExitNotificationWait);
    exit_timer.async_wait([this](const transport::error_code& ec) {
      if (ec || exit_step_done) return;
      exit_step_done = true;
      spdlog::warn("container {}: no exit notification within {} s", id,
                   std::chrono::duration_cast<std::chrono::seconds>(kExitNotificationWait).count());
      remove_layers();
    });
    container->async_wait_exit([this](Result<std::string> r) {
      if (exit_step_done) return;
      exit_step_done = true;
      exit_timer.cancel();
      if (r.ok()) spdlog::debug("container {}: {}", id, r.value());
      remove_layers();
    });
  }

  // The overlay goes first: a guest refuses to delete the state of a container whose
  // root is still mounted (hcsshim's host also releases the layers, then the state).
  void remove_layers() {
    if (!layers_added || bridge_gone()) return delete_state();
    guest->async_modify(combined_layers(schema::request_type::Remove, id, layers, paths), [this](Result<void> r) {
      if (!r.ok() && !bridge_gone()) spdlog::warn("container {}: {}", id, r.error().text());
      delete_state();
    });
  }

  void delete_state() {
    if (!container || bridge_gone()) return finish();
    guest->async_delete_container_state(id, [this](Result<void> r) {
      if (!r.ok() && !bridge_gone()) spdlog::warn("{}", r.error().text());
      finish();
    });
  }

  void finish() {
    if (error) return session.fail(*error);
    session.stop();
  }
};

}  // namespace

int run_container(const RunContainerOptions& options) {
  // Everything that can be checked here is, before a gcs is waited for.
  std::string id = options.id.empty() ? generate_id() : options.id;
  GuestPaths paths = guest_paths(id, options.scratch);
  Bundle bundle = load_bundle(options.bundle);
  std::vector<std::string> layers = options.layers;
  if (layers.empty()) {
    if (bundle.rootfs.empty())
      throw Error(hr::ErrInvalidArg, "bundle " + bundle.dir.string() + ": config.json has no root.path and no layer was given");
    std::error_code ec;
    if (!fs::is_directory(bundle.rootfs, ec))
      throw Error(hr::ErrInvalidArg, "bundle " + bundle.dir.string() + ": rootfs " + bundle.rootfs.string() + " is not a directory");
    layers.push_back(fs::canonical(bundle.rootfs).string());
  }
  for (const auto& l : layers) validate_guest_path(l, "layer");
  ProcessOverrides overrides;
  overrides.args = options.args;
  overrides.env = options.env;
  overrides.terminal = options.tty;
  apply_overrides(bundle.spec, overrides);

  bridge::GuestSession session(options);
  if (auto size = session.terminal_size()) {
    ProcessOverrides sized;
    sized.console_size = size;
    apply_overrides(bundle.spec, sized);
  }

  ContainerRun run(options, session);
  run.id = id;
  run.paths = paths;
  run.layers = std::move(layers);
  run.settings = container_settings(guest_spec(bundle.spec, paths), paths);
  session.run([&run](std::shared_ptr<GuestConnection> guest) { run.start(std::move(guest)); });
  if (!run.exit_code) throw Error(hr::Fail, "container " + id + " ended without an exit code");
  return static_cast<int>(*run.exit_code);
}

}  // namespace hcs::container
