// The thin N-API layer: converts JS values to the codec's structs on the JS
// thread, runs the netlink work on the libuv pool, and settles a promise.
// Handles are type-tagged objects, so a foreign or closed handle throws or
// rejects instead of touching freed memory.
#include <fcntl.h>
#include <napi.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <set>

#include "ipvs/client.h"
#include "napi/convert.h"
#include "napi/host.h"
#include "napi/job.h"
#include "ipvs/records.h"

namespace {

using napi_job::errnoCode;

// Random; marks objects created by this addon as IPVS handles.
constexpr napi_type_tag kHandleTag = {0x6a1f3c2e9b7d4f10ULL, 0x83c5e2a4d1b06f97ULL};

// What a JS handle owns. close() lets every call made before it run, then
// drops the client: at once when nothing is pending, else when the last of
// those calls ends its turn. Calls queued after close() reject with EBADF.
//
// Jobs on one handle run one at a time and in the order they were queued, as
// requests written to one socket would: each takes a ticket on the JS thread
// and waits for its turn on the pool, whose threads reach the lock in any
// order (two batch chunks in flight once ran the second chunk first).
// A condition variable on the pthread primitive: std::condition_variable::wait
// binds to GLIBCXX_3.4.30 (GCC 12), newer than the prebuilt binaries promise.
class TurnSignal {
 public:
  TurnSignal() { pthread_cond_init(&cond_, nullptr); }
  ~TurnSignal() { pthread_cond_destroy(&cond_); }
  TurnSignal(const TurnSignal&) = delete;
  TurnSignal& operator=(const TurnSignal&) = delete;
  template <typename Pred>
  void wait(std::unique_lock<std::mutex>& lock, Pred ready) {
    while (!ready()) pthread_cond_wait(&cond_, lock.mutex()->native_handle());
  }
  void notifyAll() { pthread_cond_broadcast(&cond_); }

 private:
  pthread_cond_t cond_;
};

// At most this many jobs of one handle are on the libuv pool: the one
// running and the next, which waits for its turn there, so that a batch's
// next chunk follows at once. The rest are held back on the JS thread: each
// job waiting on the pool parks a pool thread that fs, dns and crypto need.
constexpr int kPoolSlots = 2;

struct HandleState : napi_job::Gate {
  std::mutex mutex;
  TurnSignal turnChanged;
  std::unique_ptr<ipvs::Client> client;
  std::atomic<uint64_t> issued{0};  // tickets handed out, on the JS thread
  // Tickets from this number on were issued after close() and never run.
  std::atomic<uint64_t> closedFrom{UINT64_MAX};
  uint64_t serving = 0;          // whose turn it is; under `mutex`
  std::set<uint64_t> abandoned;  // later tickets whose job will never run; under `mutex`

  bool closed() const { return closedFrom != UINT64_MAX; }

  // JS thread only, like admit(), settled() and settle().
  int onPool = 0;
  std::deque<Napi::AsyncWorker*> heldBack;
  napi_job::SettleQueue settling;

  void admit(Napi::AsyncWorker* job) override {
    if (onPool < kPoolSlots) {
      ++onPool;
      job->Queue();
    } else {
      heldBack.push_back(job);
    }
  }

  bool isNext(uint64_t order) const override { return settling.isNext(order); }
  void settle(uint64_t order, std::function<void()> settleNow) override {
    settling.settle(order, std::move(settleNow));
  }

  void settled() override {
    --onPool;
    if (heldBack.empty()) return;
    Napi::AsyncWorker* next = heldBack.front();
    heldBack.pop_front();
    ++onPool;
    next->Queue();
  }

  // Passes the turn on, over abandoned tickets; after close(), drops the
  // client once no call made before it is left. Call under `mutex`.
  void nextTurn() {
    ++serving;
    while (abandoned.erase(serving) > 0) ++serving;
    dropClientWhenDone();
    turnChanged.notifyAll();
  }

  // Nothing keeps the socket (or its namespace) after the last call made before close().
  void dropClientWhenDone() {
    if (closed() && serving >= closedFrom) client.reset();
  }

