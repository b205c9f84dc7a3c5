#include "harness.hpp"

#include <fcntl.h>

#include <fstream>

#include "hcs/transport/stream.hpp"

#ifndef GCS_BIN
#error GCS_BIN must name the gcs binary under test
#endif

namespace it {

using hcs::transport::error_code;

Gcs::Gcs(bool mux) {
  char tmpl[] = "/tmp/hcskit-it-XXXXXX";
  dir = ::mkdtemp(tmpl);
  address = hcs::transport::Address::parse((mux ? "mux+unix:" : "unix:") + (dir / "gcs.sock").string());
  listener = std::make_unique<hcs::transport::HostListener>(io.get_executor(), address);
  log_path = (dir / "gcs.log").string();
}

Gcs::~Gcs() {
  if (gcs.pidfd() >= 0) kill_gcs();
  listener.reset();
  io.restart();
  io.poll();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

void Gcs::start_gcs() {
  hcs::SpawnOptions o;
  o.argv = wrapper;
  o.argv.insert(o.argv.end(), {GCS_BIN, "--transport", address.str(), "--no-poweroff", "--log-level", "debug"});
  o.argv.insert(o.argv.end(), gcs_args.begin(), gcs_args.end());
  int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  o.stderr_fd = log;
  o.die_with_parent = true;
  gcs = hcs::spawn(o);
  ::close(log);
}

void Gcs::kill_gcs() {
  gcs.signal(SIGKILL);
  gcs.wait_exit();
}

int Gcs::stop_gcs() {
  gcs.signal(SIGTERM);
  auto st = gcs.wait_exit();
  if (st.code() != 0) {
    std::ifstream in(log_path);
    std::string all((std::istreambuf_iterator<char>(in)), {});
    ADD_FAILURE() << "gcs exited with " << st.code() << "; its log:\n" << all.substr(all.size() > 8000 ? all.size() - 8000 : 0);
  }
  return st.code();
}

hcs::transport::Connection Gcs::accept() {
  auto r = await<hcs::Result<hcs::transport::Connection>>(
      io, [&](auto cb) { listener->async_accept(cb); });
  return std::move(r).value();
}

std::shared_ptr<hcs::bridge::GuestConnection> Gcs::connect() {
  auto conn = accept();
  auto r = await<hcs::Result<std::shared_ptr<hcs::bridge::GuestConnection>>>(
      io, [&](auto cb) { hcs::bridge::GuestConnection::async_open(conn, {}, cb); });
  return r.value();
}

void Collector::start(const hcs::transport::StreamPtr& s) {
  auto buf = std::make_shared<std::vector<std::byte>>(65536);
  auto step = std::make_shared<std::function<void()>>();
  *step = [this, s, buf, step] {
    s->async_read_some(*buf, [this, buf, step](const error_code& ec, std::size_t n) {
      data.append(reinterpret_cast<const char*>(buf->data()), n);
      if (ec) {
        done = true;
        *step = nullptr;
        return;
      }
      (*step)();
    });
  };
  (*step)();
}

std::string Gcs::read_all(const hcs::transport::StreamPtr& s) {
  Collector c;
  c.start(s);
  if (!run_until(io, [&] { return c.done; })) throw std::runtime_error("stream did not end");
  return c.data;
}

std::shared_ptr<hcs::bridge::GuestProcess> Gcs::start(std::shared_ptr<hcs::bridge::GuestConnection> guest,
                                                      hcs::schema::ProcessParameters params) {
  auto r = await<hcs::Result<std::shared_ptr<hcs::bridge::GuestProcess>>>(
      io, [&](auto cb) { guest->async_create_process(params, cb); });
  return r.value();
}

ProcessResult Gcs::run(std::shared_ptr<hcs::bridge::GuestConnection> guest, std::vector<std::string> args,
                       std::optional<std::string> input, bool tty) {
  hcs::schema::ProcessParameters p;
  p.command_args = std::move(args);
  p.create_std_in_pipe = input.has_value();
  p.create_std_out_pipe = true;
  p.create_std_err_pipe = !tty;
  p.emulate_console = tty;
  return finish(start(guest, p), std::move(input));
}

ProcessResult Gcs::finish(std::shared_ptr<hcs::bridge::GuestProcess> proc, std::optional<std::string> input) {
  auto keep_input = std::make_shared<std::string>(input.value_or(""));
  if (input) {
    hcs::transport::async_write_all(proc->stdin_stream(), std::as_bytes(std::span(keep_input->data(), keep_input->size())),
                                    [s = proc->stdin_stream(), keep_input](const error_code&, std::size_t) {
                                      s->shutdown_write();
                                    });
  }
  Collector out, err;
  if (proc->stdout_stream()) out.start(proc->stdout_stream());
  else out.done = true;
  if (proc->stderr_stream()) err.start(proc->stderr_stream());
  else err.done = true;
  std::optional<hcs::Result<uint32_t>> code;
  proc->async_wait([&](hcs::Result<uint32_t> r) { code.emplace(std::move(r)); });
  if (!run_until(io, [&] { return code && out.done && err.done; }, 60s))
    throw std::runtime_error("process did not finish");
  ProcessResult res;
  res.exit_code = static_cast<int>(code->value());
  res.out = std::move(out.data);
  res.err = std::move(err.data);
  return res;
}

}  // namespace it
