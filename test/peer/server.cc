#include "peer/server.h"

#include <linux/genetlink.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "nl/genl.h"
#include "nl/netns.h"
#include "nl/socket.h"

namespace peer {

namespace {

// A request datagram: a whole batch window is ~40 KiB; room to spare.
constexpr size_t kRequestBuffer = 1 << 20;
// What the client's reads may have queued on either end: generous, as the
// kernel's socket buffers are for the client's netlink socket.
constexpr int kSocketBuffer = 16 * 1024 * 1024;
// Non-blocking receives before the peer thread sleeps (~20 us).
constexpr int kSpins = 200;
// Added to the eventfd when the peer goes away: every wait for an answer ends.
constexpr uint64_t kAnsweredForever = uint64_t{1} << 40;

std::string hexWindow(const std::vector<uint8_t>& bytes, size_t at) {
  std::string s;
  size_t from = at > 8 ? at - 8 : 0;
  for (size_t i = from; i < bytes.size() && i < at + 24; ++i) {
    char b[4];
    std::snprintf(b, sizeof b, "%02x", bytes[i]);
    if (i == at) s += '[';
    s += b;
    if (i == at) s += ']';
  }
  return s;
}

// The generic-netlink command of a datagram's first message, or -1.
int firstCommand(const uint8_t* data, size_t len) {
  if (len < NLMSG_HDRLEN + GENL_HDRLEN) return -1;
  nlmsghdr h;
  std::memcpy(&h, data, sizeof h);
  if (h.nlmsg_type < NLMSG_MIN_TYPE || h.nlmsg_type == GENL_ID_CTRL) return -1;
  return data[NLMSG_HDRLEN];
}

// Rewrites a field of every message in a datagram.
template <typename Fn>
void eachHeader(std::vector<uint8_t>& dg, Fn fn) {
  size_t at = 0;
  while (at + NLMSG_HDRLEN <= dg.size()) {
    nlmsghdr h;
    std::memcpy(&h, dg.data() + at, sizeof h);
    if (h.nlmsg_len < NLMSG_HDRLEN || at + h.nlmsg_len > dg.size()) return;
    fn(h);
    std::memcpy(dg.data() + at, &h, sizeof h);
    at += NLMSG_ALIGN(h.nlmsg_len);
  }
}

bool hasData(const std::vector<uint8_t>& dg) {
  bool data = false;
  eachHeader(const_cast<std::vector<uint8_t>&>(dg), [&](nlmsghdr& h) {
    if (h.nlmsg_type >= NLMSG_MIN_TYPE) data = true;
  });
  return data;
}

bool isDone(const std::vector<uint8_t>& dg) {
  if (dg.size() < NLMSG_HDRLEN) return false;
  nlmsghdr h;
  std::memcpy(&h, dg.data(), sizeof h);
  return h.nlmsg_type == NLMSG_DONE;
}

// A datagram that makes the client's receive fail with `error` (nl::PeerLink).
std::vector<uint8_t> errnoMarker(int error) {
  std::vector<uint8_t> out(NLMSG_HDRLEN + sizeof(int));
  nlmsghdr h{};
  h.nlmsg_len = static_cast<uint32_t>(out.size());
  h.nlmsg_type = NLMSG_OVERRUN;
  std::memcpy(out.data(), &h, sizeof h);
  std::memcpy(out.data() + NLMSG_HDRLEN, &error, sizeof error);
  return out;
}

}  // namespace

Datagrams Replay::answer(const uint8_t* data, size_t len) {
  std::vector<uint8_t> got(data, data + len);
  if (next_ >= exchanges_.size()) {
    mismatches_.push_back("exchange " + std::to_string(next_) + ": a request after the recording ended: " +
                          hexWindow(got, 0));
    return {};
  }
  const std::vector<uint8_t>& want = exchanges_[next_].request;
  if (got != want) {
    size_t at = 0;
    while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
    mismatches_.push_back("exchange " + std::to_string(next_) + ": request differs at byte " + std::to_string(at) +
                          " (" + std::to_string(got.size()) + " bytes, recorded " + std::to_string(want.size()) +
                          "): got " + hexWindow(got, at) + ", recorded " + hexWindow(want, at));
    return {};
  }
  return exchanges_[next_++].replies;
}

Proxy::Proxy(const std::string& netnsPath) : buf_(64 * 1024) {
  {
    nl::NetnsScope scope(netnsPath);
    fd_ = nl::Fd(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC));
  }
  if (fd_.get() < 0) nl::throwErrno("socket(AF_NETLINK)");
  int one = 1;
  // As the client sets up its own socket (native/nl/socket.cc).
  setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  int size = 8 * 1024 * 1024;
  setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) nl::throwErrno("bind(AF_NETLINK)");
  socklen_t len = sizeof sa;
  if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&sa), &len) != 0) nl::throwErrno("getsockname");
  port_ = sa.nl_pid;
}

Datagrams Proxy::answer(const uint8_t* data, size_t len) {
  Exchange ex;
  ex.request.assign(data, data + len);
  uint32_t clientPort = 0;
  if (len >= NLMSG_HDRLEN) std::memcpy(&clientPort, data + offsetof(nlmsghdr, nlmsg_pid), sizeof clientPort);
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(fd_.get(), data, len, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    nl::throwErrno("sendto(kernel)");
  }
  // The kernel answers inside the send, and makes a dump's next datagram
  // while the previous one is read: read until nothing is left.
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf_.data(), buf_.size(), MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      nl::throwErrno("recv(kernel)");
    }
    std::vector<uint8_t> dg(buf_.data(), buf_.data() + n);
    eachHeader(dg, [&](nlmsghdr& h) {
      if (h.nlmsg_pid == port_) h.nlmsg_pid = clientPort;
    });
    ex.replies.push_back(std::move(dg));
  }
  exchanges_.push_back(ex);
  return ex.replies;
}

