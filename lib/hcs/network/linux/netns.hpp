// network/linux/netns: named network namespaces, kept where iproute2 keeps them
// (/run/netns/<name>, a bind mount of the namespace's nsfs file), so that `ip netns
// exec`, runc/crun (linux.namespaces[].path) and hnsctl all see the same ones.
#pragma once

#include <cstdint>
#include <string>

#include "hcs/core/fd.hpp"

namespace hcs::network::netns {

inline constexpr const char* kDir = "/run/netns";

std::string path(const std::string& name);
bool exists(const std::string& name);
// Creates an empty network namespace with its loopback up; ErrAlreadyExists-style
// error (VmcomputeSystemAlreadyExists) when the name is taken.
void create(const std::string& name);
// Unmounts and unlinks; a name that does not exist is not an error (delete is idempotent).
void remove(const std::string& name);
// The namespace's inode: what identifies it to the kernel (and HCN's NamespaceId here).
uint32_t inode(const std::string& name);
UniqueFd open(const std::string& name);
// The calling thread's network namespace.
UniqueFd current();
// True when some process's network namespace is this one (a container's, say).
bool in_use(const std::string& name);

// Moves the calling thread into a network namespace until destroyed. Netlink sockets
// and sockets opened meanwhile belong to that namespace for life.
class Scope {
 public:
  explicit Scope(int netns_fd);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  UniqueFd home_;
};

}  // namespace hcs::network::netns
