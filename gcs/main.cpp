// gcs: the Linux guest compute service. Dials the host, speaks the GCS bridge
// protocol v4 and runs what the host asks for.
#include <signal.h>
#include <sys/prctl.h>

#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>
#include <iostream>

#include "agent.hpp"
#include "hcs/core/log.hpp"

int main(int argc, char** argv) {
  CLI::App app{"gcs: the hcskit guest compute service (GCS bridge protocol v4)", "gcs"};
  std::string transport = "vsock";
  std::string log_level = "info";
  std::string log_format = "json";
  bool no_poweroff = false;
  gcs::AgentOptions opts;
  app.add_option("--transport", transport,
                 "how to reach the host: vsock[:CID], unix:PATH or virtio-serial:NAME, each optionally mux+...")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  app.add_option("--log-format", log_format, "text or json (the host's log port always gets json)")
      ->capture_default_str();
  app.add_option("--scsi-devices", opts.storage.scsi_devices,
                 "where SCSI disks appear, as <controller>:0:0:<lun>/block/<name>")
      ->capture_default_str();
  app.add_option("--dev-dir", opts.storage.dev, "where block device nodes are")->capture_default_str();
  app.add_option("--wait-for", opts.storage.wait_for,
                 "storage requests wait (up to 10 s) for this file, which the VM's init creates once it has loaded "
                 "its kernel modules");
  app.add_option("--etc-dir", opts.nics.etc,
                 "where the network adapters' DNS settings go: resolv.conf, and netns/<name>/resolv.conf for a "
                 "network namespace")
      ->capture_default_str();
  std::string runtime = "auto";
  app.add_option("--root", opts.containers.root, "container bundles, runtime state and work files live under it")
      ->capture_default_str();
  app.add_option("--runtime", runtime, "the OCI runtime: runc, crun, or auto (crun when installed, else runc)")
      ->capture_default_str();
  app.add_option("--cgroup-parent", opts.containers.cgroup_parent, "the cgroup under which containers are placed")
      ->capture_default_str();
  app.add_flag("--no-poweroff", no_poweroff, "on a utility VM shutdown request, exit instead of powering off");
  app.set_version_flag("--version", "gcs " HCSKIT_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  try {
    hcs::log::setup_stderr(hcs::log::parse_format(log_format), hcs::log::parse_level(log_level));
    opts.address = hcs::transport::Address::parse(transport);
    opts.poweroff = !no_poweroff;
    if (runtime != "auto") opts.containers.runtime = hcs::runtime::parse_kind(runtime);
    // Container processes are started by the runtime, which exits: they must come back
    // to us to be reaped (and to report their exit codes).
    if (::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) hcs::throw_errno("become a subreaper");
    ::signal(SIGPIPE, SIG_IGN);

    boost::asio::io_context io(1);
    gcs::Agent agent(io, opts);
    boost::asio::signal_set stop_signals(io, SIGINT, SIGTERM);
    stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      spdlog::info("signal {}: stopping", sig);
      agent.stop();
    });
    agent.start();
    io.run();
    return 0;
  } catch (const hcs::Error& e) {
    std::cerr << "gcs: " << e.text() << "\n";
    return 1;
  }
}
