#include "nl/socket.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include "nl/attr.h"

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
  buf_.resize(kReceiveBufferSize);
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
  if (batchBuf_.size() < max * slotSize) batchBuf_.resize(max * slotSize);
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
    while (!done) {
      size_t datagrams = receiveMany(kDumpSlots, kReceiveBufferSize);
      for (size_t d = 0; d < datagrams && !done; ++d) forEachMessage(slot(d), batchLens_[d], onMessage);
    }
    if (!interrupted) return;
    if (attempt >= retries) {
      throw Error(EINTR, "dump interrupted " + std::to_string(retries + 1) + " times: the table kept changing");
    }
    if (reset) reset();
  }
}

std::vector<Ack> Socket::pipeline(const std::vector<uint8_t>& msgs, uint32_t firstSeq, size_t count) {
  std::vector<Ack> acks(count);
  std::vector<bool> seen(count, false);
  send(msgs);
  size_t received = 0;
  while (received < count) {
    size_t datagrams = receiveMany(count - received, kAckSlotSize);
    for (size_t d = 0; d < datagrams; ++d) {
      forEachMessage(slot(d), batchLens_[d], [&](const nlmsghdr& h) {
        uint32_t index = h.nlmsg_seq - firstSeq;  // unsigned: wraps cleanly
        if (h.nlmsg_pid != portId_ || index >= count || h.nlmsg_type != NLMSG_ERROR) return true;
        if (!seen[index]) {
          seen[index] = true;
          acks[index] = parseAck(h);
          ++received;
        }
        return true;
      });
    }
  }
  return acks;
}

}  // namespace nl