  // The same, for a thread that has just released `mutex`: close() only
  // tries the lock, so a close() that came while this thread held it
  // (after its own check) is caught here.
  void dropClientWhenDoneAfterUnlock() {
    if (!closed()) return;
    std::lock_guard<std::mutex> lock(mutex);
    dropClientWhenDone();
  }
};
using HandleRef = std::shared_ptr<HandleState>;

// Every IPVS command needs CAP_NET_ADMIN; say so rather than "Operation not permitted".
nl::Error withPermissionHint(const nl::Error& e) {
  if (e.error() != EPERM && e.error() != EACCES) return e;
  return nl::Error(e.error(),
                   std::string("permission denied: IPVS needs CAP_NET_ADMIN in the network namespace (") + e.what() + ")",
                   e.extack());
}

HandleRef* unwrapHandle(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject() || !v.As<Napi::Object>().CheckTypeTag(&kHandleTag)) {
    throw Napi::TypeError::New(env, "not an ipvs-ts native handle");
  }
  void* ptr = nullptr;
  if (napi_unwrap(env, v, &ptr) != napi_ok || !ptr) throw Napi::TypeError::New(env, "not an ipvs-ts native handle");
  return static_cast<HandleRef*>(ptr);
}

// One job's place in its handle's queue. Dropped without running (a job
// cancelled, or never queued) it gives its turn up, so later jobs still run.
class Ticket {
 public:
  explicit Ticket(HandleRef handle) : handle_(std::move(handle)), number_(handle_->issued++) {}
  uint64_t number() const { return number_; }
  Ticket(const Ticket&) = delete;
  Ticket& operator=(const Ticket&) = delete;
  ~Ticket() {
    if (used_) return;
    {
      std::lock_guard<std::mutex> lock(handle_->mutex);
      if (handle_->serving == number_) {
        handle_->nextTurn();
      } else {
        handle_->abandoned.insert(number_);
      }
    }
    handle_->dropClientWhenDoneAfterUnlock();
  }

  // Runs `fn(client)` on the pool thread, in turn, under the handle's lock.
  template <typename Fn>
  void run(const Fn& fn) {
    HandleState& h = *handle_;
    struct AfterUnlock {
      HandleState& h;
      ~AfterUnlock() { h.dropClientWhenDoneAfterUnlock(); }
    } afterUnlock{h};  // destroyed after `lock`
    std::unique_lock<std::mutex> lock(h.mutex);
    h.turnChanged.wait(lock, [&] { return h.serving == number_; });
    used_ = true;
    struct EndTurn {
      HandleState& h;
      ~EndTurn() { h.nextTurn(); }
    } endTurn{h};
    if (number_ >= h.closedFrom || !h.client) throw nl::Error(EBADF, "the IPVS handle is closed");
    try {
      fn(*h.client);
    } catch (const nl::Error& e) {
      throw withPermissionHint(e);
    }
  }

 private:
  HandleRef handle_;
  uint64_t number_;
  bool used_ = false;
};

