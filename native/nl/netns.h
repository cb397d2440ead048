// Network namespace files, and running code with the calling thread inside
// another network namespace.
#pragma once

#include <cstdint>
#include <string>

#include "nl/fd.h"

namespace nl {

// Opens a network namespace file (/run/netns/NAME, /proc/PID/ns/net) for
// setns() or IFLA_NET_NS_FD, after making sure it is one: the path must be
// a regular file on nsfs before it is opened (opening a FIFO would block
// for ever, opening a device would run its driver), and what was opened
// must be an nsfs file of a network namespace. Throws Error: the open's
// errno (ENOENT, EACCES, ...), or EINVAL for anything that is not a network
// namespace, in words naming the path.
Fd openNetnsFile(const std::string& path);

// The inode of the network namespace a descriptor refers to (an nsfs file,
// or a socket's namespace through SIOCGSKNS); 0 when it cannot be told.
uint64_t netnsInode(int fd);
// The inode of the network namespace a socket lives in; 0 when unknown.
uint64_t socketNetnsInode(int sockfd);

// Moves the calling thread into the network namespace at `path` (a file such
// as /run/netns/NAME or /proc/PID/ns/net) and back on destruction. An empty
// path does nothing. Sockets created meanwhile stay in the target namespace
// for their whole life, which is why handles open their socket inside one.
// Only the calling thread moves: other threads of the process are untouched.
class NetnsScope {
 public:
  explicit NetnsScope(const std::string& path);
  // The same for an open namespace file (`target` is only borrowed).
  explicit NetnsScope(const Fd& target);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

 private:
  void enter(const Fd& target, const std::string& what);
  Fd original_;
};

// Reads /proc/net/NAME (such as "ip_vs_conn") whole, as the network
// namespace the socket `sockfd` lives in shows it, at most `maxBytes`. The
// calling thread enters that namespace only to open the file: a
// /proc/thread-self/net file stays bound to the namespace it was opened in.
// Throws Error: ENOENT when the file is absent there (IPVS not loaded),
// EFBIG past maxBytes, else the failing call's errno.
std::string readProcNet(int sockfd, const std::string& name, size_t maxBytes);

}  // namespace nl
