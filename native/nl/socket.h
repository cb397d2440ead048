// A netlink socket that checks every reply: sender is the kernel, port id is
// ours, sequence number is the one we sent. Requests are acknowledged,
// dumps are reassembled, and pipelined requests are matched to their ACKs.
#pragma once

#include <linux/netlink.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "nl/fd.h"

namespace nl {

class Uring;

// How long a receive waits for the next datagram before the call fails with
// ETIMEDOUT, unless the caller says otherwise. Generous: the kernel answers
// at once, but a flush of a huge table under User-Mode Linux takes seconds.
inline constexpr int kDefaultReplyTimeoutMs = 60 * 1000;

struct SocketOptions {
  // 0: wait forever.
  int replyTimeoutMs = kDefaultReplyTimeoutMs;
  // Chain dumps through io_uring where the kernel offers it. Read by the
  // caller from IPVS_TS_NO_URING on the JS thread: getenv on a pool thread
  // races node's writes to the environment.
  bool uring = true;
};

// A test peer in place of the kernel (test/peer): the client's end of a
// socketpair(AF_UNIX, SOCK_SEQPACKET) that carries netlink messages, and an
// eventfd (EFD_SEMAPHORE) to which the peer adds 1 once it has written every
// reply to a datagram. The kernel answers inside the send; a peer thread
// answers a moment later, and the io_uring chain, which reads right after
// its send, must wait for that (see Socket::chainDumps).
//
// The peer also stands for what only a system call can do: a datagram that
// is nothing but an NLMSG_OVERRUN message carrying an int errno makes the
// receive that meets it fail with that errno (ENOBUFS, EINTR, ...).
struct PeerLink {
  Fd socket;
  Fd answered;
  uint32_t portId = 0;
  uint32_t firstSeq = 0;
};

// A failure reported by the kernel (NLMSG_ERROR) or by a system call.
// `error` is a positive errno; `extack` is the kernel's extended-ACK text.
class Error : public std::runtime_error {
 public:
  Error(int error, std::string what, std::string extack = {})
      : std::runtime_error(std::move(what)), error_(error), extack_(std::move(extack)) {}
  int error() const { return error_; }
  const std::string& extack() const { return extack_; }

 private:
  int error_;
  std::string extack_;
};

// Builds an Error for a failed system call from errno.
[[noreturn]] void throwErrno(const std::string& what);

// The outcome of one acknowledged request: error 0 is success.
struct Ack {
  int error = 0;
  std::string extack;
};

// Called with each data message of a reply (not ACK, not DONE).
using MessageHandler = std::function<void(const nlmsghdr&)>;

// Memory the kernel writes before anyone reads it, so it is never zeroed:
// a page nobody touched costs nothing, and in User-Mode Linux a page's first
// touch is a trap (~190 us). A zero-filled std::vector of the 2 MiB a dump
// chain reserves touched every page of it on a handle's first read.
class ReceiveBuffer {
 public:
  uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  // At least `bytes` long afterwards; the old contents are not kept.
  void reserve(size_t bytes) {
    if (bytes <= size_) return;
    data_.reset(new uint8_t[bytes]);  // default-initialised: not written
    size_ = bytes;
  }
  // Lets go of the memory without freeing it: the kernel may still write
  // into it (an io_uring operation that could not be reaped).
  void abandon() {
    (void)data_.release();
    size_ = 0;
  }

 private:
  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

class Socket {
 public:
  // Opens, binds (the kernel picks the port id) and enables extended ACKs.
  // The socket lives in the network namespace of the calling thread.
  explicit Socket(int protocol, const SocketOptions& options = {});
  // Talks to a test peer instead of the kernel, through the same code.
  explicit Socket(PeerLink peer, const SocketOptions& options = {});
  ~Socket();
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  uint32_t portId() const { return portId_; }
  // The inode of the network namespace the socket lives in (0 for a peer,
  // or a kernel without SIOCGSKNS).
  uint64_t netnsInode() const;
  // /proc/net/NAME as the socket's namespace shows it (readProcNet in
  // netns.h); ENOTSUP over a test peer, which stands in for no /proc.
  std::string procNet(const std::string& name, size_t maxBytes) const;
  uint32_t nextSeq() { return ++seq_; }
  // Reserves `count` consecutive sequence numbers and returns the first.
  uint32_t reserveSeq(size_t count);

  // Sends one request (flags must include NLM_F_ACK) and waits for its ACK,
  // handing any data message with the same sequence number to `onData`.
  // Throws Error for a negative ACK.
  void request(const std::vector<uint8_t>& msg, uint32_t seq, const MessageHandler& onData = nullptr);

