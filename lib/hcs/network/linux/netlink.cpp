#include "hcs/network/linux/netlink.hpp"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <arpa/inet.h>

#include <cctype>
#include <cstring>

#include "hcs/core/error.hpp"
#include "hcs/network/names.hpp"

namespace hcs::network {

namespace {

template <class T, void (*Free)(T*)>
struct NlDeleter {
  void operator()(T* p) const noexcept {
    if (p) Free(p);
  }
};
using LinkPtr = std::unique_ptr<rtnl_link, NlDeleter<rtnl_link, rtnl_link_put>>;
using AddrPtr = std::unique_ptr<nl_addr, NlDeleter<nl_addr, nl_addr_put>>;
using RtAddrPtr = std::unique_ptr<rtnl_addr, NlDeleter<rtnl_addr, rtnl_addr_put>>;
using RoutePtr = std::unique_ptr<rtnl_route, NlDeleter<rtnl_route, rtnl_route_put>>;

// libnl returns negative NLE_* codes; errno-like ones keep their meaning in the text.
void nl_check(int rc, const std::string& what) {
  if (rc >= 0) return;
  const uint32_t code = rc == -NLE_EXIST ? hr::VmcomputeSystemAlreadyExists
                        : rc == -NLE_OBJ_NOTFOUND || rc == -NLE_NODEV ? hr::ErrNotFound
                        : rc == -NLE_INVAL || rc == -NLE_RANGE ? hr::ErrInvalidArg
                                                                : hr::Fail;
  throw Error(code, "netlink: " + what + ": " + nl_geterror(rc));
}

LinkPtr new_link(const std::string& name) {
  LinkPtr l(rtnl_link_alloc());
  if (!l) throw Error(hr::Fail, "netlink: out of memory");
  rtnl_link_set_name(l.get(), name.c_str());
  return l;
}

AddrPtr nl_ipv4(uint32_t address, int prefix_length) {
  const uint32_t be = htonl(address);
  AddrPtr a(nl_addr_build(AF_INET, &be, sizeof be));
  if (!a) throw Error(hr::Fail, "netlink: out of memory");
  nl_addr_set_prefixlen(a.get(), prefix_length);
  return a;
}

std::string cidr_text(uint32_t a, int len) {
  return std::to_string(a >> 24) + "." + std::to_string(a >> 16 & 255) + "." + std::to_string(a >> 8 & 255) + "." +
         std::to_string(a & 255) + "/" + std::to_string(len);
}

}  // namespace

Netlink::Netlink() : sock_(nl_socket_alloc()) {
  if (!sock_) throw Error(hr::Fail, "netlink: out of memory");
  if (int rc = nl_connect(sock_, NETLINK_ROUTE); rc < 0) {
    nl_socket_free(sock_);
    nl_check(rc, "connect");
  }
}

Netlink::~Netlink() { nl_socket_free(sock_); }

int Netlink::index(const std::string& name) const {
  rtnl_link* l = nullptr;
  if (rtnl_link_get_kernel(sock_, 0, name.c_str(), &l) < 0) return 0;
  LinkPtr owned(l);
  return rtnl_link_get_ifindex(l);
}

std::vector<LinkInfo> Netlink::links() const {
  nl_cache* cache = nullptr;
  nl_check(rtnl_link_alloc_cache(sock_, AF_UNSPEC, &cache), "list links");
  std::vector<LinkInfo> out;
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    auto* l = reinterpret_cast<rtnl_link*>(o);
    const char* kind = rtnl_link_get_type(l);
    const char* alias = rtnl_link_get_ifalias(l);
    std::string mac;
    if (nl_addr* a = rtnl_link_get_addr(l); a && nl_addr_get_len(a) == 6) {
      char buf[32];
      mac = nl_addr2str(a, buf, sizeof buf);
    }
    out.push_back({rtnl_link_get_name(l), rtnl_link_get_ifindex(l), rtnl_link_get_master(l), kind ? kind : "",
                   alias ? alias : "", mac, (rtnl_link_get_flags(l) & IFF_UP) != 0});
  }
  nl_cache_free(cache);
  return out;
}

void Netlink::add_bridge(const std::string& name) {
  nl_check(rtnl_link_bridge_add(sock_, name.c_str()), "add bridge " + name);
}

void Netlink::add_veth(const std::string& name, const std::string& peer) {
  LinkPtr l(rtnl_link_veth_alloc());
  if (!l) throw Error(hr::Fail, "netlink: out of memory");
  rtnl_link_set_name(l.get(), name.c_str());
  rtnl_link_set_name(rtnl_link_veth_get_peer(l.get()), peer.c_str());
  nl_check(rtnl_link_add(sock_, l.get(), NLM_F_CREATE | NLM_F_EXCL), "add veth " + name + " / " + peer);
}

void Netlink::add_tap(const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) throw Error(hr::ErrInvalidArg, "'" + name + "' is not an interface name");
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) throw_errno("open /dev/net/tun");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, name.c_str(), name.size());
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  const bool ok = ::ioctl(fd, TUNSETIFF, &ifr) == 0 && ::ioctl(fd, TUNSETPERSIST, 1) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    errno = err;
    throw_errno("create the tap device " + name);
  }
}

