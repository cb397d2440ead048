// N-API layer of the host helpers: arguments are read and checked on the JS
// thread; the work (netlink, /proc/sys, mounts, sockets, namespace switches)
// runs on the libuv pool; the promise settles with plain values or an
// IpvsError. Namespace switches are scoped to the pool thread's job.
#include "napi/host.h"

#include "napi/job.h"

#include <cerrno>
#include <functional>
#include <memory>

#include "host/announce.h"
#include "host/links.h"
#include "host/netns.h"
#include "host/sysctl.h"
#include "host/tcp.h"
#include "nl/attr.h"
#include "nl/fd.h"
#include "nl/socket.h"

namespace {

Napi::Value queue(Napi::Env env, const char* op, napi_job::Work work, napi_job::Result result = nullptr) {
  return napi_job::queue(env, op, std::move(work), std::move(result));
}

// --- argument readers (JS thread) ------------------------------------------

std::string str(const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

// A namespace path: null/undefined = the caller's own namespace.
std::string netnsArg(const Napi::Value& v) {
  if (v.IsNull() || v.IsUndefined()) return {};
  return str(v, "netns");
}

int intArg(const Napi::Value& v, const char* what, int min, int max) {
  if (!v.IsNumber()) throw Napi::TypeError::New(v.Env(), std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<int>(d))) {
    throw Napi::RangeError::New(v.Env(), std::string(what) + " must be an integer from " + std::to_string(min) +
                                             " to " + std::to_string(max));
  }
  return static_cast<int>(d);
}

bool boolArg(const Napi::Value& v) { return v.IsBoolean() && v.As<Napi::Boolean>().Value(); }

host::IpAddress ipArg(const Napi::Value& v, const char* what) {
  std::string text = str(v, what);
  try {
    return host::parseIp(text);
  } catch (const nl::Error& e) {
    throw Napi::TypeError::New(v.Env(), std::string(what) + ": " + e.what());
  }
}

host::AddressSpec specArg(const Napi::Value& v) {
  Napi::Env env = v.Env();
  if (!v.IsObject()) throw Napi::TypeError::New(env, "address spec must be an object");
  Napi::Object o = v.As<Napi::Object>();
  host::AddressSpec spec;
  spec.address = ipArg(o.Get("address"), "address");
  spec.prefixLength = intArg(o.Get("prefixLength"), "prefixLength", 0, spec.address.maxPrefix());
  if (o.Has("label") && o.Get("label").IsString()) spec.label = o.Get("label").As<Napi::String>().Utf8Value();
  spec.noDad = boolArg(o.Get("noDad"));
  spec.deprecated = boolArg(o.Get("deprecated"));
  if (spec.deprecated && spec.address.family != AF_INET6) {
    throw Napi::TypeError::New(env, "deprecated applies to IPv6 addresses only");
  }
  return spec;
}

// --- bindings --------------------------------------------------------------

// addAddress and deleteAddress: (netns, dev, spec, ok) -> Promise<boolean>,
// where `ok` turns "already there" / "not there" into false.
using AddressOp = bool (*)(const std::string&, const std::string&, const host::AddressSpec&, bool);

Napi::Value addressJob(const Napi::CallbackInfo& info, const char* op, AddressOp fn) {
  std::string netns = netnsArg(info[0]), dev = str(info[1], "dev");
  host::AddressSpec spec = specArg(info[2]);
  bool ok = boolArg(info[3]);
  auto changed = std::make_shared<bool>(false);
  return queue(
      info.Env(), op, [=] { *changed = fn(netns, dev, spec, ok); },
      [changed](Napi::Env env) { return Napi::Boolean::New(env, *changed); });
}

Napi::Value AddAddress(const Napi::CallbackInfo& info) { return addressJob(info, "addAddress", host::addAddress); }

Napi::Value DeleteAddress(const Napi::CallbackInfo& info) {
  return addressJob(info, "deleteAddress", host::deleteAddress);
}

Napi::Value ListAddresses(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]);
  std::string dev = info[1].IsString() ? str(info[1], "dev") : "";
  auto result = std::make_shared<std::vector<host::Address>>();
  return queue(
      info.Env(), "listAddresses", [=] { *result = host::listAddresses(netns, dev); },
      [result](Napi::Env env) {
        Napi::Array arr = Napi::Array::New(env, result->size());
        for (size_t i = 0; i < result->size(); ++i) {
          const host::Address& a = (*result)[i];
          Napi::Object o = Napi::Object::New(env);
          o.Set("dev", a.dev);
          o.Set("family", a.address.family);
          o.Set("address", host::formatIp(a.address));
          o.Set("prefixLength", a.prefixLength);
          if (!a.label.empty()) o.Set("label", a.label);
          o.Set("flags", a.flags);
          arr.Set(i, o);
        }
        return arr;
      });
}

