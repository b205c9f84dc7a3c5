// The container module's documents (bundle reading, the guest spec, CombinedLayers) and
// the host's container requests (GuestConnection/GuestContainer) against an in-process
// BridgeServer over a socketpair.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <regex>

#include "hcs/bridge/guest_container.hpp"
#include "hcs/bridge/messages.hpp"
#include "hcs/bridge/server.hpp"
#include "hcs/container/bundle.hpp"

namespace container_test {

using namespace hcs;
using namespace hcs::container;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace asio = boost::asio;

namespace {

// A bundle directory that removes itself.
struct TempBundle {
  fs::path dir;
  TempBundle() {
    char tmpl[] = "/tmp/hcskit-bundle-XXXXXX";
    dir = ::mkdtemp(tmpl);
    fs::create_directory(dir / "rootfs");
  }
  ~TempBundle() { fs::remove_all(dir); }
  void write_text(const std::string& text) { std::ofstream(dir / "config.json") << text; }
  void write(const Json& j) { write_text(j.dump()); }
};

Json minimal_spec() {
  return Json::parse(R"({
    "ociVersion": "1.0.2",
    "process": {"terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["sh"], "env": ["PATH=/bin", "TERM=xterm"], "cwd": "/"},
    "root": {"path": "rootfs", "readonly": true},
    "hostname": "box"
  })");
}

// Runs `body` expecting an hcs::Error whose text contains `needle`; returns its code.
uint32_t error_of(const std::function<void()>& body, const std::string& needle) {
  try {
    body();
  } catch (const Error& e) {
    EXPECT_NE(e.text().find(needle), std::string::npos) << e.text();
    return e.code();
  }
  ADD_FAILURE() << "no error (wanted one about '" << needle << "')";
  return 0;
}

}  // namespace

TEST(ContainerId, PatternAndGeneration) {
  EXPECT_NO_THROW(validate_id("a"));
  EXPECT_NO_THROW(validate_id("Web-1.prod_2"));
  EXPECT_NO_THROW(validate_id(std::string(128, 'x')));
  for (std::string bad : std::vector<std::string>{"", "-a", ".a", "_a", "a/b", "a b", "a:b", std::string(129, 'x'),
                                                  std::string("a\0b", 3)})
    EXPECT_EQ(error_of([&] { validate_id(bad); }, "invalid container id"), hr::ErrInvalidArg) << bad;
  auto a = generate_id(), b = generate_id();
  EXPECT_TRUE(std::regex_match(a, std::regex("^[0-9a-f]{64}$"))) << a;
  EXPECT_NE(a, b);
  EXPECT_NO_THROW(validate_id(a));
}

TEST(GuestPaths, UnderRunGcsC) {
  auto p = guest_paths("web");
  EXPECT_EQ(p.bundle, "/run/gcs/c/web");
  EXPECT_EQ(p.rootfs, "/run/gcs/c/web/rootfs");
  EXPECT_EQ(p.scratch, "/run/gcs/c/web/scratch");
  EXPECT_EQ(guest_paths("web", "/run/s/1").scratch, "/run/s/1");
  error_of([] { guest_paths("web", "relative"); }, "not an absolute path");
  error_of([] { guest_paths("web", "/a:b"); }, "contains");
  error_of([] { guest_paths("../x"); }, "invalid container id");
}

TEST(GuestPaths, LayerPathsMustSuitAnOverlay) {
  EXPECT_NO_THROW(validate_guest_path("/run/layers/p0", "layer"));
  error_of([] { validate_guest_path("", "layer"); }, "layer '' is not an absolute path");
  error_of([] { validate_guest_path("/a,b", "layer"); }, "contains");
  error_of([] { validate_guest_path("/a\nb", "layer"); }, "contains");
  error_of([] { validate_guest_path(std::string_view("/a\0b", 4), "layer"); }, "contains");
}

TEST(Bundle, LoadsConfigAndResolvesRootfs) {
  TempBundle b;
  b.write(minimal_spec());
  auto bundle = load_bundle(b.dir);
  EXPECT_EQ(bundle.dir, b.dir);
  EXPECT_EQ(bundle.rootfs, b.dir / "rootfs");
  EXPECT_EQ(bundle.spec["hostname"], "box");

  auto spec = minimal_spec();
  spec["root"]["path"] = "./sub/../rootfs/";
  b.write(spec);
  EXPECT_EQ(load_bundle(b.dir).rootfs, b.dir / "rootfs/");
  spec["root"]["path"] = "/srv/rootfs";
  b.write(spec);
  EXPECT_EQ(load_bundle(b.dir).rootfs, "/srv/rootfs");
  spec.erase("root");
  b.write(spec);
  EXPECT_TRUE(load_bundle(b.dir).rootfs.empty());
}

TEST(Bundle, RefusesWhatCannotBeRun) {
  TempBundle b;
  error_of([&] { load_bundle(b.dir / "none"); }, "is not a directory");
  error_of([&] { load_bundle(b.dir); }, "config.json");  // no config.json
  b.write_text("{not json");
  EXPECT_EQ(error_of([&] { load_bundle(b.dir); }, "config.json"), hr::VmcomputeInvalidJSON);
  b.write_text("[1]");
  error_of([&] { load_bundle(b.dir); }, "expected an object");
  fs::remove(b.dir / "config.json");
  fs::create_directory(b.dir / "config.json");
  error_of([&] { load_bundle(b.dir); }, "not a regular file");
  fs::remove(b.dir / "config.json");
  b.write_text(std::string(kMaxConfigSize + 1, ' '));
  error_of([&] { load_bundle(b.dir); }, "larger than");

  struct Case {
    std::function<void(Json&)> edit;
    std::string needle;
  };
  std::vector<Case> cases = {
      {[](Json& s) { s.erase("ociVersion"); }, "ociVersion"},
      {[](Json& s) { s.erase("process"); }, "process: missing"},
      {[](Json& s) { s["process"] = "sh"; }, "process: expected an object"},
      {[](Json& s) { s["process"]["args"] = "sh"; }, "process.args"},
      {[](Json& s) { s["process"]["args"] = Json::array({"sh", 1}); }, "process.args"},
      {[](Json& s) { s["process"]["env"] = Json::object(); }, "process.env"},
      {[](Json& s) { s["process"]["cwd"] = "tmp"; }, "process.cwd"},
      {[](Json& s) { s["process"]["terminal"] = "yes"; }, "process.terminal"},
      {[](Json& s) { s["root"] = "rootfs"; }, "root: expected an object"},
      {[](Json& s) { s["root"]["path"] = 3; }, "root.path"},
      {[](Json& s) { s["hooks"] = Json::array(); }, "hooks"},
      {[](Json& s) { s["annotations"] = Json{{"a", 1}}; }, "annotations.a"},
      {[](Json& s) { s["mounts"] = Json::array({"x"}); }, "mounts"},
      {[](Json& s) { s["linux"] = 1; }, "linux: expected an object"},
      {[](Json& s) { s["linux"]["resources"]["cpu"]["period"] = "x"; }, "linux.resources.cpu.period"},
      {[](Json& s) { s["root"]["path"] = "../elsewhere"; }, "leaves the bundle"},
      {[](Json& s) { s["root"]["path"] = "rootfs/../../x"; }, "leaves the bundle"},
  };
  for (const auto& c : cases) {
    auto spec = minimal_spec();
    c.edit(spec);
    b.write(spec);
    error_of([&] { load_bundle(b.dir); }, c.needle);
  }
}

TEST(Bundle, OverridesProcess) {
  auto spec = minimal_spec();
  ProcessOverrides o;
  o.args = {"echo", "hi"};
  o.env = {{"TERM", "dumb"}, {"A", "1"}};
  o.terminal = true;
  o.console_size = std::pair<uint16_t, uint16_t>{24, 80};
  apply_overrides(spec, o);
  EXPECT_EQ(spec["process"]["args"], Json::array({"echo", "hi"}));
  EXPECT_EQ(spec["process"]["env"], Json::array({"PATH=/bin", "TERM=dumb", "A=1"}));
  EXPECT_EQ(spec["process"]["terminal"], true);
  EXPECT_EQ(spec["process"]["consoleSize"], Json({{"height", 24}, {"width", 80}}));

  // Nothing to change keeps the spec's own process.
  auto same = minimal_spec();
  apply_overrides(same, {});
  EXPECT_EQ(same, minimal_spec());

  auto empty = minimal_spec();
  empty["process"]["args"] = Json::array();
  EXPECT_EQ(error_of([&] { apply_overrides(empty, {}); }, "nothing to run"), hr::ErrInvalidArg);
  ProcessOverrides args;
  args.args = {"true"};
  EXPECT_NO_THROW(apply_overrides(empty, args));
}

TEST(GuestSpec, TrimmedAsHcsshimsHostDoes) {
  auto spec = Json::parse(R"({
    "ociVersion": "1.1.0",
    "process": {"args": ["sh"], "cwd": "/"},
    "root": {"path": "rootfs", "readonly": true},
    "hooks": {"prestart": [{"path": "/bin/true"}]},
    "annotations": {"io.microsoft.virtualmachine.lcow.privileged": "true"},
    "windows": {"layerFolders": ["C:\\l"], "network": {"networkNamespace": "ns1", "allowUnqualifiedDNSQuery": true},
                "devices": [{"id": "x", "idType": "vpci-instance-id"}]},
    "linux": {
      "cgroupsPath": "/kubepods/x",
      "namespaces": [{"type": "pid"}],
      "seccomp": {"defaultAction": "SCMP_ACT_ERRNO"},
      "resources": {
        "devices": [{"allow": false, "access": "rwm"}],
        "pids": {"limit": 10}, "blockIO": {"weight": 10}, "hugepageLimits": [], "network": {"classID": 1},
        "memory": {"limit": 1048576},
        "cpu": {"period": 0, "quota": 0, "shares": 2}
      }
    },
    "x-unknown": {"kept": true}
  })");
  auto paths = guest_paths("c1");
  auto g = guest_spec(spec, paths);
  EXPECT_FALSE(g.contains("hooks"));
  EXPECT_EQ(g["windows"], Json::parse(R"({"network": {"networkNamespace": "ns1"},
                                          "devices": [{"id": "x", "idType": "vpci-instance-id"}]})"));
  EXPECT_FALSE(g["linux"].contains("cgroupsPath"));
  EXPECT_FALSE(g["linux"].contains("seccomp"));  // privileged
  EXPECT_EQ(g["linux"]["namespaces"], spec["linux"]["namespaces"]);
  const auto& res = g["linux"]["resources"];
  for (const char* k : {"devices", "pids", "blockIO", "hugepageLimits", "network"}) EXPECT_FALSE(res.contains(k)) << k;
  EXPECT_EQ(res["memory"]["limit"], 1048576);
  EXPECT_EQ(res["cpu"]["period"], 100000);
  EXPECT_EQ(res["cpu"]["quota"], -1);
  EXPECT_EQ(res["cpu"]["shares"], 2);
  EXPECT_EQ(g["root"], Json::parse(R"({"path": "/run/gcs/c/c1/rootfs", "readonly": true})"));
  EXPECT_EQ(g["x-unknown"], spec["x-unknown"]);
  EXPECT_EQ(g["process"], spec["process"]);

