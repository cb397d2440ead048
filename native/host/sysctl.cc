#include "host/sysctl.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nl/fd.h"
#include "nl/netns.h"
#include "nl/socket.h"

namespace host {

namespace {

void checkPath(const std::string& path, const std::string& key) {
  bool ok = path.rfind("net/", 0) == 0 && path.find('\0') == std::string::npos && path.back() != '/';
  for (size_t start = 0; ok && start <= path.size();) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string seg = path.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") ok = false;
    start = end + 1;
  }
  if (!ok) throw nl::Error(EINVAL, "not a network sysctl key: '" + key + "'");
}


int openSysctl(const std::string& path, const std::string& key, int flags) {
  std::string full = "/proc/sys/" + path;
  int fd = ::open(full.c_str(), flags | O_CLOEXEC | O_NOFOLLOW);
  if (fd >= 0) return fd;
  int e = errno;
  if (e == ENOENT) {
    throw nl::Error(e, "no sysctl " + key + " (" + full +
                           " does not exist: unknown key, or an interface this namespace does not have)");
  }
  if (e == EACCES || e == EPERM) throw nl::Error(e, "permission denied opening " + full + " (" + key + ")");
  throw nl::Error(e, "cannot open " + full + ": " + std::strerror(e));
}

}  // namespace

std::string readSysctl(const std::string& netns, const std::string& path, const std::string& key) {
  checkPath(path, key);
  nl::NetnsScope scope(netns);
  nl::Fd fd(openSysctl(path, key, O_RDONLY));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      throw nl::Error(e, "cannot read sysctl " + key + ": " + std::strerror(e));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > (1u << 20)) throw nl::Error(EFBIG, "sysctl " + key + " is larger than 1 MiB");
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

void writeSysctl(const std::string& netns, const std::string& path, const std::string& key, const std::string& value) {
  checkPath(path, key);
  nl::NetnsScope scope(netns);
  nl::Fd fd(openSysctl(path, key, O_WRONLY));
  // One write: proc handlers parse a value from a single write at offset 0.
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    int e = errno;
    if (e == EINVAL) throw nl::Error(e, "the kernel refused value '" + value + "' for sysctl " + key);
    throw nl::Error(e, "cannot write sysctl " + key + ": " + std::strerror(e));
  }
  if (static_cast<size_t>(n) != value.size()) throw nl::Error(EIO, "short write to sysctl " + key);
}

}  // namespace host
