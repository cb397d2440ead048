#include "host/links.h"

#include <unordered_map>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nl/fd.h"
#include "nl/netns.h"

namespace host {

namespace {

// Adds the operation's subject to kernel errors that do not say it.
[[noreturn]] void rethrow(const nl::Error& e, const std::string& subject) {
  switch (e.error()) {
    case EPERM:
    case EACCES:
      throw nl::Error(e.error(), subject + ": permission denied (needs CAP_NET_ADMIN)", e.extack());
    default:
      throw nl::Error(e.error(), subject + ": " + e.what(), e.extack());
  }
}

bool sameAddress(const Address& have, const AddressSpec& want) {
  if (!(have.address == want.address)) return false;
  // The kernel keys IPv4 addresses by address and mask, IPv6 by address alone.
  return want.address.family == AF_INET6 || have.prefixLength == want.prefixLength;
}

std::string onDev(const AddressSpec& spec, const std::string& dev) {
  return "address " + describe(spec.address, spec.prefixLength) + " on " + dev;
}

// A namespace file held open for IFLA_NET_NS_FD. Empty path: the calling
// thread's own namespace, named explicitly because the request is sent from a
// socket that may live elsewhere (and -1 would mean that socket's namespace).
nl::Fd openNetns(const std::string& path) {
  return nl::openNetnsFile(path.empty() ? "/proc/thread-self/ns/net" : path);
}

nl::Error alreadyThere(const AddressSpec& spec, const std::string& dev, const std::string& extack = {}) {
  return nl::Error(EEXIST, "address " + describe(spec.address, spec.prefixLength) + " already exists on " + dev, extack);
}

}  // namespace

bool addAddress(const std::string& netns, const std::string& dev, const AddressSpec& spec, bool existOk) {
  Rtnl rt(netns);
  Link l = rt.link(dev);
  for (const Address& a : rt.addresses(l.index)) {
    if (!sameAddress(a, spec)) continue;
    if (existOk) return false;
    throw alreadyThere(spec, dev);
  }
  try {
    rt.addAddress(l.index, spec);
  } catch (const nl::Error& e) {
    // Added by someone else between the check above and the request.
    if (e.error() == EEXIST && existOk) return false;
    if (e.error() == EEXIST) throw alreadyThere(spec, dev, e.extack());
    rethrow(e, "cannot add " + onDev(spec, dev));
  }
  return true;
}

bool deleteAddress(const std::string& netns, const std::string& dev, const AddressSpec& spec, bool missingOk) {
  Rtnl rt(netns);
  Link l = rt.link(dev);
  try {
    rt.deleteAddress(l.index, spec);
  } catch (const nl::Error& e) {
    if (e.error() != EADDRNOTAVAIL) rethrow(e, "cannot delete " + onDev(spec, dev));
    if (missingOk) return false;
    std::string label = spec.label.empty() || spec.label == dev ? "" : " with label " + spec.label;
    throw nl::Error(EADDRNOTAVAIL,
                    "address " + describe(spec.address, spec.prefixLength) + label + " is not on " + dev, e.extack());
  }
  return true;
}

std::vector<Address> listAddresses(const std::string& netns, const std::string& dev) {
  Rtnl rt(netns);
  int index = dev.empty() ? 0 : rt.link(dev).index;
  return rt.addresses(index);
}

std::optional<Link> findLink(const std::string& netns, const std::string& dev) { return Rtnl(netns).findLink(dev); }

std::vector<Link> listLinks(const std::string& netns) { return Rtnl(netns).links(); }

bool setLinkUp(const std::string& netns, const std::string& dev, bool up) {
  Rtnl rt(netns);
  Link l = rt.link(dev);
  try {
    if (l.up() != up) rt.setUp(l.index, up);
  } catch (const nl::Error& e) {
    rethrow(e, std::string("cannot set ") + dev + (up ? " up" : " down"));
  }
  return l.up();
}

void createVeth(const VethSpec& spec) {
  nl::Fd ns = openNetns(spec.netns);
  // Created from the peer's side (its socket's namespace is the peer's);
  // only `name` is sent elsewhere, by IFLA_NET_NS_FD.
  Rtnl rt(spec.peerNetns);
  try {
    rt.createVeth(spec.name, ns.get(), spec.peer, -1);
  } catch (const nl::Error& e) {
    rethrow(e, "cannot create veth pair " + spec.name + "/" + spec.peer);
  }
  Link peer = rt.link(spec.peer);
  try {
    if (!spec.peerMaster.empty()) rt.setMaster(peer.index, rt.link(spec.peerMaster).index);
    rt.setUp(peer.index, true);
    Rtnl main(spec.netns);
    main.setUp(main.link(spec.name).index, true);
  } catch (...) {
    // Deleting one end deletes the pair: leave nothing half-made.
    try {
      rt.deleteLink(peer.index);
    } catch (const nl::Error&) {
    }
    throw;
  }
}

void createBridge(const std::string& netns, const std::string& name) {
  Rtnl rt(netns);
  try {
    rt.createBridge(name);
  } catch (const nl::Error& e) {
    rethrow(e, "cannot create bridge " + name);
  }
  Link bridge = rt.link(name);
  try {
    rt.setUp(bridge.index, true);
  } catch (const nl::Error& e) {
    try {
      rt.deleteLink(bridge.index);
    } catch (const nl::Error&) {
    }
    rethrow(e, "cannot set bridge " + name + " up");
  }
}

void addRoute(const std::string& netns, const std::string& dev, const IpAddress* dst, int prefixLength,
              const IpAddress* gateway) {
  Rtnl rt(netns);
  Link l = rt.link(dev);
  int family = dst ? dst->family : gateway ? gateway->family : AF_INET;
  try {
    rt.addRoute(family, dst, prefixLength, gateway, l.index);
  } catch (const nl::Error& e) {
    std::string what = dst ? describe(*dst, prefixLength) : "default";
    rethrow(e, "cannot add route " + what + (gateway ? " via " + formatIp(*gateway) : "") + " dev " + dev);
  }
}

void setRoute(const std::string& netns, const IpAddress& dst, int prefixLength, const std::vector<NamedHop>& hops,
              bool replace) {
  Rtnl rt(netns);
  std::vector<NextHop> resolved;
  std::string words;
  for (const NamedHop& h : hops) {
    NextHop n;
    n.gateway = h.gateway;
    n.index = rt.link(h.dev).index;
    n.weight = h.weight;
    resolved.push_back(n);
    words += std::string(words.empty() ? "" : ",") + (h.gateway.family != AF_UNSPEC ? " via " + formatIp(h.gateway) : "") +
             " dev " + h.dev + (hops.size() > 1 ? " weight " + std::to_string(h.weight) : "");
  }
  try {
    rt.setRoute(dst, prefixLength, resolved, replace);
  } catch (const nl::Error& e) {
    rethrow(e, std::string("cannot ") + (replace ? "replace" : "add") + " route " + describe(dst, prefixLength) + words);
  }
}

void deleteRoute(const std::string& netns, const IpAddress& dst, int prefixLength) {
  Rtnl rt(netns);
  try {
    rt.deleteRoute(dst, prefixLength);
  } catch (const nl::Error& e) {
    rethrow(e, "cannot delete route " + describe(dst, prefixLength));
  }
}

std::vector<NamedRoute> listRoutes(const std::string& netns, int family) {
  Rtnl rt(netns);
  std::unordered_map<int, std::string> names;
  for (const Link& l : rt.links()) names[l.index] = l.name;
  std::vector<NamedRoute> out;
  for (const Route& r : rt.routes(family)) {
    NamedRoute n;
    n.dst = r.dst;
    n.prefixLength = r.prefixLength;
    for (const NextHop& h : r.nextHops) {
      auto it = names.find(h.index);
      n.hops.push_back({h.gateway, it != names.end() ? it->second : std::to_string(h.index), h.weight});
    }
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace host
