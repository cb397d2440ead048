// peer_selftest: the native client (native/nl, native/ipvs) against the
// netlink test peer (server.h) with every fault, built with ASan, UBSan and
// LeakSanitizer by native/CMakeLists.txt (npm run test:native). Also the one
// fault no peer can cause: io_uring_enter failing after it has taken half a
// chain, injected by wrapping syscall() at link time (-Wl,--wrap=syscall).
//
// Each case checks the error, that the next call on the same client gets the
// whole table, and that no descriptor is left open; the sanitizers check
// memory (a chain's buffers freed while the kernel still uses them would be
// the use-after-free this guards against).

#include <dirent.h>
#include <linux/io_uring.h>
#include <sys/eventfd.h>
#include <linux/ip_vs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>

#include "ipvs/client.h"
#include "nl/genl.h"
#include "nl/socket.h"
#include "nl/uring.h"
#include "peer/server.h"

// --- io_uring_enter failure injection ----------------------------------------

extern "C" long __real_syscall(long number, ...);

namespace {
// When > 0: the next io_uring_enter that submits gives the kernel only half of
// its entries, then fails with this errno, as a kernel short of memory would.
int g_failEnter = 0;
unsigned g_enterCalls = 0;
}  // namespace

extern "C" long __wrap_syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  long a[6];
  for (long& x : a) x = va_arg(ap, long);
  va_end(ap);
  if (number == __NR_io_uring_enter) {
    ++g_enterCalls;
    unsigned submit = static_cast<unsigned>(a[1]);
    if (g_failEnter && submit > 1) {
      int error = g_failEnter;
      g_failEnter = 0;
      // Half of the chain reaches the kernel (no waiting), then the call fails.
      __real_syscall(number, a[0], submit / 2, 0, 0, 0, 0);
      errno = error;
      return -1;
    }
  }
  return __real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

namespace {

int passed = 0;
int failed = 0;

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (cond) {                                                                      \
      ++passed;                                                                      \
    } else {                                                                         \
      ++failed;                                                                      \
      std::fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);       \
    }                                                                                \
  } while (0)

int openFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (readdir(d)) ++n;
  closedir(d);
  return n;
}

constexpr size_t kServices = 300;
constexpr size_t kDests = 2;

struct Table : ipvs::SnapshotSink {
  size_t services = 0, dests = 0;
  void service(const ipvs::Service&) override { ++services; }
  void destination(const ipvs::Destination&) override { ++dests; }
  void discardDestinations() override {}
};

bool wholeTable(ipvs::Client& c) {
  Table t;
  c.snapshot(t);
  return t.services == kServices && t.dests == kServices * kDests && c.info().version == 0x010201;
}

// Runs `fn` against a fresh peer and client; `fault` is queued first.
void withPeer(const char* name, const peer::Fault* fault, const std::function<void(ipvs::Client&)>& fn) {
  int before = openFds();
  {
    auto handler = std::make_unique<peer::ModelHandler>();
    handler->model.populate(kServices, kDests);
    peer::Server server(std::move(handler));
    if (fault) server.addFault(*fault);
    nl::SocketOptions options;
    options.replyTimeoutMs = 300;
    nl::PeerLink link{nl::Fd(::dup(server.clientSocket())), nl::Fd(::dup(server.clientEvent())), 4242, 1};
    ipvs::Client client(std::move(link), options);
    fn(client);
    server.stop();
  }
  int after = openFds();
  CHECK(after == before);
  std::printf("  %s\n", name);
}

int errorOf(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const nl::Error& e) {
    return e.error();
  } catch (const nl::ParseError&) {
    return EPROTO;
  }
  return 0;
}

peer::Fault make(peer::Fault::Kind kind, int cmd, int error = 0, int skip = 0) {
  peer::Fault f;
  f.kind = kind;
  f.cmd = cmd;
  f.error = error;
  f.skip = skip;
  return f;
}

