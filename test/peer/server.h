// The netlink test peer: a thread that stands where the kernel would, at the
// other end of a socketpair(AF_UNIX, SOCK_SEQPACKET) carrying netlink
// messages (nl::PeerLink), in the spirit of mdlayher/netlink's nltest. The
// client under test is the real one (native/nl, native/ipvs) over that
// socket instead of a NETLINK_GENERIC one.
//
// Who answers is a Handler: the IPVS model (model.h), a recording of the
// real kernel played back (Replay), or the real kernel itself through a
// netlink socket, recording as it goes (Proxy, run inside User-Mode Linux by
// scripts/record-peer-fixtures.mjs). Faults on demand replace or bend the
// answer to one request.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "nl/fd.h"
#include "peer/model.h"

namespace peer {

class Handler {
 public:
  virtual ~Handler() = default;
  // The datagrams that answer one datagram of requests.
  virtual Datagrams answer(const uint8_t* data, size_t len) = 0;
};

class ModelHandler : public Handler {
 public:
  Datagrams answer(const uint8_t* data, size_t len) override { return model.answer(data, len); }
  Model model;
};

// One request datagram and what answered it.
struct Exchange {
  std::vector<uint8_t> request;
  Datagrams replies;
};

// Plays recorded exchanges back in order. A request that differs from the
// recorded one, byte for byte, is noted and answered with nothing.
class Replay : public Handler {
 public:
  explicit Replay(std::vector<Exchange> exchanges) : exchanges_(std::move(exchanges)) {}
  Datagrams answer(const uint8_t* data, size_t len) override;
  size_t played() const { return next_; }
  size_t total() const { return exchanges_.size(); }
  const std::vector<std::string>& mismatches() const { return mismatches_; }

 private:
  std::vector<Exchange> exchanges_;
  size_t next_ = 0;
  std::vector<std::string> mismatches_;
};

// Forwards each datagram to the kernel over a NETLINK_GENERIC socket opened
// in `netnsPath` (with the options the client sets on its own socket) and
// relays every reply datagram, the port id rewritten to the client's, until
// the kernel has nothing more queued. Keeps the exchanges.
class Proxy : public Handler {
 public:
  explicit Proxy(const std::string& netnsPath);
  Datagrams answer(const uint8_t* data, size_t len) override;
  const std::vector<Exchange>& exchanges() const { return exchanges_; }

 private:
  nl::Fd fd_;
  uint32_t port_ = 0;
  std::vector<uint8_t> buf_;
  std::vector<Exchange> exchanges_;
};

// What the peer does with one request instead of answering it plainly.
struct Fault {
  enum class Kind {
    kTruncate,      // the first datagram with data is cut inside an attribute
    kErrorMidDump,  // `after` datagrams of the reply, then NLMSG_ERROR(-error), nothing more
    kNoDone,        // the reply without its NLMSG_DONE
    kWrongSeq,      // every reply message's sequence number is off by 1000
    kWrongPort,     // every reply message's port id is off by one
    kErrno,         // the client's next receive fails with `error` (ENOBUFS, EINTR), then the reply
    kSilence,       // no reply at all
    kClose,         // the peer closes the connection instead of answering
    kRepeat,        // the reply's first datagram with data comes twice (a dump resumed by position)
  };
  Kind kind = Kind::kSilence;
  int error = 0;
  int after = 0;
  // For kWrongSeq / kWrongPort: the right reply follows the wrong one.
  bool thenCorrect = false;
  // Which request: the first message's generic-netlink command (-1: any
  // datagram), after skipping `skip` that match.
  int cmd = -1;
  int skip = 0;
};

class Server {
 public:
  explicit Server(std::unique_ptr<Handler> handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // The client's ends; the caller duplicates them (nl::PeerLink).
  int clientSocket() const { return client_.get(); }
  int clientEvent() const { return event_.get(); }

  void addFault(const Fault& f);
  // Closes the peer's end (the client then reads end of stream) and waits
  // for the thread.
  void stop();

  struct Counts {
    uint64_t datagrams = 0;  // received from the client
    uint64_t replies = 0;    // datagrams sent back
    uint64_t faults = 0;     // faults applied
  };
  Counts counts() const;

  // The handler, under the lock the thread answers under.
  template <typename Fn>
  auto withHandler(Fn fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    return fn(*handler_);
  }

 private:
  void run();
  // Applies the first pending fault that matches; returns whether to stop answering.
  bool applyFault(const uint8_t* request, size_t len, Datagrams& replies, bool& close);
  void signalAnswered(uint64_t n = 1);

  std::unique_ptr<Handler> handler_;
  nl::Fd peer_;    // our end
  nl::Fd client_;  // theirs
  nl::Fd event_;
  mutable std::mutex mutex_;
  std::deque<Fault> faults_;
  Counts counts_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace peer
