// The QMP client against a real QEMU: a paused microvm (-S, no kernel needed) with a
// virtio-scsi controller. Covers the handshake, queries, SCSI disk hot-add and removal,
// what 9p hot-plug needs on microvm, quit, and QEMU dying under a pending command.
// Skipped when qemu-system-x86_64 is not installed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include "hcs/core/process.hpp"
#include "hcs/uvm/qmp.hpp"

namespace qmp_test {

using namespace hcs;
using namespace hcs::uvm;
using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

std::optional<std::string> qemu_binary() {
  try {
    return find_executable("qemu-system-x86_64", {std::string("PATH=") + kDefaultPath});
  } catch (const Error&) {
    return std::nullopt;
  }
}

// A paused microvm in a private temporary directory; SIGKILLed and reaped on the way out.
class Qemu {
 public:
  explicit Qemu(std::vector<std::string> extra, std::string machine = "microvm") {
    char tmpl[] = "/tmp/hcskit-qemu-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    sock_ = dir_ + "/qmp.sock";
    UniqueFd log(::open((dir_ + "/qemu.log").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    SpawnOptions o;
    o.argv = {*qemu_binary(), "-M", machine, "-accel", "tcg", "-m", "64", "-nodefaults", "-no-user-config",
              "-nographic", "-S", "-qmp", "unix:" + sock_ + ",server=on,wait=off"};
    o.argv.insert(o.argv.end(), extra.begin(), extra.end());
    o.stdout_fd = o.stderr_fd = log.get();
    o.die_with_parent = true;
    child_ = spawn(o);
  }
  ~Qemu() {
    if (!status_) {
      child_.signal(SIGKILL);
      child_.wait_exit();
    }
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  const std::string& dir() const { return dir_; }
  const std::string& socket() const { return sock_; }
  void signal(int sig) { child_.signal(sig); }
  // The exit status once QEMU has exited within `limit`.
  std::optional<ExitStatus> wait_exit(std::chrono::milliseconds limit) {
    if (status_) return status_;
    pollfd p{child_.pidfd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) == 1) status_ = child_.wait_exit();
    return status_;
  }
  std::string log() const {
    std::ifstream in(dir_ + "/qemu.log");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::string dir_, sock_;
  Child child_;
  std::optional<ExitStatus> status_;
};

class QmpIntegration : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!qemu_binary()) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  }

  bool run_until(const std::function<bool()>& cond, std::chrono::milliseconds limit = 20s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!cond() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(5ms);
    }
    return cond();
  }
  std::shared_ptr<Qmp> connect(const Qemu& q) {
    std::optional<Result<std::shared_ptr<Qmp>>> r;
    Qmp::async_connect(io.get_executor(), q.socket(), 10s, [&](Result<std::shared_ptr<Qmp>> x) { r.emplace(std::move(x)); });
    if (!run_until([&] { return r.has_value(); })) throw std::runtime_error("connect never completed");
    if (!r->ok()) throw std::runtime_error("connect: " + r->error().text() + "\n" + q.log());
    auto qmp = r->value();
    qmp->on_event([this](const std::string& name, const Json& data) { events.emplace_back(name, data); });
    return qmp;
  }
  Result<Json> execute(Qmp& qmp, std::string cmd, Json args = Json()) {
    std::optional<Result<Json>> r;
    qmp.async_execute(std::move(cmd), std::move(args), [&](Result<Json> x) { r.emplace(std::move(x)); });
    if (!run_until([&] { return r.has_value(); })) throw std::runtime_error("no reply");
    return std::move(*r);
  }
  Json ok(Qmp& qmp, std::string cmd, Json args = Json()) {
    auto r = execute(qmp, cmd, std::move(args));
    if (!r.ok()) throw std::runtime_error(cmd + ": " + r.error().text());
    return r.value();
  }
  Result<void> device_del(Qmp& qmp, std::string id, std::chrono::milliseconds timeout = 10s) {
    std::optional<Result<void>> r;
    qmp.async_device_del(std::move(id), timeout, [&](Result<void> x) { r.emplace(std::move(x)); });
    if (!run_until([&] { return r.has_value(); })) throw std::runtime_error("device_del never completed");
    return std::move(*r);
  }
  std::vector<std::string> peripherals(Qmp& qmp) {
    std::vector<std::string> names;
    for (const auto& p : ok(qmp, "qom-list", Json{{"path", "/machine/peripheral"}}))
      if (p.at("type").get<std::string>().rfind("child<", 0) == 0) names.push_back(p.at("name"));
    return names;
  }
  static bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  }
  std::string make_disk(const Qemu& q, const std::string& name) {
    std::string path = q.dir() + "/" + name;
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600));
    EXPECT_EQ(::ftruncate(fd.get(), 16 << 20), 0);
    return path;
  }
  // The QMP sequence that attaches a raw image as a SCSI disk at LUN `lun` of controller
  // `controller` (a virtio-scsi-device given on the command line).
  void add_scsi_disk(Qmp& qmp, const std::string& controller, int lun, const std::string& path, bool read_only,
                     const std::string& node, const std::string& id) {
    ok(qmp, "blockdev-add",
       Json{{"driver", "raw"},
            {"node-name", node},
            {"read-only", read_only},
            {"file", {{"driver", "file"}, {"filename", path}, {"read-only", read_only}}}});
    ok(qmp, "device_add",
       Json{{"driver", "scsi-hd"}, {"id", id}, {"bus", controller + ".0"}, {"drive", node}, {"scsi-id", 0}, {"lun", lun}});
  }

  asio::io_context io;
  std::vector<std::pair<std::string, Json>> events;
};

