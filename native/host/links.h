// Link and address operations by device name inside a network namespace,
// with failures put into words ("address 10.0.0.1/32 already exists on lo").
// `netns` is a path to a namespace file; empty means the caller's.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "host/rtnl.h"

namespace host {

// Adds the address. Returns false, changing nothing, when the device already
// has it and `existOk`; otherwise an existing address is Error(EEXIST).
bool addAddress(const std::string& netns, const std::string& dev, const AddressSpec& spec, bool existOk);
// Deletes the address. Returns false when it is absent and `missingOk`;
// otherwise that is Error(EADDRNOTAVAIL).
bool deleteAddress(const std::string& netns, const std::string& dev, const AddressSpec& spec, bool missingOk);
// Every address, or those of `dev` (which must exist) when it is not empty.
std::vector<Address> listAddresses(const std::string& netns, const std::string& dev);
// The device's index and flags; nullopt when there is none by that name.
std::optional<Link> findLink(const std::string& netns, const std::string& dev);
// Every device of the namespace.
std::vector<Link> listLinks(const std::string& netns);
// Sets IFF_UP on or off; returns whether the device was up before.
bool setLinkUp(const std::string& netns, const std::string& dev, bool up);

// A veth pair with `name` in `netns` and `peer` in `peerNetns`, both brought
// up; the peer is enslaved to `peerMaster` (a bridge in `peerNetns`) unless
// that is empty.
struct VethSpec {
  std::string name, netns, peer, peerNetns, peerMaster;
};
void createVeth(const VethSpec& spec);
// A bridge, brought up.
void createBridge(const std::string& netns, const std::string& name);
// A route through `dev`, via `gateway` when given; dst null = default.
void addRoute(const std::string& netns, const std::string& dev, const IpAddress* dst, int prefixLength,
              const IpAddress* gateway);

// A next hop by link name, as JavaScript gives it.
struct NamedHop {
  IpAddress gateway;  // AF_UNSPEC: none
  std::string dev;
  int weight = 1;
};
// A route to dst/prefixLength over one hop or several (multipath, weighted);
// `replace` swaps the existing route for it.
void setRoute(const std::string& netns, const IpAddress& dst, int prefixLength, const std::vector<NamedHop>& hops,
              bool replace);
// Deletes the route to dst/prefixLength; ESRCH when there is none.
void deleteRoute(const std::string& netns, const IpAddress& dst, int prefixLength);
// A route with its hops' links by name.
struct NamedRoute {
  IpAddress dst;
  int prefixLength = 0;
  std::vector<NamedHop> hops;
};
std::vector<NamedRoute> listRoutes(const std::string& netns, int family);

}  // namespace host
