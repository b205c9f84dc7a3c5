// container/pod_network: what a spec says of its pod's network, and the spec rewritten
// to join the pod's network namespace.
#include <gtest/gtest.h>

#include "hcs/container/pod_network.hpp"

namespace pod_network_test {

using hcs::Json;
using namespace hcs::container;

TEST(PodNetwork, NamespaceAndAnnotationAreReadOnlyFromTheirPlaces) {
  EXPECT_EQ(network_namespace_of(Json::parse(R"({"windows": {"network": {"networkNamespace": "Pod-1"}}})")), "Pod-1");
  for (const char* none : {R"({})", R"([])", R"("x")", R"({"windows": 1})", R"({"windows": {"network": []}})",
                           R"({"windows": {"network": {"networkNamespace": 7}}})"})
    EXPECT_EQ(network_namespace_of(Json::parse(none)), "") << none;
  EXPECT_TRUE(skips_pod_networking(Json::parse(R"({"annotations": {"io.microsoft.cri.skip-pod-networking": "true"}})")));
  for (const char* no : {R"({"annotations": {"io.microsoft.cri.skip-pod-networking": "false"}})",
                         R"({"annotations": {"io.microsoft.cri.skip-pod-networking": true}})", R"({"annotations": []})",
                         R"({})"})
    EXPECT_FALSE(skips_pod_networking(Json::parse(no))) << no;
}

TEST(PodNetwork, JoinReplacesTheNetworkNamespaceAndMountsTheResolvConf) {
  Json spec = Json::parse(R"({
    "root": {"path": "rootfs", "readonly": true},
    "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
    "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}]}})");
  join_network_namespace(spec, "/run/netns/hcn-pod", "/etc/netns/hcn-pod/resolv.conf");
  EXPECT_EQ(spec["linux"]["namespaces"], Json::parse(R"([{"type": "pid"}, {"type": "mount"},
                                                         {"type": "network", "path": "/run/netns/hcn-pod"}])"));
  EXPECT_EQ(spec["mounts"].back(), Json::parse(R"({"destination": "/etc/resolv.conf", "type": "bind",
      "source": "/etc/netns/hcn-pod/resolv.conf", "options": ["bind", "ro"]})"));
  // Joining again changes nothing more: one network entry, one resolv.conf mount.
  const Json once = spec;
  join_network_namespace(spec, "/run/netns/hcn-pod", "/etc/netns/hcn-pod/resolv.conf");
  EXPECT_EQ(spec, once);
}

TEST(PodNetwork, TheSpecsOwnResolvConfMountWins) {
  Json spec = Json::parse(R"({"mounts": [{"destination": "/etc/resolv.conf", "type": "bind", "source": "/mine"}]})");
  join_network_namespace(spec, "/run/netns/hcn-pod", "/etc/netns/hcn-pod/resolv.conf");
  ASSERT_EQ(spec["mounts"].size(), 1u);
  EXPECT_EQ(spec["mounts"][0]["source"], "/mine");
  Json bare = Json::object();
  join_network_namespace(bare, "/run/netns/hcn-pod", "");  // no DNS settings: no mount
  EXPECT_FALSE(bare.contains("mounts"));
  EXPECT_EQ(bare["linux"]["namespaces"].size(), 1u);
}

TEST(PodNetwork, FieldsOfTheWrongTypeAreReplaced) {
  Json spec = Json::parse(R"({"linux": {"namespaces": "all"}, "mounts": 3, "root": "rootfs"})");
  join_network_namespace(spec, "/run/netns/hcn-pod", "/r");
  EXPECT_EQ(spec["linux"]["namespaces"], Json::parse(R"([{"type": "network", "path": "/run/netns/hcn-pod"}])"));
  EXPECT_EQ(spec["mounts"][0]["options"], Json::parse(R"(["bind"])"));
  Json odd = Json::parse(R"({"linux": [], "mounts": [1, {"destination": 2}]})");
  join_network_namespace(odd, "/n", "/r");
  EXPECT_EQ(odd["mounts"].size(), 3u);
  EXPECT_TRUE(odd["linux"].is_object());
}

}  // namespace pod_network_test
