// TCP sockets that belong to another network namespace: a socket keeps the
// namespace it was created in, so it is created inside a NetnsScope and then
// used from anywhere. For lab servers and clients.
#pragma once

#include <string>

#include "host/ip.h"

namespace host {

// A listening TCP socket on address:port (port 0: the kernel picks) inside
// `netns`; returns the descriptor, which the caller owns (close-on-exec).
int listenTcp(const std::string& netns, const IpAddress& address, int port, int backlog);

// A new TCP socket (IPv4 or IPv6 by `family`, non-blocking, close-on-exec),
// unconnected, created inside `netns`: whatever it connects to later is
// reached from that namespace. The caller owns the descriptor (node's
// net.Socket takes it over and connects it).
int tcpSocket(const std::string& netns, int family);

struct TcpAnswer {
  std::string data;
  int localPort = 0;  // the client port the kernel picked
};

// Connects from inside `netns` to address:port, reads until the server closes
// (at most `maxBytes`), and closes. Each wait (connect, each read) is limited to
// `timeoutMs`: Error(ETIMEDOUT) then.
TcpAnswer tcpRequest(const std::string& netns, const IpAddress& address, int port, int timeoutMs, size_t maxBytes);

}  // namespace host
