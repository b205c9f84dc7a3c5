#include "hcs/compute/exec.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <filesystem>
#include <optional>
#include <random>

#include "hcs/compute/service.hpp"
#include "hcs/core/terminal.hpp"
#include "hcs/schema/bridge.hpp"
#include "hcs/transport/stream.hpp"
#include "proto/compute.pb.h"

namespace hcs::compute {
namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace pb = hcskit::compute::v1;
using transport::error_code;
using transport::FdStream;
using transport::StreamPtr;

namespace {

// The FIFOs of one exec, in a directory of their own that goes when this does.
struct Fifos {
  fs::path dir;
  std::string in, out, err;
  explicit Fifos(const std::string& parent) {
    std::random_device rd;
    dir = fs::path(parent) / ("exec-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 1000000));
    if (::mkdir(dir.c_str(), 0700) != 0) throw_errno("create " + dir.string());
  }
  ~Fifos() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string make(const char* name) {
    const auto path = (dir / name).string();
    if (::mkfifo(path.c_str(), 0600) != 0) throw_errno("mkfifo " + path);
    return path;
  }
};

}  // namespace

int exec(state::Store& store, const ExecOptions& o) {
  if (o.args.empty()) throw Error(hr::ErrInvalidArg, "no command to run");
  FdFlagsGuard in_flags(o.in_fd), out_flags(o.out_fd), err_flags(o.err_fd);
  asio::io_context io(1);
  auto client = connect_owner(io.get_executor(), store, o.kind, o.id);

  Fifos fifos(store.dir(o.kind, o.id));
  pb::CreateProcessRequest req;
  req.set_id(o.id);
  if (o.stdin_open) req.set_stdin(fifos.make("stdin"));
  req.set_stdout(fifos.make("stdout"));
  if (!o.tty) req.set_stderr(fifos.make("stderr"));
  // The read ends first: the owner's open for writing needs a reader. Our stdin end is
  // opened read-write so the owner's reader never sees an early EOF.
  StreamPtr out = FdStream::open_fifo(io.get_executor(), req.stdout(), O_RDONLY);
  StreamPtr err = o.tty ? nullptr : FdStream::open_fifo(io.get_executor(), req.stderr(), O_RDONLY);
  StreamPtr in = o.stdin_open ? FdStream::open_fifo(io.get_executor(), req.stdin(), O_RDWR) : nullptr;

  schema::ProcessParameters p;
  p.command_args = o.args;
  p.working_directory = o.cwd;
  p.environment = o.env;
  p.emulate_console = o.tty;
  std::optional<RawTerminal> raw;
  if (o.tty) {
    auto size = terminal_size(o.in_fd);
    if (!size) size = terminal_size(o.out_fd);
    if (size) p.console_size = {size->first, size->second};
    if (o.stdin_open && ::isatty(o.in_fd)) raw.emplace(o.in_fd);
  }
  req.set_parameters_json(dump_json(Json(p)));

  std::optional<Error> error;
  std::optional<uint32_t> exit_code, pid;
  size_t outputs_left = err ? 2 : 1;
  auto fail = [&](Error e) {
    if (!error) error = std::move(e);
    io.stop();
  };
  auto maybe_done = [&] {
    if (exit_code && outputs_left == 0) io.stop();
  };
  asio::signal_set signals(io, SIGINT, SIGTERM);
  if (o.tty) signals.add(SIGWINCH);
  std::function<void()> watch_signals = [&] {
    signals.async_wait([&](const error_code& ec, int sig) {
      if (ec) return;
      watch_signals();
      if (!pid) return fail(Error(hr::Fail, "interrupted"));
      if (sig == SIGWINCH) {
        auto size = terminal_size(o.in_fd);
        if (!size) return;
        pb::ResizeConsoleRequest r;
        r.set_id(o.id);
        r.set_pid(*pid);
        r.set_height(size->first);
        r.set_width(size->second);
        client->async_call<pb::Empty>(kService, "ResizeConsole", r, [](Result<pb::Empty>) {});
        return;
      }
      pb::SignalProcessRequest r;
      r.set_id(o.id);
      r.set_pid(*pid);
      r.set_signal(sig);
      client->async_call<pb::Empty>(kService, "SignalProcess", r, [](Result<pb::Empty>) {});
    });
  };
  watch_signals();
  client->on_close([&](const Error& why) {
    if (!exit_code) fail(why.wrapped("the VM's owner hung up"));
  });

  client->async_call<pb::CreateProcessResponse>(kService, "CreateProcess", req, [&](Result<pb::CreateProcessResponse> r) {
    if (!r.ok()) return fail(r.error());
    pid = r.value().pid();
    try {
      if (in) transport::relay(FdStream::copy_of(io.get_executor(), o.in_fd), in, [](const error_code&) {});
      for (auto [from, fd] : {std::pair{out, o.out_fd}, {err, o.err_fd}}) {
        if (!from) continue;
        transport::relay(from, FdStream::copy_of(io.get_executor(), fd), [&](const error_code&) {
          --outputs_left;
          maybe_done();
        });
      }
    } catch (const Error& e) {
      return fail(e);
    }
    pb::WaitProcessRequest w;
    w.set_id(o.id);
    w.set_pid(*pid);
    client->async_call<pb::WaitProcessResponse>(kService, "WaitProcess", w, [&](Result<pb::WaitProcessResponse> r) {
      if (!r.ok()) return fail(r.error().wrapped("wait for process " + std::to_string(*pid)));
      exit_code = r.value().exit_code();
      maybe_done();
    });
  });
  io.run();
  client->close();
  error_code ignored;
  signals.cancel(ignored);
  io.restart();
  io.poll();
  if (error) throw *error;
  return int(*exit_code);
}

}  // namespace hcs::compute
