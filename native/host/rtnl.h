// rtnetlink (NETLINK_ROUTE) for what an LVS host needs: links, addresses,
// veth pairs, bridges and routes. No N-API here. Every failure is an
// nl::Error whose text names the device or address in words.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "host/ip.h"
#include "nl/attr.h"
#include "nl/socket.h"

namespace host {

struct Link {
  int index = 0;
  std::string name;
  unsigned flags = 0;  // IFF_*
  bool up() const;
};

struct Address {
  int index = 0;
  std::string dev;
  IpAddress address;
  int prefixLength = 0;
  // IFA_LABEL: IPv4 only; equals the device name unless it is an alias.
  std::string label;
  uint32_t flags = 0;  // IFA_F_*
};

// One next hop of a route: a gateway on a link, with a weight (1–256).
struct NextHop {
  IpAddress gateway;  // family AF_UNSPEC: none (a directly connected route)
  int index = 0;      // the link
  int weight = 1;
};

// A route of the main table as a dump shows it.
struct Route {
  IpAddress dst;  // family AF_UNSPEC with prefixLength 0: the default route
  int prefixLength = 0;
  std::vector<NextHop> nextHops;  // one for a plain route, more for multipath
};

// What identifies an address to add or delete on one device.
struct AddressSpec {
  IpAddress address;
  int prefixLength = 0;
  std::string label;   // IPv4 only; empty = the device name
  bool noDad = false;  // IPv6: usable at once, no duplicate detection
  // IPv6: preferred lifetime 0 (valid forever), so the kernel never picks it as
  // a source address; incoming traffic to it still works. For VIPs.
  bool deprecated = false;
};

// One NETLINK_ROUTE socket, opened inside a network namespace (empty path:
// the caller's) and bound to it for life, like ipvs::Client.
class Rtnl {
 public:
  explicit Rtnl(const std::string& netnsPath);

  // RTM_GETLINK by name, answered by the socket's namespace (unlike
  // if_nametoindex, which would ask the calling thread's).
  std::optional<Link> findLink(const std::string& name);
  // Same, but a missing device is Error(ENODEV, "no network device named 'x'").
  Link link(const std::string& name);
  std::vector<Link> links();
  void setUp(int index, bool up);

  // Raw requests: the kernel's EEXIST / EADDRNOTAVAIL come through as is.
  void addAddress(int index, const AddressSpec& spec);
  void deleteAddress(int index, const AddressSpec& spec);
  // Addresses of one device (index > 0) or of all; `dev` filled from a link dump.
  std::vector<Address> addresses(int index = 0);

  // A veth pair whose ends are created directly in the namespaces open at
  // `nsFd` and `peerNsFd` (-1: this socket's namespace).
  void createVeth(const std::string& name, int nsFd, const std::string& peer, int peerNsFd);
  // A bridge without STP and with no forwarding delay, so ports forward at once.
  void createBridge(const std::string& name);
  void setMaster(int index, int masterIndex);
  // A unicast route in the main table; `dst` null = default route.
  void addRoute(int family, const IpAddress* dst, int prefixLength, const IpAddress* gateway, int oif);
  // A unicast route to dst/prefixLength over `hops` (RTA_MULTIPATH when more
  // than one, each with its weight); `replace` swaps an existing route for
  // it, else the kernel's EEXIST comes through.
  void setRoute(const IpAddress& dst, int prefixLength, const std::vector<NextHop>& hops, bool replace);
  void deleteRoute(const IpAddress& dst, int prefixLength);
  // The main table's unicast routes of `family`.
  std::vector<Route> routes(int family);
  void deleteLink(int index);

 private:
  using Attrs = std::function<void(nl::Writer&)>;
  // One acknowledged request: nlmsghdr, the fixed `header`, then `attrs`.
  void request(uint16_t type, uint16_t flags, const void* header, size_t headerLen, const Attrs& attrs,
               const nl::MessageHandler& onData = nullptr);
  // A dump of `type` with the given fixed header (and attributes); retried
  // from scratch when the kernel reports it interrupted.
  void dump(uint16_t type, const void* header, size_t headerLen, const Attrs& attrs, const nl::MessageHandler& onData,
            const std::function<void()>& reset);
  std::unique_ptr<nl::Socket> sock_;
};

// "10.0.0.1/32" or "fd00::1/128".
std::string describe(const IpAddress& a, int prefixLength);

}  // namespace host
