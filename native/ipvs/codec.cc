#include "ipvs/codec.h"

#include <arpa/inet.h>

#include <cstring>

namespace ipvs {

using nl::Attr;
using nl::AttrTable;

bool parseAddress(int family, const std::string& text, Address& out) {
  out = Address{};
  if (family != AF_INET && family != AF_INET6) return false;
  return inet_pton(family, text.c_str(), out.bytes) == 1;
}

std::string formatAddress(int family, const Address& addr) {
  char text[INET6_ADDRSTRLEN];
  if (family != AF_INET && family != AF_INET6) return {};
  if (!inet_ntop(family, addr.bytes, text, sizeof text)) return {};
  return text;
}

namespace {

void readAddress(const Attr& a, Address& out) {
  // The kernel sends the whole 16-byte union; accept a bare IPv4 too.
  if (a.size() != 4 && a.size() != 16) {
    throw nl::ParseError("address attribute of " + std::to_string(a.size()) + " bytes");
  }
  out = Address{};
  std::memcpy(out.bytes, a.data(), a.size());
}

template <size_t N>
uint64_t u64Or(const AttrTable<N>& tb, size_t type) {
  const Attr* a = tb.get(type);
  return a ? a->u64() : 0;
}

template <size_t N>
uint64_t u32Or(const AttrTable<N>& tb, size_t type) {
  const Attr* a = tb.get(type);
  return a ? a->u32() : 0;
}

// STATS64 (4.1+) has every field as u64; the older STATS has 32-bit packet
// counters and rates, so it wraps on busy services — prefer STATS64.
bool readStats(const Attr* stats64, const Attr* stats, Stats& out) {
  const Attr* nested = stats64 ? stats64 : stats;
  if (!nested) return false;
  AttrTable<IPVS_STATS_ATTR_MAX + 1> tb(*nested);
  auto narrow = [&](size_t type) { return stats64 ? u64Or(tb, type) : u32Or(tb, type); };
  out.conns = narrow(IPVS_STATS_ATTR_CONNS);
  out.inPkts = narrow(IPVS_STATS_ATTR_INPKTS);
  out.outPkts = narrow(IPVS_STATS_ATTR_OUTPKTS);
  out.inBytes = u64Or(tb, IPVS_STATS_ATTR_INBYTES);  // u64 in both
  out.outBytes = u64Or(tb, IPVS_STATS_ATTR_OUTBYTES);
  out.cps = narrow(IPVS_STATS_ATTR_CPS);
  out.inPps = narrow(IPVS_STATS_ATTR_INPPS);
  out.outPps = narrow(IPVS_STATS_ATTR_OUTPPS);
  out.inBps = narrow(IPVS_STATS_ATTR_INBPS);
  out.outBps = narrow(IPVS_STATS_ATTR_OUTBPS);
  return true;
}

}  // namespace

void putService(nl::Writer& w, const Service& s, bool full) {
  size_t nest = w.beginNested(IPVS_CMD_ATTR_SERVICE);
  w.putU16(IPVS_SVC_ATTR_AF, s.family);
  if (s.fwmark != 0) {
    w.putU32(IPVS_SVC_ATTR_FWMARK, s.fwmark);
  } else {
    w.putU16(IPVS_SVC_ATTR_PROTOCOL, s.protocol);
    w.put(IPVS_SVC_ATTR_ADDR, s.addr.bytes, sizeof s.addr.bytes);
    w.putBe16(IPVS_SVC_ATTR_PORT, s.port);
  }
  if (full) {
    w.putString(IPVS_SVC_ATTR_SCHED_NAME, s.scheduler);
    if (!s.pe.empty()) w.putString(IPVS_SVC_ATTR_PE_NAME, s.pe);
    ip_vs_flags flags{s.flags, ~0U};  // a full mask: the kernel takes every bit as given
    w.put(IPVS_SVC_ATTR_FLAGS, &flags, sizeof flags);
    w.putU32(IPVS_SVC_ATTR_TIMEOUT, s.timeout);
    w.putU32(IPVS_SVC_ATTR_NETMASK, s.family == AF_INET ? htonl(s.netmask) : s.netmask);
  }
  w.endNested(nest);
}

void putDestination(nl::Writer& w, const Destination& d, bool full) {
  size_t nest = w.beginNested(IPVS_CMD_ATTR_DEST);
  w.put(IPVS_DEST_ATTR_ADDR, d.addr.bytes, sizeof d.addr.bytes);
  w.putBe16(IPVS_DEST_ATTR_PORT, d.port);
  w.putU16(IPVS_DEST_ATTR_ADDR_FAMILY, d.family);
  if (full) {
    w.putU32(IPVS_DEST_ATTR_FWD_METHOD, d.fwdMethod & IP_VS_CONN_F_FWD_MASK);
    w.putU32(IPVS_DEST_ATTR_WEIGHT, d.weight);
    w.putU32(IPVS_DEST_ATTR_U_THRESH, d.upperThreshold);
    w.putU32(IPVS_DEST_ATTR_L_THRESH, d.lowerThreshold);
    w.putU8(IPVS_DEST_ATTR_TUN_TYPE, d.tunType);
    w.putBe16(IPVS_DEST_ATTR_TUN_PORT, d.tunPort);
    w.putU16(IPVS_DEST_ATTR_TUN_FLAGS, d.tunFlags);
  }
  w.endNested(nest);
}

void putDaemon(nl::Writer& w, const Daemon& d, bool full) {
  size_t nest = w.beginNested(IPVS_CMD_ATTR_DAEMON);
  w.putU32(IPVS_DAEMON_ATTR_STATE, d.state);
  if (full) {
    w.putString(IPVS_DAEMON_ATTR_MCAST_IFN, d.interface);
    w.putU32(IPVS_DAEMON_ATTR_SYNC_ID, d.syncId);
    if (d.maxLength) w.putU16(IPVS_DAEMON_ATTR_SYNC_MAXLEN, *d.maxLength);
    if (d.groupFamily == AF_INET) w.put(IPVS_DAEMON_ATTR_MCAST_GROUP, d.group.bytes, 4);
    if (d.groupFamily == AF_INET6) w.put(IPVS_DAEMON_ATTR_MCAST_GROUP6, d.group.bytes, 16);
    if (d.port) w.putU16(IPVS_DAEMON_ATTR_MCAST_PORT, *d.port);  // host order, unlike service ports
    if (d.ttl) w.putU8(IPVS_DAEMON_ATTR_MCAST_TTL, *d.ttl);
  }
  w.endNested(nest);
}

void putTimeouts(nl::Writer& w, const Timeouts& t) {
  w.putU32(IPVS_CMD_ATTR_TIMEOUT_TCP, t.tcp);
  w.putU32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, t.tcpFin);
  w.putU32(IPVS_CMD_ATTR_TIMEOUT_UDP, t.udp);
}

