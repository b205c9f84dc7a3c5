// network/linux/netlink: the links, addresses and routes of one network namespace,
// through libnl-route-3.
//
// Why libnl-route-3 and not libmnl: libmnl only frames messages, so every nested
// attribute (IFLA_LINKINFO → IFLA_INFO_DATA → VETH_INFO_PEER, ...) would be hand-built
// and hand-checked here; libnl-route has typed link, address and route objects for
// exactly these operations, turns kernel errors into messages, and Debian ships it as a
// static archive too, which the static gcs needs to configure a guest's NICs (libmnl
// comes only as a shared library).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct nl_sock;

namespace hcs::network {

struct LinkInfo {
  std::string name;
  int index = 0;
  int master = 0;        // the bridge it is a port of, 0 if none
  std::string kind;      // "bridge", "veth", ... ("" for a device without one, e.g. lo)
  std::string alias;     // IFLA_IFALIAS ("" if none)
  std::string mac;       // 00:15:5d:.. ("" if none)
  bool up = false;
};

class Netlink {
 public:
  // A NETLINK_ROUTE socket in the calling thread's network namespace (for good).
  Netlink();
  ~Netlink();
  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  // 0 when there is no such link.
  int index(const std::string& name) const;
  std::vector<LinkInfo> links() const;

  void add_bridge(const std::string& name);
  // A veth pair, both ends in this namespace.
  void add_veth(const std::string& name, const std::string& peer);
  // A persistent tap device (it outlives this process until removed), for a VM's NIC:
  // QEMU attaches to it by name.
  void add_tap(const std::string& name);
  void set_master(const std::string& name, const std::string& bridge);
  void set_up(const std::string& name);
  void set_down(const std::string& name);
  void set_alias(const std::string& name, const std::string& alias);
  void set_mac(const std::string& name, const std::string& mac);  // "00-15-5D-..", or with colons
  void set_mtu(const std::string& name, uint32_t mtu);
  void rename(const std::string& name, const std::string& to);
  // Moves the link into the namespace open at `netns_fd`; it keeps its name there.
  void move_to(const std::string& name, int netns_fd);
  // Removes a link (a veth's peer goes with it); false when it did not exist.
  bool remove(const std::string& name);

  void add_address(const std::string& name, uint32_t address, int prefix_length);
  // Removes every IPv4 address of the link (and so the routes through them).
  void flush_addresses(const std::string& name);
  // A route to `destination`/`prefix_length` (0/0: the default route) through `gateway`
  // (0: on-link) on the link.
  void add_route(const std::string& name, uint32_t destination, int prefix_length, uint32_t gateway, uint32_t metric);

 private:
  nl_sock* sock_ = nullptr;
};

}  // namespace hcs::network
