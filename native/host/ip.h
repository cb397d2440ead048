// IP addresses as the kernel's netlink attributes carry them: 4 or 16 raw
// bytes in network order, with their family.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace host {

struct IpAddress {
  int family = AF_UNSPEC;  // AF_INET or AF_INET6
  uint8_t bytes[16] = {};
  size_t size() const { return family == AF_INET ? 4 : 16; }
  int maxPrefix() const { return family == AF_INET ? 32 : 128; }
  bool operator==(const IpAddress& o) const;
};

// Parses IPv4 dotted or IPv6 text; throws nl::Error(EINVAL) naming the text.
IpAddress parseIp(const std::string& text);
// Canonical text (inet_ntop), e.g. "fd00::1".
std::string formatIp(const IpAddress& a);
// Reads an address attribute payload of 4 or 16 bytes for `family`.
IpAddress ipFromBytes(int family, const uint8_t* data, size_t len);

}  // namespace host