Service parseService(const Attr& nested) {
  AttrTable<IPVS_SVC_ATTR_MAX + 1> tb(nested);
  Service s;
  if (const Attr* a = tb.get(IPVS_SVC_ATTR_AF)) s.family = a->u16();
  if (const Attr* a = tb.get(IPVS_SVC_ATTR_FWMARK)) s.fwmark = a->u32();
  if (const Attr* a = tb.get(IPVS_SVC_ATTR_PROTOCOL)) s.protocol = a->u16();
  if (const Attr* a = tb.get(IPVS_SVC_ATTR_ADDR)) readAddress(*a, s.addr);
  if (const Attr* a = tb.get(IPVS_SVC_ATTR_PORT)) s.port = a->be16();
  if (const Attr* a = tb.get(IPVS_SVC_ATTR_SCHED_NAME)) s.scheduler = a->str();
  if (const Attr* a = tb.get(IPVS_SVC_ATTR_PE_NAME)) s.pe = a->str();
  if (const Attr* a = tb.get(IPVS_SVC_ATTR_FLAGS)) {
    if (a->size() != sizeof(ip_vs_flags)) throw nl::ParseError("service flags of " + std::to_string(a->size()) + " bytes");
    ip_vs_flags f;
    std::memcpy(&f, a->data(), sizeof f);
    s.flags = f.flags & ~IP_VS_SVC_F_HASHED;  // internal to the kernel, never a setting
  }
  if (const Attr* a = tb.get(IPVS_SVC_ATTR_TIMEOUT)) s.timeout = a->u32();
  if (const Attr* a = tb.get(IPVS_SVC_ATTR_NETMASK)) s.netmask = s.family == AF_INET ? ntohl(a->u32()) : a->u32();
  if (s.fwmark != 0) s.protocol = 0;
  s.hasStats = readStats(tb.get(IPVS_SVC_ATTR_STATS64), tb.get(IPVS_SVC_ATTR_STATS), s.stats);
  return s;
}

