// container/pod_network: an OCI spec's part in a pod's network, as a Linux guest reads
// it (hcsshim.md §7.2, §7.4): the HCN namespace the spec names, and the spec rewritten
// to join the network namespace kept for it. Pure: the guest decides which namespace
// exists and where its files are.
#pragma once

#include <string>

#include "hcs/core/json.hpp"

namespace hcs::container {

// The annotation that lets a container run without its pod's network namespace.
inline constexpr const char* kSkipPodNetworking = "io.microsoft.cri.skip-pod-networking";

// The HCN namespace ID in windows.network.networkNamespace; empty when there is none
// (or it is not a string).
std::string network_namespace_of(const Json& spec);
// True when the spec's annotation kSkipPodNetworking is "true".
bool skips_pod_networking(const Json& spec);
// Sets the spec's network namespace (linux.namespaces) to the one at `netns_path`, and,
// unless `resolv_conf` is empty or the spec mounts /etc/resolv.conf itself, bind-mounts
// `resolv_conf` there (read-only when the root is). Fields of the wrong type are
// replaced; the result is a spec a runtime accepts.
void join_network_namespace(Json& spec, const std::string& netns_path, const std::string& resolv_conf);

}  // namespace hcs::container
