#include "hcs/container/pod_network.hpp"

#include <algorithm>

namespace hcs::container {

namespace {

// obj[key] as an object or array of the wanted kind, replacing a value of another type.
Json& ensure(Json& obj, const char* key, Json empty) {
  Json& v = obj[key];
  if (v.type() != empty.type()) v = std::move(empty);
  return v;
}

}  // namespace

std::string network_namespace_of(const Json& spec) {
  const Json* ns = json_member(spec, "windows");
  if (ns) ns = json_member(*ns, "network");
  if (ns) ns = json_member(*ns, "networkNamespace");
  return ns && ns->is_string() ? ns->get<std::string>() : "";
}

bool skips_pod_networking(const Json& spec) {
  const Json* a = json_member(spec, "annotations");
  if (a) a = json_member(*a, kSkipPodNetworking);
  return a && a->is_string() && a->get<std::string>() == "true";
}

void join_network_namespace(Json& spec, const std::string& netns_path, const std::string& resolv_conf) {
  if (!spec.is_object()) spec = Json::object();
  Json& namespaces = ensure(ensure(spec, "linux", Json::object()), "namespaces", Json::array());
  namespaces.erase(std::remove_if(namespaces.begin(), namespaces.end(),
                                  [](const Json& n) {
                                    const Json* t = json_member(n, "type");
                                    return t && *t == "network";
                                  }),
                   namespaces.end());
  namespaces.push_back(Json{{"type", "network"}, {"path", netns_path}});
  if (resolv_conf.empty()) return;

  Json& mounts = ensure(spec, "mounts", Json::array());
  for (const auto& m : mounts)
    if (const Json* d = json_member(m, "destination"); d && *d == "/etc/resolv.conf") return;
  Json options = Json::array({"bind"});
  const Json* root = json_member(spec, "root");
  if (const Json* ro = root ? json_member(*root, "readonly") : nullptr; ro && ro->is_boolean() && ro->get<bool>())
    options.push_back("ro");
  mounts.push_back(Json{{"destination", "/etc/resolv.conf"}, {"type", "bind"}, {"source", resolv_conf},
                        {"options", options}});
}

}  // namespace hcs::container
