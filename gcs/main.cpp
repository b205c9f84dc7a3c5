// gcs: the Linux guest compute service. Dials the host, speaks the GCS bridge
// protocol v4 and runs what the host asks for.
#include <signal.h>

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
  app.add_option("--transport", transport,
                 "how to reach the host: vsock[:CID], unix:PATH or virtio-serial:NAME, each optionally mux+...")
      ->capture_default_str();
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")->capture_default_str();
  app.add_option("--log-format", log_format, "text or json (the host's log port always gets json)")
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
    gcs::AgentOptions opts;
    opts.address = hcs::transport::Address::parse(transport);
    opts.poweroff = !no_poweroff;
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
