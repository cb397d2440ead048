#include "nl/genl.h"

#include <linux/genetlink.h>

#include <cerrno>
#include <cstring>

namespace nl {

size_t beginGenl(Writer& w, uint16_t family, uint8_t cmd, uint8_t version, uint16_t flags, uint32_t seq,
                 uint32_t portId) {
  size_t off = w.beginMessage(family, flags, seq, portId);
  genlmsghdr g{};
  g.cmd = cmd;
  g.version = version;
  w.putRaw(&g, sizeof g);
  return off;
}

GenlPayload genlPayload(const nlmsghdr& h) {
  // Checked before subtracting: an nlmsg_len below the header would wrap to a
  // ~4 GiB payload. forEachMessage never passes one; other callers might.
  if (h.nlmsg_len < NLMSG_HDRLEN + GENL_HDRLEN) throw ParseError("generic netlink message without its header");
  size_t len = h.nlmsg_len - NLMSG_HDRLEN;
  const auto* p = reinterpret_cast<const uint8_t*>(&h) + NLMSG_HDRLEN;
  genlmsghdr g;
  std::memcpy(&g, p, sizeof g);
  return GenlPayload{g.cmd, p + GENL_HDRLEN, len - GENL_HDRLEN};
}

uint16_t resolveFamily(Socket& sock, const std::string& name) {
  std::vector<uint8_t> msg;
  Writer w(msg);
  uint32_t seq = sock.nextSeq();
  size_t off = beginGenl(w, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, NLM_F_REQUEST | NLM_F_ACK, seq, sock.portId());
  w.putString(CTRL_ATTR_FAMILY_NAME, name);
  w.endMessage(off);

  uint16_t id = 0;
  sock.request(msg, seq, [&](const nlmsghdr& h) {
    GenlPayload g = genlPayload(h);
    AttrTable<CTRL_ATTR_MAX + 1> tb(g.attrs, g.attrsLen);
    if (const Attr* a = tb.get(CTRL_ATTR_FAMILY_ID)) id = a->u16();
  });
  if (id == 0) throw Error(ENOENT, "generic netlink family " + name + " has no id");
  return id;
}

}  // namespace nl
