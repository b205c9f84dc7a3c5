#include "hcs/container/bundle.hpp"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>

#include "hcs/bridge/guest_container.hpp"
#include "hcs/core/error.hpp"
#include "hcs/core/fd.hpp"
#include "hcs/schema/guest_resource.hpp"

namespace hcs::container {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void bad_spec(const std::string& where, const std::string& what) {
  throw Error(hr::VmcomputeInvalidJSON, "config.json: " + where + ": " + what);
}

// The member `key` of object `j` when present and not null, else nullptr.
void expect_object(const Json* j, const std::string& where) {
  if (j && !j->is_object()) bad_spec(where, std::string("expected an object, got ") + j->type_name());
}

void expect_strings(const Json* j, const std::string& where) {
  if (!j) return;
  if (!j->is_array()) bad_spec(where, std::string("expected an array of strings, got ") + j->type_name());
  for (const auto& e : *j)
    if (!e.is_string()) bad_spec(where, std::string("expected an array of strings, found ") + e.type_name());
}

void expect_integer(const Json* j, const std::string& where) {
  if (j && !j->is_number_integer()) bad_spec(where, std::string("expected an integer, got ") + j->type_name());
}

std::string read_config(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw Error::from_errno(errno, "open " + path.string());
  struct stat st{};
  if (::fstat(fd.get(), &st) != 0) throw Error::from_errno(errno, "stat " + path.string());
  if (!S_ISREG(st.st_mode)) throw Error(hr::ErrInvalidArg, path.string() + " is not a regular file");
  if (static_cast<std::size_t>(st.st_size) > kMaxConfigSize)
    throw Error(hr::ErrInvalidArg, path.string() + " is larger than " + std::to_string(kMaxConfigSize) + " bytes");
  std::string text;
  std::array<char, 65536> buf;
  for (;;) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error::from_errno(errno, "read " + path.string());
    if (n == 0) break;
    text.append(buf.data(), static_cast<std::size_t>(n));
    if (text.size() > kMaxConfigSize) throw Error(hr::ErrInvalidArg, path.string() + " grew while being read");
  }
  return text;
}

}  // namespace

void validate_id(std::string_view id) {
  if (!bridge::is_valid_container_id(id))
    throw Error(hr::ErrInvalidArg,
                "invalid container id '" + std::string(id) + "': it must match ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$");
}

void validate_guest_path(std::string_view path, std::string_view what) {
  if (path.empty() || path.front() != '/')
    throw Error(hr::ErrInvalidArg, std::string(what) + " '" + std::string(path) + "' is not an absolute path");
  // ':' and ',' separate an overlay's lowerdir entries and mount options.
  if (path.find_first_of(std::string_view(":,\n\0", 4)) != std::string_view::npos)
    throw Error(hr::ErrInvalidArg,
                std::string(what) + " '" + std::string(path) + "' contains ':', ',', a newline or NUL");
}

std::string generate_id() {
  std::array<uint8_t, 32> bytes;
  if (::getrandom(bytes.data(), bytes.size(), 0) != static_cast<ssize_t>(bytes.size())) throw_errno("getrandom");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (uint8_t b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 0xF];
  }
  return id;
}

GuestPaths guest_paths(const std::string& id, const std::string& scratch) {
  validate_id(id);
  GuestPaths p;
  p.bundle = std::string(kGuestRootPrefix) + "/" + id;
  p.rootfs = p.bundle + "/rootfs";
  p.scratch = scratch.empty() ? p.bundle + "/scratch" : scratch;
  validate_guest_path(p.scratch, "scratch path");
  return p;
}

void validate_spec(const Json& spec) {
  if (!spec.is_object()) throw Error(hr::VmcomputeInvalidJSON, std::string("config.json: expected an object, got ") + spec.type_name());
  const Json* version = json_member(spec, "ociVersion");
  if (!version || !version->is_string()) bad_spec("ociVersion", "missing, or not a string");
  const Json* process = json_member(spec, "process");
  if (!process) bad_spec("process", "missing");
  expect_object(process, "process");
  expect_strings(json_member(*process, "args"), "process.args");
  expect_strings(json_member(*process, "env"), "process.env");
  if (const Json* cwd = json_member(*process, "cwd")) {
    if (!cwd->is_string() || cwd->get_ref<const std::string&>().empty() || cwd->get_ref<const std::string&>()[0] != '/')
      bad_spec("process.cwd", "expected an absolute path");
  }
  if (const Json* t = json_member(*process, "terminal"); t && !t->is_boolean()) bad_spec("process.terminal", "expected a boolean");
  const Json* root = json_member(spec, "root");
  expect_object(root, "root");
  if (root)
    if (const Json* path = json_member(*root, "path"); path && !path->is_string()) bad_spec("root.path", "expected a string");
  expect_object(json_member(spec, "hooks"), "hooks");
  expect_object(json_member(spec, "windows"), "windows");
  if (const Json* ann = json_member(spec, "annotations")) {
    expect_object(ann, "annotations");
    for (const auto& [k, v] : ann->items())
      if (!v.is_string()) bad_spec("annotations." + k, "expected a string");
  }
  if (const Json* mounts = json_member(spec, "mounts")) {
    if (!mounts->is_array()) bad_spec("mounts", "expected an array");
    for (const auto& m : *mounts)
      if (!m.is_object()) bad_spec("mounts", "expected an array of objects");
  }
  const Json* lin = json_member(spec, "linux");
  expect_object(lin, "linux");
  if (!lin) return;
  expect_object(json_member(*lin, "seccomp"), "linux.seccomp");
  const Json* res = json_member(*lin, "resources");
  expect_object(res, "linux.resources");
  if (!res) return;
  const Json* cpu = json_member(*res, "cpu");
  expect_object(cpu, "linux.resources.cpu");
  if (cpu) {
    expect_integer(json_member(*cpu, "period"), "linux.resources.cpu.period");
    expect_integer(json_member(*cpu, "quota"), "linux.resources.cpu.quota");
  }
}

