#include "nl/netns.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <linux/sockios.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>

#include "nl/socket.h"

#ifndef SIOCGSKNS
#define SIOCGSKNS 0x894C
#endif

namespace nl {

namespace {

[[noreturn]] void refuse(const std::string& path, int error, const std::string& why) {
  throw Error(error, "network namespace " + path + ": " + why);
}

const char* kindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

const char* namespaceKind(int type) {
  switch (type) {
    case CLONE_NEWNS: return "mount";
    case CLONE_NEWUTS: return "uts";
    case CLONE_NEWIPC: return "ipc";
    case CLONE_NEWUSER: return "user";
    case CLONE_NEWPID: return "pid";
    case CLONE_NEWCGROUP: return "cgroup";
    default: return "another kind of";
  }
}

}  // namespace

Fd openNetnsFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) refuse(path, errno, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) refuse(path, EINVAL, std::string("not a namespace file (") + kindOf(st.st_mode) + ")");
  struct statfs fs;
  if (::statfs(path.c_str(), &fs) == 0 && fs.f_type != NSFS_MAGIC) refuse(path, EINVAL, "not a namespace file");
  // O_NONBLOCK and O_NOCTTY: harmless on nsfs, and if the path was swapped
  // for something else since the checks, opening it cannot hang or take a tty.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) refuse(path, errno, std::strerror(errno));
  if (::fstatfs(fd.get(), &fs) != 0 || fs.f_type != NSFS_MAGIC) refuse(path, EINVAL, "not a namespace file");
  // Linux 4.11+ says which kind of namespace; before it, setns() refuses a wrong one.
  int type = ::ioctl(fd.get(), NS_GET_NSTYPE);
  if (type >= 0 && type != CLONE_NEWNET) {
    refuse(path, EINVAL, std::string("not a network namespace (a ") + namespaceKind(type) + " namespace)");
  }
  return fd;
}

uint64_t netnsInode(int fd) {
  struct stat st;
  return ::fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_ino) : 0;
}

uint64_t socketNetnsInode(int sockfd) {
  Fd ns(::ioctl(sockfd, SIOCGSKNS));
  return ns.get() < 0 ? 0 : netnsInode(ns.get());
}

NetnsScope::NetnsScope(const std::string& path) {
  if (path.empty()) return;
  enter(openNetnsFile(path), path);
}

NetnsScope::NetnsScope(const Fd& target) { enter(target, "of a socket"); }

void NetnsScope::enter(const Fd& target, const std::string& what) {
  original_ = Fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (original_.get() < 0) {
    throw Error(errno, std::string("cannot remember the current network namespace: ") + std::strerror(errno));
  }
  if (::setns(target.get(), CLONE_NEWNET) != 0) {
    int e = errno;
    original_ = Fd();
    std::string why = e == EINVAL ? "not a network namespace" : std::strerror(e);
    throw Error(e, "cannot enter network namespace " + what + ": " + why);
  }
}

NetnsScope::~NetnsScope() {
  if (original_.get() < 0) return;
  if (::setns(original_.get(), CLONE_NEWNET) != 0) {
    // A pool thread left in a foreign namespace would silently send later
    // work to the wrong place; stopping is the only safe answer.
    std::fprintf(stderr, "ipvs-ts: cannot return to the original network namespace: %s\n", std::strerror(errno));
    std::abort();
  }
}

std::string readProcNet(int sockfd, const std::string& name, size_t maxBytes) {
  const std::string path = "/proc/thread-self/net/" + name;
  Fd ns(::ioctl(sockfd, SIOCGSKNS));
  if (ns.get() < 0) throw Error(errno, "cannot tell the socket's network namespace: " + std::string(std::strerror(errno)));
  Fd file;
  {
    NetnsScope inside(ns);
    file = Fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (file.get() < 0) {
      int e = errno;
      throw Error(e, "/proc/net/" + name + ": " + (e == ENOENT ? std::string("absent (is IPVS loaded?)") : std::strerror(e)));
    }
  }
  std::string out;
  size_t used = 0;
  for (;;) {
    // seq_file hands out whole records per read: ask for a large block.
    if (out.size() - used < 65536) out.resize(std::max<size_t>(out.size() * 2, used + 262144));
    ssize_t n = ::read(file.get(), &out[used], out.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(errno, "/proc/net/" + name + ": " + std::strerror(errno));
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
    if (used > maxBytes) throw Error(EFBIG, "/proc/net/" + name + ": larger than " + std::to_string(maxBytes) + " bytes");
  }
  out.resize(used);
  return out;
}

}  // namespace nl