void Netlink::flush_addresses(const std::string& name) {
  const int ifindex = index(name);
  if (ifindex == 0) throw Error(hr::ErrNotFound, "netlink: no link " + name);
  nl_cache* cache = nullptr;
  nl_check(rtnl_addr_alloc_cache(sock_, &cache), "list addresses");
  for (nl_object* o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
    auto* a = reinterpret_cast<rtnl_addr*>(o);
    if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != AF_INET) continue;
    if (int rc = rtnl_addr_delete(sock_, a, 0); rc < 0 && rc != -NLE_NOADDR) {
      nl_cache_free(cache);
      nl_check(rc, "remove an address of " + name);
    }
  }
  nl_cache_free(cache);
}

namespace {
// Applies `edit` to a link named `name` as one RTM_NEWLINK/SETLINK change.
template <class Edit>
void change_link(nl_sock* sock, const std::string& name, const std::string& what, Edit edit) {
  rtnl_link* current = nullptr;
  nl_check(rtnl_link_get_kernel(sock, 0, name.c_str(), &current), what + " (find " + name + ")");
  LinkPtr owned(current);
  LinkPtr changes(rtnl_link_alloc());
  edit(changes.get());
  nl_check(rtnl_link_change(sock, current, changes.get(), 0), what);
}
}  // namespace

void Netlink::set_master(const std::string& name, const std::string& bridge) {
  const int master = index(bridge);
  if (master == 0) throw Error(hr::ErrNotFound, "netlink: no bridge " + bridge);
  change_link(sock_, name, "put " + name + " on " + bridge, [&](rtnl_link* c) { rtnl_link_set_master(c, master); });
}

void Netlink::set_up(const std::string& name) {
  change_link(sock_, name, "set " + name + " up", [](rtnl_link* c) { rtnl_link_set_flags(c, IFF_UP); });
}

void Netlink::set_down(const std::string& name) {
  // rtnl_link_change applies only the flags set in the change, so IFF_UP is unset explicitly.
  change_link(sock_, name, "set " + name + " down", [](rtnl_link* c) { rtnl_link_unset_flags(c, IFF_UP); });
}

void Netlink::set_alias(const std::string& name, const std::string& alias) {
  change_link(sock_, name, "set the alias of " + name, [&](rtnl_link* c) { rtnl_link_set_ifalias(c, alias.c_str()); });
}

void Netlink::set_mac(const std::string& name, const std::string& mac) {
  AddrPtr a;
  nl_addr* parsed = nullptr;
  nl_check(nl_addr_parse(names::kernel_mac(mac).c_str(), AF_LLC, &parsed), "parse MAC " + mac);
  a.reset(parsed);
  change_link(sock_, name, "set the MAC of " + name, [&](rtnl_link* c) { rtnl_link_set_addr(c, a.get()); });
}

void Netlink::set_mtu(const std::string& name, uint32_t mtu) {
  change_link(sock_, name, "set the MTU of " + name, [&](rtnl_link* c) { rtnl_link_set_mtu(c, mtu); });
}

void Netlink::rename(const std::string& name, const std::string& to) {
  change_link(sock_, name, "rename " + name + " to " + to, [&](rtnl_link* c) { rtnl_link_set_name(c, to.c_str()); });
}

void Netlink::move_to(const std::string& name, int netns_fd) {
  change_link(sock_, name, "move " + name + " to another network namespace",
         [&](rtnl_link* c) { rtnl_link_set_ns_fd(c, netns_fd); });
}

bool Netlink::remove(const std::string& name) {
  LinkPtr l = new_link(name);
  const int rc = rtnl_link_delete(sock_, l.get());
  if (rc == -NLE_NODEV || rc == -NLE_OBJ_NOTFOUND) return false;
  nl_check(rc, "remove " + name);
  return true;
}

void Netlink::add_address(const std::string& name, uint32_t address, int prefix_length) {
  const int ifindex = index(name);
  if (ifindex == 0) throw Error(hr::ErrNotFound, "netlink: no link " + name);
  RtAddrPtr a(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(a.get(), ifindex);
  AddrPtr local = nl_ipv4(address, prefix_length);
  nl_check(rtnl_addr_set_local(a.get(), local.get()), "address " + cidr_text(address, prefix_length));
  nl_check(rtnl_addr_add(sock_, a.get(), 0), "add " + cidr_text(address, prefix_length) + " to " + name);
}

void Netlink::add_route(const std::string& name, uint32_t destination, int prefix_length, uint32_t gateway,
                        uint32_t metric) {
  const int ifindex = index(name);
  if (ifindex == 0) throw Error(hr::ErrNotFound, "netlink: no link " + name);
  RoutePtr r(rtnl_route_alloc());
  rtnl_route_set_family(r.get(), AF_INET);
  AddrPtr dst = nl_ipv4(destination, prefix_length);
  nl_check(rtnl_route_set_dst(r.get(), dst.get()), "route destination");
  if (metric) rtnl_route_set_priority(r.get(), metric);
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(nh, ifindex);
  AddrPtr gw;
  if (gateway) {
    gw = nl_ipv4(gateway, 32);
    rtnl_route_nh_set_gateway(nh, gw.get());
  } else {
    rtnl_route_set_scope(r.get(), RT_SCOPE_LINK);
  }
  rtnl_route_add_nexthop(r.get(), nh);  // the route owns it now
  nl_check(rtnl_route_add(sock_, r.get(), NLM_F_CREATE | NLM_F_EXCL),
        "add the route to " + cidr_text(destination, prefix_length) + " on " + name);
}

}  // namespace hcs::network
