// A model of the Linux 6.1 kernel's IPVS generic-netlink family, for the
// netlink test peer (test/peer/server.h): a table of services, destinations,
// timeouts and sync daemons that answers requests the way
// net/netfilter/ipvs/ip_vs_ctl.c and net/netlink do — the same errnos, the
// same attributes in the same order, the same ACKs, dumps packed into
// datagrams of the same size. test/unit/peer-model.test.ts checks it against
// exchanges recorded from the real kernel (test/peer/fixtures/).
//
// Services are dumped in the kernel's order: its 256 hash buckets in turn,
// the newest first in each, fwmark services after the others. The kernel
// mixes a per-namespace pointer into the hash; `hashSalt` stands for it.
//
// What it leaves out: connections, traffic (counters are what a test sets),
// routing (every destination address is accepted unless listed in
// `unroutable`) and the destination trash.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace peer {

// A reply to one request, as the datagrams the kernel would queue for it.
using Datagrams = std::vector<std::vector<uint8_t>>;

struct Counters {
  uint64_t conns = 0, inPkts = 0, outPkts = 0, inBytes = 0, outBytes = 0;
  uint64_t cps = 0, inPps = 0, outPps = 0, inBps = 0, outBps = 0;
};

struct ModelDest {
  uint16_t af = 0;
  uint8_t addr[16] = {};
  uint16_t portBe = 0;
  uint32_t fwd = 0;
  int32_t weight = 0;
  uint32_t upper = 0, lower = 0;
  uint32_t active = 0, inactive = 0, persistent = 0;
  uint8_t tunType = 0;
  uint16_t tunPortBe = 0;
  uint16_t tunFlags = 0;
  Counters stats;
};

struct ModelService {
  uint16_t af = 0;
  uint16_t protocol = 0;
  uint8_t addr[16] = {};
  uint16_t portBe = 0;
  uint32_t fwmark = 0;
  std::string scheduler;
  std::string pe;
  uint32_t flags = 0;
  uint32_t timeout = 0;
  uint32_t netmaskBe = 0;
  Counters stats;
  // The kernel adds a destination at the head of its list.
  std::list<ModelDest> dests;
  uint64_t added = 0;  // insertion order, for the kernel's dump order
  std::string key() const;
};

struct ModelDaemon {
  std::string ifname;
  uint32_t syncId = 0;
  uint16_t maxLen = 0;
  uint16_t mcastAf = 0;
  uint8_t group[16] = {};
  uint16_t port = 0;
  uint8_t ttl = 0;
};

class Model {
 public:
  Model();

  // The id the kernel gave the IPVS family (it differs between boots: the
  // recorded one by default), and whether the family exists at all.
  uint16_t familyId = 0x20;
  bool familyPresent = true;
  // Bytes a dump datagram may hold: the kernel's SKB_WITH_OVERHEAD(32768)
  // once the reader has offered a 32 KiB buffer, as ours does.
  size_t dumpBudget = 32448;
  // Linux on x86-64 puts 64-bit attributes unaligned; User-Mode Linux pads
  // them to 8 bytes with an empty IPVS_STATS_ATTR_PAD first.
  bool pad64 = true;
  // Interface names the sync daemon may use, with their MTU.
  std::map<std::string, uint32_t> interfaces{{"lo", 65536}};
  // Destination addresses (text) the kernel would refuse as not routable.
  std::set<std::string> unroutable;
  // ((size_t)ipvs >> 8) & 0xff of the namespace the model stands for.
  uint8_t hashSalt = 0;

  // The hash bucket ip_vs_svc_hashkey() / ip_vs_svc_fwm_hashkey() put a
  // service in.
  static unsigned bucket(const ModelService& s, uint8_t salt);

  // Answers every request in a datagram, in order, as the kernel would.
  Datagrams answer(const uint8_t* data, size_t len);

  // Direct access for tests and benchmarks (no netlink).
  std::vector<std::unique_ptr<ModelService>>& services() { return services_; }
  // Adds `services` TCP services with `dests` route destinations each,
  // counters set to small distinct values (for benchmarks).
  void populate(size_t services, size_t dests);
  void clear();
  size_t destinationCount() const;

 private:
  void answerOne(const nlmsghdr& h, Datagrams& out);
  void control(const nlmsghdr& h, Datagrams& out);
  int setCommand(uint8_t cmd, const uint8_t* attrs, size_t len);
  int setDaemon(uint8_t cmd, const uint8_t* attrs, size_t len);
  void getCommand(const nlmsghdr& h, uint8_t cmd, const uint8_t* attrs, size_t len, Datagrams& out);
  void dump(const nlmsghdr& h, uint8_t cmd, const uint8_t* attrs, size_t len, Datagrams& out);

  ModelService* find(const ModelService& key);
  void index(ModelService* s);
  void unindex(const ModelService* s);

  std::vector<std::unique_ptr<ModelService>> services_;
  std::unordered_map<std::string, ModelService*> byKey_;
  uint32_t tcp_ = 900, tcpFin_ = 120, udp_ = 300;
  std::unique_ptr<ModelDaemon> master_, backup_;
  uint64_t added_ = 0;
};

// An ACK (error 0) or a refusal, as netlink_ack() builds it for a socket
// with NETLINK_CAP_ACK: the request's header echoed, NLM_F_CAPPED.
std::vector<uint8_t> ack(const nlmsghdr& request, int error);

}  // namespace peer