// Queues an operation on the handle in info[0].
template <typename RunFn>
Napi::Value queue(const Napi::CallbackInfo& info, const char* op, RunFn run, napi_job::Result result) {
  HandleRef& handle = *unwrapHandle(info[0]);
  auto ticket = std::make_shared<Ticket>(handle);
  // The job holds the handle's state (through its ticket) until it has
  // settled, so the gate outlives it.
  return napi_job::queue(
      info.Env(), op, [ticket, run = std::move(run)] { ticket->run(run); }, std::move(result), handle.get(),
      ticket->number());
}

Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass expects a constructor");
  napi_job::setErrorClass(info.Env(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// The socket options of an open() call, read on the JS thread: its options
// object ({ replyTimeout }) and IPVS_TS_NO_URING (for kernels or sandboxes
// where io_uring misbehaves, and to test the plain path).
nl::SocketOptions socketOptions(const Napi::Value& v) {
  nl::SocketOptions o;
  if (v.IsObject()) {
    Napi::Value t = v.As<Napi::Object>().Get("replyTimeout");
    if (t.IsNumber()) o.replyTimeoutMs = t.As<Napi::Number>().Int32Value();
  }
  const char* off = std::getenv("IPVS_TS_NO_URING");
  if (off && *off && std::strcmp(off, "0") != 0) o.uring = false;
  return o;
}

// Creates the client on the pool, so a namespace switch or the family lookup
// never blocks the JS thread; the handle object is made on the JS thread.
template <typename MakeClient>
Napi::Value openWith(Napi::Env env, MakeClient make) {
  auto state = std::make_shared<HandleState>();
  return napi_job::queue(
      env, "open",
      [state, make = std::move(make)]() mutable {
        try {
          state->client = make();
        } catch (const nl::Error& e) {
          throw withPermissionHint(e);
        }
      },
      [state](Napi::Env env) -> Napi::Value {
        Napi::Object obj = Napi::Object::New(env);
        obj.TypeTag(&kHandleTag);
        // Read from the socket at open: the namespace the handle really talks to.
        obj.Set("netnsInode", static_cast<double>(state->client->netnsInode()));
        auto* ref = new HandleRef(state);
        napi_status st = napi_wrap(
            env, obj, ref, [](napi_env, void* data, void*) { delete static_cast<HandleRef*>(data); }, nullptr,
            nullptr);
        if (st != napi_ok) {
          delete ref;
          throw Napi::Error::New(env, "cannot wrap the IPVS handle");
        }
        return obj;
      });
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  std::string path;
  if (info[0].IsString()) path = info[0].As<Napi::String>().Utf8Value();
  nl::SocketOptions options = socketOptions(info[1]);
  return openWith(info.Env(), [path, options] { return std::make_unique<ipvs::Client>(path, options); });
}

// Test only (test/peer): a handle over a test peer instead of the kernel.
// openPeer(socketFd, eventFd, { portId, firstSeq, replyTimeout }); both
// descriptors are duplicated, the caller keeps its own.
Napi::Value OpenPeer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsObject()) {
    throw Napi::TypeError::New(env, "openPeer(socketFd, eventFd, options)");
  }
  auto dup = [&](const Napi::Value& v) {
    int fd = ::fcntl(v.As<Napi::Number>().Int32Value(), F_DUPFD_CLOEXEC, 0);
    if (fd < 0) throw Napi::Error::New(env, std::string("openPeer: ") + std::strerror(errno));
    return std::make_shared<nl::Fd>(fd);
  };
  std::shared_ptr<nl::Fd> socket = dup(info[0]);
  std::shared_ptr<nl::Fd> answered = dup(info[1]);
  Napi::Object o = info[2].As<Napi::Object>();
  uint32_t portId = o.Get("portId").ToNumber().Uint32Value();
  uint32_t firstSeq = o.Get("firstSeq").ToNumber().Uint32Value();
  nl::SocketOptions options = socketOptions(info[2]);
  return openWith(env, [socket, answered, portId, firstSeq, options] {
    nl::PeerLink link{nl::Fd(socket->release()), nl::Fd(answered->release()), portId, firstSeq};
    return std::make_unique<ipvs::Client>(std::move(link), options);
  });
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  HandleRef& handle = *unwrapHandle(info[0]);
  // Tickets are issued on this thread, so `issued` is exact here.
  if (!handle->closed()) handle->closedFrom = handle->issued.load();
  // A job in flight holds the lock; the turn it passes on drops the client
  // when it is the last. Otherwise nothing may be pending at all: drop it now.
  std::unique_lock<std::mutex> lock(handle->mutex, std::try_to_lock);
  if (lock.owns_lock()) handle->dropClientWhenDone();
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto result = std::make_shared<ipvs::Info>();
  return queue(
      info, "info", [result](ipvs::Client& c) { *result = c.info(); },
      [result](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("version", result->version);
        o.Set("connTableSize", result->connTableSize);
        return o;
      });
}

// connections(handle, maxBytes): the text of /proc/net/ip_vs_conn in the
// handle's namespace, read on the pool (lib/connections.ts parses it). The
// text is ASCII: a Latin-1 string is made without a UTF-8 decode.
Napi::Value Connections(const Napi::CallbackInfo& info) {
  double max = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 0;
  if (!(max >= 1)) throw Napi::TypeError::New(info.Env(), "connections(handle, maxBytes)");
  auto maxBytes = static_cast<size_t>(max);
  auto text = std::make_shared<std::string>();
  return queue(
      info, "connections", [text, maxBytes](ipvs::Client& c) { *text = c.connectionTable(maxBytes); },
      [text](Napi::Env env) -> Napi::Value {
        napi_value out;
        if (napi_create_string_latin1(env, text->data(), text->size(), &out) != napi_ok) {
          throw Napi::Error::New(env, "cannot make a string of the connection table");
        }
        return Napi::Value(env, out);
      });
}

// The buffer of an earlier reply, passed back by the JS side to be written
// over (records.h, ReplyWriter): kept alive by a reference until the reply
// is built, and untouched by JS meanwhile.
struct ReuseBuffer {
  Napi::Reference<Napi::ArrayBuffer> ref;
  uint8_t* data = nullptr;
  size_t capacity = 0;

