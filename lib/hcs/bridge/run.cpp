#include "hcs/bridge/run.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <optional>
#include <spdlog/spdlog.h>

#include "hcs/bridge/guest_connection.hpp"
#include "hcs/core/terminal.hpp"

namespace hcs::bridge {

namespace asio = boost::asio;
using transport::error_code;
using transport::FdStream;
using transport::StreamPtr;

namespace {

// One run: every piece of state the callbacks share.
struct Run {
  asio::io_context io{1};
  const RunOptions& opts;
  std::optional<Error> error;
  std::optional<uint32_t> exit_code;
  int outputs = 0;  // output relays still running
  std::shared_ptr<GuestConnection> guest;
  std::shared_ptr<GuestProcess> process;
  std::unique_ptr<transport::Listener> log_listener;
  asio::signal_set signals{io};
  asio::steady_timer connect_timer{io};
  asio::steady_timer progress_timer{io};

  explicit Run(const RunOptions& o) : opts(o) {}

  void fail(Error e) {
    if (!error) error = std::move(e);
    io.stop();
  }
  void maybe_done() {
    if (exit_code && outputs == 0) io.stop();
  }
  StreamPtr local(int fd) {
    int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (copy < 0) throw_errno("dup");
    return FdStream::adopt(io.get_executor(), UniqueFd(copy), FdStream::Kind::Pipe);
  }

  void forward_log(const StreamPtr& s) {
    transport::relay(s, local(opts.err_fd), [](const error_code&) {});
  }

  void on_connection(transport::Connection conn) {
    connect_timer.cancel();
    progress_timer.cancel();
    if (opts.forward_guest_log) {
      try {
        log_listener = conn.transport->listen(transport::kLogPort);
        log_listener->async_accept([this](const error_code& ec, StreamPtr s) {
          if (!ec) forward_log(s);
        });
      } catch (const Error& e) {
        spdlog::debug("not forwarding the guest log: {}", e.text());
      }
    }
    GuestConnection::Options gopts;
    GuestConnection::async_open(std::move(conn), gopts, [this](Result<std::shared_ptr<GuestConnection>> r) {
      if (!r.ok()) return fail(r.error());
      guest = r.value();
      start_process();
    });
  }

  void start_process() {
    schema::ProcessParameters p;
    p.command_args = opts.args;
    p.working_directory = opts.cwd;
    p.environment = opts.env;
    p.emulate_console = opts.tty;
    p.create_std_in_pipe = opts.stdin_open;
    p.create_std_out_pipe = true;
    p.create_std_err_pipe = !opts.tty;
    if (opts.tty) {
      auto size = terminal_size(opts.in_fd);
      if (!size) size = terminal_size(opts.out_fd);
      if (size) p.console_size = {size->first, size->second};
    }
    guest->async_create_process(std::move(p), [this](Result<std::shared_ptr<GuestProcess>> r) {
      if (!r.ok()) return fail(r.error());
      process = r.value();
      attach();
    });
  }

  void attach() {
    try {
      if (process->stdin_stream()) transport::relay(local(opts.in_fd), process->stdin_stream(), [](const error_code&) {});
      for (auto [from, fd] : {std::pair{process->stdout_stream(), opts.out_fd}, {process->stderr_stream(), opts.err_fd}}) {
        if (!from) continue;
        ++outputs;
        transport::relay(from, local(fd), [this](const error_code&) {
          --outputs;
          maybe_done();
        });
      }
    } catch (const Error& e) {
      return fail(e);
    }
    signals.add(SIGINT);
    signals.add(SIGTERM);
    if (opts.tty) signals.add(SIGWINCH);
    watch_signals();
    process->async_wait([this](Result<uint32_t> r) {
      if (!r.ok()) return fail(r.error().wrapped("wait for process " + std::to_string(process->pid())));
      exit_code = r.value();
      maybe_done();
    });
  }

  void watch_signals() {
    signals.async_wait([this](const error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGWINCH) {
        if (auto size = terminal_size(opts.in_fd))
          process->async_resize(size->first, size->second, [](Result<Json>) {});
      } else {
        // Passed on, so that ^C or a kill of this command reaches the guest process.
        process->async_signal(sig, [](Result<Json>) {});
      }
      watch_signals();
    });
  }
};

}  // namespace

int run_guest_command(const RunOptions& options) {
  if (options.args.empty()) throw Error(hr::ErrInvalidArg, "no command to run");
  FdFlagsGuard in_flags(options.in_fd), out_flags(options.out_fd), err_flags(options.err_fd);
  std::optional<RawTerminal> raw;
  if (options.tty && options.stdin_open) raw.emplace(options.in_fd);

  Run run(options);
  transport::HostListener listener(run.io.get_executor(), options.listen);
  run.connect_timer.expires_after(options.connect_timeout);
  run.connect_timer.async_wait([&](const error_code& ec) {
    if (!ec)
      run.fail(Error(hr::VmcomputeTimeout, "no gcs connected to " + options.listen.str() + " within " +
                                               std::to_string(options.connect_timeout.count() / 1000) + " s"));
  });
  // A person at a terminal is told what a silent wait is for.
  if (::isatty(options.err_fd)) {
    run.progress_timer.expires_after(std::chrono::seconds(1));
    run.progress_timer.async_wait([&](const error_code& ec) {
      if (ec) return;
      std::string line = "waiting for a gcs to dial " + options.listen.str() + " ...\n";
      ssize_t n = ::write(options.err_fd, line.data(), line.size());
      (void)n;
    });
  }
  listener.async_accept([&](Result<transport::Connection> r) {
    listener.close();  // one guest per run
    if (!r.ok()) return run.fail(r.error());
    run.on_connection(std::move(r).value());
  });
  run.io.run();
  if (run.guest) run.guest->close();
  if (run.log_listener) run.log_listener->close();
  listener.close();
  // Let the closes finish (and release every stream) before the context goes away.
  run.io.restart();
  run.io.poll();
  if (run.error) throw *run.error;
  return static_cast<int>(*run.exit_code);
}

}  // namespace hcs::bridge
