#include "peer/model.h"

#include <arpa/inet.h>
#include <linux/genetlink.h>
#include <linux/ip_vs.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "nl/attr.h"
#include "nl/genl.h"
#include "nl/socket.h"

namespace peer {

namespace {

constexpr uint8_t kCtrlVersion = 2;  // genl_ctrl.version
constexpr uint32_t kIpvsVersionCode = 0x010201;  // IP_VS_VERSION_CODE: 1.2.1
constexpr uint32_t kConnTabSize = 4096;  // 1 << CONFIG_IP_VS_TAB_BITS (12)
constexpr uint32_t kSyncGroup = 0xe0000051;  // IP_VS_SYNC_GROUP 224.0.0.81
constexpr uint16_t kSyncPort = 8848;

const std::set<std::string> kSchedulers = {"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh",
                                           "sh", "sed", "nq",  "fo",  "ovf",  "mh",   "twos"};
const std::set<std::string> kEngines = {"sip"};

// The family's operations in ip_vs_genl_ops[] order, with the flags
// ctrl_fill_info() reports: GENL_ADMIN_PERM, CAP_DO/CAP_DUMP, CAP_HASPOL.
struct Op {
  uint8_t cmd;
  bool doit, dumpit;
};
const Op kOps[] = {
    {IPVS_CMD_NEW_SERVICE, true, false}, {IPVS_CMD_SET_SERVICE, true, false}, {IPVS_CMD_DEL_SERVICE, true, false},
    {IPVS_CMD_GET_SERVICE, true, true},  {IPVS_CMD_NEW_DEST, true, false},    {IPVS_CMD_SET_DEST, true, false},
    {IPVS_CMD_DEL_DEST, true, false},    {IPVS_CMD_GET_DEST, false, true},    {IPVS_CMD_NEW_DAEMON, true, false},
    {IPVS_CMD_DEL_DAEMON, true, false},  {IPVS_CMD_GET_DAEMON, false, true},  {IPVS_CMD_SET_CONFIG, true, false},
    {IPVS_CMD_GET_CONFIG, true, false},  {IPVS_CMD_GET_INFO, true, false},    {IPVS_CMD_ZERO, true, false},
    {IPVS_CMD_FLUSH, true, false},
};

bool isDump(const nlmsghdr& h) { return (h.nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP; }

// Reads that fail the way a kernel policy check does: -EINVAL.
struct Invalid {};

template <size_t N>
struct Nested {
  nl::AttrTable<N> tb;
  explicit Nested(const nl::Attr& a) : tb(a) {}
};

uint16_t u16(const nl::Attr* a) {
  try {
    return a->u16();
  } catch (const nl::ParseError&) {
    throw Invalid{};
  }
}
uint32_t u32(const nl::Attr* a) {
  try {
    return a->u32();
  } catch (const nl::ParseError&) {
    throw Invalid{};
  }
}
uint8_t u8(const nl::Attr* a) {
  try {
    return a->u8();
  } catch (const nl::ParseError&) {
    throw Invalid{};
  }
}
// NLA_NUL_STRING with a maximum length: the NUL must come within it.
std::string nulString(const nl::Attr* a, size_t maxLen) {
  const auto* p = a->data();
  size_t n = a->size();
  size_t len = 0;
  while (len < n && p[len] != 0) ++len;
  if (len == n || len > maxLen) throw Invalid{};
  return std::string(reinterpret_cast<const char*>(p), len);
}
void copyAddr(const nl::Attr* a, uint8_t out[16]) {
  std::memset(out, 0, 16);  // nla_memcpy: at most the attribute's length
  std::memcpy(out, a->data(), a->size() < 16 ? a->size() : 16);
}

bool afValid(uint16_t af) { return af == AF_INET || af == AF_INET6; }

std::string addrText(uint16_t af, const uint8_t addr[16]) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(af == AF_INET6 ? AF_INET6 : AF_INET, addr, buf, sizeof buf);
  return buf;
}

// The datagrams of one reply, each at most `budget` bytes; an object that
// does not fit starts the next one (the kernel cancels it and resends it in
// the next skb).
class Packer {
 public:
  Packer(Datagrams& out, size_t budget, bool pad64) : out_(out), budget_(budget), pad64_(pad64) {
    current_.reserve(4096);
  }

  std::vector<uint8_t>& buffer() { return current_; }
  // Where the datagram holding the buffer begins: 64-bit padding depends on
  // the position in the datagram (its start is 8-aligned in the kernel).
  size_t start() const { return 0; }
  bool pad64() const { return pad64_; }

  // Ends the object written from `mark`: keeps it, or moves it to a new
  // datagram when this one is over budget.
  template <typename Write>
  void object(Write write) {
    size_t mark = current_.size();
    write();
    if (current_.size() <= budget_ || mark == 0) return;
    current_.resize(mark);
    flush();
    write();
  }
  void flush() {
    if (current_.empty()) return;
    out_.push_back(std::move(current_));
    current_ = std::vector<uint8_t>();
    current_.reserve(4096);
  }