void faults() {
  using K = peer::Fault::Kind;
  std::printf("faults:\n");
  auto listing = [](ipvs::Client& c) { return errorOf([&] { c.services(); }); };
  auto snapshot = [](ipvs::Client& c) { return errorOf([&] { Table t; c.snapshot(t); }); };
  struct Case {
    const char* name;
    peer::Fault fault;
    std::function<int(ipvs::Client&)> call;
    int expected;
  };
  const Case cases[] = {
      {"reply cut inside an attribute", make(K::kTruncate, IPVS_CMD_GET_SERVICE), listing, EPROTO},
      {"NLMSG_ERROR mid-dump", [] { auto f = make(K::kErrorMidDump, IPVS_CMD_GET_SERVICE, ENOMEM); f.after = 1; return f; }(),
       listing, ENOMEM},
      {"dump without DONE", make(K::kNoDone, IPVS_CMD_GET_SERVICE), listing, ETIMEDOUT},
      {"wrong sequence number", make(K::kWrongSeq, IPVS_CMD_GET_SERVICE), listing, ETIMEDOUT},
      {"wrong port id", make(K::kWrongPort, IPVS_CMD_GET_SERVICE), listing, ETIMEDOUT},
      {"ENOBUFS", make(K::kErrno, IPVS_CMD_GET_SERVICE, ENOBUFS), listing, ENOBUFS},
      {"EINTR", make(K::kErrno, IPVS_CMD_GET_SERVICE, EINTR), listing, 0},
      {"ENOBUFS in a chain", make(K::kErrno, IPVS_CMD_GET_DEST, ENOBUFS, 5), snapshot, 0},
      {"silence in a chain", make(K::kSilence, IPVS_CMD_GET_DEST, 0, 40), snapshot, ETIMEDOUT},
      {"silence", make(K::kSilence, IPVS_CMD_GET_SERVICE), listing, ETIMEDOUT},
      {"peer closes mid-chain", make(K::kClose, IPVS_CMD_GET_DEST, 0, 3), snapshot, ECONNRESET},
  };
  for (const Case& c : cases) {
    withPeer(c.name, &c.fault, [&](ipvs::Client& client) {
      int got = c.call(client);
      if (got != c.expected) std::fprintf(stderr, "    %s: errno %d, expected %d\n", c.name, got, c.expected);
      CHECK(got == c.expected);
      if (c.expected == ECONNRESET) {
        CHECK(errorOf([&] { client.info(); }) == ECONNRESET);
      } else {
        CHECK(wholeTable(client));
      }
    });
  }
}

void uringFailure() {
  std::printf("io_uring_enter failing mid-chain:\n");
  withPeer("half a chain submitted, then ENOMEM", nullptr, [](ipvs::Client& client) {
    Table first;
    client.snapshot(first);  // a clean chain first: the ring exists
    unsigned calls = g_enterCalls;
    CHECK(calls > 0);
    g_failEnter = ENOMEM;
    int got = errorOf([&] { Table t; client.snapshot(t); });
    CHECK(got == ENOMEM);
    CHECK(g_failEnter == 0);  // the injection ran
    // Every submitted operation was cancelled and reaped before its slot was
    // freed (ASan would see a kernel write into freed memory as corruption
    // of what is allocated there next; the table read below must be right).
    CHECK(wholeTable(client));
  });
}

// The contract that makes freeing a failed chain's buffers safe: once run()
// gives up, every operation the kernel took has completed (cancelled or
// not) and was reported, and none it did not take ever runs.
void uringContract() {
  std::printf("io_uring run() after a failure or a timeout:\n");
  int before = openFds();
  {
    nl::Fd efd(::eventfd(0, EFD_CLOEXEC));  // never written: reads wait
    constexpr unsigned kOps = 16;
    uint64_t sink[kOps];
    for (int round = 0; round < 2; ++round) {
      nl::Uring ring(kOps * 2);
      for (unsigned i = 0; i < kOps; ++i) ring.read(efd.get(), &sink[i], 8, i, nl::Uring::Link::kNone);
      std::vector<int32_t> results(kOps, 1);
      unsigned reported = 0;
      int error = 0;
      if (round == 0) g_failEnter = ENOMEM;  // half taken, then ENOMEM
      auto outcome = ring.run(kOps, round == 0 ? 0 : 100, [&](uint64_t i, int32_t res) {
        results[i] = res;
        ++reported;
      }, error);
      CHECK(outcome == nl::Uring::Outcome::kSettled);
      CHECK(error == (round == 0 ? ENOMEM : ETIMEDOUT));
      CHECK(ring.inFlight() == 0);
      unsigned taken = round == 0 ? kOps / 2 : kOps;
      CHECK(reported == taken);
      for (unsigned i = 0; i < kOps; ++i) CHECK(results[i] == (i < taken ? -ECANCELED : 1));
      std::printf("  %s: %u taken, %u cancelled and reaped\n", round == 0 ? "ENOMEM" : "timeout", taken, reported);
    }
  }
  CHECK(openFds() == before);
}

}  // namespace

int main() {
  faults();
  uringContract();
  uringFailure();
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