  explicit ReuseBuffer(const Napi::Value& v) {
    if (!v.IsArrayBuffer()) return;
    Napi::ArrayBuffer buf = v.As<Napi::ArrayBuffer>();
    ref = Napi::Persistent(buf);
    data = static_cast<uint8_t*>(buf.Data());
    capacity = buf.ByteLength();
  }
};

// What a read job fills on the pool and turns into { records, length, names }.
struct ReadJob {
  ReuseBuffer reuse;
  records::ReplyWriter reply;
  explicit ReadJob(const Napi::Value& buffer) : reuse(buffer), reply(reuse.data, reuse.capacity) {}
};

// `records` is the caller's buffer when the reply fit, else our memory handed
// over without a copy; `length` says how many of its bytes are records.
Napi::Value replyToJs(Napi::Env env, ReadJob& job) {
  records::ReplyWriter& reply = job.reply;
  const size_t length = reply.size();
  Napi::ArrayBuffer buf;
  if (reply.inCallerBuffer() && !job.reuse.ref.IsEmpty()) {
    buf = job.reuse.ref.Value();
  } else if (reply.capacity() == 0) {
    buf = Napi::ArrayBuffer::New(env, 0);  // an external buffer over no memory would read as detached
  } else {
    auto* capacity = new size_t(reply.capacity());
    buf = Napi::ArrayBuffer::New(
        env, reply.release(), *capacity,
        [](Napi::Env, void* data, size_t* bytes) {
          records::freeReplyMemory(static_cast<uint8_t*>(data), *bytes);
          delete bytes;
        },
        capacity);
  }
  Napi::Array names = Napi::Array::New(env, reply.names().size());
  for (size_t i = 0; i < reply.names().size(); ++i) names.Set(i, reply.names()[i]);
  Napi::Object o = Napi::Object::New(env);
  o.Set("records", buf);
  o.Set("length", static_cast<double>(length));
  o.Set("names", names);
  return o;
}

Napi::Value ListServices(const Napi::CallbackInfo& info) {
  auto job = std::make_shared<ReadJob>(info[1]);
  return queue(
      info, "listServices",
      [job](ipvs::Client& c) {
        for (const ipvs::Service& s : c.services()) job->reply.service(s);
      },
      [job](Napi::Env env) { return replyToJs(env, *job); });
}

// The service named by a one-record buffer (lib/wire.ts).
ipvs::Service keyFromRecord(const Napi::CallbackInfo& info) {
  records::Requests one = napi_conv::requestsFromRecords(info[1], info[2]);
  ipvs::Mutation scratch;
  if (one.size() != 1 || !one.at(0, scratch).hasService) {
    throw Napi::TypeError::New(info.Env(), "expected one service record");
  }
  return scratch.service;
}

Napi::Value GetService(const Napi::CallbackInfo& info) {
  ipvs::Service key = keyFromRecord(info);
  auto job = std::make_shared<ReadJob>(info[3]);
  auto found = std::make_shared<bool>(false);
  return queue(
      info, "getService",
      [job, found, key](ipvs::Client& c) {
        if (auto s = c.service(key)) {
          job->reply.service(*s);
          *found = true;
        }
      },
      [job, found](Napi::Env env) -> Napi::Value { return *found ? replyToJs(env, *job) : env.Null(); });
}

Napi::Value ListDests(const Napi::CallbackInfo& info) {
  ipvs::Service key = keyFromRecord(info);
  auto job = std::make_shared<ReadJob>(info[3]);
  return queue(
      info, "listDestinations",
      [job, key](ipvs::Client& c) {
        for (const ipvs::Destination& d : c.destinations(key)) job->reply.destination(d);
      },
      [job](Napi::Env env) { return replyToJs(env, *job); });
}

// Every service followed by its destinations, packed as the dumps arrive.
Napi::Value Snapshot(const Napi::CallbackInfo& info) {
  auto job = std::make_shared<ReadJob>(info[1]);
  return queue(
      info, "snapshot", [job](ipvs::Client& c) { c.snapshot(job->reply); },
      [job](Napi::Env env) { return replyToJs(env, *job); });
}

