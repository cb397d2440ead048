#include "nl/socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "nl/attr.h"
#include "nl/netns.h"
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

void setReceiveTimeout(int fd, int ms) {
  if (ms <= 0) return;
  timeval tv{ms / 1000, static_cast<suseconds_t>(ms % 1000) * 1000};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) throwErrno("setsockopt(SO_RCVTIMEO)");
}

[[noreturn]] void throwTimeout(int ms) {
  throw Error(ETIMEDOUT, "no reply within " + std::to_string(ms) + " ms (the reply timeout)");
}

[[noreturn]] void throwPeerClosed() { throw Error(ECONNRESET, "the netlink peer closed the connection"); }

}  // namespace

void throwErrno(const std::string& what) {
  int e = errno;
  throw Error(e, what + ": " + std::strerror(e));
}

Socket::Socket(int protocol, const SocketOptions& options)
    : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol)),
      replyTimeoutMs_(options.replyTimeoutMs),
      uringUnavailable_(!options.uring) {
  if (fd_.get() < 0) throwErrno("socket(AF_NETLINK)");
  int one = 1;
  // Both are optional: older kernels lack them and still work.
  setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  setBuffer(fd_.get(), SO_RCVBUFFORCE, SO_RCVBUF, kReceiveSocketBuffer);
  setBuffer(fd_.get(), SO_SNDBUFFORCE, SO_SNDBUF, kSendSocketBuffer);
  setReceiveTimeout(fd_.get(), replyTimeoutMs_);

  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) throwErrno("bind(AF_NETLINK)");
  socklen_t len = sizeof sa;
  if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) throwErrno("getsockname(AF_NETLINK)");
  portId_ = sa.nl_pid;
  // A start that differs per socket keeps a stale reply from matching by luck.
  seq_ = static_cast<uint32_t>(std::time(nullptr));
  buf_.reserve(kReceiveBufferSize);
}

Socket::Socket(PeerLink peer, const SocketOptions& options)
    : fd_(std::move(peer.socket)),
      peer_(true),
      answered_(std::move(peer.answered)),
      replyTimeoutMs_(options.replyTimeoutMs),
      uringUnavailable_(!options.uring),
      portId_(peer.portId),
      seq_(peer.firstSeq - 1) {
  if (fd_.get() < 0 || answered_.get() < 0) throw Error(EBADF, "a test peer needs a socket and an eventfd");
  setBuffer(fd_.get(), SO_RCVBUFFORCE, SO_RCVBUF, kReceiveSocketBuffer);
  setBuffer(fd_.get(), SO_SNDBUFFORCE, SO_SNDBUF, kSendSocketBuffer);
  setReceiveTimeout(fd_.get(), replyTimeoutMs_);
  buf_.reserve(kReceiveBufferSize);
}

Socket::~Socket() = default;

uint64_t Socket::netnsInode() const { return peer_ ? 0 : socketNetnsInode(fd_.get()); }

std::string Socket::procNet(const std::string& name, size_t maxBytes) const {
  if (peer_) throw Error(ENOTSUP, "/proc/net/" + name + ": not over a test peer");
  return readProcNet(fd_.get(), name, maxBytes);
}

uint32_t Socket::reserveSeq(size_t count) {
  uint32_t first = seq_ + 1;
  seq_ += static_cast<uint32_t>(count);
  return first;
}

void Socket::send(const std::vector<uint8_t>& bytes) {
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  // A peer's socket is connected; the kernel is addressed as port 0.
  sockaddr* name = peer_ ? nullptr : reinterpret_cast<sockaddr*>(&to);
  socklen_t nameLen = peer_ ? 0 : sizeof to;
  for (;;) {
    ssize_t n = ::sendto(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL, name, nameLen);
    if (n >= 0) {
      if (static_cast<size_t>(n) != bytes.size()) throw Error(EIO, "netlink send was cut short");
      if (peer_) ++sent_;
      return;
    }
    if (errno == EINTR) continue;
    if (peer_ && (errno == EPIPE || errno == ECONNRESET)) throwPeerClosed();
    throwErrno("sendto(netlink)");
  }
}

