#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <boost/asio/steady_timer.hpp>
#include <chrono>

#include <spdlog/spdlog.h>

#include "hcs/core/error.hpp"

namespace gcs {

namespace asio = boost::asio;
using hcs::Error;
using hcs::UniqueFd;
using hcs::transport::FdStream;

// How long output may keep flowing after the process exits (a daemonised grandchild
// can hold the pipe open for ever; the exit code must not wait for it).
static constexpr auto kOutputGrace = std::chrono::seconds(2);

std::vector<std::string> environment_strings(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  bool has_path = false;
  for (const auto& [k, v] : env) {
    out.push_back(k + "=" + v);
    has_path = has_path || k == "PATH";
  }
  if (!has_path) out.push_back(std::string("PATH=") + hcs::kDefaultPath);
  return out;
}

static std::vector<std::string> command_of(const hcs::schema::ProcessParameters& p) {
  if (!p.command_args.empty()) return p.command_args;
  // Windows-style hosts send CommandLine: split on blanks, as the Linux guest has no quoting rules to honour.
  std::vector<std::string> args;
  std::string cur;
  for (char c : p.command_line) {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) args.push_back(std::move(cur)), cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) args.push_back(cur);
  if (args.empty()) throw Error(hcs::hr::ErrInvalidArg, "process parameters carry no CommandArgs or CommandLine");
  return args;
}

void GuestProcess::open_pty(const std::vector<int32_t>& console_size) {
  UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!master || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0) hcs::throw_errno("posix_openpt");
  char name[64];
  if (::ptsname_r(master.get(), name, sizeof name) != 0) hcs::throw_errno("ptsname");
  UniqueFd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!slave) hcs::throw_errno(std::string("open ") + name);
  if (console_size.size() == 2) {
    winsize ws{};
    ws.ws_row = static_cast<unsigned short>(console_size[0]);
    ws.ws_col = static_cast<unsigned short>(console_size[1]);
    ::ioctl(master.get(), TIOCSWINSZ, &ws);
  }
  child_ends_[0] = std::move(slave);
  set_console(std::move(master));
}

void GuestProcess::set_console(UniqueFd master) {
  int dup_fd = ::fcntl(master.get(), F_DUPFD_CLOEXEC, 0);
  if (dup_fd < 0) hcs::throw_errno("dup pty master");
  pty_master_ = std::move(master);
  auto tty = FdStream::adopt(ex_, UniqueFd(dup_fd), FdStream::Kind::Tty);
  ends_[0] = ends_[1] = tty;
  streams_.push_back(tty);
}

std::shared_ptr<GuestProcess> GuestProcess::prepare(asio::any_io_executor ex, bool tty, Pipes pipes) {
  auto proc = std::shared_ptr<GuestProcess>(new GuestProcess(ex));
  if (tty) return proc;
  if (pipes.in) {
    auto p = hcs::make_pipe();
    proc->child_ends_[0] = std::move(p.read);
    proc->ends_[0] = FdStream::adopt(ex, std::move(p.write), FdStream::Kind::Pipe);
  }
  for (int i : {1, 2}) {
    if (!(i == 1 ? pipes.out : pipes.err)) continue;
    auto p = hcs::make_pipe();
    proc->child_ends_[i] = std::move(p.write);
    proc->ends_[i] = FdStream::adopt(ex, std::move(p.read), FdStream::Kind::Pipe);
  }
  for (auto& e : proc->ends_)
    if (e) proc->streams_.push_back(e);
  return proc;
}

std::shared_ptr<GuestProcess> GuestProcess::start(asio::any_io_executor ex, hcs::Reaper& reaper,
                                                  const hcs::schema::ProcessParameters& params, StdioStreams stdio) {
  hcs::SpawnOptions opts;
  opts.argv = command_of(params);
  opts.env = environment_strings(params.environment);
  opts.cwd = params.working_directory.empty() ? "/" : params.working_directory;
  opts.new_session = true;

  std::shared_ptr<GuestProcess> proc;
  try {
    if (params.emulate_console) {
      proc = prepare(ex, true, {});
      proc->open_pty(params.console_size);
      opts.stdin_fd = opts.stdout_fd = opts.stderr_fd = proc->child_fd(0);
      opts.controlling_tty = true;
    } else {
      proc = prepare(ex, false, {bool(stdio.in), bool(stdio.out), bool(stdio.err)});
      opts.stdin_fd = proc->child_fd(0);
      opts.stdout_fd = proc->child_fd(1);
      opts.stderr_fd = proc->child_fd(2);
    }
    proc->connect(std::move(stdio));
    proc->adopt(hcs::spawn(opts), reaper);
  } catch (...) {
    for (auto* s : {&stdio.in, &stdio.out, &stdio.err})
      if (*s) (*s)->close();
    if (proc) proc->close_stdio();
    throw;
  }
  return proc;
}

