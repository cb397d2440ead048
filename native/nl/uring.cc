#include "nl/uring.h"

#include <linux/io_uring.h>
#include <linux/time_types.h>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>

#include "nl/socket.h"

namespace nl {

struct Uring::Sqe : io_uring_sqe {};

namespace {

// Headers older than Linux 5.11 lack these; a kernel that old answers the
// timeout form with EINVAL and run() waits without one.
#ifndef IORING_ENTER_EXT_ARG
#define IORING_ENTER_EXT_ARG (1U << 3)
struct io_uring_getevents_arg {
  __u64 sigmask;
  __u32 sigmask_sz;
  __u32 pad;
  __u64 ts;
};
#endif

// Cancel requests carry this bit in their user data, so their completions
// are told from the operations'.
constexpr uint64_t kCancelTag = uint64_t{1} << 63;
// How long cancelled operations get to complete before their buffers are
// given up for lost (never freed).
constexpr int kReapTimeoutMs = 1000;
constexpr int kReapRounds = 10;

int64_t nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void* mapRing(int fd, size_t size, off_t offset) {
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);
  if (p == MAP_FAILED) throwErrno("mmap(io_uring)");
  return p;
}

template <typename T>
T* at(void* base, uint32_t offset) {
  return reinterpret_cast<T*>(static_cast<uint8_t*>(base) + offset);
}

}  // namespace

Uring::Uring(unsigned entries) {
  io_uring_params p{};
  fd_ = Fd(static_cast<int>(::syscall(__NR_io_uring_setup, entries, &p)));
  if (fd_.get() < 0) throwErrno("io_uring_setup");
  entries_ = p.sq_entries;
  // Each mapping is recorded as soon as it exists: the destructor unmaps what
  // a failed constructor got, since a member destructor runs for every member.
  sqRingSize_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  cqRingSize_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
  sqesSize_ = p.sq_entries * sizeof(io_uring_sqe);
  try {
    sqRing_ = mapRing(fd_.get(), sqRingSize_, IORING_OFF_SQ_RING);
    cqRing_ = mapRing(fd_.get(), cqRingSize_, IORING_OFF_CQ_RING);
    sqes_ = mapRing(fd_.get(), sqesSize_, IORING_OFF_SQES);
  } catch (...) {
    if (cqRing_) ::munmap(cqRing_, cqRingSize_);
    if (sqRing_) ::munmap(sqRing_, sqRingSize_);
    throw;
  }
  sqHead_ = at<unsigned>(sqRing_, p.sq_off.head);
  sqTail_ = at<unsigned>(sqRing_, p.sq_off.tail);
  sqMask_ = *at<unsigned>(sqRing_, p.sq_off.ring_mask);
  sqArray_ = at<unsigned>(sqRing_, p.sq_off.array);
  cqHead_ = at<unsigned>(cqRing_, p.cq_off.head);
  cqTail_ = at<unsigned>(cqRing_, p.cq_off.tail);
  cqMask_ = *at<unsigned>(cqRing_, p.cq_off.ring_mask);
  cqes_ = at<void>(cqRing_, p.cq_off.cqes);
}

Uring::~Uring() {
  ::munmap(sqes_, sqesSize_);
  ::munmap(cqRing_, cqRingSize_);
  ::munmap(sqRing_, sqRingSize_);
  // fd_ closes itself.
}

Uring::Sqe* Uring::next() {
  unsigned tail = *sqTail_;
  unsigned head = __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE);
  if (tail - head >= entries_) throw Error(EBUSY, "io_uring submission queue full");
  unsigned index = tail & sqMask_;
  auto* sqe = static_cast<Sqe*>(static_cast<io_uring_sqe*>(sqes_) + index);
  std::memset(sqe, 0, sizeof(io_uring_sqe));
  sqArray_[index] = index;
  // Published to the kernel only by the release store in enter().
  *sqTail_ = tail + 1;
  ++pending_;
  return sqe;
}

namespace {

// Headers older than Linux 5.5 lack it. A kernel that old fails the entry
// (EINVAL), and its dumps take the plain path.
#ifndef IOSQE_IO_HARDLINK
#define IOSQE_IO_HARDLINK (1U << 3)
#endif

uint8_t linkFlags(Uring::Link link) {
  switch (link) {
    case Uring::Link::kSoft:
      return IOSQE_IO_LINK;
    case Uring::Link::kHard:
      return IOSQE_IO_HARDLINK;
    default:
      return 0;
  }
}

}  // namespace

void Uring::sendmsg(int fd, const msghdr* msg, uint64_t userData, Link link) {
  Sqe* sqe = next();
  sqe->opcode = IORING_OP_SENDMSG;
  sqe->fd = fd;
  sqe->addr = reinterpret_cast<uint64_t>(msg);
  sqe->len = 1;
  sqe->msg_flags = MSG_NOSIGNAL;
  sqe->user_data = userData;
  sqe->flags = linkFlags(link);
}

void Uring::recvmsg(int fd, msghdr* msg, unsigned flags, uint64_t userData, Link link) {
  Sqe* sqe = next();
  sqe->opcode = IORING_OP_RECVMSG;
  sqe->fd = fd;
  sqe->addr = reinterpret_cast<uint64_t>(msg);
  sqe->len = 1;
  sqe->msg_flags = flags;
  sqe->user_data = userData;
  sqe->flags = linkFlags(link);
}

