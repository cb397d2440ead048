// Announcing that an address has moved to this host: gratuitous ARP for IPv4
// and unsolicited neighbour advertisements for IPv6, sent from a link's own
// MAC inside a network namespace. Neighbours that already know the address
// (a client, a router) update their entry to the new MAC at once, instead of
// sending to the old owner until their entry goes stale.
#pragma once

#include <string>

#include "host/ip.h"

namespace host {

// Sends `count` rounds, `intervalMs` apart, on link `ifname` of `netns`
// (empty: the calling thread's): for IPv4 a broadcast ARP request and an ARP
// reply, both with `address` as sender and target and the link's MAC; for
// IPv6 an unsolicited neighbour advertisement (override flag, target
// link-layer option) to all nodes, hop limit 255. The address need not be
// on the link yet (it is only the payload). Returns the link's MAC as text.
// Throws nl::Error: ENODEV for an unknown link, else the failing call's errno.
std::string announceAddress(const std::string& netns, const std::string& ifname, const IpAddress& address, int count,
                            int intervalMs);

}  // namespace host
