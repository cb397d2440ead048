#include "host/ip.h"

#include <arpa/inet.h>

#include <cerrno>
#include <cstring>

#include "nl/attr.h"
#include "nl/socket.h"

namespace host {

bool IpAddress::operator==(const IpAddress& o) const {
  return family == o.family && std::memcmp(bytes, o.bytes, size()) == 0;
}

IpAddress parseIp(const std::string& text) {
  IpAddress a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes) == 1) {
    a.family = AF_INET;
  } else if (inet_pton(AF_INET6, text.c_str(), a.bytes) == 1) {
    a.family = AF_INET6;
  } else {
    throw nl::Error(EINVAL, "not an IP address: '" + text + "'");
  }
  return a;
}

std::string formatIp(const IpAddress& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (!inet_ntop(a.family, a.bytes, buf, sizeof buf)) return "?";
  return buf;
}

IpAddress ipFromBytes(int family, const uint8_t* data, size_t len) {
  IpAddress a;
  a.family = family;
  if (len != a.size()) {
    throw nl::ParseError("address attribute of " + std::to_string(len) + " bytes for family " + std::to_string(family));
  }
  std::memcpy(a.bytes, data, len);
  return a;
}

}  // namespace host
