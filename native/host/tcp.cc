#include "host/tcp.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nl/fd.h"
#include "nl/netns.h"
#include "nl/socket.h"

namespace host {

namespace {


socklen_t toSockaddr(const IpAddress& a, int port, sockaddr_storage& ss) {
  std::memset(&ss, 0, sizeof ss);
  if (a.family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    std::memcpy(&sin->sin_addr, a.bytes, 4);
    return sizeof(sockaddr_in);
  }
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(static_cast<uint16_t>(port));
  std::memcpy(&sin6->sin6_addr, a.bytes, 16);
  return sizeof(sockaddr_in6);
}

std::string endpoint(const IpAddress& a, int port) {
  std::string host = formatIp(a);
  if (a.family == AF_INET6) host = "[" + host + "]";
  return host + ":" + std::to_string(port);
}

[[noreturn]] void fail(int e, const std::string& what) { throw nl::Error(e, what + ": " + std::strerror(e)); }

// Waits for `events`; false on timeout.
bool waitFor(int fd, short events, int timeoutMs) {
  pollfd p{fd, events, 0};
  for (;;) {
    int n = ::poll(&p, 1, timeoutMs);
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) fail(errno, "poll");
  }
}

}  // namespace

int tcpSocket(const std::string& netns, int family) {
  nl::NetnsScope scope(netns);
  int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) fail(errno, "socket");
  return fd;
}

int listenTcp(const std::string& netns, const IpAddress& address, int port, int backlog) {
  nl::NetnsScope scope(netns);
  nl::Fd fd(::socket(address.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) fail(errno, "socket");
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage ss;
  socklen_t len = toSockaddr(address, port, ss);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) fail(errno, "cannot bind " + endpoint(address, port));
  if (::listen(fd.get(), backlog) != 0) fail(errno, "cannot listen on " + endpoint(address, port));
  return fd.release();
}

TcpAnswer tcpRequest(const std::string& netns, const IpAddress& address, int port, int timeoutMs, size_t maxBytes) {
  std::string to = endpoint(address, port);
  int s;
  {
    nl::NetnsScope scope(netns);
    s = ::socket(address.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) fail(errno, "socket");
  }
  nl::Fd fd(s);
  sockaddr_storage ss;
  socklen_t len = toSockaddr(address, port, ss);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
    if (errno != EINPROGRESS) fail(errno, "cannot connect to " + to);
    if (!waitFor(fd.get(), POLLOUT, timeoutMs)) {
      throw nl::Error(ETIMEDOUT, "no connection to " + to + " within " + std::to_string(timeoutMs) + " ms");
    }
    int err = 0;
    socklen_t errLen = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &errLen);
    if (err != 0) fail(err, "cannot connect to " + to);
  }
  TcpAnswer answer;
  sockaddr_storage local;
  socklen_t localLen = sizeof local;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&local), &localLen) == 0) {
    answer.localPort = ntohs(local.ss_family == AF_INET ? reinterpret_cast<sockaddr_in*>(&local)->sin_port
                                                         : reinterpret_cast<sockaddr_in6*>(&local)->sin6_port);
  }
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n > 0) {
      answer.data.append(buf, static_cast<size_t>(n));
      if (answer.data.size() > maxBytes) throw nl::Error(EMSGSIZE, "answer from " + to + " is longer than expected");
      continue;
    }
    if (n == 0) break;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) fail(errno, "cannot read from " + to);
    if (!waitFor(fd.get(), POLLIN, timeoutMs)) {
      throw nl::Error(ETIMEDOUT, "no answer from " + to + " within " + std::to_string(timeoutMs) + " ms");
    }
  }
  return answer;
}

}  // namespace host