 private:
  Datagrams& out_;
  size_t budget_;
  bool pad64_;
  std::vector<uint8_t> current_;
};

void putU64(nl::Writer& w, uint16_t type, uint64_t v, bool pad64) {
  // nla_put_u64_64bit: without efficient unaligned access, an empty PAD
  // attribute first when the value would not be 8-aligned.
  if (pad64 && w.size() % 8 == 0) w.put(IPVS_STATS_ATTR_PAD, nullptr, 0);
  w.putU64(type, v);
}

void putStats(nl::Writer& w, uint16_t type, const Counters& c, bool pad64) {
  size_t n = w.beginNested(type, false);
  w.putU32(IPVS_STATS_ATTR_CONNS, static_cast<uint32_t>(c.conns));
  w.putU32(IPVS_STATS_ATTR_INPKTS, static_cast<uint32_t>(c.inPkts));
  w.putU32(IPVS_STATS_ATTR_OUTPKTS, static_cast<uint32_t>(c.outPkts));
  putU64(w, IPVS_STATS_ATTR_INBYTES, c.inBytes, pad64);
  putU64(w, IPVS_STATS_ATTR_OUTBYTES, c.outBytes, pad64);
  w.putU32(IPVS_STATS_ATTR_CPS, static_cast<uint32_t>(c.cps));
  w.putU32(IPVS_STATS_ATTR_INPPS, static_cast<uint32_t>(c.inPps));
  w.putU32(IPVS_STATS_ATTR_OUTPPS, static_cast<uint32_t>(c.outPps));
  w.putU32(IPVS_STATS_ATTR_INBPS, static_cast<uint32_t>(c.inBps));
  w.putU32(IPVS_STATS_ATTR_OUTBPS, static_cast<uint32_t>(c.outBps));
  w.endNested(n);
}

void putStats64(nl::Writer& w, uint16_t type, const Counters& c, bool pad64) {
  size_t n = w.beginNested(type, false);
  for (auto [t, v] : {std::pair{IPVS_STATS_ATTR_CONNS, c.conns}, {IPVS_STATS_ATTR_INPKTS, c.inPkts},
                      {IPVS_STATS_ATTR_OUTPKTS, c.outPkts}, {IPVS_STATS_ATTR_INBYTES, c.inBytes},
                      {IPVS_STATS_ATTR_OUTBYTES, c.outBytes}, {IPVS_STATS_ATTR_CPS, c.cps},
                      {IPVS_STATS_ATTR_INPPS, c.inPps}, {IPVS_STATS_ATTR_OUTPPS, c.outPps},
                      {IPVS_STATS_ATTR_INBPS, c.inBps}, {IPVS_STATS_ATTR_OUTBPS, c.outBps}}) {
    putU64(w, static_cast<uint16_t>(t), v, pad64);
  }
  w.endNested(n);
}

// ip_vs_genl_fill_service()
void putService(nl::Writer& w, const ModelService& s, bool pad64) {
  size_t n = w.beginNested(IPVS_CMD_ATTR_SERVICE, false);
  w.putU16(IPVS_SVC_ATTR_AF, s.af);
  if (s.fwmark) {
    w.putU32(IPVS_SVC_ATTR_FWMARK, s.fwmark);
  } else {
    w.putU16(IPVS_SVC_ATTR_PROTOCOL, s.protocol);
    w.put(IPVS_SVC_ATTR_ADDR, s.addr, 16);
    w.putU16(IPVS_SVC_ATTR_PORT, s.portBe);
  }
  w.putString(IPVS_SVC_ATTR_SCHED_NAME, s.scheduler.empty() ? "none" : s.scheduler);
  if (!s.pe.empty()) w.putString(IPVS_SVC_ATTR_PE_NAME, s.pe);
  ip_vs_flags f{s.flags, ~0u};
  w.put(IPVS_SVC_ATTR_FLAGS, &f, sizeof f);
  w.putU32(IPVS_SVC_ATTR_TIMEOUT, s.timeout);
  w.putU32(IPVS_SVC_ATTR_NETMASK, s.netmaskBe);
  putStats(w, IPVS_SVC_ATTR_STATS, s.stats, pad64);
  putStats64(w, IPVS_SVC_ATTR_STATS64, s.stats, pad64);
  w.endNested(n);
}

// ip_vs_genl_fill_dest()
void putDest(nl::Writer& w, const ModelDest& d, bool pad64) {
  size_t n = w.beginNested(IPVS_CMD_ATTR_DEST, false);
  w.put(IPVS_DEST_ATTR_ADDR, d.addr, 16);
  w.putU16(IPVS_DEST_ATTR_PORT, d.portBe);
  w.putU32(IPVS_DEST_ATTR_FWD_METHOD, d.fwd & IP_VS_CONN_F_FWD_MASK);
  w.putU32(IPVS_DEST_ATTR_WEIGHT, static_cast<uint32_t>(d.weight));
  w.putU8(IPVS_DEST_ATTR_TUN_TYPE, d.tunType);
  w.putU16(IPVS_DEST_ATTR_TUN_PORT, d.tunPortBe);
  w.putU16(IPVS_DEST_ATTR_TUN_FLAGS, d.tunFlags);
  w.putU32(IPVS_DEST_ATTR_U_THRESH, d.upper);
  w.putU32(IPVS_DEST_ATTR_L_THRESH, d.lower);
  w.putU32(IPVS_DEST_ATTR_ACTIVE_CONNS, d.active);
  w.putU32(IPVS_DEST_ATTR_INACT_CONNS, d.inactive);
  w.putU32(IPVS_DEST_ATTR_PERSIST_CONNS, d.persistent);
  w.putU16(IPVS_DEST_ATTR_ADDR_FAMILY, d.af);
  putStats(w, IPVS_DEST_ATTR_STATS, d.stats, pad64);
  putStats64(w, IPVS_DEST_ATTR_STATS64, d.stats, pad64);
  w.endNested(n);
}

// ip_vs_genl_fill_daemon()
void putDaemon(nl::Writer& w, uint32_t state, const ModelDaemon& d) {
  size_t n = w.beginNested(IPVS_CMD_ATTR_DAEMON, false);
  w.putU32(IPVS_DAEMON_ATTR_STATE, state);
  w.putString(IPVS_DAEMON_ATTR_MCAST_IFN, d.ifname);
  w.putU32(IPVS_DAEMON_ATTR_SYNC_ID, d.syncId);
  w.putU16(IPVS_DAEMON_ATTR_SYNC_MAXLEN, d.maxLen);
  w.putU16(IPVS_DAEMON_ATTR_MCAST_PORT, d.port);
  w.putU8(IPVS_DAEMON_ATTR_MCAST_TTL, d.ttl);
  if (d.mcastAf == AF_INET6) {
    w.put(IPVS_DAEMON_ATTR_MCAST_GROUP6, d.group, 16);
  } else if (d.mcastAf == AF_INET) {
    w.put(IPVS_DAEMON_ATTR_MCAST_GROUP, d.group, 4);
  }
  w.endNested(n);
}

// What ip_vs_genl_parse_service() reads: the key always, the settings for
// a full entry. Returns 0 or -errno.
int parseService(const nl::Attr* nested, bool full, ModelService& out, const ModelService* existing) {
  if (!nested) return -EINVAL;
  try {
    nl::AttrTable<IPVS_SVC_ATTR_MAX + 1> tb(*nested);
    const nl::Attr* af = tb.get(IPVS_SVC_ATTR_AF);
    const nl::Attr* fwmark = tb.get(IPVS_SVC_ATTR_FWMARK);
    const nl::Attr* proto = tb.get(IPVS_SVC_ATTR_PROTOCOL);
    const nl::Attr* addr = tb.get(IPVS_SVC_ATTR_ADDR);
    const nl::Attr* port = tb.get(IPVS_SVC_ATTR_PORT);
    if (!(af && (fwmark || (port && proto && addr)))) return -EINVAL;
    out.af = u16(af);
    if (!afValid(out.af)) return -EAFNOSUPPORT;
    if (fwmark) {
      out.protocol = IPPROTO_TCP;
      out.fwmark = u32(fwmark);
    } else {
      out.protocol = u16(proto);
      if (addr->size() > 16) return -EINVAL;
      copyAddr(addr, out.addr);
      out.portBe = u16(port);
    }
    if (!full) return 0;
    const nl::Attr* sched = tb.get(IPVS_SVC_ATTR_SCHED_NAME);
    const nl::Attr* flags = tb.get(IPVS_SVC_ATTR_FLAGS);
    const nl::Attr* timeout = tb.get(IPVS_SVC_ATTR_TIMEOUT);
    const nl::Attr* netmask = tb.get(IPVS_SVC_ATTR_NETMASK);
    const nl::Attr* pe = tb.get(IPVS_SVC_ATTR_PE_NAME);
    if (!(sched && flags && timeout && netmask)) return -EINVAL;
    ip_vs_flags f{};
    std::memcpy(&f, flags->data(), flags->size() < sizeof f ? flags->size() : sizeof f);
    uint32_t base = existing ? existing->flags : 0;
    out.flags = (base & ~f.mask) | (f.flags & f.mask);
    out.scheduler = nulString(sched, IP_VS_SCHEDNAME_MAXLEN - 1);
    out.pe = pe ? nulString(pe, IP_VS_PENAME_MAXLEN) : "";
    out.timeout = u32(timeout);
    out.netmaskBe = u32(netmask);
    return 0;
  } catch (const Invalid&) {
    return -EINVAL;
  } catch (const nl::ParseError&) {
    return -EINVAL;
  }
}

// ip_vs_genl_parse_dest()
int parseDest(const nl::Attr* nested, bool full, ModelDest& out) {
  if (!nested) return -EINVAL;
  try {
    nl::AttrTable<IPVS_DEST_ATTR_MAX + 1> tb(*nested);
    const nl::Attr* addr = tb.get(IPVS_DEST_ATTR_ADDR);
    const nl::Attr* port = tb.get(IPVS_DEST_ATTR_PORT);
    const nl::Attr* family = tb.get(IPVS_DEST_ATTR_ADDR_FAMILY);
    if (!(addr && port)) return -EINVAL;
    if (addr->size() > 16) return -EINVAL;
    copyAddr(addr, out.addr);
    out.portBe = u16(port);
    out.af = family ? u16(family) : 0;
    if (!full) return 0;
    const nl::Attr* fwd = tb.get(IPVS_DEST_ATTR_FWD_METHOD);
    const nl::Attr* weight = tb.get(IPVS_DEST_ATTR_WEIGHT);
    const nl::Attr* upper = tb.get(IPVS_DEST_ATTR_U_THRESH);
    const nl::Attr* lower = tb.get(IPVS_DEST_ATTR_L_THRESH);
    if (!(fwd && weight && upper && lower)) return -EINVAL;
    out.fwd = u32(fwd) & IP_VS_CONN_F_FWD_MASK;
    out.weight = static_cast<int32_t>(u32(weight));
    out.upper = u32(upper);
    out.lower = u32(lower);
    if (const nl::Attr* a = tb.get(IPVS_DEST_ATTR_TUN_TYPE)) out.tunType = u8(a);
    if (const nl::Attr* a = tb.get(IPVS_DEST_ATTR_TUN_PORT)) out.tunPortBe = u16(a);
    if (const nl::Attr* a = tb.get(IPVS_DEST_ATTR_TUN_FLAGS)) out.tunFlags = u16(a);
    return 0;
  } catch (const Invalid&) {
    return -EINVAL;
  } catch (const nl::ParseError&) {
    return -EINVAL;
  }
}

bool sameDest(const ModelDest& a, const ModelDest& b) {
  return a.af == b.af && a.portBe == b.portBe && std::memcmp(a.addr, b.addr, a.af == AF_INET6 ? 16 : 4) == 0;
}

// The checks ip_vs_add_dest() and ip_vs_edit_dest() share.
int checkDestSettings(const ModelDest& d) {
  if (d.weight < 0) return -ERANGE;
  if (d.lower > d.upper) return -ERANGE;
  if (d.upper > static_cast<uint32_t>(INT_MAX)) return -EINVAL;
  if (d.tunType == IP_VS_CONN_F_TUNNEL_TYPE_GUE && d.tunPortBe == 0) return -EINVAL;
  return 0;
}

// genlmsg_put(): the netlink and generic-netlink headers of one message.
size_t beginGenl(nl::Writer& w, uint16_t family, uint8_t cmd, uint8_t version, uint16_t flags,
                 const nlmsghdr& request) {
  return nl::beginGenl(w, family, cmd, version, flags, request.nlmsg_seq, request.nlmsg_pid);
}

std::vector<uint8_t> doneMessage(const nlmsghdr& request) {
  std::vector<uint8_t> out;
  nl::Writer w(out);
  size_t off = w.beginMessage(NLMSG_DONE, NLM_F_MULTI, request.nlmsg_seq, request.nlmsg_pid);
  int32_t status = 0;
  w.putRaw(&status, sizeof status);
  w.endMessage(off);
  return out;
}

}  // namespace

std::vector<uint8_t> ack(const nlmsghdr& request, int error) {
  std::vector<uint8_t> out;
  nl::Writer w(out);
  size_t off = w.beginMessage(NLMSG_ERROR, NLM_F_CAPPED, request.nlmsg_seq, request.nlmsg_pid);
  nlmsgerr e{};
  e.error = error;
  e.msg = request;
  w.putRaw(&e, sizeof e);
  w.endMessage(off);
  return out;
}

std::string ModelService::key() const {
  std::string k(28, '\0');
  std::memcpy(&k[0], &af, 2);
  std::memcpy(&k[2], &protocol, 2);
  std::memcpy(&k[4], &fwmark, 4);
  if (!fwmark) {
    std::memcpy(&k[8], addr, 16);
    std::memcpy(&k[24], &portBe, 2);
  }
  return k;
}

Model::Model() = default;

ModelService* Model::find(const ModelService& key) {
  auto it = byKey_.find(key.key());
  return it == byKey_.end() ? nullptr : it->second;
}

void Model::index(ModelService* s) {
  s->added = ++added_;
  byKey_[s->key()] = s;
}

unsigned Model::bucket(const ModelService& s, uint8_t salt) {
  if (s.fwmark) return (salt ^ s.fwmark) & 0xff;
  uint32_t words[4];
  std::memcpy(words, s.addr, 16);
  uint32_t fold = s.af == AF_INET6 ? words[0] ^ words[1] ^ words[2] ^ words[3] : words[0];
  unsigned porth = ntohs(s.portBe);
  return (s.protocol ^ (ntohl(fold) ^ salt) ^ (porth >> 8) ^ porth) & 0xff;
}
void Model::unindex(const ModelService* s) { byKey_.erase(s->key()); }

void Model::clear() {
  services_.clear();
  byKey_.clear();
}

size_t Model::destinationCount() const {
  size_t n = 0;
  for (const auto& s : services_) n += s->dests.size();
  return n;
}

void Model::populate(size_t services, size_t dests) {
  // A table like a large site's: 100 VIPs with up to 100 ports each, real
  // servers drawn from a pool of 500 (so addresses repeat across services),
  // counters spread over their real ranges (direct routing: nothing out).
  uint64_t rng = 0x9E3779B97F4A7C15ULL;
  auto next = [&rng](uint64_t bound) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return bound ? (rng * 2685821657736338717ULL) % bound : 0;
  };
  auto traffic = [&](Counters& c) {
    c.conns = next(1000000);
    c.inPkts = c.conns * (1 + next(20));
    c.inBytes = c.inPkts * (40 + next(1400));
    c.cps = next(500);
    c.inPps = c.cps * 10;
    c.inBps = c.inPps * 500;
  };
  for (size_t i = 0; i < services; ++i) {
    auto s = std::make_unique<ModelService>();
    s->af = AF_INET;
    s->protocol = IPPROTO_TCP;
    uint32_t vip = htonl(0x0a000000u + static_cast<uint32_t>(i / 100 + 1));
    std::memcpy(s->addr, &vip, 4);
    s->portBe = htons(static_cast<uint16_t>(1000 + i % 100 + (i / 100 / 600) * 100));
    s->scheduler = "wlc";
    s->flags = IP_VS_SVC_F_HASHED;
    s->netmaskBe = 0xffffffff;
    traffic(s->stats);
    for (size_t j = 0; j < dests; ++j) {
      ModelDest d;
      d.af = AF_INET;
      uint32_t rip = htonl(0x0b000000u + static_cast<uint32_t>((i * 7 + j * 53) % 500 + 1));
      std::memcpy(d.addr, &rip, 4);
      d.portBe = s->portBe;
      d.fwd = IP_VS_CONN_F_DROUTE;
      d.weight = static_cast<int32_t>(100 * (j + 1));
      d.active = static_cast<uint32_t>(next(200));
      d.inactive = static_cast<uint32_t>(next(2000));
      traffic(d.stats);
      s->dests.push_front(d);
    }
    index(s.get());
    services_.push_back(std::move(s));
  }
}

