// N-API face of the netlink test peer (test only; built by
// scripts/build-peer.mjs into test/peer/build/). Used by test/peer/peer.ts.
#include <arpa/inet.h>
#include <napi.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "ipvs/codec.h"
#include "nl/genl.h"
#include "peer/server.h"

namespace {

std::vector<uint8_t> bytesOf(const Napi::Value& v) {
  if (!v.IsTypedArray()) throw Napi::TypeError::New(v.Env(), "expected a Uint8Array");
  auto a = v.As<Napi::Uint8Array>();
  return std::vector<uint8_t>(a.Data(), a.Data() + a.ByteLength());
}

Napi::Uint8Array toJs(Napi::Env env, const std::vector<uint8_t>& bytes) {
  auto out = Napi::Uint8Array::New(env, bytes.size());
  if (!bytes.empty()) std::memcpy(out.Data(), bytes.data(), bytes.size());
  return out;
}

peer::Fault::Kind faultKind(Napi::Env env, const std::string& name) {
  using K = peer::Fault::Kind;
  if (name == "truncate") return K::kTruncate;
  if (name == "errorMidDump") return K::kErrorMidDump;
  if (name == "noDone") return K::kNoDone;
  if (name == "wrongSeq") return K::kWrongSeq;
  if (name == "wrongPort") return K::kWrongPort;
  if (name == "errno") return K::kErrno;
  if (name == "silence") return K::kSilence;
  if (name == "close") return K::kClose;
  if (name == "repeat") return K::kRepeat;
  throw Napi::TypeError::New(env, "unknown fault kind " + name);
}

class Peer : public Napi::ObjectWrap<Peer> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Peer",
                       {
                           InstanceMethod("fds", &Peer::Fds),
                           InstanceMethod("fault", &Peer::AddFault),
                           InstanceMethod("counts", &Peer::Counts),
                           InstanceMethod("populate", &Peer::Populate),
                           InstanceMethod("table", &Peer::Table),
                           InstanceMethod("exchanges", &Peer::Exchanges),
                           InstanceMethod("replayState", &Peer::ReplayState),
                           InstanceMethod("stop", &Peer::Stop),
                       });
  }

  // new Peer({ mode, exchanges?, netns?, familyId?, dumpBudget?, pad64?, interfaces?, unroutable? })
  explicit Peer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Peer>(info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].IsObject() ? info[0].As<Napi::Object>() : Napi::Object::New(env);
    std::string mode = o.Has("mode") ? o.Get("mode").ToString().Utf8Value() : "model";
    std::unique_ptr<peer::Handler> handler;
    try {
      if (mode == "model") {
        auto m = std::make_unique<peer::ModelHandler>();
        Configure(env, o, m->model);
        handler = std::move(m);
      } else if (mode == "replay") {
        std::vector<peer::Exchange> exchanges;
        Napi::Array list = o.Get("exchanges").As<Napi::Array>();
        for (uint32_t i = 0; i < list.Length(); ++i) {
          Napi::Object e = list.Get(i).As<Napi::Object>();
          peer::Exchange ex;
          ex.request = bytesOf(e.Get("request"));
          Napi::Array replies = e.Get("replies").As<Napi::Array>();
          for (uint32_t j = 0; j < replies.Length(); ++j) ex.replies.push_back(bytesOf(replies.Get(j)));
          exchanges.push_back(std::move(ex));
        }
        handler = std::make_unique<peer::Replay>(std::move(exchanges));
      } else if (mode == "proxy") {
        std::string netns = o.Has("netns") ? o.Get("netns").ToString().Utf8Value() : "";
        handler = std::make_unique<peer::Proxy>(netns);
      } else {
        throw Napi::TypeError::New(env, "mode must be model, replay or proxy");
      }
      server_ = std::make_unique<peer::Server>(std::move(handler));
    } catch (const nl::Error& e) {
      throw Napi::Error::New(env, e.what());
    }
    mode_ = mode;
  }

  static void Configure(Napi::Env env, const Napi::Object& o, peer::Model& m) {
    if (o.Has("familyId")) m.familyId = static_cast<uint16_t>(o.Get("familyId").ToNumber().Uint32Value());
    if (o.Has("familyPresent")) m.familyPresent = o.Get("familyPresent").ToBoolean();
    if (o.Has("dumpBudget")) m.dumpBudget = o.Get("dumpBudget").ToNumber().Uint32Value();
    if (o.Has("pad64")) m.pad64 = o.Get("pad64").ToBoolean();
    if (o.Has("interfaces")) {
      Napi::Object itf = o.Get("interfaces").As<Napi::Object>();
      Napi::Array names = itf.GetPropertyNames();
      for (uint32_t i = 0; i < names.Length(); ++i) {
        std::string name = names.Get(i).ToString().Utf8Value();
        m.interfaces[name] = itf.Get(name).ToNumber().Uint32Value();
      }
    }
    if (o.Has("hashSalt")) m.hashSalt = static_cast<uint8_t>(o.Get("hashSalt").ToNumber().Uint32Value());
    if (o.Has("unroutable")) {
      Napi::Array list = o.Get("unroutable").As<Napi::Array>();
      for (uint32_t i = 0; i < list.Length(); ++i) m.unroutable.insert(list.Get(i).ToString().Utf8Value());
    }
    (void)env;
  }

 private:
  peer::Server& server(Napi::Env env) {
    if (!server_) throw Napi::Error::New(env, "the peer is stopped");
    return *server_;
  }

  template <typename Fn>
  auto withModel(Napi::Env env, Fn fn) {
    if (mode_ != "model") throw Napi::Error::New(env, "not a model peer");
    return server(env).withHandler([&](peer::Handler& h) { return fn(static_cast<peer::ModelHandler&>(h).model); });
  }

  Napi::Value Fds(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("socketFd", server(info.Env()).clientSocket());
    o.Set("eventFd", server(info.Env()).clientEvent());
    return o;
  }

  Napi::Value AddFault(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = info[0].As<Napi::Object>();
    peer::Fault f;
    f.kind = faultKind(env, o.Get("kind").ToString().Utf8Value());
    if (o.Has("error")) f.error = o.Get("error").ToNumber().Int32Value();
    if (o.Has("after")) f.after = o.Get("after").ToNumber().Int32Value();
    if (o.Has("thenCorrect")) f.thenCorrect = o.Get("thenCorrect").ToBoolean();
    if (o.Has("cmd")) f.cmd = o.Get("cmd").ToNumber().Int32Value();
    if (o.Has("skip")) f.skip = o.Get("skip").ToNumber().Int32Value();
    server(env).addFault(f);
    return env.Undefined();
  }

  Napi::Value Counts(const Napi::CallbackInfo& info) {
    peer::Server::Counts c = server(info.Env()).counts();
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("datagrams", static_cast<double>(c.datagrams));
    o.Set("replies", static_cast<double>(c.replies));
    o.Set("faults", static_cast<double>(c.faults));
    return o;
  }

  Napi::Value Populate(const Napi::CallbackInfo& info) {
    size_t services = info[0].ToNumber().Uint32Value();
    size_t dests = info[1].ToNumber().Uint32Value();
    withModel(info.Env(), [&](peer::Model& m) {
      m.populate(services, dests);
      return 0;
    });
    return info.Env().Undefined();
  }

  Napi::Value Table(const Napi::CallbackInfo& info) {
    Napi::Object o = Napi::Object::New(info.Env());
    withModel(info.Env(), [&](peer::Model& m) {
      o.Set("services", static_cast<double>(m.services().size()));
      o.Set("destinations", static_cast<double>(m.destinationCount()));
      return 0;
    });
    return o;
  }

  Napi::Value Exchanges(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (mode_ != "proxy") throw Napi::Error::New(env, "not a proxy peer");
    return server(env).withHandler([&](peer::Handler& h) {
      const auto& list = static_cast<peer::Proxy&>(h).exchanges();
      Napi::Array out = Napi::Array::New(env, list.size());
      for (size_t i = 0; i < list.size(); ++i) {
        Napi::Object e = Napi::Object::New(env);
        e.Set("request", toJs(env, list[i].request));
        Napi::Array replies = Napi::Array::New(env, list[i].replies.size());
        for (size_t j = 0; j < list[i].replies.size(); ++j) replies.Set(j, toJs(env, list[i].replies[j]));
        e.Set("replies", replies);
        out.Set(i, e);
      }
      return out;
    });
  }

  Napi::Value ReplayState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (mode_ != "replay") throw Napi::Error::New(env, "not a replay peer");
    return server(env).withHandler([&](peer::Handler& h) {
      const auto& r = static_cast<peer::Replay&>(h);
      Napi::Object o = Napi::Object::New(env);
      o.Set("played", static_cast<double>(r.played()));
      o.Set("total", static_cast<double>(r.total()));
      Napi::Array m = Napi::Array::New(env, r.mismatches().size());
      for (size_t i = 0; i < r.mismatches().size(); ++i) m.Set(i, r.mismatches()[i]);
      o.Set("mismatches", m);
      return o;
    });
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (server_) server_->stop();
    server_.reset();
    return info.Env().Undefined();
  }

  std::string mode_;
  std::unique_ptr<peer::Server> server_;
};

double nowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

// cBatch(socketFd, eventFd, services, destsPerService) -> ns: the floor for
// batch(): the same NEW_SERVICE and NEW_DEST messages (built by the same
// codec), 256 to a datagram as the client's window, each window's ACKs read
// before the next is sent, by a plain loop on this thread. The caller gives
// it its own peer.
Napi::Value CBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = info[0].ToNumber().Int32Value();
  size_t services = info[2].ToNumber().Uint32Value();
  size_t dests = info[3].ToNumber().Uint32Value();
  constexpr size_t kWindow = 256;
  const uint16_t family = static_cast<uint16_t>(info[4].ToNumber().Uint32Value());
  std::vector<uint8_t> msgs;
  constexpr size_t kSlots = 128, kSlot = 2048;
  std::vector<uint8_t> rbuf(kSlots * kSlot);
  uint32_t seq = 1;
  double start = nowNs();
  size_t total = services * (1 + dests);
  size_t op = 0;
  while (op < total) {
    msgs.clear();
    nl::Writer w(msgs);
    size_t n = std::min(kWindow, total - op);
    for (size_t k = 0; k < n; ++k, ++op) {
      size_t s = op / (1 + dests), d = op % (1 + dests);
      ipvs::Service svc;
      svc.family = AF_INET;
      svc.protocol = IPPROTO_TCP;
      uint32_t vip = htonl(0x0a000000u + static_cast<uint32_t>(s / 60000) * 0x10000u + 1u);
      std::memcpy(svc.addr.bytes, &vip, 4);
      svc.port = static_cast<uint16_t>(1 + s % 60000);
      svc.scheduler = "wlc";
      svc.netmask = 0xffffffff;
      uint8_t cmd = d == 0 ? IPVS_CMD_NEW_SERVICE : IPVS_CMD_NEW_DEST;
      size_t off = nl::beginGenl(w, family, cmd, IPVS_GENL_VERSION, NLM_F_REQUEST | NLM_F_ACK, seq++, 4242);
      ipvs::putService(w, svc, d == 0);
      if (d != 0) {
        ipvs::Destination dst;
        uint32_t rip = htonl(0x0b000000u + static_cast<uint32_t>(d));
        std::memcpy(dst.addr.bytes, &rip, 4);
        dst.port = svc.port;
        dst.weight = static_cast<uint32_t>(100 * d);
        ipvs::putDestination(w, dst, true);
      }
      w.endMessage(off);
    }
    if (::send(fd, msgs.data(), msgs.size(), MSG_NOSIGNAL) < 0) {
      throw Napi::Error::New(env, std::string("cBatch send: ") + std::strerror(errno));
    }
    // Each ACK is a datagram of its own: take them 128 at a time, as the client does.
    size_t acks = 0;
    while (acks < n) {
      mmsghdr mm[kSlots];
      iovec iov[kSlots];
      for (size_t i = 0; i < kSlots; ++i) {
        iov[i] = {rbuf.data() + i * kSlot, kSlot};
        mm[i] = mmsghdr{};
        mm[i].msg_hdr.msg_iov = &iov[i];
        mm[i].msg_hdr.msg_iovlen = 1;
      }
      int r = ::recvmmsg(fd, mm, kSlots, MSG_WAITFORONE, nullptr);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || mm[0].msg_len == 0) throw Napi::Error::New(env, "cBatch: the peer went away");
      acks += static_cast<size_t>(r);
    }
  }
  return Napi::Number::New(env, nowNs() - start);
}

