// IPVS generic-netlink codec: plain structs <-> attributes, in the kernel's
// vocabulary (include/uapi/linux/ip_vs.h). No N-API, no I/O.
#pragma once

#include <linux/ip_vs.h>
#include <netinet/in.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nl/attr.h"

namespace ipvs {

inline constexpr uint8_t kGenlVersion = IPVS_GENL_VERSION;

// 16 bytes, enough for either family (the kernel's union nf_inet_addr).
struct Address {
  uint8_t bytes[16] = {};
};

// Parses IPv4/IPv6 text for the given family; false when malformed.
bool parseAddress(int family, const std::string& text, Address& out);
// Canonical text (inet_ntop) of an address of the given family.
std::string formatAddress(int family, const Address& addr);

// Counters; rates are the estimator's per-second values.
struct Stats {
  uint64_t conns = 0, inPkts = 0, outPkts = 0, inBytes = 0, outBytes = 0;
  uint64_t cps = 0, inPps = 0, outPps = 0, inBps = 0, outBps = 0;
};

struct Service {
  uint16_t family = AF_INET;
  uint16_t protocol = 0;  // 0 for fwmark services
  Address addr;
  uint16_t port = 0;  // host order here; big-endian on the wire
  uint32_t fwmark = 0;
  std::string scheduler;
  uint32_t flags = 0;
  uint32_t timeout = 0;
  // IPv4: the mask in host order (0xffffff00); IPv6: a prefix length.
  uint32_t netmask = 0;
  std::string pe;
  bool hasStats = false;
  Stats stats;
};

struct Destination {
  uint16_t family = AF_INET;
  Address addr;
  uint16_t port = 0;
  uint32_t fwdMethod = IP_VS_CONN_F_DROUTE;
  uint32_t weight = 1;
  uint32_t upperThreshold = 0;
  uint32_t lowerThreshold = 0;
  bool hasTunnel = false;  // false when an older kernel omitted tunnel attributes
  uint8_t tunType = 0;
  uint16_t tunPort = 0;
  uint16_t tunFlags = 0;
  uint32_t activeConns = 0, inactConns = 0, persistConns = 0;
  bool hasStats = false;
  Stats stats;
};

struct Daemon {
  uint32_t state = 0;
  std::string interface;
  uint32_t syncId = 0;
  std::optional<uint16_t> maxLength;
  std::optional<uint16_t> groupFamily;
  Address group;
  std::optional<uint16_t> port;
  std::optional<uint8_t> ttl;
};

struct Timeouts {
  uint32_t tcp = 0, tcpFin = 0, udp = 0;
};

struct Info {
  uint32_t version = 0;
  uint32_t connTableSize = 0;
};

// Writes IPVS_CMD_ATTR_SERVICE. With `full`, also the settings NEW/SET need;
// without, only the key (what DEL and destination commands identify it by).
void putService(nl::Writer& w, const Service& s, bool full);
// Writes IPVS_CMD_ATTR_DEST; `full` as above (DEL needs only address/port).
void putDestination(nl::Writer& w, const Destination& d, bool full);
// Writes IPVS_CMD_ATTR_DAEMON; `full` false writes the state only (DEL).
void putDaemon(nl::Writer& w, const Daemon& d, bool full);
void putTimeouts(nl::Writer& w, const Timeouts& t);

// Readers take the nested attribute's payload. They tolerate attributes a
// newer kernel adds and fall back where an older one leaves some out.
Service parseService(const nl::Attr& nested);
Destination parseDestination(const nl::Attr& nested, uint16_t serviceFamily);
Daemon parseDaemon(const nl::Attr& nested);
// Top-level attributes of GET_CONFIG / GET_INFO replies.
Timeouts parseTimeouts(const uint8_t* attrs, size_t len);
Info parseInfo(const uint8_t* attrs, size_t len);

}  // namespace ipvs
