#include "hcs/bridge/run.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "hcs/bridge/guest_connection.hpp"
#include "hcs/core/terminal.hpp"

namespace hcs::bridge {

namespace asio = boost::asio;
using transport::error_code;
using transport::FdStream;
using transport::StreamPtr;

// Everything the session's callbacks share. Members are destroyed in reverse order:
// the guards restore the caller's fds and terminal after the loop is gone.
struct GuestSession::Impl {
  SessionOptions opts;
  FdFlagsGuard in_flags, out_flags, err_flags;
  std::optional<RawTerminal> raw;
  asio::io_context io{1};
  std::optional<Error> error;
  std::shared_ptr<GuestConnection> guest;
  std::shared_ptr<GuestProcess> attached;
  std::function<void(int)> signal_handler;
  std::unique_ptr<transport::HostListener> listener;
  std::unique_ptr<transport::Listener> log_listener;
  asio::signal_set signals{io};
  asio::steady_timer connect_timer{io};
  asio::steady_timer progress_timer{io};

  explicit Impl(const SessionOptions& o)
      : opts(o), in_flags(o.in_fd), out_flags(o.out_fd), err_flags(o.err_fd) {
    if (o.tty && o.stdin_open) raw.emplace(o.in_fd);
  }

  void fail(Error e) {
    if (!error) error = std::move(e);
    io.stop();
  }

  StreamPtr local(int fd) { return FdStream::copy_of(io.get_executor(), fd); }

  void on_connection(GuestSession& session, transport::Connection conn,
                     std::function<void(std::shared_ptr<GuestConnection>)> on_ready) {
    connect_timer.cancel();
    progress_timer.cancel();
    if (opts.forward_guest_log) {
      try {
        log_listener = conn.transport->listen(transport::kLogPort);
        log_listener->async_accept([this](const error_code& ec, StreamPtr s) {
          if (!ec) transport::relay(s, local(opts.err_fd), [](const error_code&) {});
        });
      } catch (const Error& e) {
        spdlog::debug("not forwarding the guest log: {}", e.text());
      }
    }
    GuestConnection::Options gopts;
    GuestConnection::async_open(std::move(conn), gopts,
                                [this, &session, on_ready = std::move(on_ready)](Result<std::shared_ptr<GuestConnection>> r) {
                                  if (!r.ok()) return fail(r.error());
                                  guest = r.value();
                                  if (!opts.hooks) return on_ready(guest);
                                  opts.hooks->connected(session, guest, [this, on_ready] { on_ready(guest); });
                                });
  }

  void watch_signals() {
    signals.async_wait([this](const error_code& ec, int sig) {
      if (ec) return;
      if (sig == SIGWINCH) {
        resize();
      } else if (signal_handler) {
        signal_handler(sig);
      } else {
        fail(Error(hr::Fail, std::string("interrupted by ") + (sig == SIGINT ? "SIGINT" : "SIGTERM")));
      }
      watch_signals();
    });
  }

