// Generic netlink: message framing and family lookup over nl::Socket.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nl/attr.h"
#include "nl/socket.h"

namespace nl {

// Starts a generic-netlink message (nlmsghdr + genlmsghdr) in `w`; returns
// the offset to pass to Writer::endMessage().
size_t beginGenl(Writer& w, uint16_t family, uint8_t cmd, uint8_t version, uint16_t flags, uint32_t seq,
                 uint32_t portId);

// The payload of a generic-netlink message after its genlmsghdr, as an
// attribute run. Throws ParseError when the message is too short.
struct GenlPayload {
  uint8_t cmd;
  const uint8_t* attrs;
  size_t attrsLen;
};
GenlPayload genlPayload(const nlmsghdr& h);

// Looks up a generic-netlink family id by name. Throws Error(ENOENT) when the
// kernel has no such family (for IPVS: ip_vs is not loaded).
uint16_t resolveFamily(Socket& sock, const std::string& name);

}  // namespace nl