Napi::Value FindLink(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]), dev = str(info[1], "dev");
  auto result = std::make_shared<std::optional<host::Link>>();
  return queue(
      info.Env(), "findLink", [=] { *result = host::findLink(netns, dev); },
      [result](Napi::Env env) -> Napi::Value {
        if (!*result) return env.Null();
        Napi::Object o = Napi::Object::New(env);
        o.Set("index", (*result)->index);
        o.Set("name", (*result)->name);
        o.Set("up", (*result)->up());
        return o;
      });
}

Napi::Value ListLinks(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]);
  auto result = std::make_shared<std::vector<host::Link>>();
  return queue(
      info.Env(), "listLinks", [=] { *result = host::listLinks(netns); },
      [result](Napi::Env env) {
        Napi::Array arr = Napi::Array::New(env, result->size());
        for (size_t i = 0; i < result->size(); ++i) arr.Set(i, (*result)[i].name);
        return arr;
      });
}

Napi::Value SetLinkUp(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]), dev = str(info[1], "dev");
  bool up = boolArg(info[2]);
  auto wasUp = std::make_shared<bool>(false);
  return queue(
      info.Env(), up ? "setLinkUp" : "setLinkDown", [=] { *wasUp = host::setLinkUp(netns, dev, up); },
      [wasUp](Napi::Env env) { return Napi::Boolean::New(env, *wasUp); });
}

Napi::Value CreateVeth(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "createVeth expects an object");
  Napi::Object o = info[0].As<Napi::Object>();
  host::VethSpec spec;
  spec.name = str(o.Get("name"), "name");
  spec.netns = netnsArg(o.Get("netns"));
  spec.peer = str(o.Get("peer"), "peer");
  spec.peerNetns = netnsArg(o.Get("peerNetns"));
  if (o.Get("peerMaster").IsString()) spec.peerMaster = str(o.Get("peerMaster"), "peerMaster");
  return queue(info.Env(), "createVeth", [spec] { host::createVeth(spec); });
}

Napi::Value CreateBridge(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]), name = str(info[1], "name");
  return queue(info.Env(), "createBridge", [=] { host::createBridge(netns, name); });
}

Napi::Value AddRoute(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]), dev = str(info[1], "dev");
  bool hasDst = info[2].IsString(), hasGateway = info[4].IsString();
  host::IpAddress dst = hasDst ? ipArg(info[2], "destination") : host::IpAddress{};
  int prefix = hasDst ? intArg(info[3], "prefixLength", 0, dst.maxPrefix()) : 0;
  host::IpAddress gateway = hasGateway ? ipArg(info[4], "gateway") : host::IpAddress{};
  return queue(info.Env(), "addRoute", [=] {
    host::addRoute(netns, dev, hasDst ? &dst : nullptr, prefix, hasGateway ? &gateway : nullptr);
  });
}

// setRoute(netns, dst, prefixLength, [{ gateway|null, dev, weight }], replace)
Napi::Value SetRoute(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]);
  host::IpAddress dst = ipArg(info[1], "destination");
  int prefix = intArg(info[2], "prefixLength", 0, dst.maxPrefix());
  if (!info[3].IsArray()) throw Napi::TypeError::New(info.Env(), "setRoute: nextHops must be an array");
  Napi::Array arr = info[3].As<Napi::Array>();
  std::vector<host::NamedHop> hops;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Object o = arr.Get(i).As<Napi::Object>();
    host::NamedHop h;
    if (o.Get("gateway").IsString()) h.gateway = ipArg(o.Get("gateway"), "gateway");
    h.dev = str(o.Get("dev"), "dev");
    h.weight = intArg(o.Get("weight"), "weight", 1, 256);
    hops.push_back(std::move(h));
  }
  bool replace = info[4].ToBoolean().Value();
  return queue(info.Env(), "setRoute", [=] { host::setRoute(netns, dst, prefix, hops, replace); });
}