  // Not privileged: seccomp stays; a windows section with nothing for Linux goes.
  spec["annotations"]["io.microsoft.virtualmachine.lcow.privileged"] = "false";
  spec["windows"] = Json{{"layerFolders", Json::array({"C:\\l"})}};
  spec["linux"]["resources"]["cpu"] = Json{{"period", 50000}, {"quota", 20000}};
  g = guest_spec(spec, paths);
  EXPECT_TRUE(g["linux"].contains("seccomp"));
  EXPECT_FALSE(g.contains("windows"));
  EXPECT_EQ(g["linux"]["resources"]["cpu"]["period"], 50000);
  EXPECT_EQ(g["linux"]["resources"]["cpu"]["quota"], 20000);
  // No root at all still gets the guest's.
  spec.erase("root");
  EXPECT_EQ(guest_spec(spec, paths)["root"], Json({{"path", "/run/gcs/c/c1/rootfs"}}));
}

TEST(GuestSpec, CreateDocument) {
  auto paths = guest_paths("c1");
  auto s = container_settings(guest_spec(minimal_spec(), paths), paths);
  schema::ContainerCreateRequest req;
  req.base.container_id = "c1";
  req.container_config.value = s;
  auto wire = schema::encode(req);
  ASSERT_TRUE(wire["ContainerConfig"].is_string());
  auto inner = Json::parse(wire["ContainerConfig"].get<std::string>());
  EXPECT_EQ(inner["SchemaVersion"], Json({{"Major", 2}, {"Minor", 1}}));
  EXPECT_EQ(inner["OciBundlePath"], "/run/gcs/c/c1");
  EXPECT_EQ(inner["ScratchDirPath"], "/run/gcs/c/c1/scratch");
  EXPECT_EQ(inner["OciSpecification"]["root"]["path"], "/run/gcs/c/c1/rootfs");
}

