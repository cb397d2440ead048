#include "nl/socket.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "nl/attr.h"
#include "nl/uring.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace nl {

namespace {

// Dump replies are capped by the kernel at 32 KiB per datagram; twice that
// leaves room, and MSG_TRUNC is still checked so nothing is lost silently.
constexpr size_t kReceiveBufferSize = 64 * 1024;
// Capped ACKs are 36 bytes, with an extended-ACK message a few hundred.
constexpr size_t kAckSlotSize = 2048;
constexpr size_t kMaxSlots = 128;
// A dump's last data datagram and its NLMSG_DONE: the kernel queues DONE while
// the first is being read, so one recvmmsg() takes both.
constexpr size_t kDumpSlots = 2;
// Room for the ACKs of a pipelined window (each skb costs ~1 KiB of truesize).
constexpr int kReceiveSocketBuffer = 8 * 1024 * 1024;
constexpr int kSendSocketBuffer = 4 * 1024 * 1024;
// The kernel's MAX_ERRNO: error codes are 1..4095.
constexpr int kMaxErrno = 4095;

void setBuffer(int fd, int forceOpt, int opt, int size) {
  // SO_*BUFFORCE passes the rmem_max/wmem_max ceiling but needs CAP_NET_ADMIN.
  if (setsockopt(fd, SOL_SOCKET, forceOpt, &size, sizeof size) != 0) {
    setsockopt(fd, SOL_SOCKET, opt, &size, sizeof size);
  }
}

bool fromKernel(const sockaddr_nl& sa, socklen_t len) { return len >= sizeof(sockaddr_nl) && sa.nl_pid == 0; }

}  // namespace

void throwErrno(const std::string& what) {
  int e = errno;
  throw Error(e, what + ": " + std::strerror(e));
}

Socket::Socket(int protocol) {
  fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd_ < 0) throwErrno("socket(AF_NETLINK)");
  try {
    int one = 1;
    // Both are optional: older kernels lack them and still work.
    setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    setsockopt(fd_, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    setBuffer(fd_, SO_RCVBUFFORCE, SO_RCVBUF, kReceiveSocketBuffer);
    setBuffer(fd_, SO_SNDBUFFORCE, SO_SNDBUF, kSendSocketBuffer);

    sockaddr_nl sa{};
    sa.nl_family = AF_NETLINK;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) throwErrno("bind(AF_NETLINK)");
    socklen_t len = sizeof sa;
    if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) throwErrno("getsockname(AF_NETLINK)");
    portId_ = sa.nl_pid;
  } catch (...) {
    ::close(fd_);
    throw;
  }
  // A start that differs per socket keeps a stale reply from matching by luck.
  seq_ = static_cast<uint32_t>(std::time(nullptr));
  buf_.reserve(kReceiveBufferSize);
}

Socket::~Socket() {
  if (fd_ >= 0) ::close(fd_);
}

uint32_t Socket::reserveSeq(size_t count) {
  uint32_t first = seq_ + 1;
  seq_ += static_cast<uint32_t>(count);
  return first;
}

void Socket::send(const std::vector<uint8_t>& bytes) {
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  for (;;) {
    ssize_t n = ::sendto(fd_, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
    if (n >= 0) {
      if (static_cast<size_t>(n) != bytes.size()) throw Error(EIO, "netlink send was cut short");
      return;
    }
    if (errno != EINTR) throwErrno("sendto(netlink)");
  }
}

size_t Socket::receive() {
  for (;;) {
    sockaddr_nl from{};
    iovec iov{buf_.data(), buf_.size()};
    msghdr mh{};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n = ::recvmsg(fd_, &mh, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        throw Error(ENOBUFS, "netlink receive buffer overrun: the kernel dropped replies");
      }
      throwErrno("recvmsg(netlink)");
    }
    if (mh.msg_flags & MSG_TRUNC) throw Error(EMSGSIZE, "netlink reply larger than the receive buffer");
    if (!fromKernel(from, mh.msg_namelen)) continue;  // only the kernel may answer
    return static_cast<size_t>(n);
  }
}

