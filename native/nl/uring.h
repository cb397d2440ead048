// A minimal io_uring for batching socket calls: many sendmsg/recvmsg
// operations for one io_uring_enter() system call. Used where one request
// after another would cost two system calls each (a dump per service), which
// is what dominates under User-Mode Linux and seccomp-heavy hosts alike.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>

namespace nl {

class Uring {
 public:
  // Throws nl::Error when the kernel has no io_uring or refuses it (ENOSYS,
  // EPERM under seccomp or io_uring_disabled); callers fall back to plain calls.
  explicit Uring(unsigned entries);
  ~Uring();
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;

  unsigned capacity() const { return entries_; }

  // How an operation is chained to the next one.
  enum class Link {
    kNone,
    kSoft,  // the next starts after this one, and is cancelled if this one fails
    kHard,  // the next starts after this one, whatever its result
  };

  // Queues an operation.
  void sendmsg(int fd, const msghdr* msg, uint64_t userData, Link link);
  void recvmsg(int fd, msghdr* msg, unsigned flags, uint64_t userData, Link link);

  // Submits everything queued and waits until `count` completions arrived;
  // `onCompletion(userData, result)` is called for each.
  template <typename Fn>
  void submitAndWait(unsigned count, Fn onCompletion) {
    enter(count);
    unsigned seen = 0;
    while (seen < count) {
      uint64_t data;
      int32_t res;
      if (!pop(data, res)) {
        enter(count - seen);
        continue;
      }
      onCompletion(data, res);
      ++seen;
    }
  }

 private:
  struct Sqe;
  Sqe* next();
  void enter(unsigned waitFor);
  bool pop(uint64_t& userData, int32_t& res);

  int fd_ = -1;
  unsigned entries_ = 0;
  unsigned pending_ = 0;  // queued since the last enter()
  void* sqRing_ = nullptr;
  size_t sqRingSize_ = 0;
  void* cqRing_ = nullptr;
  size_t cqRingSize_ = 0;
  void* sqes_ = nullptr;
  size_t sqesSize_ = 0;
  unsigned* sqHead_ = nullptr;
  unsigned* sqTail_ = nullptr;
  unsigned sqMask_ = 0;
  unsigned* sqArray_ = nullptr;
  unsigned* cqHead_ = nullptr;
  unsigned* cqTail_ = nullptr;
  unsigned cqMask_ = 0;
  void* cqes_ = nullptr;
};

}  // namespace nl
