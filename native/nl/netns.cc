#include "nl/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "nl/socket.h"

namespace nl {

NetnsScope::NetnsScope(const std::string& path) {
  if (path.empty()) return;
  int target = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    throw Error(e, "network namespace " + path + ": " + std::strerror(e));
  }
  original_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original_ < 0) {
    int e = errno;
    ::close(target);
    throw Error(e, std::string("cannot remember the current network namespace: ") + std::strerror(e));
  }
  if (::setns(target, CLONE_NEWNET) != 0) {
    int e = errno;
    ::close(target);
    ::close(original_);
    original_ = -1;
    std::string why = e == EINVAL ? "not a network namespace" : std::strerror(e);
    throw Error(e, "cannot enter network namespace " + path + ": " + why);
  }
  ::close(target);
}

NetnsScope::~NetnsScope() {
  if (original_ < 0) return;
  if (::setns(original_, CLONE_NEWNET) != 0) {
    // A pool thread left in a foreign namespace would silently send later
    // work to the wrong place; stopping is the only safe answer.
    std::fprintf(stderr, "ipvs-ts: cannot return to the original network namespace: %s\n", std::strerror(errno));
    std::abort();
  }
  ::close(original_);
}

}  // namespace nl