size_t Socket::receiveMany(size_t max, size_t slotSize) {
  if (max > kMaxSlots) max = kMaxSlots;
  batchBuf_.reserve(max * slotSize);
  if (batchLens_.size() < max) batchLens_.resize(max);
  slotSize_ = slotSize;
  mmsghdr msgs[kMaxSlots];
  iovec iovs[kMaxSlots];
  sockaddr_nl froms[kMaxSlots];
  std::memset(msgs, 0, sizeof(mmsghdr) * max);
  for (size_t i = 0; i < max; ++i) {
    iovs[i] = {batchBuf_.data() + i * slotSize, slotSize};
    froms[i] = sockaddr_nl{};
    msgs[i].msg_hdr.msg_name = &froms[i];
    msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_nl);
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }
  for (;;) {
    // MSG_WAITFORONE: block for the first datagram, then take what is queued.
    int n = ::recvmmsg(fd_, msgs, static_cast<unsigned>(max), MSG_WAITFORONE, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {
        throw Error(ENOBUFS, "netlink receive buffer overrun: the kernel dropped replies");
      }
      throwErrno("recvmmsg(netlink)");
    }
    for (int i = 0; i < n; ++i) {
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) throw Error(EMSGSIZE, "netlink reply larger than its receive slot");
      bool kernel = fromKernel(froms[i], msgs[i].msg_hdr.msg_namelen);
      batchLens_[i] = kernel ? msgs[i].msg_len : 0;  // foreign senders read as empty
    }
    return static_cast<size_t>(n);
  }
}

void forEachMessage(const uint8_t* data, size_t len, const std::function<bool(const nlmsghdr&)>& fn) {
  // Headers are handed out by reference, which is undefined behaviour unless
  // they are 4-byte aligned (UBSan: "reference binding to misaligned
  // address"). Receive buffers always are; bytes from anywhere else (a fuzzer,
  // a test) are walked in an aligned copy. Messages inside stay aligned
  // because each starts NLMSG_ALIGN'ed after the previous one.
  std::vector<uint8_t> aligned;
  if (reinterpret_cast<uintptr_t>(data) % alignof(nlmsghdr) != 0) {
    aligned.assign(data, data + len);
    data = aligned.data();
  }
  while (len > 0) {
    if (len < NLMSG_HDRLEN) throw ParseError("truncated netlink message header: " + std::to_string(len) + " bytes");
    const auto& h = *reinterpret_cast<const nlmsghdr*>(data);
    if (h.nlmsg_len < NLMSG_HDRLEN || h.nlmsg_len > len) {
      throw ParseError("netlink message claims " + std::to_string(h.nlmsg_len) + " bytes, " + std::to_string(len) +
                       " left");
    }
    if (!fn(h)) return;
    // In size_t: NLMSG_ALIGN works in 32 bits, where 0xfffffffd rounds up to 0.
    size_t step = align(h.nlmsg_len);
    if (step > len) step = len;
    data += step;
    len -= step;
  }
}

Ack parseAck(const nlmsghdr& h) {
  // Checked before subtracting: an nlmsg_len below the header would wrap to a
  // ~4 GiB payload. forEachMessage never passes one; other callers might.
  if (h.nlmsg_len < NLMSG_HDRLEN + sizeof(int)) throw ParseError("truncated netlink error message");
  const auto* payload = reinterpret_cast<const uint8_t*>(&h) + NLMSG_HDRLEN;
  size_t len = h.nlmsg_len - NLMSG_HDRLEN;
  nlmsgerr err{};
  std::memcpy(&err, payload, len < sizeof err ? len : sizeof err);
  // The kernel sends 0 or -errno (at most 4095, MAX_ERRNO). Anything else is
  // garbage, and negating INT_MIN would be undefined behaviour.
  if (err.error > 0 || err.error < -kMaxErrno) {
    throw ParseError("netlink error code " + std::to_string(err.error) + " out of range");
  }
  Ack ack;
  ack.error = -err.error;
  if (!(h.nlmsg_flags & NLM_F_ACK_TLVS) || len < sizeof err) return ack;
  // The TLVs follow the echoed request, which NETLINK_CAP_ACK leaves out.
  size_t offset = sizeof err;
  if (!(h.nlmsg_flags & NLM_F_CAPPED) && err.msg.nlmsg_len > NLMSG_HDRLEN) {
    offset += NLMSG_ALIGN(err.msg.nlmsg_len - NLMSG_HDRLEN);
  }
  if (offset >= len) return ack;
  AttrIterator it(payload + offset, len - offset);
  Attr a;
  while (it.next(a)) {
    if (a.type() == NLMSGERR_ATTR_MSG) ack.extack = a.str();
  }
  return ack;
}