Server::Server(std::unique_ptr<Handler> handler) : handler_(std::move(handler)) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) nl::throwErrno("socketpair");
  peer_ = nl::Fd(sv[0]);
  client_ = nl::Fd(sv[1]);
  event_ = nl::Fd(::eventfd(0, EFD_CLOEXEC | EFD_SEMAPHORE));
  if (event_.get() < 0) nl::throwErrno("eventfd");
  for (int fd : {peer_.get(), client_.get()}) {
    setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &kSocketBuffer, sizeof kSocketBuffer);
  }
  thread_ = std::thread([this] { run(); });
}

Server::~Server() { stop(); }

void Server::stop() {
  if (stopping_.exchange(true)) {
    if (thread_.joinable()) thread_.join();
    return;
  }
  ::shutdown(peer_.get(), SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  signalAnswered(kAnsweredForever);
}

void Server::addFault(const Fault& f) {
  std::lock_guard<std::mutex> lock(mutex_);
  faults_.push_back(f);
}

Server::Counts Server::counts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

void Server::signalAnswered(uint64_t n) { (void)!::write(event_.get(), &n, sizeof n); }

bool Server::applyFault(const uint8_t* request, size_t len, Datagrams& replies, bool& close) {
  // Under mutex_.
  int cmd = firstCommand(request, len);
  for (auto it = faults_.begin(); it != faults_.end(); ++it) {
    if (it->cmd != -1 && it->cmd != cmd) continue;
    if (it->skip > 0) {
      --it->skip;
      return false;
    }
    Fault f = *it;
    faults_.erase(it);
    ++counts_.faults;
    switch (f.kind) {
      case Fault::Kind::kTruncate:
        for (auto& dg : replies) {
          if (!hasData(dg) || dg.size() < NLMSG_HDRLEN + GENL_HDRLEN + 12) continue;
          // Cut 6 bytes into the last attribute of the last message, and
          // make that message's header agree, so only an attribute overruns.
          size_t last = 0, at = 0;
          eachHeader(dg, [&](nlmsghdr& h) {
            last = at;
            at += NLMSG_ALIGN(h.nlmsg_len);
          });
          dg.resize(dg.size() - 6);
          uint32_t newLen = static_cast<uint32_t>(dg.size() - last);
          std::memcpy(dg.data() + last, &newLen, sizeof newLen);
          break;
        }
        return false;
      case Fault::Kind::kErrorMidDump: {
        Datagrams kept;
        for (size_t i = 0; i < replies.size() && static_cast<int>(kept.size()) < f.after; ++i) {
          if (!isDone(replies[i])) kept.push_back(replies[i]);
        }
        nlmsghdr req;
        std::memcpy(&req, request, sizeof req);
        kept.push_back(ack(req, -f.error));
        replies = std::move(kept);
        return false;
      }
      case Fault::Kind::kNoDone:
        if (!replies.empty() && isDone(replies.back())) replies.pop_back();
        return false;
      case Fault::Kind::kWrongSeq:
      case Fault::Kind::kWrongPort: {
        Datagrams wrong = replies;
        for (auto& dg : wrong) {
          eachHeader(dg, [&](nlmsghdr& h) {
            if (f.kind == Fault::Kind::kWrongSeq) h.nlmsg_seq += 1000;
            else h.nlmsg_pid += 1;
          });
        }
        if (f.thenCorrect) wrong.insert(wrong.end(), replies.begin(), replies.end());
        replies = std::move(wrong);
        return false;
      }
      case Fault::Kind::kErrno:
        replies.insert(replies.begin(), errnoMarker(f.error));
        return false;
      case Fault::Kind::kRepeat:
        for (size_t i = 0; i < replies.size(); ++i) {
          if (hasData(replies[i])) {
            replies.insert(replies.begin() + static_cast<long>(i) + 1, replies[i]);
            break;
          }
        }
        return false;
      case Fault::Kind::kSilence:
        return true;
      case Fault::Kind::kClose:
        close = true;
        return true;
    }
  }
  return false;
}

void Server::run() {
  std::vector<uint8_t> buf(kRequestBuffer);
  while (!stopping_) {
    // The kernel answers inside the client's send; a thread that sleeps
    // between requests adds two wake-ups to every one. Poll a moment first.
    ssize_t n = -1;
    for (int spin = 0; spin < kSpins && n < 0; ++spin) {
      n = ::recv(peer_.get(), buf.data(), buf.size(), MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EINTR) break;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) n = ::recv(peer_.get(), buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the client closed its end, or stop()
    Datagrams replies;
    bool silent = false;
    bool close = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counts_.datagrams;
      try {
        replies = handler_->answer(buf.data(), static_cast<size_t>(n));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "netlink test peer: %s\n", e.what());
      }
      silent = applyFault(buf.data(), static_cast<size_t>(n), replies, close);
      if (!silent) counts_.replies += replies.size();
    }
    if (close) {
      ::shutdown(peer_.get(), SHUT_RDWR);
      signalAnswered(kAnsweredForever);
      break;
    }
    if (silent) continue;
    for (const auto& dg : replies) {
      if (::send(peer_.get(), dg.data(), dg.size(), MSG_NOSIGNAL) < 0) break;
    }
    signalAnswered();
  }
}

}  // namespace peer