Datagrams Model::answer(const uint8_t* data, size_t len) {
  Datagrams out;
  nl::forEachMessage(data, len, [&](const nlmsghdr& h) {
    answerOne(h, out);
    return true;
  });
  return out;
}

void Model::answerOne(const nlmsghdr& h, Datagrams& out) {
  // netlink_rcv_skb(): a message that is not a request is only acknowledged.
  if (!(h.nlmsg_flags & NLM_F_REQUEST) || h.nlmsg_type < NLMSG_MIN_TYPE) {
    if (h.nlmsg_flags & NLM_F_ACK) out.push_back(ack(h, 0));
    return;
  }
  if (h.nlmsg_type == GENL_ID_CTRL) return control(h, out);
  if (h.nlmsg_type != familyId || !familyPresent) {
    out.push_back(ack(h, -ENOENT));
    return;
  }
  nl::GenlPayload g;
  try {
    g = nl::genlPayload(h);
  } catch (const nl::ParseError&) {
    out.push_back(ack(h, -EINVAL));
    return;
  }
  const Op* op = nullptr;
  for (const Op& o : kOps) {
    if (o.cmd == g.cmd) op = &o;
  }
  if (!op) {
    out.push_back(ack(h, -EOPNOTSUPP));
    return;
  }
  if (isDump(h)) {
    if (!op->dumpit) {
      out.push_back(ack(h, -EOPNOTSUPP));
      return;
    }
    return dump(h, g.cmd, g.attrs, g.attrsLen, out);
  }
  if (!op->doit) {
    out.push_back(ack(h, -EOPNOTSUPP));
    return;
  }
  if (g.cmd == IPVS_CMD_GET_SERVICE || g.cmd == IPVS_CMD_GET_INFO || g.cmd == IPVS_CMD_GET_CONFIG) {
    return getCommand(h, g.cmd, g.attrs, g.attrsLen, out);
  }
  int err = g.cmd == IPVS_CMD_NEW_DAEMON || g.cmd == IPVS_CMD_DEL_DAEMON ? setDaemon(g.cmd, g.attrs, g.attrsLen)
                                                                         : setCommand(g.cmd, g.attrs, g.attrsLen);
  if (err || (h.nlmsg_flags & NLM_F_ACK)) out.push_back(ack(h, err));
}