TEST(CombinedLayers, AddAndRemove) {
  auto paths = guest_paths("c1");
  auto add = combined_layers("Add", "c1", {"/run/layers/p0", "/run/layers/p1"}, paths);
  EXPECT_EQ(schema::encode(add), Json::parse(R"({
    "RequestType": "Add", "ResourceType": "CombinedLayers",
    "Settings": {"ContainerID": "c1", "ContainerRootPath": "/run/gcs/c/c1/rootfs",
                 "Layers": [{"Path": "/run/layers/p0"}, {"Path": "/run/layers/p1"}],
                 "ScratchPath": "/run/gcs/c/c1/scratch"}})"));
  auto rm = combined_layers("Remove", "c1", {"/run/layers/p0"}, paths);
  EXPECT_EQ(rm.request_type, "Remove");
  EXPECT_EQ(rm.settings["ContainerRootPath"], "/run/gcs/c/c1/rootfs");
  error_of([&] { combined_layers("Add", "c1", {"/a:b"}, paths); }, "layer");
}

// ---------------------------------------------------------------------------------
// GuestConnection / GuestContainer against a scripted guest.

namespace {

struct FakeGuest {
  asio::io_context io;
  std::shared_ptr<bridge::BridgeServer> server;
  std::shared_ptr<bridge::GuestConnection> guest;
  std::vector<bridge::Call> calls;  // every request after negotiation
  std::vector<Json> user_notifications;
  std::optional<Error> closed;
  // Answers by request type; default: success with an empty body.
  std::map<uint32_t, std::function<Result<Json>(const bridge::Call&)>> answers;