Destination parseDestination(const Attr& nested, uint16_t serviceFamily) {
  AttrTable<IPVS_DEST_ATTR_MAX + 1> tb(nested);
  Destination d;
  // ADDR_FAMILY arrived in 3.18; before it a destination had its service's family.
  d.family = serviceFamily;
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_ADDR_FAMILY)) d.family = a->u16();
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_ADDR)) readAddress(*a, d.addr);
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_PORT)) d.port = a->be16();
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_FWD_METHOD)) d.fwdMethod = a->u32() & IP_VS_CONN_F_FWD_MASK;
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_WEIGHT)) d.weight = a->u32();
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_U_THRESH)) d.upperThreshold = a->u32();
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_L_THRESH)) d.lowerThreshold = a->u32();
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_ACTIVE_CONNS)) d.activeConns = a->u32();
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_INACT_CONNS)) d.inactConns = a->u32();
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_PERSIST_CONNS)) d.persistConns = a->u32();
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_TUN_TYPE)) {
    d.hasTunnel = true;
    d.tunType = a->u8();
  }
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_TUN_PORT)) d.tunPort = a->be16();
  if (const Attr* a = tb.get(IPVS_DEST_ATTR_TUN_FLAGS)) d.tunFlags = a->u16();
  d.hasStats = readStats(tb.get(IPVS_DEST_ATTR_STATS64), tb.get(IPVS_DEST_ATTR_STATS), d.stats);
  return d;
}

Daemon parseDaemon(const Attr& nested) {
  AttrTable<IPVS_DAEMON_ATTR_MAX + 1> tb(nested);
  Daemon d;
  if (const Attr* a = tb.get(IPVS_DAEMON_ATTR_STATE)) d.state = a->u32();
  if (const Attr* a = tb.get(IPVS_DAEMON_ATTR_MCAST_IFN)) d.interface = a->str();
  if (const Attr* a = tb.get(IPVS_DAEMON_ATTR_SYNC_ID)) d.syncId = a->u32();
  if (const Attr* a = tb.get(IPVS_DAEMON_ATTR_SYNC_MAXLEN)) d.maxLength = a->u16();
  if (const Attr* a = tb.get(IPVS_DAEMON_ATTR_MCAST_GROUP)) {
    if (a->size() != 4) throw nl::ParseError("IPv4 multicast group of " + std::to_string(a->size()) + " bytes");
    std::memcpy(d.group.bytes, a->data(), 4);
    d.groupFamily = AF_INET;
  }
  if (const Attr* a = tb.get(IPVS_DAEMON_ATTR_MCAST_GROUP6)) {
    if (a->size() != 16) throw nl::ParseError("IPv6 multicast group of " + std::to_string(a->size()) + " bytes");
    std::memcpy(d.group.bytes, a->data(), 16);
    d.groupFamily = AF_INET6;
  }
  if (const Attr* a = tb.get(IPVS_DAEMON_ATTR_MCAST_PORT)) d.port = a->u16();
  if (const Attr* a = tb.get(IPVS_DAEMON_ATTR_MCAST_TTL)) d.ttl = a->u8();
  return d;
}

Timeouts parseTimeouts(const uint8_t* attrs, size_t len) {
  AttrTable<IPVS_CMD_ATTR_MAX + 1> tb(attrs, len);
  Timeouts t;
  if (const Attr* a = tb.get(IPVS_CMD_ATTR_TIMEOUT_TCP)) t.tcp = a->u32();
  if (const Attr* a = tb.get(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN)) t.tcpFin = a->u32();
  if (const Attr* a = tb.get(IPVS_CMD_ATTR_TIMEOUT_UDP)) t.udp = a->u32();
  return t;
}

Info parseInfo(const uint8_t* attrs, size_t len) {
  AttrTable<IPVS_INFO_ATTR_MAX + 1> tb(attrs, len);
  Info info;
  if (const Attr* a = tb.get(IPVS_INFO_ATTR_VERSION)) info.version = a->u32();
  if (const Attr* a = tb.get(IPVS_INFO_ATTR_CONN_TAB_SIZE)) info.connTableSize = a->u32();
  return info;
}

}  // namespace ipvs