namespace {

[[noreturn]] void throwAck(const Ack& ack) {
  std::string what = std::strerror(ack.error);
  if (!ack.extack.empty()) what += ": " + ack.extack;
  throw Error(ack.error, what, ack.extack);
}

}  // namespace

void Socket::request(const std::vector<uint8_t>& msg, uint32_t seq, const MessageHandler& onData) {
  send(msg);
  bool done = false;
  while (!done) {
    size_t n = receive();
    forEachMessage(buf_.data(), n, [&](const nlmsghdr& h) {
      if (h.nlmsg_pid != portId_ || h.nlmsg_seq != seq) return true;  // stale or foreign
      if (h.nlmsg_type == NLMSG_ERROR) {
        Ack ack = parseAck(h);
        if (ack.error != 0) throwAck(ack);
        done = true;
        return false;
      }
      if (h.nlmsg_type == NLMSG_DONE) {
        done = true;
        return false;
      }
      if (h.nlmsg_type >= NLMSG_MIN_TYPE && onData) onData(h);
      return true;
    });
  }
}

void Socket::dump(const std::function<std::vector<uint8_t>(uint32_t seq)>& build, const MessageHandler& onData,
                  const std::function<void()>& reset, int retries) {
  for (int attempt = 0;; ++attempt) {
    uint32_t seq = nextSeq();
    send(build(seq));
    bool done = false;
    bool interrupted = false;
    auto onMessage = [&](const nlmsghdr& h) {
      if (h.nlmsg_pid != portId_ || h.nlmsg_seq != seq) return true;
      if (h.nlmsg_flags & NLM_F_DUMP_INTR) interrupted = true;
      if (h.nlmsg_type == NLMSG_DONE) {
        // DONE carries the dump's final status as an int.
        int status = 0;
        if (h.nlmsg_len >= NLMSG_HDRLEN + sizeof status) {
          std::memcpy(&status, reinterpret_cast<const uint8_t*>(&h) + NLMSG_HDRLEN, sizeof status);
        }
        // As in parseAck: -INT_MIN would be undefined behaviour.
        if (status < -kMaxErrno) throw ParseError("netlink dump status " + std::to_string(status) + " out of range");
        if (status < 0) throwAck(Ack{-status, {}});
        done = true;
        return false;
      }
      if (h.nlmsg_type == NLMSG_ERROR) {
        Ack ack = parseAck(h);
        if (ack.error != 0) throwAck(ack);
        done = true;
        return false;
      }
      if (h.nlmsg_type >= NLMSG_MIN_TYPE) onData(h);
      return true;
    };
    try {
      while (!done) {
        size_t datagrams = receiveMany(kDumpSlots, kReceiveBufferSize);
        for (size_t d = 0; d < datagrams && !done; ++d) forEachMessage(slot(d), batchLens_[d], onMessage);
      }
    } catch (...) {
      // A dump left half-read keeps running in the kernel: its datagrams
      // would meet the next request (a new dump gets EBUSY; a mutation's
      // ACKs would queue behind them). Read it to its end first.
      if (!done) drainQuietly();
      throw;
    }
    if (!interrupted) return;
    if (attempt >= retries) {
      throw Error(EINTR, "dump interrupted " + std::to_string(retries + 1) + " times: the table kept changing");
    }
    if (reset) reset();
  }
}

