#include "nl/uring.h"

#include <linux/io_uring.h>

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "nl/socket.h"

namespace nl {

struct Uring::Sqe : io_uring_sqe {};

namespace {

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
  fd_ = static_cast<int>(::syscall(__NR_io_uring_setup, entries, &p));
  if (fd_ < 0) throwErrno("io_uring_setup");
  try {
    entries_ = p.sq_entries;
    sqRingSize_ = p.sq_off.array + p.sq_entries * sizeof(unsigned);
    cqRingSize_ = p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe);
    sqRing_ = mapRing(fd_, sqRingSize_, IORING_OFF_SQ_RING);
    cqRing_ = mapRing(fd_, cqRingSize_, IORING_OFF_CQ_RING);
    sqesSize_ = p.sq_entries * sizeof(io_uring_sqe);
    sqes_ = mapRing(fd_, sqesSize_, IORING_OFF_SQES);
  } catch (...) {
    this->~Uring();
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
  if (sqes_) ::munmap(sqes_, sqesSize_);
  if (cqRing_) ::munmap(cqRing_, cqRingSize_);
  if (sqRing_) ::munmap(sqRing_, sqRingSize_);
  if (fd_ >= 0) ::close(fd_);
  sqes_ = cqRing_ = sqRing_ = nullptr;
  fd_ = -1;
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

void Uring::enter(unsigned waitFor) {
  __atomic_store_n(sqTail_, *sqTail_, __ATOMIC_RELEASE);
  unsigned submit = pending_;
  for (;;) {
    long n = ::syscall(__NR_io_uring_enter, fd_, submit, waitFor, IORING_ENTER_GETEVENTS, nullptr, 0);
    if (n >= 0) {
      pending_ -= static_cast<unsigned>(n) < submit ? static_cast<unsigned>(n) : submit;
      return;
    }
    if (errno != EINTR) throwErrno("io_uring_enter");
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

}  // namespace nl
