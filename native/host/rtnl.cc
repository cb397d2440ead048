#include "host/rtnl.h"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

#include "nl/attr.h"
#include "nl/netns.h"

namespace host {

namespace {

std::unique_ptr<nl::Socket> openSocket(const std::string& netnsPath) {
  nl::NetnsScope scope(netnsPath);
  return std::make_unique<nl::Socket>(NETLINK_ROUTE);
}

// The fixed header after nlmsghdr, bounds-checked, and the attributes after it.
template <typename T>
const T& payload(const nlmsghdr& h, const uint8_t*& attrs, size_t& attrsLen, const char* what) {
  size_t len = h.nlmsg_len - NLMSG_HDRLEN;
  if (len < sizeof(T)) throw nl::ParseError(std::string("truncated ") + what + " message");
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&h) + NLMSG_HDRLEN;
  size_t skip = NLMSG_ALIGN(sizeof(T));
  attrs = p + (skip < len ? skip : len);
  attrsLen = skip < len ? len - skip : 0;
  return *reinterpret_cast<const T*>(p);
}

Link parseLink(const nlmsghdr& h) {
  const uint8_t* attrs;
  size_t len;
  const auto& ifi = payload<ifinfomsg>(h, attrs, len, "RTM_NEWLINK");
  nl::AttrTable<IFLA_IFNAME + 1> tb(attrs, len);
  Link l;
  l.index = ifi.ifi_index;
  l.flags = ifi.ifi_flags;
  if (const nl::Attr* a = tb.get(IFLA_IFNAME)) l.name = a->str();
  return l;
}

}  // namespace

bool Link::up() const { return (flags & IFF_UP) != 0; }

std::string describe(const IpAddress& a, int prefixLength) { return formatIp(a) + "/" + std::to_string(prefixLength); }

Rtnl::Rtnl(const std::string& netnsPath) : sock_(openSocket(netnsPath)) {}

void Rtnl::request(uint16_t type, uint16_t flags, const void* header, size_t headerLen, const Attrs& attrs,
                   const nl::MessageHandler& onData) {
  std::vector<uint8_t> msg;
  nl::Writer w(msg);
  uint32_t seq = sock_->nextSeq();
  size_t off = w.beginMessage(type, NLM_F_REQUEST | NLM_F_ACK | flags, seq, sock_->portId());
  w.putRaw(header, headerLen);
  if (attrs) attrs(w);
  w.endMessage(off);
  sock_->request(msg, seq, onData);
}

void Rtnl::dump(uint16_t type, const void* header, size_t headerLen, const Attrs& attrs,
                const nl::MessageHandler& onData, const std::function<void()>& reset) {
  sock_->dump(
      [&](uint32_t seq) {
        std::vector<uint8_t> msg;
        nl::Writer w(msg);
        size_t off = w.beginMessage(type, NLM_F_REQUEST | NLM_F_DUMP, seq, sock_->portId());
        w.putRaw(header, headerLen);
        if (attrs) attrs(w);
        w.endMessage(off);
        return msg;
      },
      onData, reset);
}

std::optional<Link> Rtnl::findLink(const std::string& name) {
  ifinfomsg ifi{};
  std::optional<Link> found;
  try {
    request(
        RTM_GETLINK, 0, &ifi, sizeof ifi,
        [&](nl::Writer& w) {
          w.putString(IFLA_IFNAME, name);
          // Leave out per-VF and stats blobs: only the header and name are needed.
          w.putU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
        },
        [&](const nlmsghdr& h) {
          if (h.nlmsg_type == RTM_NEWLINK) found = parseLink(h);
        });
  } catch (const nl::Error& e) {
    if (e.error() == ENODEV) return std::nullopt;
    throw;
  }
  return found;
}

Link Rtnl::link(const std::string& name) {
  auto l = findLink(name);
  if (!l) throw nl::Error(ENODEV, "no network device named '" + name + "'");
  return *l;
}

std::vector<Link> Rtnl::links() {
  std::vector<Link> out;
  ifinfomsg ifi{};
  dump(
      RTM_GETLINK, &ifi, sizeof ifi, [](nl::Writer& w) { w.putU32(IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS); },
      [&](const nlmsghdr& h) {
        if (h.nlmsg_type == RTM_NEWLINK) out.push_back(parseLink(h));
      },
      [&] { out.clear(); });
  return out;
}