bool Socket::fromAnswerer(const sockaddr_nl& from, socklen_t len) const {
  return peer_ || (len >= sizeof(sockaddr_nl) && from.nl_pid == 0);
}

int Socket::peerFault(const uint8_t* data, size_t len) const {
  if (!peer_ || len != NLMSG_HDRLEN + sizeof(int)) return 0;
  nlmsghdr h;
  std::memcpy(&h, data, sizeof h);
  if (h.nlmsg_type != NLMSG_OVERRUN || h.nlmsg_len != len) return 0;
  int error;
  std::memcpy(&error, data + NLMSG_HDRLEN, sizeof error);
  return error > 0 && error <= kMaxErrno ? error : 0;
}

void Socket::receiveFailed(int error, const char* call) {
  if (error == EINTR) return;
  if (peer_ && error == ECONNRESET) throwPeerClosed();
  if (error == ENOBUFS) throw Error(ENOBUFS, "netlink receive buffer overrun: the kernel dropped replies");
  if (error == EAGAIN || error == EWOULDBLOCK) {
    forgetUnanswered();
    throwTimeout(replyTimeoutMs_);
  }
  errno = error;
  throwErrno(call);
}

size_t Socket::receive() {
  for (;;) {
    if (int fault = pendingFault_) {
      pendingFault_ = 0;
      receiveFailed(fault, "recvmsg(netlink)");
      continue;
    }
    if (!carried_.empty()) {  // a peer's datagrams read past a fault
      std::vector<uint8_t> dg = std::move(carried_.front());
      carried_.pop_front();
      if (dg.size() > buf_.size()) throw Error(EMSGSIZE, "netlink reply larger than the receive buffer");
      if (int fault = peerFault(dg.data(), dg.size())) {
        receiveFailed(fault, "recvmsg(netlink)");
        continue;
      }
      // An empty datagram has no data pointer, which memcpy may not be given (fuzz_socket found it).
      if (!dg.empty()) std::memcpy(buf_.data(), dg.data(), dg.size());
      return dg.size();
    }
    sockaddr_nl from{};
    iovec iov{buf_.data(), buf_.size()};
    msghdr mh{};
    mh.msg_name = &from;
    mh.msg_namelen = sizeof from;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t n = ::recvmsg(fd_.get(), &mh, 0);
    if (n < 0) {
      receiveFailed(errno, "recvmsg(netlink)");
      continue;
    }
    if (n == 0 && peer_) throwPeerClosed();
    if (mh.msg_flags & MSG_TRUNC) throw Error(EMSGSIZE, "netlink reply larger than the receive buffer");
    if (int fault = peerFault(buf_.data(), static_cast<size_t>(n))) {
      receiveFailed(fault, "recvmsg(netlink)");
      continue;
    }
    if (!fromAnswerer(from, mh.msg_namelen)) continue;  // only the kernel may answer
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
    if (int fault = pendingFault_) {
      pendingFault_ = 0;
      receiveFailed(fault, "recvmmsg(netlink)");
      continue;
    }
    size_t n = 0;
    if (!carried_.empty()) {  // a peer's datagrams read past a fault
      for (; n < max && !carried_.empty(); ++n) {
        std::vector<uint8_t>& dg = carried_.front();
        if (dg.size() > slotSize) throw Error(EMSGSIZE, "netlink reply larger than its receive slot");
        // An empty datagram has no data pointer to give memcpy (fuzz_socket found it).
        if (!dg.empty()) std::memcpy(batchBuf_.data() + n * slotSize, dg.data(), dg.size());
        msgs[n].msg_len = static_cast<unsigned>(dg.size());
        msgs[n].msg_hdr.msg_flags = 0;
        carried_.pop_front();
      }
    } else {
      // MSG_WAITFORONE: block for the first datagram, then take what is queued.
      int got = ::recvmmsg(fd_.get(), msgs, static_cast<unsigned>(max), MSG_WAITFORONE, nullptr);
      if (got < 0) {
        receiveFailed(errno, "recvmmsg(netlink)");
        continue;
      }
      n = static_cast<size_t>(got);
    }
    // A peer's end of stream, or one of its faults, ends the batch as a
    // failed system call would: the datagrams before it are handed out now,
    // the error comes with the next receive, the datagrams after it later.
    size_t kept = 0;
    for (; kept < n; ++kept) {
      size_t len = msgs[kept].msg_len;
      int fault = len == 0 && peer_ ? ECONNRESET : peerFault(batchBuf_.data() + kept * slotSize, len);
      if (fault) {
        pendingFault_ = fault;
        for (size_t later = n; later > kept + 1; --later) {
          const uint8_t* d = batchBuf_.data() + (later - 1) * slotSize;
          carried_.emplace_front(d, d + msgs[later - 1].msg_len);
        }
        break;
      }
      if (msgs[kept].msg_hdr.msg_flags & MSG_TRUNC) throw Error(EMSGSIZE, "netlink reply larger than its receive slot");
      // Foreign senders read as empty.
      batchLens_[kept] = fromAnswerer(froms[kept], msgs[kept].msg_hdr.msg_namelen) ? len : 0;
    }
    if (kept > 0) return kept;
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

std::vector<Ack> Socket::pipeline(std::vector<uint8_t>& msgs, uint32_t firstSeq, size_t count) {
  // A trailing NLMSG_NOOP that asks for an ACK: the kernel answers it after
  // every request before it. A handler that returns -EINTR gets no ACK at all
  // (netlink_rcv_skb skips it; IPVS does that when a sync daemon is stopped
  // before its thread ran), so without this barrier we would wait forever.
  Writer w(msgs);
  uint32_t barrierSeq = firstSeq + static_cast<uint32_t>(count);
  w.endMessage(w.beginMessage(NLMSG_NOOP, NLM_F_REQUEST | NLM_F_ACK, barrierSeq, portId_));

  std::vector<Ack> acks(count);
  std::vector<bool> seen(count, false);
  send(msgs);
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
  pendingFault_ = 0;
  carried_.clear();
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf_.data(), buf_.size(), MSG_DONTWAIT);
    if (n > 0) continue;
    if (n == 0) return;  // a peer's end of stream (netlink datagrams are never empty)
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    if (errno == ENOBUFS) continue;  // what was lost is being thrown away anyway
    if (peer_ && errno == ECONNRESET) return;
    throwErrno("recv(netlink)");
  }
}