Napi::Value DeleteRoute(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]);
  host::IpAddress dst = ipArg(info[1], "destination");
  int prefix = intArg(info[2], "prefixLength", 0, dst.maxPrefix());
  return queue(info.Env(), "deleteRoute", [=] { host::deleteRoute(netns, dst, prefix); });
}

// listRoutes(netns, family 4|6): [{ destination, prefixLength, nextHops: [{ gateway|null, dev, weight }] }]
Napi::Value ListRoutes(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]);
  int family = intArg(info[1], "family", 4, 6) == 6 ? AF_INET6 : AF_INET;
  auto routes = std::make_shared<std::vector<host::NamedRoute>>();
  return queue(
      info.Env(), "listRoutes", [=] { *routes = host::listRoutes(netns, family); },
      [routes](Napi::Env env) -> Napi::Value {
        Napi::Array arr = Napi::Array::New(env, routes->size());
        for (size_t i = 0; i < routes->size(); ++i) {
          const host::NamedRoute& r = (*routes)[i];
          Napi::Object o = Napi::Object::New(env);
          o.Set("destination", host::formatIp(r.dst));
          o.Set("prefixLength", r.prefixLength);
          Napi::Array hops = Napi::Array::New(env, r.hops.size());
          for (size_t j = 0; j < r.hops.size(); ++j) {
            Napi::Object h = Napi::Object::New(env);
            h.Set("gateway", r.hops[j].gateway.family == AF_UNSPEC ? env.Null() : Napi::String::New(env, host::formatIp(r.hops[j].gateway)));
            h.Set("dev", r.hops[j].dev);
            h.Set("weight", r.hops[j].weight);
            hops.Set(j, h);
          }
          o.Set("nextHops", hops);
          arr.Set(i, o);
        }
        return arr;
      });
}

Napi::Value ReadSysctl(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]), path = str(info[1], "path"), key = str(info[2], "key");
  auto value = std::make_shared<std::string>();
  return queue(
      info.Env(), "readSysctl", [=] { *value = host::readSysctl(netns, path, key); },
      [value](Napi::Env env) { return Napi::String::New(env, *value); });
}

Napi::Value WriteSysctl(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]), path = str(info[1], "path"), key = str(info[2], "key");
  std::string value = str(info[3], "value");
  return queue(info.Env(), "writeSysctl", [=] { host::writeSysctl(netns, path, key, value); });
}

Napi::Value CreateNetns(const Napi::CallbackInfo& info) {
  std::string name = str(info[0], "name");
  return queue(info.Env(), "createNetns", [=] { host::createNetns(name); });
}

Napi::Value DeleteNetns(const Napi::CallbackInfo& info) {
  std::string name = str(info[0], "name");
  return queue(info.Env(), "deleteNetns", [=] { host::deleteNetns(name); });
}

Napi::Value ListNetns(const Napi::CallbackInfo& info) {
  auto names = std::make_shared<std::vector<std::string>>();
  return queue(
      info.Env(), "listNetns", [=] { *names = host::listNetns(); },
      [names](Napi::Env env) {
        Napi::Array arr = Napi::Array::New(env, names->size());
        for (size_t i = 0; i < names->size(); ++i) arr.Set(i, (*names)[i]);
        return arr;
      });
}

Napi::Value ListenTcp(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]);
  host::IpAddress address = ipArg(info[1], "address");
  int port = intArg(info[2], "port", 0, 65535);
  int backlog = intArg(info[3], "backlog", 1, 65535);
  // Owned until the promise resolves with it: if it never does (the
  // environment goes away first, or building the value throws), the job's
  // destruction closes the socket instead of leaking it.
  auto fd = std::make_shared<nl::Fd>();
  return queue(
      info.Env(), "listenTcp", [=] { *fd = nl::Fd(host::listenTcp(netns, address, port, backlog)); },
      [fd](Napi::Env env) {
        Napi::Value v = Napi::Number::New(env, fd->get());
        fd->release();
        return v;
      });
}

