#include "host/announce.h"

#include <arpa/inet.h>
#include <net/ethernet.h>
#include <net/if_arp.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "nl/fd.h"
#include "nl/netns.h"
#include "nl/socket.h"

namespace host {

namespace {

[[noreturn]] void fail(int e, const std::string& what) { throw nl::Error(e, what + ": " + std::strerror(e)); }

struct Link {
  int index = 0;
  uint8_t mac[6] = {};
};

// The link's index and MAC, asked through `fd` (any socket of the namespace).
Link linkOf(int fd, const std::string& ifname) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) throw nl::Error(EINVAL, "link name '" + ifname + "' is not a link name");
  ifreq req{};
  std::memcpy(req.ifr_name, ifname.c_str(), ifname.size());
  if (::ioctl(fd, SIOCGIFINDEX, &req) != 0) {
    int e = errno;
    if (e == ENODEV) throw nl::Error(ENODEV, "no link '" + ifname + "' in that namespace");
    fail(e, "SIOCGIFINDEX " + ifname);
  }
  Link link;
  link.index = req.ifr_ifindex;
  if (::ioctl(fd, SIOCGIFHWADDR, &req) != 0) fail(errno, "SIOCGIFHWADDR " + ifname);
  if (req.ifr_hwaddr.sa_family != ARPHRD_ETHER) throw nl::Error(EINVAL, "link '" + ifname + "' is not Ethernet-like: no ARP or neighbour discovery to send");
  std::memcpy(link.mac, req.ifr_hwaddr.sa_data, 6);
  return link;
}

void pause(int ms) {
  timespec t{ms / 1000, static_cast<long>(ms % 1000) * 1000000L};
  while (::nanosleep(&t, &t) != 0 && errno == EINTR) {
  }
}

// An ARP packet for Ethernet and IPv4 (RFC 826), without the Ethernet header.
struct ArpPacket {
  uint16_t htype, ptype;
  uint8_t hlen, plen;
  uint16_t oper;
  uint8_t sha[6], spa[4], tha[6], tpa[4];
} __attribute__((packed));

void sendArp(int fd, const Link& link, const IpAddress& address) {
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_ARP);
  to.sll_ifindex = link.index;
  to.sll_halen = 6;
  std::memset(to.sll_addr, 0xff, 6);
  for (int oper : {ARPOP_REQUEST, ARPOP_REPLY}) {
    ArpPacket p{};
    p.htype = htons(ARPHRD_ETHER);
    p.ptype = htons(ETH_P_IP);
    p.hlen = 6;
    p.plen = 4;
    p.oper = htons(static_cast<uint16_t>(oper));
    std::memcpy(p.sha, link.mac, 6);
    std::memcpy(p.spa, address.bytes, 4);
    // A request asks for nobody's MAC; a reply names the sender's own, as arping -A does.
    if (oper == ARPOP_REPLY) std::memcpy(p.tha, link.mac, 6);
    std::memcpy(p.tpa, address.bytes, 4);
    if (::sendto(fd, &p, sizeof p, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) != static_cast<ssize_t>(sizeof p)) {
      fail(errno, "sending a gratuitous ARP");
    }
  }
}

// An unsolicited neighbour advertisement (RFC 4861 4.4) with a target
// link-layer address option; the kernel fills in the ICMPv6 checksum.
void sendNa(int fd, const Link& link, const IpAddress& address) {
  struct {
    nd_neighbor_advert na;
    uint8_t option[8];
  } __attribute__((packed)) m{};
  m.na.nd_na_type = ND_NEIGHBOR_ADVERT;
  m.na.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
  std::memcpy(&m.na.nd_na_target, address.bytes, 16);
  m.option[0] = ND_OPT_TARGET_LINKADDR;
  m.option[1] = 1;  // in units of 8 bytes
  std::memcpy(m.option + 2, link.mac, 6);
  sockaddr_in6 to{};
  to.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
  to.sin6_scope_id = static_cast<uint32_t>(link.index);
  if (::sendto(fd, &m, sizeof m, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) != static_cast<ssize_t>(sizeof m)) {
    fail(errno, "sending a neighbour advertisement");
  }
}

std::string macText(const uint8_t* mac) {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return buf;
}

}  // namespace

std::string announceAddress(const std::string& netns, const std::string& ifname, const IpAddress& address, int count,
                            int intervalMs) {
  nl::Fd fd;
  Link link;
  {
    // Sockets keep the namespace they were made in: everything after this block is sent there.
    nl::NetnsScope scope(netns);
    if (address.family == AF_INET) {
      fd = nl::Fd(::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP)));
    } else {
      fd = nl::Fd(::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6));
    }
    if (fd.get() < 0) fail(errno, address.family == AF_INET ? "packet socket" : "ICMPv6 socket");
    link = linkOf(fd.get(), ifname);
  }
  if (address.family == AF_INET6) {
    // Neighbour discovery is only believed with hop limit 255 (it cannot have been routed).
    int hops = 255;
    if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops) != 0) fail(errno, "IPV6_MULTICAST_HOPS");
    int index = link.index;
    if (::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index) != 0) fail(errno, "IPV6_MULTICAST_IF");
  }
  for (int i = 0; i < count; ++i) {
    if (i > 0 && intervalMs > 0) pause(intervalMs);
    if (address.family == AF_INET) {
      sendArp(fd.get(), link, address);
    } else {
      sendNa(fd.get(), link, address);
    }
  }
  return macText(link.mac);
}

}  // namespace host