  FakeGuest() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) throw std::runtime_error("socketpair");
    auto a = transport::FdStream::adopt(io.get_executor(), UniqueFd(fds[0]), transport::FdStream::Kind::Socket);
    auto b = transport::FdStream::adopt(io.get_executor(), UniqueFd(fds[1]), transport::FdStream::Kind::Socket);
    bridge::BridgeServer::Options so;
    so.capabilities.runtime_os_type = "Linux";
    server = bridge::BridgeServer::create(b, so);
    for (uint32_t t : {bridge::msg::Create, bridge::msg::Start, bridge::msg::ShutdownGraceful, bridge::msg::ShutdownForced,
                       bridge::msg::ExecuteProcess, bridge::msg::GetProperties, bridge::msg::ModifySettings,
                       bridge::msg::DeleteContainerState}) {
      server->on(t, [this, t](const bridge::Call& c, bridge::Reply r) {
        calls.push_back(c);
        auto it = answers.find(t);
        r(it == answers.end() ? Result<Json>(Json::object()) : it->second(c));
      });
    }
    server->start();
    transport::Connection conn;
    conn.bridge = a;
    conn.close = [a] { a->close(); };
    bridge::GuestConnection::Options o;
    o.timeout = 5s;
    o.on_notification = [this](uint32_t, const Json& j) { user_notifications.push_back(j); };
    o.on_close = [this](const Error& e) { closed = e; };
    std::optional<Result<std::shared_ptr<bridge::GuestConnection>>> opened;
    bridge::GuestConnection::async_open(conn, o, [&](auto r) { opened.emplace(std::move(r)); });
    if (!run_until([&] { return opened.has_value(); })) throw std::runtime_error("no negotiation");
    guest = opened->value();
  }
  bool run_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_for(5ms);
    }
    return done();
  }
  template <class T>
  T await(const std::function<void(std::function<void(T)>)>& start) {
    std::optional<T> out;
    start([&](T v) { out.emplace(std::move(v)); });
    if (!run_until([&] { return out.has_value(); })) throw std::runtime_error("no answer");
    return std::move(*out);
  }
  std::shared_ptr<bridge::GuestContainer> create(const std::string& id, Json spec = minimal_spec()) {
    auto paths = guest_paths(id);
    auto r = await<Result<std::shared_ptr<bridge::GuestContainer>>>([&](auto cb) {
      guest->async_create_container(id, container_settings(guest_spec(spec, paths), paths), cb);
    });
    return r.value();
  }
  void notify_exit(const std::string& id, const std::string& type) {
    schema::ContainerNotification n;
    n.base.container_id = id;
    n.type = type;
    n.operation = "None";
    server->notify(bridge::msg::ContainerNotification, schema::encode(n));
  }
};

}  // namespace