Napi::Value ListDaemons(const Napi::CallbackInfo& info) {
  auto result = std::make_shared<std::vector<ipvs::Daemon>>();
  return queue(
      info, "listDaemons", [result](ipvs::Client& c) { *result = c.daemons(); },
      [result](Napi::Env env) {
        Napi::Array arr = Napi::Array::New(env, result->size());
        for (size_t i = 0; i < result->size(); ++i) arr.Set(i, napi_conv::daemonToJs(env, (*result)[i]));
        return arr;
      });
}

Napi::Value GetTimeouts(const Napi::CallbackInfo& info) {
  auto result = std::make_shared<ipvs::Timeouts>();
  return queue(
      info, "getTimeouts", [result](ipvs::Client& c) { *result = c.timeouts(); },
      [result](Napi::Env env) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("tcp", result->tcp);
        o.Set("tcpFin", result->tcpFin);
        o.Set("udp", result->udp);
        return o;
      });
}

Napi::Array acksToJs(Napi::Env env, const std::vector<nl::Ack>& acks) {
  Napi::Array out = Napi::Array::New(env, acks.size());
  for (size_t i = 0; i < acks.size(); ++i) {
    const nl::Ack& a = acks[i];
    if (a.error == 0) {
      out.Set(i, env.Null());
      continue;
    }
    Napi::Object f = Napi::Object::New(env);
    f.Set("errno", a.error);
    f.Set("code", errnoCode(a.error));
    if (!a.extack.empty()) f.Set("extack", a.extack);
    out.Set(i, f);
  }
  return out;
}

Napi::Value RunMutations(const Napi::CallbackInfo& info, std::vector<ipvs::Mutation> decoded) {
  auto ops = std::make_shared<std::vector<ipvs::Mutation>>(std::move(decoded));
  auto acks = std::make_shared<std::vector<nl::Ack>>();
  return queue(
      info, "mutate", [ops, acks](ipvs::Client& c) { *acks = c.mutate(*ops); },
      [acks](Napi::Env env) { return acksToJs(env, *acks); });
}

// Service and destination commands, packed (lib/wire.ts): checked and copied
// here on the JS thread, decoded one by one as they are sent on the pool.
Napi::Value Mutate(const Napi::CallbackInfo& info) {
  auto requests = std::make_shared<records::Requests>(napi_conv::requestsFromRecords(info[1], info[2]));
  // Refused here, before anything is sent: the client would refuse it only
  // when its turn came, after the windows before it were applied.
  if (requests->hasRead()) throw Napi::TypeError::New(info.Env(), "mutate: GET_SERVICE is not a mutation");
  auto acks = std::make_shared<std::vector<nl::Ack>>();
  return queue(
      info, "mutate",
      [requests, acks](ipvs::Client& c) {
        *acks = c.mutate(requests->size(), [&](size_t i, ipvs::Mutation& scratch) -> const ipvs::Mutation& {
          return requests->at(i, scratch);
        });
      },
      [acks](Napi::Env env) { return acksToJs(env, *acks); });
}

// Daemon and timeout commands, rare enough to pass as plain objects.
Napi::Value Control(const Napi::CallbackInfo& info) {
  std::vector<ipvs::Mutation> one;
  one.push_back(napi_conv::controlFromJs(info[1]));
  return RunMutations(info, std::move(one));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new napi_job::AddonData());
  exports.Set("setErrorClass", napi_job::function(env, "setErrorClass", SetErrorClass));
  exports.Set("open", napi_job::function(env, "open", Open));
  exports.Set("openPeer", napi_job::function(env, "openPeer", OpenPeer));
  exports.Set("close", napi_job::function(env, "close", Close));
  exports.Set("info", napi_job::function(env, "info", Info));
  exports.Set("connections", napi_job::function(env, "connections", Connections));
  exports.Set("listServices", napi_job::function(env, "listServices", ListServices));
  exports.Set("getService", napi_job::function(env, "getService", GetService));
  exports.Set("listDests", napi_job::function(env, "listDests", ListDests));
  exports.Set("snapshot", napi_job::function(env, "snapshot", Snapshot));
  exports.Set("listDaemons", napi_job::function(env, "listDaemons", ListDaemons));
  exports.Set("getTimeouts", napi_job::function(env, "getTimeouts", GetTimeouts));
  exports.Set("mutate", napi_job::function(env, "mutate", Mutate));
  exports.Set("control", napi_job::function(env, "control", Control));
  InitHost(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(ipvs_native, Init)
