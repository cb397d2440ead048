// Feeds arbitrary bytes to every parser of the native core the way the client
// does (netlink messages -> ACK or generic-netlink payload -> IPVS objects),
// plus a generic walk that tries every typed read on every attribute.
// Shared by nl_selftest (random mutations) and fuzz_ipvs_reply (libFuzzer).
//
// Contract under test: each parser returns or throws nl::ParseError. Anything
// else escapes parseEverything(); an out-of-bounds read or undefined behaviour
// aborts under ASan/UBSan.
#pragma once

#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

#include "ipvs/codec.h"
#include "nl/attr.h"
#include "nl/genl.h"
#include "nl/socket.h"

namespace harness {

struct Outcome {
  size_t accepted = 0;  // parser calls that returned
  size_t rejected = 0;  // parser calls that threw nl::ParseError
};

// Runs fn; a ParseError counts as a rejection, any other exception escapes.
template <typename Fn>
void attempt(Outcome& o, Fn&& fn) {
  try {
    fn();
    ++o.accepted;
  } catch (const nl::ParseError&) {
    ++o.rejected;
  }
}

// Every typed read on every attribute, recursing into anything that parses as
// a nested run. The values are folded into a sink so nothing is optimised out.
inline void walk(Outcome& o, const uint8_t* data, size_t len, int depth, uint64_t& sink) {
  nl::AttrIterator it(data, len);
  nl::Attr a;
  while (it.next(a)) {
    attempt(o, [&] { sink += a.u8(); });
    attempt(o, [&] { sink += a.u16(); });
    attempt(o, [&] { sink += a.u32(); });
    attempt(o, [&] { sink += a.u64(); });
    attempt(o, [&] { sink += a.be16(); });
    sink += a.str().size();
    if (depth < 4) attempt(o, [&] { walk(o, a.data(), a.size(), depth + 1, sink); });
  }
}

// An attribute run as the payload of an IPVS reply: every IPVS parser.
inline void parseIpvsAttrs(Outcome& o, const uint8_t* attrs, size_t len, uint64_t& sink) {
  attempt(o, [&] { sink += ipvs::parseInfo(attrs, len).version; });
  attempt(o, [&] { sink += ipvs::parseTimeouts(attrs, len).tcp; });
  attempt(o, [&] {
    nl::AttrTable<IPVS_CMD_ATTR_MAX + 1> tb(attrs, len);
    if (const nl::Attr* a = tb.get(IPVS_CMD_ATTR_SERVICE)) {
      attempt(o, [&] { sink += ipvs::parseService(*a).stats.conns; });
    }
    if (const nl::Attr* a = tb.get(IPVS_CMD_ATTR_DEST)) {
      attempt(o, [&] { sink += ipvs::parseDestination(*a, AF_INET).weight; });
      attempt(o, [&] { sink += ipvs::parseDestination(*a, AF_INET6).stats.inBytes; });
    }
    if (const nl::Attr* a = tb.get(IPVS_CMD_ATTR_DAEMON)) {
      attempt(o, [&] { sink += ipvs::parseDaemon(*a).syncId; });
    }
  });
  // The same bytes taken directly as the inside of each nested object.
  attempt(o, [&] { sink += ipvs::parseService(nl::Attr(IPVS_CMD_ATTR_SERVICE, attrs, len)).port; });
  attempt(o, [&] { sink += ipvs::parseDestination(nl::Attr(IPVS_CMD_ATTR_DEST, attrs, len), AF_INET).port; });
  attempt(o, [&] { sink += ipvs::parseDaemon(nl::Attr(IPVS_CMD_ATTR_DAEMON, attrs, len)).state; });
  attempt(o, [&] { walk(o, attrs, len, 0, sink); });
}

// `data` is one received datagram: one or more netlink messages.
inline Outcome parseEverything(const uint8_t* data, size_t len) {
  Outcome o;
  uint64_t sink = 0;
  attempt(o, [&] {
    nl::forEachMessage(data, len, [&](const nlmsghdr& h) {
      if (h.nlmsg_type == NLMSG_ERROR) {
        attempt(o, [&] {
          nl::Ack ack = nl::parseAck(h);
          sink += static_cast<uint64_t>(ack.error) + ack.extack.size();
        });
      }
      // Whatever the type, also read it as a generic-netlink reply.
      attempt(o, [&] {
        nl::GenlPayload g = nl::genlPayload(h);
        sink += g.cmd;
        parseIpvsAttrs(o, g.attrs, g.attrsLen, sink);
      });
      return true;
    });
  });
  // And the raw bytes as a bare attribute run.
  parseIpvsAttrs(o, data, len, sink);
  // Keeps `sink` alive without printing it.
  if (sink == 0x5eed5eed5eed5eedULL) ++o.accepted;
  return o;
}

}  // namespace harness