void Model::control(const nlmsghdr& h, Datagrams& out) {
  nl::GenlPayload g;
  std::string name;
  try {
    g = nl::genlPayload(h);
    nl::AttrTable<CTRL_ATTR_MAX + 1> tb(g.attrs, g.attrsLen);
    if (const nl::Attr* a = tb.get(CTRL_ATTR_FAMILY_NAME)) name = a->str();
  } catch (const nl::ParseError&) {
    out.push_back(ack(h, -EINVAL));
    return;
  }
  if (g.cmd != CTRL_CMD_GETFAMILY || isDump(h)) {
    out.push_back(ack(h, -EOPNOTSUPP));
    return;
  }
  if (name != IPVS_GENL_NAME || !familyPresent) {
    out.push_back(ack(h, -ENOENT));
    return;
  }
  // ctrl_fill_info()
  std::vector<uint8_t> msg;
  nl::Writer w(msg);
  size_t off = beginGenl(w, GENL_ID_CTRL, CTRL_CMD_NEWFAMILY, kCtrlVersion, 0, h);
  w.putString(CTRL_ATTR_FAMILY_NAME, IPVS_GENL_NAME);
  w.putU16(CTRL_ATTR_FAMILY_ID, familyId);
  w.putU32(CTRL_ATTR_VERSION, IPVS_GENL_VERSION);
  w.putU32(CTRL_ATTR_HDRSIZE, 0);
  w.putU32(CTRL_ATTR_MAXATTR, IPVS_CMD_ATTR_MAX);
  size_t ops = w.beginNested(CTRL_ATTR_OPS, false);
  uint16_t i = 0;
  for (const Op& o : kOps) {
    size_t n = w.beginNested(++i, false);
    w.putU32(CTRL_ATTR_OP_ID, o.cmd);
    w.putU32(CTRL_ATTR_OP_FLAGS, GENL_ADMIN_PERM | GENL_CMD_CAP_HASPOL | (o.doit ? GENL_CMD_CAP_DO : 0) |
                                     (o.dumpit ? GENL_CMD_CAP_DUMP : 0));
    w.endNested(n);
  }
  w.endNested(ops);
  w.endMessage(off);
  out.push_back(std::move(msg));
  if (h.nlmsg_flags & NLM_F_ACK) out.push_back(ack(h, 0));
}