// tcpSocket(netns, family): an unconnected TCP socket created in the
// namespace, for node's net.Socket to connect (health checks probe from the
// director's namespace, not the caller's).
Napi::Value TcpSocket(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]);
  int family = intArg(info[1], "family", 4, 6) == 6 ? AF_INET6 : AF_INET;
  auto fd = std::make_shared<nl::Fd>();
  return queue(
      info.Env(), "tcpSocket", [=] { *fd = nl::Fd(host::tcpSocket(netns, family)); },
      [fd](Napi::Env env) {
        Napi::Value v = Napi::Number::New(env, fd->get());
        fd->release();
        return v;
      });
}

// announceAddress(netns, ifname, address, count, intervalMs): gratuitous ARP
// or unsolicited neighbour advertisements from the link (host/announce.h);
// resolves to the link's MAC. Blocks a pool thread for (count - 1) intervals.
Napi::Value AnnounceAddress(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]);
  if (!info[1].IsString()) throw Napi::TypeError::New(info.Env(), "announceAddress: ifname must be a string");
  std::string ifname = info[1].As<Napi::String>().Utf8Value();
  host::IpAddress address = ipArg(info[2], "address");
  int count = intArg(info[3], "count", 1, 100);
  int intervalMs = intArg(info[4], "intervalMs", 0, 10000);
  auto mac = std::make_shared<std::string>();
  return queue(
      info.Env(), "announceAddress", [=] { *mac = host::announceAddress(netns, ifname, address, count, intervalMs); },
      [mac](Napi::Env env) { return Napi::String::New(env, *mac); });
}

Napi::Value TcpRequest(const Napi::CallbackInfo& info) {
  std::string netns = netnsArg(info[0]);
  host::IpAddress address = ipArg(info[1], "address");
  int port = intArg(info[2], "port", 1, 65535);
  int timeoutMs = intArg(info[3], "timeoutMs", 1, 3600000);
  int maxBytes = intArg(info[4], "maxBytes", 1, 1 << 20);
  auto answer = std::make_shared<host::TcpAnswer>();
  return queue(
      info.Env(), "tcpRequest",
      [=] { *answer = host::tcpRequest(netns, address, port, timeoutMs, static_cast<size_t>(maxBytes)); },
      [answer](Napi::Env env) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("data", answer->data);
        o.Set("localPort", answer->localPort);
        return o;
      });
}

}  // namespace

void InitHost(Napi::Env env, Napi::Object exports) {
  Napi::Object h = Napi::Object::New(env);
  h.Set("addAddress", napi_job::function(env, "addAddress", AddAddress));
  h.Set("deleteAddress", napi_job::function(env, "deleteAddress", DeleteAddress));
  h.Set("listAddresses", napi_job::function(env, "listAddresses", ListAddresses));
  h.Set("findLink", napi_job::function(env, "findLink", FindLink));
  h.Set("listLinks", napi_job::function(env, "listLinks", ListLinks));
  h.Set("setLinkUp", napi_job::function(env, "setLinkUp", SetLinkUp));
  h.Set("createVeth", napi_job::function(env, "createVeth", CreateVeth));
  h.Set("createBridge", napi_job::function(env, "createBridge", CreateBridge));
  h.Set("addRoute", napi_job::function(env, "addRoute", AddRoute));
  h.Set("setRoute", napi_job::function(env, "setRoute", SetRoute));
  h.Set("deleteRoute", napi_job::function(env, "deleteRoute", DeleteRoute));
  h.Set("listRoutes", napi_job::function(env, "listRoutes", ListRoutes));
  h.Set("readSysctl", napi_job::function(env, "readSysctl", ReadSysctl));
  h.Set("writeSysctl", napi_job::function(env, "writeSysctl", WriteSysctl));
  h.Set("createNetns", napi_job::function(env, "createNetns", CreateNetns));
  h.Set("deleteNetns", napi_job::function(env, "deleteNetns", DeleteNetns));
  h.Set("listNetns", napi_job::function(env, "listNetns", ListNetns));
  h.Set("listenTcp", napi_job::function(env, "listenTcp", ListenTcp));
  h.Set("tcpSocket", napi_job::function(env, "tcpSocket", TcpSocket));
  h.Set("announceAddress", napi_job::function(env, "announceAddress", AnnounceAddress));
  h.Set("tcpRequest", napi_job::function(env, "tcpRequest", TcpRequest));
  exports.Set("host", h);
}
