#include "ipvs/client.h"

#include <linux/genetlink.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <unordered_set>

#include "nl/genl.h"
#include "nl/netns.h"

namespace ipvs {

namespace {

// Requests per send. The kernel handles a send's messages in order before
// sendmsg returns, so a whole window's ACKs are queued at once: 256 of them
// need ~256 KiB of receive buffer, well below what the socket asks for.
constexpr size_t kWindow = 256;

std::unique_ptr<nl::Socket> openSocket(const std::string& netnsPath, const nl::SocketOptions& options) {
  nl::NetnsScope scope(netnsPath);
  return std::make_unique<nl::Socket>(NETLINK_GENERIC, options);
}

uint16_t resolveIpvs(nl::Socket& sock) {
  try {
    return nl::resolveFamily(sock, IPVS_GENL_NAME);
  } catch (const nl::Error& e) {
    if (e.error() == ENOENT) {
      throw nl::Error(ENOENT,
                      "IPVS is not available: the kernel has no generic netlink family 'IPVS' "
                      "(the ip_vs module is not loaded; load it with 'modprobe ip_vs')");
    }
    throw;
  }
}

// What identifies a service or a destination, as bytes.
using Key = std::array<uint8_t, 28>;

Key serviceKey(const Service& s) {
  Key k{};
  std::memcpy(&k[0], &s.family, 2);
  std::memcpy(&k[2], &s.protocol, 2);
  std::memcpy(&k[4], &s.port, 2);
  std::memcpy(&k[8], &s.fwmark, 4);
  if (s.fwmark == 0) std::memcpy(&k[12], s.addr.bytes, 16);
  return k;
}

Key destinationKey(const Destination& d) {
  Key k{};
  std::memcpy(&k[0], &d.family, 2);
  std::memcpy(&k[2], &d.port, 2);
  std::memcpy(&k[12], d.addr.bytes, 16);
  return k;
}

struct KeyHash {
  size_t operator()(const Key& k) const {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a
    for (uint8_t b : k) h = (h ^ b) * 1099511628211ULL;
    return static_cast<size_t>(h);
  }
};

// Keys seen in one dump: a handful for most destination dumps (a vector,
// no allocation once grown), thousands for a services dump (a hash set).
class SeenKeys {
 public:
  // False when `key` was seen already.
  bool insert(const Key& key) {
    if (set_.empty()) {
      for (const Key& k : small_) {
        if (k == key) return false;
      }
      if (small_.size() < kSmall) {
        small_.push_back(key);
        return true;
      }
      set_.insert(small_.begin(), small_.end());
    }
    return set_.insert(key).second;
  }
  void clear() {
    small_.clear();
    set_.clear();
  }