TEST_F(QmpIntegration, QueriesThenQuit) {
  Qemu q({});
  auto qmp = connect(q);
  EXPECT_TRUE(qmp->greeting().at("QMP").contains("version"));
  std::optional<Error> closed;
  qmp->on_close([&](const Error& e) { closed = e; });

  Json status = ok(*qmp, "query-status");
  EXPECT_EQ(status.at("status"), "prelaunch");
  EXPECT_EQ(status.at("running"), false);
  Json version = ok(*qmp, "query-version");
  EXPECT_GE(version.at("qemu").at("major").get<int>(), 7);

  auto bad = execute(*qmp, "no-such-command");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), hr::NotImpl);
  EXPECT_NE(bad.error().text().find("CommandNotFound"), std::string::npos) << bad.error().text();

  ok(*qmp, "quit");
  auto st = q.wait_exit(10s);
  ASSERT_TRUE(st.has_value()) << "QEMU did not exit after quit";
  EXPECT_FALSE(st->signaled);
  EXPECT_EQ(st->status, 0);
  ASSERT_TRUE(run_until([&] { return closed.has_value(); }));
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](auto& e) { return e.first == "SHUTDOWN"; }));
}

TEST_F(QmpIntegration, HotAddAndRemoveScsiDisk) {
  Qemu q({"-device", "virtio-scsi-device,id=scsi0"});
  auto qmp = connect(q);
  const std::string disk = make_disk(q, "disk.raw"), layer = make_disk(q, "layer.raw");

  // Paused (prelaunch) first, then again while running.
  for (bool running : {false, true}) {
    SCOPED_TRACE(running ? "running" : "paused");
    if (running) {
      ok(*qmp, "cont");
      EXPECT_EQ(ok(*qmp, "query-status").at("status"), "running");
    }
    add_scsi_disk(*qmp, "scsi0", 1, disk, false, "d1", "hd1");
    // QEMU locks images: one attached writable cannot be attached a second time, even
    // read-only (that needs share-rw=on on the device); read-only images can be shared.
    add_scsi_disk(*qmp, "scsi0", 2, layer, true, "d2", "hd2");
    add_scsi_disk(*qmp, "scsi0", 4, layer, true, "d5", "hd5");
    EXPECT_TRUE(has(peripherals(*qmp), "hd1"));
    Json blocks = ok(*qmp, "query-block");
    bool ro_seen = false;
    for (const auto& b : blocks)
      if (b.contains("inserted") && b["inserted"].value("node-name", "") == "d2") ro_seen = b["inserted"].at("ro");
    EXPECT_TRUE(ro_seen);

    // A node in use cannot go; the device must go first.
    auto busy = execute(*qmp, "blockdev-del", Json{{"node-name", "d1"}});
    EXPECT_FALSE(busy.ok());

    auto del = device_del(*qmp, "hd1");
    ASSERT_TRUE(del.ok()) << del.error().text();
    ASSERT_TRUE(device_del(*qmp, "hd2").ok());
    ASSERT_TRUE(device_del(*qmp, "hd5").ok());
    ok(*qmp, "blockdev-del", Json{{"node-name", "d5"}});
    EXPECT_FALSE(has(peripherals(*qmp), "hd1"));
    ok(*qmp, "blockdev-del", Json{{"node-name", "d1"}});
    ok(*qmp, "blockdev-del", Json{{"node-name", "d2"}});

    // Gone: deleting again is QEMU's DeviceNotFound.
    auto again = device_del(*qmp, "hd1");
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code(), hr::ErrNotFound);
  }
  // The same LUN twice is refused.
  add_scsi_disk(*qmp, "scsi0", 3, disk, false, "d3", "hd3");
  ok(*qmp, "blockdev-add", Json{{"driver", "raw"}, {"node-name", "d4"}, {"file", {{"driver", "file"}, {"filename", disk}}}});
  auto clash = execute(*qmp, "device_add",
                       Json{{"driver", "scsi-hd"}, {"id", "hd4"}, {"bus", "scsi0.0"}, {"drive", "d4"}, {"scsi-id", 0}, {"lun", 3}});
  EXPECT_FALSE(clash.ok());
  int deleted = 0;
  for (auto& [name, data] : events) deleted += name == "DEVICE_DELETED";
  EXPECT_GE(deleted, 4);
}