  void resize() {
    if (!attached) return;
    if (auto size = hcs::terminal_size(opts.in_fd)) attached->async_resize(size->first, size->second, [](Result<Json>) {});
  }
};

GuestSession::GuestSession(const SessionOptions& options) : impl_(std::make_unique<Impl>(options)) {
  impl_->listener = std::make_unique<transport::HostListener>(impl_->io.get_executor(), options.listen);
}

GuestSession::~GuestSession() = default;

asio::any_io_executor GuestSession::get_executor() { return impl_->io.get_executor(); }

void GuestSession::run(std::function<void(std::shared_ptr<GuestConnection>)> on_ready) {
  auto& s = *impl_;
  const auto& o = s.opts;
  s.signals.add(SIGINT);
  s.signals.add(SIGTERM);
  if (o.tty) s.signals.add(SIGWINCH);
  s.watch_signals();
  s.connect_timer.expires_after(o.connect_timeout);
  s.connect_timer.async_wait([&s, &o](const error_code& ec) {
    if (!ec)
      s.fail(Error(hr::VmcomputeTimeout, "no gcs connected to " + o.listen.str() + " within " +
                                             std::to_string(o.connect_timeout.count() / 1000) + " s"));
  });
  // A person at a terminal is told what a silent wait is for.
  if (::isatty(o.err_fd)) {
    s.progress_timer.expires_after(std::chrono::seconds(1));
    s.progress_timer.async_wait([&o](const error_code& ec) {
      if (ec) return;
      std::string line = "waiting for a gcs to dial " + o.listen.str() + " ...\n";
      ssize_t n = ::write(o.err_fd, line.data(), line.size());
      (void)n;
    });
  }
  s.listener->async_accept([this, &s, on_ready = std::move(on_ready)](Result<transport::Connection> r) mutable {
    s.listener->close();  // one guest per run
    if (!r.ok()) return s.fail(r.error());
    s.on_connection(*this, std::move(r).value(), std::move(on_ready));
  });
  if (o.hooks) {
    try {
      o.hooks->listening(*this);
    } catch (const Error& e) {
      s.fail(e);
    }
  }
  s.io.run();
  if (o.hooks)
    if (auto replaced = o.hooks->finished(*this, s.error)) s.error = std::move(replaced);
  if (s.guest) s.guest->close();
  if (s.log_listener) s.log_listener->close();
  s.listener->close();
  error_code ignored;
  s.signals.cancel(ignored);
  s.connect_timer.cancel();
  s.progress_timer.cancel();
  // Let the closes finish (and release every stream) before the context goes away.
  s.io.restart();
  s.io.poll();
  if (s.error) throw *s.error;
}

void GuestSession::stop() { impl_->io.stop(); }

void GuestSession::fail(Error e) { impl_->fail(std::move(e)); }

bool GuestSession::failed() const { return impl_->error.has_value(); }

void GuestSession::request_stdio(schema::ProcessParameters& p) const {
  p.create_std_in_pipe = impl_->opts.stdin_open;
  p.create_std_out_pipe = true;
  p.create_std_err_pipe = !impl_->opts.tty;
}

std::optional<std::pair<uint16_t, uint16_t>> GuestSession::terminal_size() const {
  const auto& o = impl_->opts;
  if (!o.tty) return std::nullopt;
  auto size = hcs::terminal_size(o.in_fd);
  return size ? size : hcs::terminal_size(o.out_fd);
}

void GuestSession::attach(std::shared_ptr<GuestProcess> process, std::function<void()> outputs_done) {
  auto& s = *impl_;
  s.attached = process;
  try {
    if (process->stdin_stream()) transport::relay(s.local(s.opts.in_fd), process->stdin_stream(), [](const error_code&) {});
    std::vector<std::pair<StreamPtr, StreamPtr>> outs;
    for (auto [from, fd] : {std::pair{process->stdout_stream(), s.opts.out_fd}, {process->stderr_stream(), s.opts.err_fd}})
      if (from) outs.emplace_back(from, s.local(fd));
    if (outs.empty()) {
      asio::post(s.io, std::move(outputs_done));
      return;
    }
    auto left = std::make_shared<std::size_t>(outs.size());
    for (auto& [from, to] : outs)
      transport::relay(from, to, [left, outputs_done](const error_code&) {
        if (--*left == 0) outputs_done();
      });
  } catch (const Error& e) {
    s.fail(e);
  }
}

void GuestSession::resize() { impl_->resize(); }

void GuestSession::on_signal(std::function<void(int)> handler) { impl_->signal_handler = std::move(handler); }

int run_guest_command(const RunOptions& options) {
  if (options.args.empty()) throw Error(hr::ErrInvalidArg, "no command to run");
  GuestSession session(options);

  std::optional<uint32_t> exit_code;
  bool outputs_done = false;
  std::shared_ptr<GuestProcess> process;
  auto maybe_done = [&] {
    if (exit_code && outputs_done) session.stop();
  };
  session.run([&](std::shared_ptr<GuestConnection> guest) {
    schema::ProcessParameters p;
    p.command_args = options.args;
    p.working_directory = options.cwd;
    p.environment = options.env;
    p.emulate_console = options.tty;
    session.request_stdio(p);
    if (auto size = session.terminal_size()) p.console_size = {size->first, size->second};
    guest->async_create_process(std::move(p), [&](Result<std::shared_ptr<GuestProcess>> r) {
      if (!r.ok()) return session.fail(r.error());
      process = r.value();
      session.attach(process, [&] {
        outputs_done = true;
        maybe_done();
      });
      // Passed on, so that ^C or a kill of this command reaches the guest process.
      session.on_signal([&](int sig) { process->async_signal(sig, [](Result<Json>) {}); });
      process->async_wait([&](Result<uint32_t> r) {
        if (!r.ok()) return session.fail(r.error().wrapped("wait for process " + std::to_string(process->pid())));
        exit_code = r.value();
        maybe_done();
      });
    });
  });
  if (!exit_code) throw Error(hr::Fail, "the run ended without an exit code");
  return static_cast<int>(*exit_code);
}

}  // namespace hcs::bridge
