// A minimal io_uring for batching socket calls: many sendmsg/recvmsg
// operations for one io_uring_enter() system call. Used where one request
// after another would cost two system calls each (a dump per service), which
// is what dominates under User-Mode Linux and seccomp-heavy hosts alike.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "nl/fd.h"

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

  // Queues an operation. userData must be below `count` of the run() that
  // submits it.
  void sendmsg(int fd, const msghdr* msg, uint64_t userData, Link link);
  void recvmsg(int fd, msghdr* msg, unsigned flags, uint64_t userData, Link link);
  void read(int fd, void* buf, unsigned len, uint64_t userData, Link link);

  // What run() found when it could not finish.
  enum class Outcome {
    kDone,      // every operation completed; onCompletion saw each
    kSettled,   // failed or timed out, but every operation that reached the
                // kernel has been cancelled and completed: buffers may be freed
    kInFlight,  // operations may still be running: their buffers must live on
  };

  // Submits the `count` operations queued (user data 0..count-1, queued in
  // that order) and waits until each has completed, calling
  // onCompletion(userData, result). Gives up `timeoutMs` after it started
  // (0: no limit) or when the kernel refuses the submission; then
  // takes back what was not submitted, cancels what is in flight and waits
  // for it (onCompletion sees those too), so that the caller's buffers are
  // no longer in use. `error` receives the errno of the failure (ETIMEDOUT
  // for the timeout).
  Outcome run(unsigned count, int timeoutMs, const std::function<void(uint64_t, int32_t)>& onCompletion,
              int& error);

  // Operations submitted and not yet completed; 0 after any run() that did
  // not return kInFlight.
  unsigned inFlight() const { return inFlight_; }

 private:
  struct Sqe;
  Sqe* next();
  // io_uring_enter; returns the number submitted or -errno (EINTR retried).
  long enter(unsigned submit, unsigned waitFor, int timeoutMs);
  bool pop(uint64_t& userData, int32_t& res);
  // Forgets queued entries the kernel has not taken.
  void unqueue();
  // Cancels the operations whose completion has not been seen and waits for
  // them (onCompletion sees each); false if some never completed.
  bool cancelAndReap(std::vector<bool>& completed, unsigned submitted,
                     const std::function<void(uint64_t, int32_t)>& onCompletion);

  Fd fd_;
  unsigned entries_ = 0;
  unsigned pending_ = 0;   // queued since the last enter()
  unsigned inFlight_ = 0;  // submitted, completion not seen
  bool extArg_ = true;     // io_uring_enter takes a timeout (Linux 5.11+)
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