int Model::setCommand(uint8_t cmd, const uint8_t* attrs, size_t len) {
  nl::AttrTable<IPVS_CMD_ATTR_MAX + 1> tb(attrs, len);
  if (cmd == IPVS_CMD_FLUSH) {
    clear();
    return 0;
  }
  if (cmd == IPVS_CMD_SET_CONFIG) {
    // ip_vs_genl_set_config(): unset values keep theirs, and 0 keeps too.
    try {
      uint32_t t[3] = {tcp_, tcpFin_, udp_};
      const uint16_t types[3] = {IPVS_CMD_ATTR_TIMEOUT_TCP, IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, IPVS_CMD_ATTR_TIMEOUT_UDP};
      for (int i = 0; i < 3; ++i) {
        if (const nl::Attr* a = tb.get(types[i])) t[i] = u32(a);
      }
      // ip_vs_set_timeout(): a negative int, or more than INT_MAX / HZ (100).
      for (uint32_t v : t) {
        if (static_cast<int32_t>(v) < 0 || v > INT_MAX / 100) return -EINVAL;
      }
      if (t[0]) tcp_ = t[0];
      if (t[1]) tcpFin_ = t[1];
      if (t[2]) udp_ = t[2];
      return 0;
    } catch (const Invalid&) {
      return -EINVAL;
    }
  }
  if (cmd == IPVS_CMD_ZERO && !tb.has(IPVS_CMD_ATTR_SERVICE)) {
    for (auto& s : services_) {
      s->stats = Counters{};
      for (auto& d : s->dests) d.stats = Counters{};
    }
    return 0;
  }

  bool full = cmd == IPVS_CMD_NEW_SERVICE || cmd == IPVS_CMD_SET_SERVICE;
  ModelService key;
  // The key first, to find an existing service whose flags a full entry starts from.
  int err = parseService(tb.get(IPVS_CMD_ATTR_SERVICE), false, key, nullptr);
  if (err) return err;
  ModelService* svc = find(key);
  if (full) {
    err = parseService(tb.get(IPVS_CMD_ATTR_SERVICE), true, key, svc);
    if (err) return err;
  }
  if (cmd != IPVS_CMD_NEW_SERVICE && !svc) return -ESRCH;

  ModelDest dest;
  if (cmd == IPVS_CMD_NEW_DEST || cmd == IPVS_CMD_SET_DEST || cmd == IPVS_CMD_DEL_DEST) {
    err = parseDest(tb.get(IPVS_CMD_ATTR_DEST), cmd != IPVS_CMD_DEL_DEST, dest);
    if (err) return err;
    if (dest.af == 0) dest.af = svc->af;
    if (!afValid(dest.af)) return -EAFNOSUPPORT;
    if (dest.af != svc->af && cmd != IPVS_CMD_DEL_DEST) {
      if (master_ || backup_) return -EINVAL;
      if (dest.fwd != IP_VS_CONN_F_TUNNEL) return -EINVAL;
    }
  }

  auto checkService = [&](const ModelService& u) {
    if (u.scheduler != "none" && !kSchedulers.count(u.scheduler)) return -ENOENT;
    if (!u.pe.empty() && !kEngines.count(u.pe)) return -ENOENT;
    if (u.af == AF_INET6 && (u.netmaskBe < 1 || u.netmaskBe > 128)) return -EINVAL;
    return 0;
  };

  switch (cmd) {
    case IPVS_CMD_NEW_SERVICE: {
      if (svc) return -EEXIST;
      if ((err = checkService(key))) return err;
      auto s = std::make_unique<ModelService>(key);
      if (s->scheduler == "none") s->scheduler.clear();
      s->flags = (key.flags & ~IP_VS_SVC_F_HASHED) | IP_VS_SVC_F_HASHED;
      index(s.get());
      services_.push_back(std::move(s));
      return 0;
    }
    case IPVS_CMD_SET_SERVICE: {
      if ((err = checkService(key))) return err;
      svc->scheduler = key.scheduler == "none" ? "" : key.scheduler;
      svc->pe = key.pe;
      svc->flags = key.flags | IP_VS_SVC_F_HASHED;
      svc->timeout = key.timeout;
      svc->netmaskBe = key.netmaskBe;
      return 0;
    }
    case IPVS_CMD_DEL_SERVICE: {
      unindex(svc);
      for (auto it = services_.begin(); it != services_.end(); ++it) {
        if (it->get() == svc) {
          services_.erase(it);
          break;
        }
      }
      return 0;
    }
    case IPVS_CMD_NEW_DEST: {
      if ((err = checkDestSettings(dest))) return err;
      for (const ModelDest& d : svc->dests) {
        if (sameDest(d, dest)) return -EEXIST;
      }
      if (unroutable.count(addrText(dest.af, dest.addr))) return -EINVAL;
      svc->dests.push_front(dest);
      return 0;
    }
    case IPVS_CMD_SET_DEST: {
      if ((err = checkDestSettings(dest))) return err;
      for (ModelDest& d : svc->dests) {
        if (!sameDest(d, dest)) continue;
        Counters keep = d.stats;
        uint32_t active = d.active, inactive = d.inactive, persistent = d.persistent;
        d = dest;
        d.stats = keep;
        d.active = active;
        d.inactive = inactive;
        d.persistent = persistent;
        return 0;
      }
      return -ENOENT;
    }
    case IPVS_CMD_DEL_DEST: {
      for (auto it = svc->dests.begin(); it != svc->dests.end(); ++it) {
        if (sameDest(*it, dest)) {
          svc->dests.erase(it);
          return 0;
        }
      }
      return -ENOENT;
    }
    case IPVS_CMD_ZERO: {
      svc->stats = Counters{};
      for (auto& d : svc->dests) d.stats = Counters{};
      return 0;
    }
    default:
      return -EINVAL;
  }
}