void Socket::awaitPeer() {
  while (acknowledged_ < sent_) {
    pollfd p{answered_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, replyTimeoutMs_ > 0 ? replyTimeoutMs_ : -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throwErrno("poll(peer eventfd)");
    if (r == 0) {
      forgetUnanswered();
      throwTimeout(replyTimeoutMs_);
    }
    uint64_t one;
    if (::read(answered_.get(), &one, sizeof one) == sizeof one) ++acknowledged_;
  }
}

void Socket::forgetUnanswered() {
  if (!peer_) return;
  // Counts already there belong to requests before the silent one: take
  // them, then stop waiting for answers that did not come. (One that comes
  // late only sends a later chain down the plain path once.) No more counts
  // than requests outstanding: a peer that posts without end must not hold
  // the caller here (fuzz_socket found it).
  for (uint64_t outstanding = sent_ - acknowledged_; outstanding > 0; --outstanding) {
    pollfd p{answered_.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) break;
    uint64_t one;
    if (::read(answered_.get(), &one, sizeof one) != sizeof one) break;
  }
  acknowledged_ = sent_;
}

size_t Socket::chainDumps(size_t first, size_t count,
                          const std::function<std::vector<uint8_t>(size_t, uint32_t)>& build,
                          const std::function<void(size_t, const nlmsghdr&)>& onData) {
  // Per dump: send, [wait for the peer's answer], receive its data,
  // receive its DONE. The kernel answers inside the send; a test peer only
  // once its thread has run, which the eventfd read waits for.
  const size_t ops = peer_ ? 4 : 3;
  const size_t firstRecv = ops - 2;
  struct Slot {
    std::vector<uint8_t> request;
    iovec sendIov{};
    msghdr send{};
    iovec recvIov[2]{};
    msghdr recv[2]{};
    sockaddr_nl from[2]{};
    uint64_t answer = 0;
    int32_t res[4] = {-1, -1, -1, -1};
    uint32_t seq = 0;
  };
  static sockaddr_nl kernel{AF_NETLINK, 0, 0, 0};
  // Operations point into the slots, so they stay where they are.
  std::unique_ptr<Slot[]> slots(new Slot[count]);
  chainBuf_.reserve(count * 2 * kChainSlot);

  // Everything that may throw comes before the first entry is queued: an
  // entry left in the ring would point at these slots after they are freed.
  for (size_t i = 0; i < count; ++i) {
    slots[i].seq = nextSeq();
    slots[i].request = build(first + i, slots[i].seq);
  }
  if (peer_) awaitPeer();  // answers to earlier requests must not count for these
  for (size_t i = 0; i < count; ++i) {
    Slot& s = slots[i];
    s.sendIov = {s.request.data(), s.request.size()};
    if (!peer_) {
      s.send.msg_name = &kernel;
      s.send.msg_namelen = sizeof kernel;
    }
    s.send.msg_iov = &s.sendIov;
    s.send.msg_iovlen = 1;
    uring_->sendmsg(fd_.get(), &s.send, i * ops, Uring::Link::kSoft);
    if (peer_) uring_->read(answered_.get(), &s.answer, sizeof s.answer, i * ops + 1, Uring::Link::kSoft);
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
      uring_->recvmsg(fd_.get(), &s.recv[r], MSG_TRUNC | MSG_DONTWAIT, i * ops + firstRecv + r, link);
    }
  }
  int error = 0;
  Uring::Outcome outcome = uring_->run(
      static_cast<unsigned>(count * ops), replyTimeoutMs_,
      [&](uint64_t data, int32_t res) {
        if (data / ops < count) slots[data / ops].res[data % ops] = res;
      },
      error);
  if (peer_) {
    for (size_t i = 0; i < count; ++i) {
      if (slots[i].res[0] > 0) ++sent_;
      if (slots[i].res[1] == static_cast<int32_t>(sizeof(uint64_t))) ++acknowledged_;
    }
  }
  if (outcome != Uring::Outcome::kDone) {
    if (outcome == Uring::Outcome::kInFlight) {
      // The kernel may still write into these: never free them.
      slots.release();
      chainBuf_.abandon();
    }
    // The ring is of no more use: take the plain path from now on.
    // dumpMany() drains the socket.
    uring_.reset();
    uringUnavailable_ = true;
    if (error == ETIMEDOUT) {
      forgetUnanswered();
      throwTimeout(replyTimeoutMs_);
    }
    errno = error;
    throwErrno("io_uring_enter");
  }

  std::vector<const nlmsghdr*> messages;
  for (size_t i = 0; i < count; ++i) {
    Slot& s = slots[i];
    if (s.res[0] != static_cast<int32_t>(s.request.size())) return i;
    if (peer_ && s.res[1] != static_cast<int32_t>(sizeof(uint64_t))) return i;
    bool done = false;
    bool clean = true;
    messages.clear();
    for (int r = 0; r < 2 && !done && clean; ++r) {
      int32_t len = s.res[firstRecv + r];
      const auto* data = static_cast<const uint8_t*>(s.recvIov[r].iov_base);
      if (len <= 0 || static_cast<size_t>(len) > kChainSlot || !fromAnswerer(s.from[r], sizeof(sockaddr_nl)) ||
          peerFault(data, static_cast<size_t>(len))) {
        clean = false;
        break;
      }
      forEachMessage(data, static_cast<size_t>(len), [&](const nlmsghdr& h) {
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
    try {
      uring_ = std::make_unique<Uring>(static_cast<unsigned>(kChainDumps * 4));
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
    if (peer_) awaitPeer();
    drain();
    for (size_t i = start + clean; i < start + n; ++i) {
      reset(i);
      plain(i);
    }
  }
}

}  // namespace nl