  // Sends a dump request and hands each message to `onData` until
  // NLMSG_DONE. An interrupted dump (the table changed under it) is retried
  // up to `retries` times via `build`, which must return a fresh request
  // for the given new sequence number, after `reset`; then it throws
  // Error(EINTR).
  void dump(const std::function<std::vector<uint8_t>(uint32_t seq)>& build, const MessageHandler& onData,
            const std::function<void()>& reset, int retries = 3);

  // Runs `count` dumps one after another, as dump() does for each, but
  // chained through io_uring where the kernel offers it: a send and two
  // receives per dump (its data, then its DONE), dozens of dumps per system
  // call. A dump that does not fit that shape (more data, an interrupted or
  // failed dump) is redone, with the ones after it, the plain way.
  // `build(i, seq)` makes request i; `onData(i, msg)` takes its messages;
  // `reset(i)` forgets what request i delivered before a retry. Messages
  // arrive in request order, and reset(i) never follows a message of a later
  // request, so a consumer may append as it goes.
  void dumpMany(size_t count, const std::function<std::vector<uint8_t>(size_t i, uint32_t seq)>& build,
                const std::function<void(size_t i, const nlmsghdr&)>& onData, const std::function<void(size_t i)>& reset);

  // Sends `count` acknowledged requests laid out back to back in `msgs`
  // with consecutive sequence numbers from `firstSeq`, and returns their
  // ACKs in order. One send; the ACKs are read in batches. A barrier request
  // is appended to `msgs` with sequence number firstSeq + count (reserve
  // count + 1): a request the kernel never answers (-EINTR) reads as EINTR.
  std::vector<Ack> pipeline(std::vector<uint8_t>& msgs, uint32_t firstSeq, size_t count);

  // Sends raw bytes as one datagram to the kernel.
  void send(const std::vector<uint8_t>& bytes);

  // Whether dumpMany() chains its dumps through io_uring (false once the
  // kernel refused it, or when the options said no).
  bool chaining() const { return !uringUnavailable_; }

 private:
  // Reads one datagram (blocking) into buf_ and returns its length.
  size_t receive();
  // Reads up to `max` datagrams into slots of `slotSize` bytes (see slot());
  // blocks for the first only.
  size_t receiveMany(size_t max, size_t slotSize);
  const uint8_t* slot(size_t i) const { return batchBuf_.data() + i * slotSize_; }
  // A failed receive: returns to retry (EINTR), else throws in words.
  void receiveFailed(int error, const char* call);
  // Did this datagram come from whoever answers us (the kernel, or the peer)?
  bool fromAnswerer(const sockaddr_nl& from, socklen_t len) const;
  // The errno a peer's fault datagram stands for, or 0 (see PeerLink).
  int peerFault(const uint8_t* data, size_t len) const;

  // Reads and drops whatever is queued, so that no dump is left running.
  void drain();
  // drain() for an error path: the error being thrown is the one to report.
  void drainQuietly() noexcept;
  // Waits until the peer has answered every datagram sent so far.
  void awaitPeer();
  // After a timeout: stops counting on answers the peer never gave.
  void forgetUnanswered();
  // One chain of dumpMany(); returns how many dumps (from `first`) completed cleanly.
  size_t chainDumps(size_t first, size_t count, const std::function<std::vector<uint8_t>(size_t, uint32_t)>& build,
                    const std::function<void(size_t, const nlmsghdr&)>& onData);

  Fd fd_;
  bool peer_ = false;
  Fd answered_;             // peer only
  uint64_t sent_ = 0;       // datagrams sent to the peer
  uint64_t acknowledged_ = 0;  // of those, answers counted on `answered_`
  int pendingFault_ = 0;    // a peer fault read in a batch, for the next receive
  std::deque<std::vector<uint8_t>> carried_;  // peer datagrams read past that fault
  int replyTimeoutMs_ = kDefaultReplyTimeoutMs;
  std::unique_ptr<Uring> uring_;
  bool uringUnavailable_ = false;
  ReceiveBuffer chainBuf_;
  uint32_t portId_ = 0;
  uint32_t seq_ = 0;
  ReceiveBuffer buf_;
  // Slots for receiveMany(): many tiny ACKs, or a dump's data and its DONE.
  ReceiveBuffer batchBuf_;
  std::vector<size_t> batchLens_;
  size_t slotSize_ = 0;
};

// Parses an NLMSG_ERROR message (header followed by nlmsg_len - 16 bytes that
// the caller has bounds-checked) into an Ack: error made positive, extended
// ACK text extracted. Throws ParseError when the payload is truncated.
Ack parseAck(const nlmsghdr& h);

// Walks the netlink messages in [data, data+len), checking each header's
// length against what is left; throws ParseError on a bad length. `fn`
// receives each header (whose payload follows it) and returns false to stop.
void forEachMessage(const uint8_t* data, size_t len, const std::function<bool(const nlmsghdr&)>& fn);

}  // namespace nl
