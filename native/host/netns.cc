#include "host/netns.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <thread>

#include "nl/socket.h"

namespace host {

namespace {

[[noreturn]] void fail(int e, const std::string& what) {
  std::string why = std::strerror(e);
  if (e == EPERM || e == EACCES) why = "permission denied (needs CAP_SYS_ADMIN)";
  throw nl::Error(e, what + ": " + why);
}

// As iproute2 does: make the folder a shared mount (bind-mounting it onto
// itself first if it is not a mount point), so that namespaces mounted here
// show up in other mount namespaces such as those `ip netns exec` creates.
void prepareRunDir() {
  if (::mkdir(kNetnsRunDir, 0755) != 0 && errno != EEXIST) fail(errno, std::string("cannot create ") + kNetnsRunDir);
  bool bound = false;
  while (::mount("", kNetnsRunDir, "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL || bound) fail(errno, std::string("cannot make ") + kNetnsRunDir + " a shared mount");
    if (::mount(kNetnsRunDir, kNetnsRunDir, "none", MS_BIND | MS_REC, nullptr) != 0) {
      fail(errno, std::string("cannot bind-mount ") + kNetnsRunDir + " onto itself");
    }
    bound = true;
  }
}

// The name of a file in kNetnsRunDir, nothing else: the TypeScript layer
// checks names too, but these run as root and unmount and unlink the path.
void checkName(const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos) {
    throw nl::Error(EINVAL, "bad network namespace name '" + name + "'");
  }
}

}  // namespace

void createNetns(const std::string& name) {
  checkName(name);
  prepareRunDir();
  std::string path = std::string(kNetnsRunDir) + "/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    if (e == EEXIST) throw nl::Error(e, "network namespace " + name + " already exists (" + path + ")");
    fail(e, "cannot create " + path);
  }
  ::close(fd);
  int error = 0;
  std::string step;
  // unshare() moves the calling thread for good: do it on a thread that
  // exists for nothing else, and keep the namespace alive by the mount.
  try {
    std::thread worker([&] {
      if (::unshare(CLONE_NEWNET) != 0) {
        error = errno;
        step = "cannot create a network namespace";
        return;
      }
      if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
        error = errno;
        step = "cannot bind-mount the new network namespace on " + path;
      }
    });
    worker.join();
  } catch (const std::system_error& e) {
    // No thread: remove the placeholder file rather than leave it behind.
    error = e.code().value() > 0 ? e.code().value() : EAGAIN;
    step = "cannot start a thread to create the network namespace";
  }
  if (error != 0) {
    ::unlink(path.c_str());
    fail(error, step);
  }
}

void deleteNetns(const std::string& name) {
  checkName(name);
  std::string path = std::string(kNetnsRunDir) + "/" + name;
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) throw nl::Error(ENOENT, "no network namespace named " + name + " (" + path + ")");
    fail(errno, "cannot stat " + path);
  }
  // A symlink planted under the name must not make us unmount what it points at.
  if (S_ISLNK(st.st_mode)) throw nl::Error(EINVAL, path + " is a symbolic link, not a namespace: refusing to unmount it");
  // EINVAL: not a mount point (a file left behind by a failed create); the
  // file still has to go.
  if (::umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL) fail(errno, "cannot unmount " + path);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) fail(errno, "cannot remove " + path);
}

std::vector<std::string> listNetns() {
  std::vector<std::string> out;
  DIR* dir = ::opendir(kNetnsRunDir);
  if (!dir) {
    if (errno == ENOENT) return out;
    fail(errno, std::string("cannot list ") + kNetnsRunDir);
  }
  while (dirent* d = ::readdir(dir)) {
    std::string n = d->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace host