int Model::setDaemon(uint8_t cmd, const uint8_t* attrs, size_t len) {
  try {
    nl::AttrTable<IPVS_CMD_ATTR_MAX + 1> top(attrs, len);
    const nl::Attr* nested = top.get(IPVS_CMD_ATTR_DAEMON);
    if (!nested) return -EINVAL;
    nl::AttrTable<IPVS_DAEMON_ATTR_MAX + 1> tb(*nested);
    const nl::Attr* state = tb.get(IPVS_DAEMON_ATTR_STATE);
    if (cmd == IPVS_CMD_DEL_DAEMON) {
      if (!state) return -EINVAL;
      uint32_t st = u32(state);
      // stop_sync_thread(): the role must be running.
      std::unique_ptr<ModelDaemon>* slot =
          st == IP_VS_STATE_MASTER ? &master_ : st == IP_VS_STATE_BACKUP ? &backup_ : nullptr;
      if (!slot) return -EINVAL;
      if (!*slot) return -ESRCH;
      slot->reset();
      return 0;
    }
    const nl::Attr* ifn = tb.get(IPVS_DAEMON_ATTR_MCAST_IFN);
    const nl::Attr* syncId = tb.get(IPVS_DAEMON_ATTR_SYNC_ID);
    if (!(state && ifn && syncId)) return -EINVAL;
    auto d = std::make_unique<ModelDaemon>();
    d->ifname = nulString(ifn, IP_VS_IFNAME_MAXLEN - 1);
    d->syncId = u32(syncId);
    if (const nl::Attr* a = tb.get(IPVS_DAEMON_ATTR_SYNC_MAXLEN)) d->maxLen = u16(a);
    if (const nl::Attr* a = tb.get(IPVS_DAEMON_ATTR_MCAST_GROUP)) {
      d->mcastAf = AF_INET;
      uint32_t g = u32(a);
      std::memcpy(d->group, &g, 4);
      if ((ntohl(g) & 0xf0000000u) != 0xe0000000u) return -EINVAL;
    } else if (const nl::Attr* a6 = tb.get(IPVS_DAEMON_ATTR_MCAST_GROUP6)) {
      if (a6->size() != 16) return -EINVAL;
      d->mcastAf = AF_INET6;
      std::memcpy(d->group, a6->data(), 16);
      if (d->group[0] != 0xff) return -EINVAL;
    }
    if (const nl::Attr* a = tb.get(IPVS_DAEMON_ATTR_MCAST_PORT)) d->port = u16(a);
    if (const nl::Attr* a = tb.get(IPVS_DAEMON_ATTR_MCAST_TTL)) d->ttl = u8(a);
    for (const auto& s : services_) {
      for (const auto& dest : s->dests) {
        if (dest.af != s->af) return -EINVAL;  // mixed-family destinations
      }
    }
    uint32_t st = u32(state);
    std::unique_ptr<ModelDaemon>* slot =
        st == IP_VS_STATE_MASTER ? &master_ : st == IP_VS_STATE_BACKUP ? &backup_ : nullptr;
    // start_sync_thread(): defaults, then the interface, then the role.
    if (d->mcastAf == 0) {
      d->mcastAf = AF_INET;
      uint32_t g = htonl(kSyncGroup);
      std::memcpy(d->group, &g, 4);
    }
    if (!d->port) d->port = kSyncPort;
    if (!d->ttl) d->ttl = 1;
    auto itf = interfaces.find(d->ifname);
    if (itf == interfaces.end()) return -ENODEV;
    uint32_t hlen = d->mcastAf == AF_INET6 ? 40 + 8 : 20 + 8;
    bool backup = st == IP_VS_STATE_BACKUP;
    uint32_t mtu = backup ? std::min<uint32_t>(std::max<uint32_t>(itf->second, 1500), 65535) : 1500;
    uint32_t minMtu = backup ? 1024 : 1;
    if (d->maxLen) {
      uint32_t v = std::min<uint32_t>(std::max<uint32_t>(d->maxLen, minMtu), mtu - hlen);
      d->maxLen = static_cast<uint16_t>(v);
    } else {
      d->maxLen = static_cast<uint16_t>(mtu - hlen);
    }
    if (!slot) return -EINVAL;
    if (*slot) return -EEXIST;
    *slot = std::move(d);
    return 0;
  } catch (const Invalid&) {
    return -EINVAL;
  } catch (const nl::ParseError&) {
    return -EINVAL;
  }
}