void Rtnl::setUp(int index, bool up) {
  ifinfomsg ifi{};
  ifi.ifi_index = index;
  ifi.ifi_change = IFF_UP;
  ifi.ifi_flags = up ? IFF_UP : 0;
  request(RTM_NEWLINK, 0, &ifi, sizeof ifi, nullptr);
}

namespace {

ifaddrmsg addrHeader(int index, const AddressSpec& spec) {
  ifaddrmsg ifa{};
  ifa.ifa_family = static_cast<uint8_t>(spec.address.family);
  ifa.ifa_prefixlen = static_cast<uint8_t>(spec.prefixLength);
  ifa.ifa_index = static_cast<uint32_t>(index);
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  return ifa;
}

void putAddress(nl::Writer& w, const AddressSpec& spec) {
  const IpAddress& a = spec.address;
  w.put(IFA_LOCAL, a.bytes, a.size());
  w.put(IFA_ADDRESS, a.bytes, a.size());
  if (a.family == AF_INET && !spec.label.empty()) w.putString(IFA_LABEL, spec.label);
}

}  // namespace

void Rtnl::addAddress(int index, const AddressSpec& spec) {
  ifaddrmsg ifa = addrHeader(index, spec);
  request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof ifa, [&](nl::Writer& w) {
    putAddress(w, spec);
    if (spec.noDad) w.putU32(IFA_FLAGS, IFA_F_NODAD);
    if (spec.deprecated) {
      ifa_cacheinfo ci{};
      ci.ifa_prefered = 0;
      ci.ifa_valid = 0xffffffffu;  // INFINITY_LIFE_TIME
      w.put(IFA_CACHEINFO, &ci, sizeof ci);
    }
  });
}

void Rtnl::deleteAddress(int index, const AddressSpec& spec) {
  ifaddrmsg ifa = addrHeader(index, spec);
  request(RTM_DELADDR, 0, &ifa, sizeof ifa, [&](nl::Writer& w) { putAddress(w, spec); });
}

std::vector<Address> Rtnl::addresses(int index) {
  std::unordered_map<int, std::string> names;
  for (const Link& l : links()) names[l.index] = l.name;
  std::vector<Address> out;
  ifaddrmsg all{};  // AF_UNSPEC: both families, every device
  dump(
      RTM_GETADDR, &all, sizeof all, nullptr,
      [&](const nlmsghdr& h) {
        if (h.nlmsg_type != RTM_NEWADDR) return;
        const uint8_t* attrs;
        size_t len;
        const auto& ifa = payload<ifaddrmsg>(h, attrs, len, "RTM_NEWADDR");
        if (index > 0 && static_cast<int>(ifa.ifa_index) != index) return;
        if (ifa.ifa_family != AF_INET && ifa.ifa_family != AF_INET6) return;
        nl::AttrTable<IFA_FLAGS + 1> tb(attrs, len);
        // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer
        // on point-to-point links (and the only one IPv6 usually sends).
        const nl::Attr* a = tb.get(IFA_LOCAL) ? tb.get(IFA_LOCAL) : tb.get(IFA_ADDRESS);
        if (!a) return;
        Address addr;
        addr.index = static_cast<int>(ifa.ifa_index);
        addr.address = ipFromBytes(ifa.ifa_family, a->data(), a->size());
        addr.prefixLength = ifa.ifa_prefixlen;
        addr.flags = tb.get(IFA_FLAGS) ? tb.get(IFA_FLAGS)->u32() : ifa.ifa_flags;
        if (const nl::Attr* l = tb.get(IFA_LABEL)) addr.label = l->str();
        auto it = names.find(addr.index);
        addr.dev = it != names.end() ? it->second : std::to_string(addr.index);
        out.push_back(std::move(addr));
      },
      [&] { out.clear(); });
  return out;
}