void GuestProcess::drain(const StreamPtr& from) {
  // Nobody reads this output: consume it so the process cannot block on a full pipe.
  ++outputs_running_;
  std::weak_ptr<GuestProcess> weak = shared_from_this();
  auto sink = std::make_shared<std::vector<std::byte>>(4096);
  auto step = std::make_shared<std::function<void()>>();
  *step = [weak, sink, step, from]() {
    from->async_read_some(*sink, [weak, step](const hcs::transport::error_code& ec, std::size_t) {
      if (ec) {
        if (auto self = weak.lock()) self->relay_done();
        *step = nullptr;
        return;
      }
      (*step)();
    });
  };
  (*step)();
}

void GuestProcess::connect(StdioStreams host) {
  for (auto* s : {&host.in, &host.out, &host.err})
    if (*s) streams_.push_back(*s);
  std::weak_ptr<GuestProcess> weak = shared_from_this();
  if (ends_[0]) {
    if (host.in) {
      hcs::transport::relay(host.in, ends_[0], [weak](const hcs::transport::error_code&) {
        // Host stdin is done: on a tty, end of input is ^D, not a close.
        auto self = weak.lock();
        if (self && self->pty_master_) {
          static const std::byte eot{4};
          hcs::transport::async_write_all(self->ends_[0], std::span(&eot, 1), [](auto&&...) {});
        }
      });
    } else if (!pty_master_) {
      ends_[0]->close();  // no input: the process sees EOF
    }
  }
  auto output = [&](const StreamPtr& from, const StreamPtr& to) {
    if (!from) return;
    if (!to) return drain(from);
    ++outputs_running_;
    hcs::transport::relay(from, to, [weak](const hcs::transport::error_code& ec) {
      if (ec && ec != asio::error::operation_aborted) spdlog::debug("stdio relay ended: {}", ec.message());
      if (auto self = weak.lock()) self->relay_done();
    });
  };
  output(ends_[1], host.out);
  if (!pty_master_) output(ends_[2], host.err);
}

void GuestProcess::adopt(hcs::Child child, hcs::Reaper& reaper) {
  child_ = std::move(child);
  for (auto& e : child_ends_) e.reset();
  std::weak_ptr<GuestProcess> weak = shared_from_this();
  reaper.watch(child_, [weak, ex = ex_](hcs::ExitStatus st) {
    auto self = weak.lock();
    if (!self) return;
    self->exited_ = true;
    self->exit_code_ = st.code();
    spdlog::debug("process {} exited with {}", self->pid(), self->exit_code_);
    // A daemonised grandchild can hold the output open for ever; the exit code must
    // not wait for it longer than the grace period.
    auto timer = std::make_shared<asio::steady_timer>(ex, kOutputGrace);
    self->grace_timer_ = timer;
    timer->async_wait([weak](const hcs::transport::error_code& ec) {
      auto s = weak.lock();
      if (ec || !s || s->finished_) return;
      spdlog::debug("process {}: output still open {} s after exit; finishing", s->pid(), kOutputGrace.count());
      s->outputs_running_ = 0;
      s->maybe_finish();
    });
    self->maybe_finish();
  });
}

GuestProcess::~GuestProcess() { close_stdio(); }

void GuestProcess::close_stdio() {
  for (auto& s : streams_) s->close();
}

void GuestProcess::relay_done() {
  if (outputs_running_ > 0) --outputs_running_;
  maybe_finish();
}

void GuestProcess::maybe_finish() {
  if (finished_ || !exited_ || outputs_running_ > 0) return;
  auto self = shared_from_this();  // a waiter may drop the last other reference
  finished_ = true;
  if (grace_timer_) grace_timer_->cancel();
  close_stdio();
  auto waiters = std::move(waiters_);
  waiters_.clear();
  for (auto& w : waiters) w(exit_code_);
}

void GuestProcess::on_finished(std::function<void(int)> done) {
  if (finished_) return done(exit_code_);
  waiters_.push_back(std::move(done));
}

bool GuestProcess::signal(int sig) {
  if (exited_) return false;
  return child_.signal(sig);
}

void GuestProcess::resize(uint16_t height, uint16_t width) {
  if (!pty_master_) throw Error(hcs::hr::ErrInvalidArg, "process " + std::to_string(pid()) + " has no console");
  winsize ws{};
  ws.ws_row = height;
  ws.ws_col = width;
  if (::ioctl(pty_master_.get(), TIOCSWINSZ, &ws) != 0) hcs::throw_errno("resize console");
}

}  // namespace gcs