void Model::getCommand(const nlmsghdr& h, uint8_t cmd, const uint8_t* attrs, size_t len, Datagrams& out) {
  std::vector<uint8_t> msg;
  nl::Writer w(msg);
  uint8_t replyCmd = cmd == IPVS_CMD_GET_SERVICE ? IPVS_CMD_NEW_SERVICE
                     : cmd == IPVS_CMD_GET_INFO  ? IPVS_CMD_SET_INFO
                                                 : IPVS_CMD_SET_CONFIG;
  size_t off = beginGenl(w, familyId, replyCmd, IPVS_GENL_VERSION, 0, h);
  if (cmd == IPVS_CMD_GET_SERVICE) {
    nl::AttrTable<IPVS_CMD_ATTR_MAX + 1> tb(attrs, len);
    ModelService key;
    int err = parseService(tb.get(IPVS_CMD_ATTR_SERVICE), false, key, nullptr);
    ModelService* svc = err ? nullptr : find(key);
    if (!svc) {
      out.push_back(ack(h, err ? err : -ESRCH));
      return;
    }
    putService(w, *svc, pad64);
  } else if (cmd == IPVS_CMD_GET_CONFIG) {
    w.putU32(IPVS_CMD_ATTR_TIMEOUT_TCP, tcp_);
    w.putU32(IPVS_CMD_ATTR_TIMEOUT_TCP_FIN, tcpFin_);
    w.putU32(IPVS_CMD_ATTR_TIMEOUT_UDP, udp_);
  } else {
    w.putU32(IPVS_INFO_ATTR_VERSION, kIpvsVersionCode);
    w.putU32(IPVS_INFO_ATTR_CONN_TAB_SIZE, kConnTabSize);
  }
  w.endMessage(off);
  out.push_back(std::move(msg));
  if (h.nlmsg_flags & NLM_F_ACK) out.push_back(ack(h, 0));
}