Bundle load_bundle(const fs::path& dir) {
  Bundle b;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(hr::ErrInvalidArg, "bundle " + dir.string() + " is not a directory");
  b.dir = fs::absolute(dir).lexically_normal();
  const auto config = b.dir / "config.json";
  try {
    b.spec = parse_json(read_config(config), "config.json");
    validate_spec(b.spec);
  } catch (Error& e) {
    throw e.wrap("bundle " + b.dir.string());
  }
  const Json* root = json_member(b.spec, "root");
  const Json* path = root ? json_member(*root, "path") : nullptr;
  if (path && !path->get_ref<const std::string&>().empty()) {
    fs::path p = path->get<std::string>();
    if (p.is_relative()) {
      // No escape from the bundle through "..".
      auto rel = p.lexically_normal();
      if (rel.empty() || *rel.begin() == "..")
        throw Error(hr::ErrInvalidArg, "bundle " + b.dir.string() + ": root.path '" + p.string() + "' leaves the bundle");
      p = b.dir / rel;
    }
    b.rootfs = p.lexically_normal();
  }
  return b;
}

void apply_overrides(Json& spec, const ProcessOverrides& o) {
  Json& process = spec["process"];
  if (!process.is_object()) process = Json::object();
  if (!o.args.empty()) process["args"] = o.args;
  if (!o.env.empty()) {
    Json env = process.contains("env") && process["env"].is_array() ? process["env"] : Json::array();
    for (const auto& [k, v] : o.env) {
      std::string entry = k + "=" + v;
      bool replaced = false;
      for (auto& e : env) {
        const auto& s = e.get_ref<const std::string&>();
        if (s.size() > k.size() && s.compare(0, k.size(), k) == 0 && s[k.size()] == '=') {
          e = entry;
          replaced = true;
        }
      }
      if (!replaced) env.push_back(entry);
    }
    process["env"] = std::move(env);
  }
  if (o.terminal) process["terminal"] = *o.terminal;
  if (o.console_size) process["consoleSize"] = Json{{"height", o.console_size->first}, {"width", o.console_size->second}};
  const Json* args = json_member(process, "args");
  if (!args || !args->is_array() || args->empty())
    throw Error(hr::ErrInvalidArg, "nothing to run: process.args is empty and no command was given");
}

Json guest_spec(const Json& spec, const GuestPaths& paths) {
  Json g = spec;
  g.erase("hooks");
  if (auto w = g.find("windows"); w != g.end()) {
    // Only the network namespace and assigned devices mean anything to a Linux guest.
    Json kept = Json::object();
    if (w->is_object()) {
      if (auto net = w->find("network"); net != w->end() && net->is_object() && net->contains("networkNamespace"))
        kept["network"] = Json{{"networkNamespace", (*net)["networkNamespace"]}};
      if (auto dev = w->find("devices"); dev != w->end() && !dev->is_null()) kept["devices"] = *dev;
    }
    if (kept.empty())
      g.erase("windows");
    else
      *w = std::move(kept);
  }
  if (auto lin = g.find("linux"); lin != g.end() && lin->is_object()) {
    // The guest places the container in its own cgroup tree.
    lin->erase("cgroupsPath");
    if (auto res = lin->find("resources"); res != lin->end() && res->is_object()) {
      for (const char* k : {"devices", "pids", "blockIO", "hugepageLimits", "network"}) res->erase(k);
      if (auto cpu = res->find("cpu"); cpu != res->end() && cpu->is_object()) {
        if (auto p = cpu->find("period"); p != cpu->end() && p->is_number_integer() && p->get<int64_t>() == 0)
          *p = 100000;
        if (auto q = cpu->find("quota"); q != cpu->end() && q->is_number_integer() && q->get<int64_t>() == 0) *q = -1;
      }
    }
    const Json* ann = json_member(g, "annotations");
    if (ann && ann->value("io.microsoft.virtualmachine.lcow.privileged", std::string()) == "true") lin->erase("seccomp");
  }
  Json& root = g["root"];
  if (!root.is_object()) root = Json::object();
  root["path"] = paths.rootfs;
  return g;
}

schema::VmHostedContainerSettingsV2 container_settings(Json spec, const GuestPaths& paths) {
  schema::VmHostedContainerSettingsV2 s;
  s.schema_version = schema::Version{2, 1, {}};
  s.oci_bundle_path = paths.bundle;
  s.oci_specification = std::move(spec);
  s.scratch_dir_path = paths.scratch;
  return s;
}

schema::ModificationRequest combined_layers(std::string_view request_type, const std::string& id,
                                            const std::vector<std::string>& layers, const GuestPaths& paths) {
  schema::CombinedLayers c;
  c.container_id = id;
  c.container_root_path = paths.rootfs;
  for (const auto& l : layers) {
    validate_guest_path(l, "layer");
    schema::Layer layer;
    layer.path = l;
    c.layers.push_back(std::move(layer));
  }
  c.scratch_path = paths.scratch;
  schema::ModificationRequest r;
  r.request_type = std::string(request_type);
  r.resource_type = std::string(schema::resource_type::CombinedLayers);
  r.settings = schema::encode(c);
  return r;
}

}  // namespace hcs::container