// The first difference between two reply sequences, in words, or "".
std::string compareReplies(const peer::Datagrams& model, const peer::Datagrams& kernel) {
  for (size_t i = 0; i < model.size() || i < kernel.size(); ++i) {
    if (i >= model.size()) return "the model sent " + std::to_string(model.size()) + " datagrams, the kernel more";
    if (i >= kernel.size()) return "the model sent more than the kernel's " + std::to_string(kernel.size()) + " datagrams";
    const auto& a = model[i];
    const auto& b = kernel[i];
    if (a == b) continue;
    size_t at = 0;
    while (at < a.size() && at < b.size() && a[at] == b[at]) ++at;
    char head[96];
    std::snprintf(head, sizeof head, "datagram %zu (model %zu bytes, kernel %zu) differs at byte %zu: ", i, a.size(),
                  b.size(), at);
    std::string s = head;
    for (size_t k = at; k < at + 16 && k < a.size(); ++k) s += "0123456789abcdef"[a[k] >> 4], s += "0123456789abcdef"[a[k] & 15];
    s += " vs ";
    for (size_t k = at; k < at + 16 && k < b.size(); ++k) s += "0123456789abcdef"[b[k] >> 4], s += "0123456789abcdef"[b[k] & 15];
    return s;
  }
  return "";
}