void Rtnl::createVeth(const std::string& name, int nsFd, const std::string& peer, int peerNsFd) {
  ifinfomsg ifi{};
  request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi, [&](nl::Writer& w) {
    w.putString(IFLA_IFNAME, name);
    if (nsFd >= 0) w.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(nsFd));
    size_t info = w.beginNested(IFLA_LINKINFO);
    w.putString(IFLA_INFO_KIND, "veth");
    size_t data = w.beginNested(IFLA_INFO_DATA);
    // VETH_INFO_PEER holds a whole ifinfomsg followed by the peer's attributes.
    size_t p = w.beginNested(VETH_INFO_PEER);
    ifinfomsg peerIfi{};
    w.putRaw(&peerIfi, sizeof peerIfi);
    w.putString(IFLA_IFNAME, peer);
    if (peerNsFd >= 0) w.putU32(IFLA_NET_NS_FD, static_cast<uint32_t>(peerNsFd));
    w.endNested(p);
    w.endNested(data);
    w.endNested(info);
  });
}

void Rtnl::createBridge(const std::string& name) {
  ifinfomsg ifi{};
  request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi, [&](nl::Writer& w) {
    w.putString(IFLA_IFNAME, name);
    size_t info = w.beginNested(IFLA_LINKINFO);
    w.putString(IFLA_INFO_KIND, "bridge");
    size_t data = w.beginNested(IFLA_INFO_DATA);
    w.putU32(IFLA_BR_STP_STATE, 0);
    w.putU32(IFLA_BR_FORWARD_DELAY, 0);
    w.endNested(data);
    w.endNested(info);
  });
}

void Rtnl::setMaster(int index, int masterIndex) {
  ifinfomsg ifi{};
  ifi.ifi_index = index;
  request(RTM_NEWLINK, 0, &ifi, sizeof ifi,
          [&](nl::Writer& w) { w.putU32(IFLA_MASTER, static_cast<uint32_t>(masterIndex)); });
}

void Rtnl::addRoute(int family, const IpAddress* dst, int prefixLength, const IpAddress* gateway, int oif) {
  rtmsg rtm{};
  rtm.rtm_family = static_cast<uint8_t>(family);
  rtm.rtm_dst_len = dst ? static_cast<uint8_t>(prefixLength) : 0;
  rtm.rtm_table = RT_TABLE_MAIN;
  rtm.rtm_protocol = RTPROT_BOOT;
  rtm.rtm_scope = gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  rtm.rtm_type = RTN_UNICAST;
  request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rtm, sizeof rtm, [&](nl::Writer& w) {
    if (dst) w.put(RTA_DST, dst->bytes, dst->size());
    if (gateway) w.put(RTA_GATEWAY, gateway->bytes, gateway->size());
    if (oif > 0) w.putU32(RTA_OIF, static_cast<uint32_t>(oif));
  });
}

void Rtnl::setRoute(const IpAddress& dst, int prefixLength, const std::vector<NextHop>& hops, bool replace) {
  rtmsg rtm{};
  rtm.rtm_family = static_cast<uint8_t>(dst.family);
  rtm.rtm_dst_len = static_cast<uint8_t>(prefixLength);
  rtm.rtm_table = RT_TABLE_MAIN;
  rtm.rtm_protocol = RTPROT_BOOT;
  bool viaGateway = !hops.empty() && hops.front().gateway.family != AF_UNSPEC;
  rtm.rtm_scope = viaGateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  rtm.rtm_type = RTN_UNICAST;
  uint16_t flags = NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);
  request(RTM_NEWROUTE, flags, &rtm, sizeof rtm, [&](nl::Writer& w) {
    w.put(RTA_DST, dst.bytes, dst.size());
    if (hops.size() == 1) {
      const NextHop& h = hops.front();
      if (h.gateway.family != AF_UNSPEC) w.put(RTA_GATEWAY, h.gateway.bytes, h.gateway.size());
      w.putU32(RTA_OIF, static_cast<uint32_t>(h.index));
      return;
    }
    // RTA_MULTIPATH: rtnexthop structs, each followed by its own attributes.
    std::vector<uint8_t> mp;
    for (const NextHop& h : hops) {
      size_t at = mp.size();
      mp.resize(at + RTNH_ALIGN(sizeof(rtnexthop)));
      rtnexthop nh{};
      nh.rtnh_ifindex = h.index;
      nh.rtnh_hops = static_cast<unsigned char>(h.weight - 1);  // the kernel's weight is hops + 1
      if (h.gateway.family != AF_UNSPEC) {
        size_t ga = mp.size();
        size_t alen = RTA_LENGTH(h.gateway.size());
        mp.resize(ga + RTA_ALIGN(alen));
        rtattr ra{};
        ra.rta_len = static_cast<unsigned short>(alen);
        ra.rta_type = RTA_GATEWAY;
        std::memcpy(&mp[ga], &ra, sizeof ra);
        std::memcpy(&mp[ga + RTA_LENGTH(0)], h.gateway.bytes, h.gateway.size());
      }
      nh.rtnh_len = static_cast<unsigned short>(mp.size() - at);
      std::memcpy(&mp[at], &nh, sizeof nh);
    }
    w.put(RTA_MULTIPATH, mp.data(), mp.size());
  });
}