 private:
  static constexpr size_t kSmall = 64;
  std::vector<Key> small_;
  std::unordered_set<Key, KeyHash> set_;
};

// Every reply of interest nests its object under one command attribute.
template <typename Fn>
void withNested(const nlmsghdr& h, uint16_t type, Fn fn) {
  nl::GenlPayload g = nl::genlPayload(h);
  nl::AttrTable<IPVS_CMD_ATTR_MAX + 1> tb(g.attrs, g.attrsLen);
  if (const nl::Attr* a = tb.get(type)) fn(*a);
}

}  // namespace

Client::Client(const std::string& netnsPath, const nl::SocketOptions& options)
    : sock_(openSocket(netnsPath, options)), netnsInode_(sock_->netnsInode()) {
  family_ = resolveIpvs(*sock_);
}

Client::Client(nl::PeerLink peer, const nl::SocketOptions& options)
    : sock_(std::make_unique<nl::Socket>(std::move(peer), options)) {
  family_ = resolveIpvs(*sock_);
}

std::vector<uint8_t> Client::buildRequest(uint8_t cmd, uint16_t flags, uint32_t seq, const Service* key) {
  std::vector<uint8_t> msg;
  nl::Writer w(msg);
  size_t off = nl::beginGenl(w, family_, cmd, kGenlVersion, NLM_F_REQUEST | flags, seq, sock_->portId());
  if (key) putService(w, *key, false);
  w.endMessage(off);
  return msg;
}

Info Client::info() {
  uint32_t seq = sock_->nextSeq();
  Info info;
  sock_->request(buildRequest(IPVS_CMD_GET_INFO, NLM_F_ACK, seq, nullptr), seq, [&](const nlmsghdr& h) {
    nl::GenlPayload g = nl::genlPayload(h);
    info = parseInfo(g.attrs, g.attrsLen);
  });
  return info;
}

Timeouts Client::timeouts() {
  uint32_t seq = sock_->nextSeq();
  Timeouts t;
  sock_->request(buildRequest(IPVS_CMD_GET_CONFIG, NLM_F_ACK, seq, nullptr), seq, [&](const nlmsghdr& h) {
    nl::GenlPayload g = nl::genlPayload(h);
    t = parseTimeouts(g.attrs, g.attrsLen);
  });
  return t;
}

std::vector<Service> Client::services() {
  // IPVS resumes a dump by position and never flags one that a change
  // interrupted: a service added while the dump runs can come twice. Each
  // service is kept once (keys seen); one missed that way cannot be told
  // from here (Ipvs.snapshot's consistent read can).
  std::vector<Service> out;
  SeenKeys seen;
  sock_->dump([&](uint32_t seq) { return buildRequest(IPVS_CMD_GET_SERVICE, NLM_F_DUMP, seq, nullptr); },
              [&](const nlmsghdr& h) {
                withNested(h, IPVS_CMD_ATTR_SERVICE, [&](const nl::Attr& a) {
                  Service s = parseService(a);
                  if (seen.insert(serviceKey(s))) out.push_back(std::move(s));
                });
              },
              [&] {
                out.clear();
                seen.clear();
              });
  return out;
}

std::optional<Service> Client::service(const Service& key) {
  uint32_t seq = sock_->nextSeq();
  std::optional<Service> found;
  try {
    sock_->request(buildRequest(IPVS_CMD_GET_SERVICE, NLM_F_ACK, seq, &key), seq, [&](const nlmsghdr& h) {
      withNested(h, IPVS_CMD_ATTR_SERVICE, [&](const nl::Attr& a) { found = parseService(a); });
    });
  } catch (const nl::Error& e) {
    if (e.error() == ESRCH) return std::nullopt;
    throw;
  }
  return found;
}

void Client::dumpDestinations(const Service& key, std::vector<Destination>& out) {
  SeenKeys seen;  // as in services(): each destination once
  sock_->dump([&](uint32_t seq) { return buildRequest(IPVS_CMD_GET_DEST, NLM_F_DUMP, seq, &key); },
              [&](const nlmsghdr& h) {
                withNested(h, IPVS_CMD_ATTR_DEST, [&](const nl::Attr& a) {
                  Destination d = parseDestination(a, key.family);
                  if (seen.insert(destinationKey(d))) out.push_back(std::move(d));
                });
              },
              [&] {
                out.clear();
                seen.clear();
              });
}

std::vector<Destination> Client::destinations(const Service& key) {
  std::vector<Destination> out;
  dumpDestinations(key, out);
  // The kernel answers a dump for a missing service with an empty list; tell
  // "no destinations" from "no service" the only way the kernel allows.
  if (out.empty() && !service(key)) throw nl::Error(ESRCH, "No such process");
  return out;
}

void Client::snapshot(SnapshotSink& sink) {
  const std::vector<Service> all = services();
  // Services reach the sink in order, each just before its first destination
  // (or, without destinations, when a later service or the end arrives).
  size_t given = 0;
  auto giveUpTo = [&](size_t last) {
    while (given <= last) sink.service(all[given++]);
  };
  // Destinations of the service being given, each once (see services()).
  SeenKeys seen;
  size_t seenFor = SIZE_MAX;
  // One destination dump per service, chained many to a system call. A dump
  // restarts only while it is the last one given (socket.h, dumpMany).
  sock_->dumpMany(
      all.size(), [&](size_t i, uint32_t seq) { return buildRequest(IPVS_CMD_GET_DEST, NLM_F_DUMP, seq, &all[i]); },
      [&](size_t i, const nlmsghdr& h) {
        giveUpTo(i);
        if (seenFor != i) {
          seen.clear();
          seenFor = i;
        }
        withNested(h, IPVS_CMD_ATTR_DEST, [&](const nl::Attr& a) {
          Destination d = parseDestination(a, all[i].family);
          if (seen.insert(destinationKey(d))) sink.destination(d);
        });
      },
      [&](size_t i) {
        if (given == i + 1) sink.discardDestinations();
        if (seenFor == i) seen.clear();
      });
  if (!all.empty()) giveUpTo(all.size() - 1);
}

std::vector<Daemon> Client::daemons() {
  std::vector<Daemon> out;
  sock_->dump([&](uint32_t seq) { return buildRequest(IPVS_CMD_GET_DAEMON, NLM_F_DUMP, seq, nullptr); },
              [&](const nlmsghdr& h) {
                withNested(h, IPVS_CMD_ATTR_DAEMON, [&](const nl::Attr& a) { out.push_back(parseDaemon(a)); });
              },
              [&] { out.clear(); });
  return out;
}

void Client::appendMutation(nl::Writer& w, const Mutation& op, uint32_t seq) {
  size_t off = nl::beginGenl(w, family_, op.cmd, kGenlVersion, NLM_F_REQUEST | NLM_F_ACK, seq, sock_->portId());
  switch (op.cmd) {
    case IPVS_CMD_NEW_SERVICE:
    case IPVS_CMD_SET_SERVICE:
      putService(w, op.service, true);
      break;
    case IPVS_CMD_DEL_SERVICE:
      putService(w, op.service, false);
      break;
    case IPVS_CMD_NEW_DEST:
    case IPVS_CMD_SET_DEST:
      putService(w, op.service, false);
      putDestination(w, op.dest, true);
      break;
    case IPVS_CMD_DEL_DEST:
      putService(w, op.service, false);
      putDestination(w, op.dest, false);
      break;
    case IPVS_CMD_NEW_DAEMON:
      putDaemon(w, op.daemon, true);
      break;
    case IPVS_CMD_DEL_DAEMON:
      putDaemon(w, op.daemon, false);
      break;
    case IPVS_CMD_SET_CONFIG:
      putTimeouts(w, op.timeouts);
      break;
    case IPVS_CMD_ZERO:
      if (op.hasService) putService(w, op.service, false);
      break;
    case IPVS_CMD_FLUSH:
      break;
    default:
      throw nl::Error(EINVAL, "unknown IPVS command " + std::to_string(op.cmd));
  }
  w.endMessage(off);
}

std::vector<nl::Ack> Client::mutate(const std::vector<Mutation>& ops) {
  return mutate(ops.size(), [&](size_t i, Mutation&) -> const Mutation& { return ops[i]; });
}

std::vector<nl::Ack> Client::mutate(size_t count, const MutationAt& at) {
  std::vector<nl::Ack> acks;
  acks.reserve(count);
  std::vector<uint8_t> msgs;
  Mutation scratch;
  for (size_t start = 0; start < count; start += kWindow) {
    size_t n = std::min(kWindow, count - start);
    msgs.clear();
    nl::Writer w(msgs);
    uint32_t first = sock_->reserveSeq(n + 1);  // the last for pipeline()'s barrier
    for (size_t i = 0; i < n; ++i) appendMutation(w, at(start + i, scratch), first + static_cast<uint32_t>(i));
    for (nl::Ack& a : sock_->pipeline(msgs, first, n)) acks.push_back(std::move(a));
  }
  return acks;
}

}  // namespace ipvs