TEST(GuestContainer, CreateSendsTheDocumentWithSchema21) {
  FakeGuest g;
  auto c = g.create("c1");
  EXPECT_EQ(c->id(), "c1");
  ASSERT_EQ(g.calls.size(), 1u);
  EXPECT_EQ(g.calls[0].type, bridge::msg::Create);
  EXPECT_EQ(g.calls[0].base.container_id, "c1");
  auto cfg = Json::parse(g.calls[0].body["ContainerConfig"].get<std::string>());
  EXPECT_EQ(cfg["SchemaVersion"], Json({{"Major", 2}, {"Minor", 1}}));
  EXPECT_EQ(cfg["OciSpecification"]["root"]["path"], "/run/gcs/c/c1/rootfs");

  // Unset schema versions are filled in.
  schema::VmHostedContainerSettingsV2 bare;
  bare.oci_bundle_path = "/run/gcs/c/c2";
  auto r = g.await<Result<std::shared_ptr<bridge::GuestContainer>>>(
      [&](auto cb) { g.guest->async_create_container("c2", bare, cb); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(Json::parse(g.calls[1].body["ContainerConfig"].get<std::string>())["SchemaVersion"],
            Json({{"Major", 2}, {"Minor", 1}}));
}

TEST(GuestContainer, CreateRefusesBadAndDuplicateIds) {
  FakeGuest g;
  for (std::string bad : std::vector<std::string>{"", "a/b", std::string(kNullContainerId)}) {
    auto r = g.await<Result<std::shared_ptr<bridge::GuestContainer>>>(
        [&](auto cb) { g.guest->async_create_container(bad, {}, cb); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), hr::ErrInvalidArg);
  }
  auto c = g.create("dup");
  auto again = g.await<Result<std::shared_ptr<bridge::GuestContainer>>>(
      [&](auto cb) { g.guest->async_create_container("dup", {}, cb); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), hr::VmcomputeSystemAlreadyExists);
  EXPECT_EQ(g.calls.size(), 1u);  // nothing sent for the refused ones
}

TEST(GuestContainer, GuestErrorsOnCreateFreeTheId) {
  FakeGuest g;
  g.answers[bridge::msg::Create] = [](const bridge::Call&) -> Result<Json> {
    return Error(hr::VmcomputeInvalidJSON, "bad spec");
  };
  auto r = g.await<Result<std::shared_ptr<bridge::GuestContainer>>>([&](auto cb) {
    auto paths = guest_paths("c1");
    g.guest->async_create_container("c1", container_settings(minimal_spec(), paths), cb);
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::VmcomputeInvalidJSON);
  EXPECT_NE(r.error().text().find("create container c1"), std::string::npos) << r.error().text();
  g.answers.clear();
  EXPECT_TRUE(g.create("c1"));
}

TEST(GuestContainer, ExitNotificationsAreRoutedById) {
  FakeGuest g;
  auto a = g.create("a");
  auto b = g.create("b");
  // Before the wait: delivered at once when asked for.
  g.notify_exit("a", "GracefulExit");
  ASSERT_TRUE(g.run_until([&] { return a->exited(); }));
  EXPECT_FALSE(b->exited());
  EXPECT_EQ(g.await<Result<std::string>>([&](auto cb) { a->async_wait_exit(cb); }).value(), "GracefulExit");
  // After the wait started.
  std::optional<Result<std::string>> got;
  b->async_wait_exit([&](Result<std::string> r) { got.emplace(std::move(r)); });
  g.io.restart();
  g.io.run_for(50ms);
  EXPECT_FALSE(got);
  g.notify_exit("b", "UnexpectedExit");
  ASSERT_TRUE(g.run_until([&] { return got.has_value(); }));
  EXPECT_EQ(got->value(), "UnexpectedExit");
  // An unknown id is ignored, not fatal; the user's callback sees all three.
  g.notify_exit("nobody", "UnexpectedExit");
  ASSERT_TRUE(g.run_until([&] { return g.user_notifications.size() == 3; }));
  EXPECT_FALSE(g.closed);
  EXPECT_TRUE(g.create("c"));
}

TEST(GuestContainer, BridgeCloseFailsTheWait) {
  FakeGuest g;
  auto c = g.create("c1");
  std::optional<Result<std::string>> got;
  c->async_wait_exit([&](Result<std::string> r) { got.emplace(std::move(r)); });
  g.server->close();
  ASSERT_TRUE(g.run_until([&] { return got.has_value(); }));
  ASSERT_FALSE(got->ok());
  EXPECT_EQ(got->error().code(), hr::BridgeClosed);
  // A wait asked for afterwards fails the same way.
  auto late = g.await<Result<std::string>>([&](auto cb) { c->async_wait_exit(cb); });
  EXPECT_EQ(late.error().code(), hr::BridgeClosed);
}

TEST(GuestContainer, RequestsNameTheContainer) {
  FakeGuest g;
  auto c = g.create("c1");
  g.calls.clear();
  EXPECT_TRUE(g.await<Result<void>>([&](auto cb) { c->async_start(cb); }).ok());
  EXPECT_TRUE(g.await<Result<void>>([&](auto cb) { c->async_shutdown(false, cb); }).ok());
  EXPECT_TRUE(g.await<Result<void>>([&](auto cb) { c->async_shutdown(true, cb); }).ok());
  EXPECT_TRUE(g.await<Result<void>>([&](auto cb) { c->async_update(Json{{"memory", {{"limit", 4096}}}}, cb); }).ok());
  EXPECT_TRUE(g.await<Result<void>>([&](auto cb) { g.guest->async_delete_container_state("c1", cb); }).ok());
  schema::ModificationRequest m;
  m.resource_type = "MappedDirectory";
  m.settings = Json{{"MountPath", "/m"}};
  EXPECT_TRUE(g.await<Result<void>>([&](auto cb) { g.guest->async_modify(m, cb); }).ok());
  ASSERT_EQ(g.calls.size(), 6u);
  std::vector<uint32_t> types;
  for (const auto& call : g.calls) types.push_back(call.type);
  EXPECT_EQ(types, (std::vector<uint32_t>{bridge::msg::Start, bridge::msg::ShutdownGraceful, bridge::msg::ShutdownForced,
                                          bridge::msg::ModifySettings, bridge::msg::DeleteContainerState,
                                          bridge::msg::ModifySettings}));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(g.calls[i].base.container_id, "c1") << i;
  EXPECT_EQ(g.calls[3].body["Request"], Json::parse(R"({"RequestType": "Update", "ResourceType": "ContainerConstraints",
                                                       "Settings": {"Linux": {"memory": {"limit": 4096}}}})"));
  EXPECT_EQ(g.calls[5].base.container_id, kNullContainerId);
  EXPECT_EQ(g.calls[5].body["Request"], Json::parse(R"({"ResourceType": "MappedDirectory", "Settings": {"MountPath": "/m"}})"));
}

TEST(GuestContainer, ShutdownOfAVanishedContainerCountsAsExit) {
  FakeGuest g;
  auto c = g.create("c1");
  g.answers[bridge::msg::ShutdownGraceful] = [](const bridge::Call&) -> Result<Json> {
    return Error(hr::VmcomputeSystemNotFound, "no such container");
  };
  EXPECT_TRUE(g.await<Result<void>>([&](auto cb) { c->async_shutdown(false, cb); }).ok());
  EXPECT_TRUE(c->exited());
  g.answers[bridge::msg::ShutdownForced] = [](const bridge::Call&) -> Result<Json> {
    return Error(hr::Fail, "runc kill failed");
  };
  auto r = g.await<Result<void>>([&](auto cb) { c->async_shutdown(true, cb); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), hr::Fail);
}

TEST(GuestContainer, PropertiesAreDecoded) {
  FakeGuest g;
  auto c = g.create("c1");
  g.answers[bridge::msg::GetProperties] = [](const bridge::Call& call) -> Result<Json> {
    auto q = Json::parse(call.body["Query"].get<std::string>());
    EXPECT_EQ(q["PropertyTypes"], Json::array({"ProcessList"}));
    return Json{{"Properties", R"({"ProcessList":[{"ProcessId":1}]})"}};
  };
  auto r = g.await<Result<Json>>([&](auto cb) { c->async_properties({"ProcessList"}, cb); });
  ASSERT_TRUE(r.ok()) << r.error().text();
  EXPECT_EQ(r.value(), Json::parse(R"({"ProcessList":[{"ProcessId":1}]})"));
  g.answers[bridge::msg::GetProperties] = [](const bridge::Call&) -> Result<Json> { return Json{{"Properties", "[1]"}}; };
  EXPECT_FALSE(g.await<Result<Json>>([&](auto cb) { c->async_properties({}, cb); }).ok());
  g.answers[bridge::msg::GetProperties] = [](const bridge::Call&) -> Result<Json> { return Json{{"Properties", ""}}; };
  EXPECT_EQ(g.await<Result<Json>>([&](auto cb) { c->async_properties({}, cb); }).value(), Json::object());
}

TEST(GuestContainer, InitAndExecProcesses) {
  FakeGuest g;
  auto spec = minimal_spec();
  spec["process"]["terminal"] = true;
  auto c = g.create("c1", spec);
  g.calls.clear();
  g.answers[bridge::msg::ExecuteProcess] = [](const bridge::Call&) -> Result<Json> { return Json{{"ProcessId", 42}}; };
  schema::ProcessParameters init;  // no pipes: no listeners needed here
  auto p = g.await<Result<std::shared_ptr<bridge::GuestProcess>>>([&](auto cb) { c->async_create_process(init, cb); });
  ASSERT_TRUE(p.ok()) << p.error().text();
  EXPECT_EQ(p.value()->pid(), 42u);
  EXPECT_EQ(p.value()->container_id(), "c1");
  schema::ProcessParameters exec;
  exec.oci_process = Json{{"args", {"ps"}}, {"cwd", "/"}, {"terminal", false}};
  ASSERT_TRUE(g.await<Result<std::shared_ptr<bridge::GuestProcess>>>([&](auto cb) { c->async_create_process(exec, cb); }).ok());
  ASSERT_EQ(g.calls.size(), 2u);
  for (const auto& call : g.calls) EXPECT_EQ(call.base.container_id, "c1");
  auto pp0 = Json::parse(g.calls[0].body["Settings"]["ProcessParameters"].get<std::string>());
  auto pp1 = Json::parse(g.calls[1].body["Settings"]["ProcessParameters"].get<std::string>());
  EXPECT_FALSE(pp0.contains("OciProcess"));
  EXPECT_EQ(pp1["OciProcess"], exec.oci_process);
}

}  // namespace container_test