std::vector<Ack> Socket::pipeline(const std::vector<uint8_t>& msgs, uint32_t firstSeq, size_t count) {
  // A trailing NLMSG_NOOP that asks for an ACK: the kernel answers it after
  // every request before it. A handler that returns -EINTR gets no ACK at all
  // (netlink_rcv_skb skips it; IPVS does that when a sync daemon is stopped
  // before its thread ran), so without this barrier we would wait forever.
  std::vector<uint8_t> withBarrier = msgs;
  Writer w(withBarrier);
  uint32_t barrierSeq = firstSeq + static_cast<uint32_t>(count);
  w.endMessage(w.beginMessage(NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, barrierSeq, portId_));

  std::vector<Ack> acks(count);
  std::vector<bool> seen(count, false);
  send(withBarrier);
  bool barrier = false;
  while (!barrier) {
    size_t datagrams = receiveMany(count + 1, kAckSlotSize);
    for (size_t d = 0; d < datagrams; ++d) {
      forEachMessage(slot(d), batchLens_[d], [&](const nlmsghdr& h) {
        uint32_t index = h.nlmsg_seq - firstSeq;  // unsigned: wraps cleanly
        if (h.nlmsg_pid != portId_ || index > count || h.nlmsg_type != NLMSG_ERROR) return true;
        if (index == count) {
          barrier = true;
        } else if (!seen[index]) {
          seen[index] = true;
          acks[index] = parseAck(h);
        }
        return true;
      });
    }
  }
  for (size_t i = 0; i < count; ++i) {
    if (!seen[i]) acks[i] = Ack{EINTR, "the kernel was interrupted and sent no answer"};
  }
  return acks;
}

}  // namespace nl

namespace nl {

namespace {

// Dumps per io_uring chain: three operations each, and two receive slots of
// a full dump datagram each (the kernel caps those at 32 KiB).
constexpr size_t kChainDumps = 32;
constexpr size_t kChainSlot = 32 * 1024;
constexpr uint32_t kNotWritten = 0xffffffff;

}  // namespace

void Socket::drainQuietly() noexcept {
  try {
    drain();
  } catch (...) {
    // Nothing more to do: the caller is already failing with its own error.
  }
}

void Socket::drain() {
  for (;;) {
    ssize_t n = ::recv(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT);
    if (n >= 0) continue;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == ENOBUFS) continue;  // what was lost is being thrown away anyway
    throwErrno("recv(netlink)");
  }
}

size_t Socket::chainDumps(size_t first, size_t count,
                          const std::function<std::vector<uint8_t>(size_t, uint32_t)>& build,
                          const std::function<void(size_t, const nlmsghdr&)>& onData) {
  struct Slot {
    std::vector<uint8_t> request;
    iovec sendIov{};
    msghdr send{};
    iovec recvIov[2]{};
    msghdr recv[2]{};
    sockaddr_nl from[2]{};
    int32_t res[3] = {-1, -1, -1};
    uint32_t seq = 0;
  };
  static sockaddr_nl kernel{AF_NETLINK, 0, 0, 0};
  std::vector<Slot> slots(count);
  chainBuf_.reserve(count * 2 * kChainSlot);

  // Everything that may throw comes before the first entry is queued: an
  // entry left in the ring would point at these slots after they are freed.
  for (size_t i = 0; i < count; ++i) {
    slots[i].seq = nextSeq();
    slots[i].request = build(first + i, slots[i].seq);
  }
  for (size_t i = 0; i < count; ++i) {
    Slot& s = slots[i];
    s.sendIov = {s.request.data(), s.request.size()};
    s.send.msg_name = &kernel;
    s.send.msg_namelen = sizeof kernel;
    s.send.msg_iov = &s.sendIov;
    s.send.msg_iovlen = 1;
    uring_->sendmsg(fd_, &s.send, i * 3, Uring::Link::kSoft);
    for (int r = 0; r < 2; ++r) {
      s.recvIov[r] = {chainBuf_.data() + (i * 2 + r) * kChainSlot, kChainSlot};
      s.from[r].nl_pid = kNotWritten;
      s.recv[r].msg_name = &s.from[r];
      s.recv[r].msg_namelen = sizeof(sockaddr_nl);
      s.recv[r].msg_iov = &s.recvIov[r];
      s.recv[r].msg_iovlen = 1;
      // The kernel queues a dump's first datagram while handling the send,
      // and its next one (usually DONE) while the first is read: neither
      // receive has to wait, and MSG_DONTWAIT makes sure none ever does. An
      // empty dump is DONE alone, so the second receive may find nothing:
      // a hard link lets the chain go on after its EAGAIN. MSG_TRUNC makes
      // the result the datagram's real length, so a cut is seen.
      Uring::Link link = r == 0 ? Uring::Link::kSoft : Uring::Link::kHard;
      if (i + 1 == count && r == 1) link = Uring::Link::kNone;
      uring_->recvmsg(fd_, &s.recv[r], MSG_TRUNC | MSG_DONTWAIT, i * 3 + 1 + r, link);
    }
  }
  try {
    uring_->submitAndWait(static_cast<unsigned>(count * 3), [&](uint64_t data, int32_t res) {
      if (data / 3 < count) slots[data / 3].res[data % 3] = res;
    });
  } catch (...) {
    // The ring's state is unknown (entries may still be queued, pointing at
    // `slots`): close it, and take the plain path from now on. dumpMany()
    // drains the socket.
    uring_.reset();
    uringUnavailable_ = true;
    throw;
  }

  std::vector<const nlmsghdr*> messages;
  for (size_t i = 0; i < count; ++i) {
    Slot& s = slots[i];
    if (s.res[0] != static_cast<int32_t>(s.request.size())) return i;
    bool done = false;
    bool clean = true;
    messages.clear();
    for (int r = 0; r < 2 && !done && clean; ++r) {
      int32_t len = s.res[1 + r];
      if (len <= 0 || static_cast<size_t>(len) > kChainSlot || s.from[r].nl_pid != 0) {
        clean = false;
        break;
      }
      forEachMessage(static_cast<const uint8_t*>(s.recvIov[r].iov_base), static_cast<size_t>(len),
                     [&](const nlmsghdr& h) {
                       if (h.nlmsg_pid != portId_ || h.nlmsg_seq != s.seq) return true;
                       if ((h.nlmsg_flags & NLM_F_DUMP_INTR) || h.nlmsg_type == NLMSG_ERROR) {
                         clean = false;  // the plain path retries or reports it
                         return false;
                       }
                       if (h.nlmsg_type == NLMSG_DONE) {
                         int status = 0;
                         if (h.nlmsg_len >= NLMSG_HDRLEN + sizeof status) {
                           std::memcpy(&status, reinterpret_cast<const uint8_t*>(&h) + NLMSG_HDRLEN, sizeof status);
                         }
                         if (status < 0) clean = false;
                         done = true;
                         return false;
                       }
                       if (h.nlmsg_type >= NLMSG_MIN_TYPE) messages.push_back(&h);
                       return true;
                     });
    }
    if (!done || !clean) return i;
    for (const nlmsghdr* h : messages) onData(first + i, *h);
  }
  return count;
}