// virtio-mmio (microvm's only virtio transport) cannot hot-plug: virtio-9p-device (and any
// other virtio-*-device) is refused at run time. With -M microvm,pcie=on a PCIe root port
// takes a virtio-9p-pci hot-plug, but its -fsdev must exist from the start: QEMU has no
// QMP command that adds an fsdev.
TEST_F(QmpIntegration, NinePHotPlugNeedsPcieAndABootTimeFsdev) {
  {
    Qemu q({"-fsdev", "local,id=fs0,path=/tmp,security_model=none,readonly=on"});
    auto qmp = connect(q);
    auto r = execute(*qmp, "device_add", Json{{"driver", "virtio-9p-device"}, {"id", "p9"}, {"fsdev", "fs0"}, {"mount_tag", "share0"}});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().text().find("does not support hotplugging"), std::string::npos) << r.error().text();
  }
  {
    const std::string share = "/tmp";
    Qemu q({"-device", "pcie-root-port,id=rp0,bus=pcie.0,chassis=1", "-fsdev",
            "local,id=fs0,path=" + share + ",security_model=none,readonly=on"},
           "microvm,pcie=on");
    auto qmp = connect(q);
    ok(*qmp, "device_add",
       Json{{"driver", "virtio-9p-pci"}, {"id", "p9"}, {"fsdev", "fs0"}, {"mount_tag", "share0"}, {"bus", "rp0"}});
    EXPECT_TRUE(has(peripherals(*qmp), "p9"));
    // Prelaunch: no guest to ask, the unplug is immediate. (With a running guest, PCIe
    // unplug waits for the guest's pciehp to let go of the device.)
    auto del = device_del(*qmp, "p9");
    ASSERT_TRUE(del.ok()) << del.error().text();
    EXPECT_FALSE(has(peripherals(*qmp), "p9"));
  }
}

TEST_F(QmpIntegration, QemuKilledWithCommandsPending) {
  Qemu q({"-device", "virtio-scsi-device,id=scsi0"});
  auto qmp = connect(q);
  std::optional<Error> closed;
  qmp->on_close([&](const Error& e) { closed = e; });
  // Stopped, QEMU cannot answer: the commands are surely pending when it dies.
  q.signal(SIGSTOP);
  std::optional<Result<Json>> status;
  std::optional<Result<void>> del;
  qmp->async_execute("query-status", Json(), [&](Result<Json> r) { status.emplace(std::move(r)); });
  qmp->async_device_del("hd1", 0ms, [&](Result<void> r) { del.emplace(std::move(r)); });
  io.restart();
  io.run_for(100ms);
  EXPECT_FALSE(status.has_value());
  q.signal(SIGKILL);
  ASSERT_TRUE(run_until([&] { return status.has_value() && del.has_value() && closed.has_value(); }, 10s));
  ASSERT_FALSE(status->ok());
  EXPECT_EQ(status->error().code(), hr::BridgeClosed);
  EXPECT_NE(status->error().text().find("QEMU closed the socket"), std::string::npos) << status->error().text();
  ASSERT_FALSE(del->ok());
  EXPECT_EQ(del->error().code(), hr::BridgeClosed);
  auto st = q.wait_exit(5s);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(st->signaled);
  // And nothing more can be sent.
  auto after = execute(*qmp, "query-status");
  EXPECT_FALSE(after.ok());
}

}  // namespace

}  // namespace qmp_test
