// A scripted netlink peer for fuzz targets: the fuzz input is cut into
// groups of datagrams, and each group is what the "kernel" has already
// answered when one client call starts. The client is the real nl::Socket
// over a socketpair (nl::PeerLink), so its whole receive path runs.
//
// Input format (scripts/fuzz-corpus.mjs writes seeds in it):
//
//   datagram := u16 header (little-endian), [u8 stamp], bytes
//     header bit 15      stamp: rewrite the message headers (see below)
//     header bits 0..14  length of `bytes` (cut short at the end of the input)
//   header 0x0000        ends the group: the next call's datagrams follow
//
// A stamped datagram gets, in every netlink header found by walking it as
// the kernel lays messages out, the port id the client uses and sequence
// number kFirstSeq + (stamp & 0x0f), plus the message's index when bit 0x10
// is set (a run of ACKs). Bit 0x20 also cuts each nlmsg_len down to what is
// left of the datagram. Random bytes almost never carry the right sequence
// number; the stamp lets the fuzzer reach the paths that need it.
//
// Before the call, every datagram of the group is queued on the client's
// socket, the eventfd gets a huge count (no wait for an answer ever blocks)
// and the peer shuts its sending side: past the last datagram the client
// reads end of stream (ECONNRESET), never waits.
#pragma once

#include <linux/netlink.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fuzz/check.h"
#include "nl/attr.h"
#include "nl/fd.h"
#include "nl/socket.h"

namespace fuzzpeer {

// What the client is told it is; stamps use the same values.
inline constexpr uint32_t kPortId = 0x4b1d;
inline constexpr uint32_t kFirstSeq = 1000;

inline constexpr uint16_t kStampBit = 0x8000;
inline constexpr uint8_t kStampSeqMask = 0x0f;
inline constexpr uint8_t kStampPerMessage = 0x10;
inline constexpr uint8_t kStampFixLength = 0x20;
// More datagrams than any call reads; the rest of the group is dropped.
inline constexpr size_t kMaxDatagrams = 64;

using Datagram = std::vector<uint8_t>;
using Datagrams = std::vector<Datagram>;

inline void store32(Datagram& d, size_t at, uint32_t v) { std::memcpy(d.data() + at, &v, 4); }
inline uint32_t load32(const Datagram& d, size_t at) {
  uint32_t v;
  std::memcpy(&v, d.data() + at, 4);
  return v;
}

inline void stamp(Datagram& d, uint8_t how) {
  uint32_t seq = kFirstSeq + (how & kStampSeqMask);
  for (size_t off = 0; off + NLMSG_HDRLEN <= d.size();) {
    size_t left = d.size() - off;
    uint32_t len = load32(d, off);
    if ((how & kStampFixLength) && len > left) {
      len = static_cast<uint32_t>(left);
      store32(d, off, len);
    }
    store32(d, off + offsetof(nlmsghdr, nlmsg_seq), seq);
    store32(d, off + offsetof(nlmsghdr, nlmsg_pid), kPortId);
    if (len < NLMSG_HDRLEN) break;
    // Aligned in size_t: NLMSG_ALIGN's mask is 32 bits wide, so a length from
    // 0xfffffffd up would round to 0 and this walk would never end.
    off += (static_cast<size_t>(len) + NLMSG_ALIGNTO - 1) & ~static_cast<size_t>(NLMSG_ALIGNTO - 1);
    if (how & kStampPerMessage) ++seq;
  }
}

// Cuts the input into groups, one per call.
class Script {
 public:
  Script(const uint8_t* data, size_t size) : p_(data), left_(size) {}

  // The next group (empty once the input is used up).
  Datagrams nextGroup() {
    Datagrams out;
    while (left_ >= 2) {
      uint16_t header = static_cast<uint16_t>(p_[0] | p_[1] << 8);
      take(2);
      if (header == 0) break;
      uint8_t how = 0;
      bool stamped = header & kStampBit;
      if (stamped) {
        if (left_ < 1) break;
        how = p_[0];
        take(1);
      }
      size_t len = header & ~kStampBit;
      if (len > left_) len = left_;
      Datagram d(p_, p_ + len);
      take(len);
      if (stamped) stamp(d, how);
      if (out.size() < kMaxDatagrams) out.push_back(std::move(d));
    }
    return out;
  }

 private:
  void take(size_t n) {
    p_ += n;
    left_ -= n;
  }
  const uint8_t* p_;
  size_t left_;
};

[[noreturn]] inline void die(const char* what) {
  std::perror(what);
  std::abort();
}

// The peer's end with `replies` already sent; link() hands the client its end.
class Peer {
 public:
  explicit Peer(const Datagrams& replies) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
    peer_ = nl::Fd(sv[0]);
    client_ = nl::Fd(sv[1]);
    // Queued datagrams count against the sender's buffer; what does not fit
    // is dropped (MSG_DONTWAIT) rather than blocking the fuzzer.
    int bytes = 4 << 20;
    ::setsockopt(peer_.get(), SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    for (const Datagram& d : replies) {
      if (::send(peer_.get(), d.data(), d.size(), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) break;
    }
    event_ = nl::Fd(::eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE));
    if (event_.get() < 0) die("eventfd");
    uint64_t forever = uint64_t{1} << 40;
    if (::write(event_.get(), &forever, sizeof forever) != sizeof forever) die("eventfd write");
    ::shutdown(peer_.get(), SHUT_WR);
  }

  nl::PeerLink link() { return nl::PeerLink{std::move(client_), std::move(event_), kPortId, kFirstSeq}; }

 private:
  nl::Fd peer_, client_, event_;
};

// Options for a client over a Peer: a short reply timeout is only a backstop
// (nothing should wait), and io_uring stays on so dumpMany() chains.
inline nl::SocketOptions clientOptions() {
  nl::SocketOptions o;
  o.replyTimeoutMs = 50;
  o.uring = true;
  return o;
}

// Runs `fn`, which may return or throw what a netlink call may throw on bad
// replies: nl::Error or nl::ParseError. Anything else escapes to libFuzzer.
template <typename Fn>
bool netlinkCall(Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const nl::Error&) {
  } catch (const nl::ParseError&) {
  }
  return false;
}

// Aborts when descriptors pile up across iterations: each one must close
// everything it opened. The lowest free descriptor number moves up with a leak.
inline void checkNoDescriptorLeak() {
  static int baseline = -1;
  int probe = ::dup(2);
  if (probe < 0) die("dup");
  ::close(probe);
  if (baseline < 0) baseline = probe;
  if (probe > baseline + 16) {
    std::fprintf(stderr, "descriptor leak: lowest free descriptor %d, was %d\n", probe, baseline);
    std::abort();
  }
}

}  // namespace fuzzpeer