void Model::dump(const nlmsghdr& h, uint8_t cmd, const uint8_t* attrs, size_t len, Datagrams& out) {
  Packer pack(out, dumpBudget, pad64);
  nl::Writer w(pack.buffer());
  auto message = [&](uint8_t replyCmd, auto fill) {
    pack.object([&] {
      size_t off = beginGenl(w, familyId, replyCmd, IPVS_GENL_VERSION, NLM_F_MULTI, h);
      fill();
      w.endMessage(off);
    });
  };
  if (cmd == IPVS_CMD_GET_SERVICE) {
    // ip_vs_genl_dump_services(): bucket by bucket, each newest first, the
    // fwmark table after the other.
    std::vector<const ModelService*> order;
    order.reserve(services_.size());
    for (const auto& s : services_) order.push_back(s.get());
    auto rank = [&](const ModelService* s) { return std::make_pair((s->fwmark ? 256u : 0u) + bucket(*s, hashSalt), ~s->added); };
    std::sort(order.begin(), order.end(), [&](const ModelService* a, const ModelService* b) { return rank(a) < rank(b); });
    for (const ModelService* s : order) message(IPVS_CMD_NEW_SERVICE, [&] { putService(w, *s, pad64); });
  } else if (cmd == IPVS_CMD_GET_DEST) {
    // ip_vs_genl_dump_dests(): a missing or malformed service dumps nothing.
    nl::AttrTable<IPVS_CMD_ATTR_MAX + 1> tb(attrs, len);
    ModelService key;
    ModelService* svc = parseService(tb.get(IPVS_CMD_ATTR_SERVICE), false, key, nullptr) ? nullptr : find(key);
    if (svc) {
      for (const ModelDest& d : svc->dests) message(IPVS_CMD_NEW_DEST, [&] { putDest(w, d, pad64); });
    }
  } else {
    if (master_) message(IPVS_CMD_NEW_DAEMON, [&] { putDaemon(w, IP_VS_STATE_MASTER, *master_); });
    if (backup_) message(IPVS_CMD_NEW_DAEMON, [&] { putDaemon(w, IP_VS_STATE_BACKUP, *backup_); });
  }
  pack.flush();
  // netlink_dump(): DONE goes in an skb of its own once the dump adds nothing.
  out.push_back(doneMessage(h));
}

}  // namespace peer
