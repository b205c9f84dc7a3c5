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

std::shared_ptr<GuestProcess> GuestProcess::start(asio::any_io_executor ex, hcs::Reaper& reaper,
                                                  const hcs::schema::ProcessParameters& params, StdioStreams stdio) {
  auto proc = std::shared_ptr<GuestProcess>(new GuestProcess());
  hcs::SpawnOptions opts;
  opts.argv = command_of(params);
  opts.env = environment_strings(params.environment);
  opts.cwd = params.working_directory.empty() ? "/" : params.working_directory;
  opts.new_session = true;

  // Our ends of the child's stdio, as streams.
  StreamPtr child_in, child_out, child_err;
  UniqueFd slave;
  std::vector<UniqueFd> child_ends;  // closed in the parent once spawned
  if (params.emulate_console) {
    UniqueFd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!master || ::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0) hcs::throw_errno("posix_openpt");
    char name[64];
    if (::ptsname_r(master.get(), name, sizeof name) != 0) hcs::throw_errno("ptsname");
    slave.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
    if (!slave) hcs::throw_errno(std::string("open ") + name);
    if (params.console_size.size() == 2) {
      winsize ws{};
      ws.ws_row = static_cast<unsigned short>(params.console_size[0]);
      ws.ws_col = static_cast<unsigned short>(params.console_size[1]);
      ::ioctl(master.get(), TIOCSWINSZ, &ws);
    }
    opts.stdin_fd = opts.stdout_fd = opts.stderr_fd = slave.get();
    opts.controlling_tty = true;
    int dup_fd = ::fcntl(master.get(), F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) hcs::throw_errno("dup pty master");
    proc->pty_master_ = std::move(master);
    auto tty = FdStream::adopt(ex, UniqueFd(dup_fd), FdStream::Kind::Tty);
    child_in = child_out = tty;
    proc->streams_.push_back(tty);
  } else {
    if (stdio.in) {
      auto p = hcs::make_pipe();
      opts.stdin_fd = p.read.get();
      child_ends.push_back(std::move(p.read));
      child_in = FdStream::adopt(ex, std::move(p.write), FdStream::Kind::Pipe);
    }
    if (stdio.out) {
      auto p = hcs::make_pipe();
      opts.stdout_fd = p.write.get();
      child_ends.push_back(std::move(p.write));
      child_out = FdStream::adopt(ex, std::move(p.read), FdStream::Kind::Pipe);
    }
    if (stdio.err) {
      auto p = hcs::make_pipe();
      opts.stderr_fd = p.write.get();
      child_ends.push_back(std::move(p.write));
      child_err = FdStream::adopt(ex, std::move(p.read), FdStream::Kind::Pipe);
    }
    for (auto* s : {&child_in, &child_out, &child_err})
      if (*s) proc->streams_.push_back(*s);
  }
  for (auto* s : {&stdio.in, &stdio.out, &stdio.err})
    if (*s) proc->streams_.push_back(*s);

  try {
    proc->child_ = hcs::spawn(opts);
  } catch (...) {
    for (auto& s : proc->streams_) s->close();
    throw;
  }
  slave.reset();
  child_ends.clear();

  std::weak_ptr<GuestProcess> weak = proc;
  if (stdio.in && child_in) {
    hcs::transport::relay(stdio.in, child_in, [weak](const hcs::transport::error_code&) {
      // Host stdin is done: on a tty, end of input is ^D, not a close.
      auto self = weak.lock();
      if (self && self->pty_master_) {
        static const std::byte eot{4};
        hcs::transport::async_write_all(self->streams_.front(), std::span(&eot, 1), [](auto&&...) {});
      }
    });
  }
  auto start_output = [&](const StreamPtr& from, const StreamPtr& to) {
    if (!from || !to) return;
    ++proc->outputs_running_;
    hcs::transport::relay(from, to, [weak](const hcs::transport::error_code& ec) {
      if (ec && ec != asio::error::operation_aborted) spdlog::debug("stdio relay ended: {}", ec.message());
      if (auto self = weak.lock()) self->relay_done();
    });
  };
  start_output(child_out, stdio.out);
  start_output(child_err, stdio.err);
  if (proc->pty_master_ && !stdio.out) {
    // Nobody reads the terminal: drain it so the process cannot block on output.
    ++proc->outputs_running_;
    auto sink = std::make_shared<std::vector<std::byte>>(4096);
    auto drain = std::make_shared<std::function<void()>>();
    *drain = [weak, sink, drain, tty = child_out]() {
      tty->async_read_some(*sink, [weak, drain](const hcs::transport::error_code& ec, std::size_t) {
        if (ec) {
          if (auto self = weak.lock()) self->relay_done();
          *drain = nullptr;
          return;
        }
        (*drain)();
      });
    };
    (*drain)();
  }

  reaper.watch(proc->child_, [weak, ex](hcs::ExitStatus st) {
    auto self = weak.lock();
    if (!self) return;
    self->exited_ = true;
    self->exit_code_ = st.code();
    spdlog::debug("process {} exited with {}", self->pid(), self->exit_code_);
    // A pty keeps the slave side alive in no one once the process is gone; closing
    // our copy of the master lets the output relay see the end.
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
  return proc;
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