// checkModel(options, exchanges) -> { salt, mismatches }: a fresh model
// answers each recorded request in turn; every reply must be the recorded
// one, byte for byte. The kernel's service order depends on a per-namespace
// value the recording does not show: every one of its 256 values is tried,
// and the best is reported.
Napi::Value CheckModel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  Napi::Array list = info[1].As<Napi::Array>();
  std::vector<peer::Exchange> exchanges;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Object e = list.Get(i).As<Napi::Object>();
    peer::Exchange ex;
    ex.request = bytesOf(e.Get("request"));
    Napi::Array replies = e.Get("replies").As<Napi::Array>();
    for (uint32_t j = 0; j < replies.Length(); ++j) ex.replies.push_back(bytesOf(replies.Get(j)));
    exchanges.push_back(std::move(ex));
  }
  std::vector<std::string> best;
  int bestSalt = -1;
  for (int salt = 0; salt < 256; ++salt) {
    peer::Model m;
    Peer::Configure(env, o, m);
    m.hashSalt = static_cast<uint8_t>(salt);
    std::vector<std::string> mismatches;
    for (size_t i = 0; i < exchanges.size(); ++i) {
      std::string d = compareReplies(m.answer(exchanges[i].request.data(), exchanges[i].request.size()),
                                     exchanges[i].replies);
      if (!d.empty()) mismatches.push_back("exchange " + std::to_string(i) + ": " + d);
    }
    if (bestSalt < 0 || mismatches.size() < best.size()) {
      best = std::move(mismatches);
      bestSalt = salt;
    }
    if (best.empty()) break;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("salt", bestSalt);
  Napi::Array m = Napi::Array::New(env, best.size());
  for (size_t i = 0; i < best.size(); ++i) m.Set(i, best[i]);
  out.Set("mismatches", m);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Peer", Peer::Define(env));
  exports.Set("cBatch", Napi::Function::New(env, CBatch, "cBatch"));
  exports.Set("checkModel", Napi::Function::New(env, CheckModel, "checkModel"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ipvs_test_peer, Init)
