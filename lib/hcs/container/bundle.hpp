// An OCI bundle on the host (a directory with config.json and a rootfs), and the
// documents hcsshim's host derives from it to create the container in a Linux guest:
// the guest's paths, the trimmed OCI spec sent with Create, and the CombinedLayers
// request that builds the container's root filesystem.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "hcs/core/json.hpp"
#include "hcs/schema/bridge.hpp"

namespace hcs::container {

// Where a container lives in the guest (hcsshim's LCOWRootPrefixInUVM).
inline constexpr std::string_view kGuestRootPrefix = "/run/gcs/c";
// config.json larger than this is refused unread: it is untrusted input, and far
// larger than any spec a bridge frame should carry.
inline constexpr std::size_t kMaxConfigSize = 1 << 20;

struct GuestPaths {
  std::string bundle;   // /run/gcs/c/<id>: OciBundlePath
  std::string rootfs;   // <bundle>/rootfs: the overlay, the spec's root.path
  std::string scratch;  // <bundle>/scratch unless given: overlay upper/work, ScratchDirPath
};
// Throws Error(ErrInvalidArg) for a bad id or scratch path.
GuestPaths guest_paths(const std::string& id, const std::string& scratch = {});

// A fresh id: 64 hex digits, the form containerd uses and a guest security policy wants.
std::string generate_id();
// Throws Error(ErrInvalidArg) unless `id` matches ^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$.
void validate_id(std::string_view id);
// Throws Error(ErrInvalidArg) unless `path` is an absolute guest path an overlay mount
// option can carry (no ':', ',', newline or NUL). `what` names it in the message.
void validate_guest_path(std::string_view path, std::string_view what);

struct Bundle {
  std::filesystem::path dir;
  Json spec;                     // config.json
  std::filesystem::path rootfs;  // root.path resolved against dir; empty when the spec has none
};
// Reads <dir>/config.json and checks the fields used here (validate_spec). A relative
// root.path must stay inside the bundle. Throws hcs::Error saying what is wrong.
Bundle load_bundle(const std::filesystem::path& dir);
// Checks the types of the spec's fields that are read or rewritten here; throws
// Error(HrVmcomputeInvalidJSON) naming the field.
void validate_spec(const Json& spec);

// What the caller changes in the spec's process before it is sent.
struct ProcessOverrides {
  std::vector<std::string> args;            // replaces process.args when not empty
  std::map<std::string, std::string> env;   // set in process.env, replacing the same name
  std::optional<bool> terminal;             // process.terminal
  std::optional<std::pair<uint16_t, uint16_t>> console_size;  // {rows, columns}: process.consoleSize
};
// Applies `o` to spec.process; throws Error(ErrInvalidArg) when the result has no args.
void apply_overrides(Json& spec, const ProcessOverrides& o);

// The spec as hcsshim's host sends it to a Linux guest: hooks removed; of `windows`
// only network.networkNamespace and devices kept; CPU period 0 -> 100000 and quota
// 0 -> -1; linux.cgroupsPath and the devices, pids, blockIO, hugepageLimits and
// network resources cleared; seccomp dropped for a privileged container (annotation
// io.microsoft.virtualmachine.lcow.privileged=true); root.path = the guest rootfs.
Json guest_spec(const Json& spec, const GuestPaths& paths);

// The Create document: SchemaVersion 2.1, OciBundlePath, the guest spec, ScratchDirPath.
schema::VmHostedContainerSettingsV2 container_settings(Json guest_spec, const GuestPaths& paths);

// CombinedLayers Add or Remove (request_type) for container `id`: an overlay of
// `layers` (guest paths, first on top) with the scratch, at the guest rootfs.
schema::ModificationRequest combined_layers(std::string_view request_type, const std::string& id,
                                            const std::vector<std::string>& layers, const GuestPaths& paths);

}  // namespace hcs::container