void Uring::read(int fd, void* buf, unsigned len, uint64_t userData, Link link) {
  Sqe* sqe = next();
  sqe->opcode = IORING_OP_READ;
  sqe->fd = fd;
  sqe->addr = reinterpret_cast<uint64_t>(buf);
  sqe->len = len;
  sqe->off = 0;  // ignored by the eventfd and sockets this reads
  sqe->user_data = userData;
  sqe->flags = linkFlags(link);
}

long Uring::enter(unsigned submit, unsigned waitFor, int timeoutMs) {
  __atomic_store_n(sqTail_, *sqTail_, __ATOMIC_RELEASE);
  for (;;) {
    unsigned head = __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE);
    long n;
    if (timeoutMs > 0 && waitFor > 0 && extArg_) {
      __kernel_timespec ts{timeoutMs / 1000, static_cast<long long>(timeoutMs % 1000) * 1000000};
      io_uring_getevents_arg arg{};
      arg.sigmask_sz = _NSIG / 8;
      arg.ts = reinterpret_cast<uint64_t>(&ts);
      n = ::syscall(__NR_io_uring_enter, fd_.get(), submit, waitFor, IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG,
                    &arg, sizeof arg);
      if (n < 0 && errno == EINVAL && __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE) == head) {
        extArg_ = false;  // a kernel before 5.11: wait without a limit
        continue;
      }
    } else {
      n = ::syscall(__NR_io_uring_enter, fd_.get(), submit, waitFor, waitFor ? IORING_ENTER_GETEVENTS : 0, nullptr, 0);
    }
    // What the kernel took counts whatever the result (a timeout can follow
    // a submission in the same call).
    unsigned taken = __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE) - head;
    pending_ -= taken < pending_ ? taken : pending_;
    submit -= taken < submit ? taken : submit;
    if (n >= 0) return n;
    if (errno == EINTR) continue;
    return -errno;
  }
}

bool Uring::pop(uint64_t& userData, int32_t& res) {
  unsigned head = *cqHead_;
  if (head == __atomic_load_n(cqTail_, __ATOMIC_ACQUIRE)) return false;
  const auto& cqe = static_cast<io_uring_cqe*>(cqes_)[head & cqMask_];
  userData = cqe.user_data;
  res = cqe.res;
  __atomic_store_n(cqHead_, head + 1, __ATOMIC_RELEASE);
  return true;
}

void Uring::unqueue() {
  // Without SQPOLL the kernel reads the submission ring only inside
  // io_uring_enter, so entries past its head are ours to take back.
  unsigned head = __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE);
  __atomic_store_n(sqTail_, head, __ATOMIC_RELEASE);
  pending_ = 0;
}

Uring::Outcome Uring::run(unsigned count, int timeoutMs, const std::function<void(uint64_t, int32_t)>& onCompletion,
                          int& error) {
  error = 0;
  unsigned firstHead = __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE);
  std::vector<bool> completed(count, false);
  unsigned seen = 0;
  // One limit for the whole run: an enter that waited it out still returns
  // what it submitted, not ETIME.
  const int64_t deadline = nowMs() + timeoutMs;
  long r = enter(pending_, count, timeoutMs);
  while (r >= 0) {
    uint64_t data;
    int32_t res;
    while (pop(data, res)) {
      if (data >= count || completed[data]) continue;  // a stale cancel's answer
      completed[data] = true;
      ++seen;
      onCompletion(data, res);
    }
    if (seen == count) {
      inFlight_ = 0;
      return Outcome::kDone;
    }
    int left = 0;
    if (timeoutMs > 0) {
      left = static_cast<int>(deadline - nowMs());
      if (left <= 0) {
        r = -ETIME;
        break;
      }
    }
    r = enter(pending_, count - seen, left);
  }
  error = r == -ETIME ? ETIMEDOUT : static_cast<int>(-r);
  // Operations are taken in queue order, which is user-data order.
  unqueue();
  unsigned submitted = __atomic_load_n(sqHead_, __ATOMIC_ACQUIRE) - firstHead;
  return cancelAndReap(completed, submitted, onCompletion) ? Outcome::kSettled : Outcome::kInFlight;
}

bool Uring::cancelAndReap(std::vector<bool>& completed, unsigned submitted,
                          const std::function<void(uint64_t, int32_t)>& onCompletion) {
  unsigned outstanding = 0;
  for (unsigned i = 0; i < submitted; ++i) {
    if (completed[i]) continue;
    ++outstanding;
    Sqe* sqe = next();
    sqe->opcode = IORING_OP_ASYNC_CANCEL;
    sqe->addr = i;
    sqe->user_data = kCancelTag | i;
  }
  for (int round = 0; outstanding > 0 && round < kReapRounds; ++round) {
    // A refused submission leaves the cancels unsent; the operations may
    // still complete on their own, so keep reaping either way.
    if (enter(pending_, outstanding, kReapTimeoutMs) < 0 && pending_ > 0) unqueue();
    uint64_t data;
    int32_t res;
    while (pop(data, res)) {
      if (data & kCancelTag) continue;
      if (data < submitted && !completed[data]) {
        completed[data] = true;
        --outstanding;
        onCompletion(data, res);
      }
    }
  }
  inFlight_ = outstanding;
  return outstanding == 0;
}

}  // namespace nl
