// run_container: an OCI bundle run as a container through a gcs that dials in, with
// the caller's stdio, the way hcsshim's host adds a container to a utility VM:
// CombinedLayers Add, Create, Start, the init process; then, once it has exited,
// CombinedLayers Remove and DeleteContainerState.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "hcs/bridge/run.hpp"

namespace hcs::container {

struct RunContainerOptions : bridge::SessionOptions {
  std::string id;                          // empty: a generated one (generate_id)
  std::filesystem::path bundle;            // the OCI bundle on this host
  // Read-only layers as guest paths, first on top. Empty: the bundle's own rootfs
  // directory, which a gcs on this host can use as it is.
  std::vector<std::string> layers;
  std::string scratch;                     // guest path; empty: /run/gcs/c/<id>/scratch
  std::vector<std::string> args;           // replaces process.args when not empty
  std::map<std::string, std::string> env;  // set in process.env
  // (tty also sets process.terminal.) After SIGINT/SIGTERM: how long a graceful
  // shutdown may take before a forced one.
  std::chrono::milliseconds stop_timeout = std::chrono::seconds(10);
  std::function<void(const std::string& id)> on_created;  // once the guest has created it
};

// Returns the exit code of the container's init process; throws hcs::Error when the
// container could not be run (bad bundle, no gcs, a failed request, a lost connection).
// What was set up in the guest is torn down on every path the bridge allows.
int run_container(const RunContainerOptions& options);

}  // namespace hcs::container