void Rtnl::deleteRoute(const IpAddress& dst, int prefixLength) {
  rtmsg rtm{};
  rtm.rtm_family = static_cast<uint8_t>(dst.family);
  rtm.rtm_dst_len = static_cast<uint8_t>(prefixLength);
  rtm.rtm_table = RT_TABLE_MAIN;
  rtm.rtm_scope = RT_SCOPE_NOWHERE;
  request(RTM_DELROUTE, 0, &rtm, sizeof rtm, [&](nl::Writer& w) { w.put(RTA_DST, dst.bytes, dst.size()); });
}

std::vector<Route> Rtnl::routes(int family) {
  std::vector<Route> out;
  rtmsg filter{};
  filter.rtm_family = static_cast<uint8_t>(family);
  dump(
      RTM_GETROUTE, &filter, sizeof filter, nullptr,
      [&](const nlmsghdr& h) {
        if (h.nlmsg_type != RTM_NEWROUTE) return;
        const uint8_t* attrs;
        size_t len;
        const auto& rtm = payload<rtmsg>(h, attrs, len, "RTM_NEWROUTE");
        if (rtm.rtm_family != family || rtm.rtm_type != RTN_UNICAST) return;
        nl::AttrTable<RTA_MAX + 1> tb(attrs, len);
        uint32_t table = tb.get(RTA_TABLE) ? tb.get(RTA_TABLE)->u32() : rtm.rtm_table;
        if (table != RT_TABLE_MAIN) return;
        Route r;
        r.prefixLength = rtm.rtm_dst_len;
        if (const nl::Attr* d = tb.get(RTA_DST)) r.dst = ipFromBytes(family, d->data(), d->size());
        else r.dst.family = family;
        if (const nl::Attr* mp = tb.get(RTA_MULTIPATH)) {
          const uint8_t* p = mp->data();
          size_t left = mp->size();
          while (left >= sizeof(rtnexthop)) {
            rtnexthop nh;
            std::memcpy(&nh, p, sizeof nh);
            if (nh.rtnh_len < sizeof nh || nh.rtnh_len > left) throw nl::ParseError("RTA_MULTIPATH: a next hop overruns the attribute");
            NextHop hop;
            hop.index = nh.rtnh_ifindex;
            hop.weight = nh.rtnh_hops + 1;
            nl::AttrTable<RTA_MAX + 1> sub(p + RTNH_ALIGN(sizeof nh), nh.rtnh_len - RTNH_ALIGN(sizeof nh));
            if (const nl::Attr* g = sub.get(RTA_GATEWAY)) hop.gateway = ipFromBytes(family, g->data(), g->size());
            r.nextHops.push_back(hop);
            size_t step = RTNH_ALIGN(nh.rtnh_len);
            if (step >= left) break;
            p += step;
            left -= step;
          }
        } else {
          NextHop hop;
          if (const nl::Attr* g = tb.get(RTA_GATEWAY)) hop.gateway = ipFromBytes(family, g->data(), g->size());
          if (const nl::Attr* o = tb.get(RTA_OIF)) hop.index = static_cast<int>(o->u32());
          r.nextHops.push_back(hop);
        }
        out.push_back(std::move(r));
      },
      [&] { out.clear(); });
  return out;
}

void Rtnl::deleteLink(int index) {
  ifinfomsg ifi{};
  ifi.ifi_index = index;
  request(RTM_DELLINK, 0, &ifi, sizeof ifi, nullptr);
}

}  // namespace host