void Socket::dumpMany(size_t count, const std::function<std::vector<uint8_t>(size_t i, uint32_t seq)>& build,
                      const std::function<void(size_t i, const nlmsghdr&)>& onData,
                      const std::function<void(size_t i)>& reset) {
  if (!uring_ && !uringUnavailable_) {
    // IPVS_TS_NO_URING=1 keeps to plain system calls (for kernels or sandboxes
    // where io_uring misbehaves, and to test that path).
    const char* off = std::getenv("IPVS_TS_NO_URING");
    if (off && *off && std::strcmp(off, "0") != 0) uringUnavailable_ = true;
  }
  if (!uring_ && !uringUnavailable_) {
    try {
      uring_ = std::make_unique<Uring>(static_cast<unsigned>(kChainDumps * 3));
    } catch (const Error&) {
      uringUnavailable_ = true;  // no io_uring here: one dump after another
    }
  }
  auto plain = [&](size_t i) {
    dump([&](uint32_t seq) { return build(i, seq); }, [&](const nlmsghdr& h) { onData(i, h); },
         [&] { reset(i); });
  };
  for (size_t start = 0; start < count; start += kChainDumps) {
    size_t n = std::min(kChainDumps, count - start);
    if (!uring_) {
      for (size_t i = start; i < start + n; ++i) plain(i);
      continue;
    }
    size_t clean;
    try {
      clean = chainDumps(start, n, build, onData);
    } catch (...) {
      drainQuietly();  // as in dump(): no half-read dump is left for the next request
      throw;
    }
    if (clean == n) continue;
    // The chain went off its expected shape at dump `clean`: what follows it
    // may have read another dump's replies. Let every dump finish, then redo
    // the rest one at a time (stale replies are skipped by sequence number).
    drain();
    for (size_t i = start + clean; i < start + n; ++i) {
      reset(i);
      plain(i);
    }
  }
}

}  // namespace nl
