// fuzz_rtnl_reply: libFuzzer target for the rtnetlink reply parsers of
// native/host/rtnl.cc — RTM_NEWLINK (parseLink, through links() and
// findLink()) and RTM_NEWADDR (the address dump of addresses(), with
// ipFromBytes) — run by host::Rtnl itself over scripted replies
// (fuzz/peer_script.h; same input format as fuzz_socket). Each call gets a
// fresh peer socket and the next group of datagrams:
//
//   links()  addresses(0) (a link dump, then an address dump)  addresses(2)
//   findLink("eth0")
//
// Contract: each returns or throws nl::Error / nl::ParseError; what it
// returns is something a caller can use (families are IPv4/IPv6, a filtered
// address list holds that device only, describe() works on each).

#include <memory>
#include <string>
#include <vector>

#include "fuzz/peer_script.h"
#include "host/ip.h"
#include "host/rtnl.h"
#include "nl/socket.h"

// host::Rtnl opens its own NETLINK_ROUTE socket and has no constructor that
// takes a test peer (ipvs::Client has one). Explicit instantiations may name
// private members, so this swaps the socket of a real Rtnl for a peer's
// without touching rtnl.h; every parser then runs as in production.
std::unique_ptr<nl::Socket>& socketOf(host::Rtnl& rtnl);

template <std::unique_ptr<nl::Socket> host::Rtnl::*Member>
struct RtnlSocketAccess {
  friend std::unique_ptr<nl::Socket>& socketOf(host::Rtnl& rtnl) { return rtnl.*Member; }
};
template struct RtnlSocketAccess<&host::Rtnl::sock_>;

namespace {

constexpr int kFilteredIndex = 2;

host::Rtnl& rtnl() {
  // Opens one real NETLINK_ROUTE socket (no privileges needed), replaced by
  // a peer's before each call.
  static host::Rtnl* instance = [] {
    try {
      return new host::Rtnl("");
    } catch (const nl::Error& e) {
      std::fprintf(stderr, "fuzz_rtnl_reply: cannot open a NETLINK_ROUTE socket: %s\n", e.what());
      std::abort();
    }
  }();
  return *instance;
}

void checkAddress(const host::Address& a) {
  FUZZ_CHECK(a.address.family == AF_INET || a.address.family == AF_INET6);
  FUZZ_CHECK(!host::describe(a.address, a.prefixLength).empty());
}

void links(host::Rtnl& rt) {
  for (const host::Link& l : rt.links()) (void)l.up();
}

void allAddresses(host::Rtnl& rt) {
  for (const host::Address& a : rt.addresses(0)) checkAddress(a);
}

void deviceAddresses(host::Rtnl& rt) {
  for (const host::Address& a : rt.addresses(kFilteredIndex)) {
    checkAddress(a);
    FUZZ_CHECK(a.index == kFilteredIndex);
  }
}

void findLink(host::Rtnl& rt) {
  if (auto l = rt.findLink("eth0")) (void)l->up();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using Call = void (*)(host::Rtnl&);
  static const Call kCalls[] = {links, allAddresses, deviceAddresses, findLink};
  host::Rtnl& rt = rtnl();
  fuzzpeer::Script script(data, size);
  for (Call call : kCalls) {
    fuzzpeer::Peer peer(script.nextGroup());
    socketOf(rt) = std::make_unique<nl::Socket>(peer.link(), fuzzpeer::clientOptions());
    fuzzpeer::netlinkCall([&] { call(rt); });
    socketOf(rt).reset();
  }
  fuzzpeer::checkNoDescriptorLeak();
  return 0;
}
