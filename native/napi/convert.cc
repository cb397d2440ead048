#include "napi/convert.h"

#include <linux/ip_vs.h>

#include <cmath>
#include <string>

#include "ipvs/records.h"

namespace napi_conv {

namespace {

// The TypeScript layer validates first; these checks only keep a caller that
// bypasses it from sending garbage, so their words can stay short.
[[noreturn]] void bad(Napi::Env env, const std::string& field, const char* what) {
  throw Napi::TypeError::New(env, field + " " + what);
}

Napi::Object asObject(const Napi::Value& v, const std::string& field) {
  if (!v.IsObject()) bad(v.Env(), field, "must be an object");
  return v.As<Napi::Object>();
}

uint32_t u32(const Napi::Object& o, const char* key, const std::string& field, uint32_t fallback = 0) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsNumber()) bad(o.Env(), field + "." + key, "must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0) || std::floor(d) != d) bad(o.Env(), field + "." + key, "must be a u32");
  return static_cast<uint32_t>(d);
}

std::string str(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

}  // namespace

ipvs::Daemon daemonFromJs(const Napi::Value& v, const char* field) {
  Napi::Object o = asObject(v, field);
  ipvs::Daemon d;
  d.state = u32(o, "state", field);
  d.interface = str(o, "interface");
  d.syncId = u32(o, "syncId", field);
  if (o.Has("maxLength") && !o.Get("maxLength").IsUndefined()) d.maxLength = static_cast<uint16_t>(u32(o, "maxLength", field));
  if (o.Has("port") && !o.Get("port").IsUndefined()) d.port = static_cast<uint16_t>(u32(o, "port", field));
  if (o.Has("ttl") && !o.Get("ttl").IsUndefined()) d.ttl = static_cast<uint8_t>(u32(o, "ttl", field));
  std::string group = str(o, "group");
  if (!group.empty()) {
    int fam = group.find(':') == std::string::npos ? AF_INET : AF_INET6;
    if (!ipvs::parseAddress(fam, group, d.group)) bad(o.Env(), std::string(field) + ".group", "is not an address");
    d.groupFamily = static_cast<uint16_t>(fam);
  }
  return d;
}

ipvs::Mutation controlFromJs(const Napi::Value& v) {
  Napi::Object o = asObject(v, "op");
  ipvs::Mutation m;
  m.cmd = static_cast<uint8_t>(u32(o, "cmd", "op"));
  switch (m.cmd) {
    case IPVS_CMD_NEW_DAEMON:
    case IPVS_CMD_DEL_DAEMON:
      m.daemon = daemonFromJs(o.Get("daemon"), "op.daemon");
      break;
    case IPVS_CMD_SET_CONFIG: {
      Napi::Object t = asObject(o.Get("timeouts"), "op.timeouts");
      m.timeouts.tcp = u32(t, "tcp", "op.timeouts");
      m.timeouts.tcpFin = u32(t, "tcpFin", "op.timeouts");
      m.timeouts.udp = u32(t, "udp", "op.timeouts");
      break;
    }
    default:
      bad(o.Env(), "op.cmd", ("is not a daemon or config command: " + std::to_string(m.cmd)).c_str());
  }
  return m;
}

records::Requests requestsFromRecords(const Napi::Value& recordsValue, const Napi::Value& namesValue) {
  Napi::Env env = recordsValue.Env();
  if (!recordsValue.IsTypedArray() || recordsValue.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    bad(env, "records", "must be a Uint8Array");
  }
  auto bytes = recordsValue.As<Napi::Uint8Array>();
  if (bytes.ByteLength() % records::kBytes != 0) bad(env, "records", "length is not a whole number of records");
  if (!namesValue.IsArray()) bad(env, "names", "must be an array of strings");
  Napi::Array arr = namesValue.As<Napi::Array>();
  std::vector<std::string> names(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value n = arr.Get(i);
    if (!n.IsString()) bad(env, "names", "must be an array of strings");
    names[i] = n.As<Napi::String>().Utf8Value();
  }
  try {
    return records::Requests(bytes.Data(), bytes.ByteLength() / records::kBytes, std::move(names));
  } catch (const std::invalid_argument& e) {
    throw Napi::TypeError::New(env, e.what());
  }
}

Napi::Object daemonToJs(Napi::Env env, const ipvs::Daemon& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("state", d.state);
  o.Set("interface", d.interface);
  o.Set("syncId", d.syncId);
  if (d.maxLength) o.Set("maxLength", *d.maxLength);
  if (d.groupFamily) o.Set("group", ipvs::formatAddress(*d.groupFamily, d.group));
  if (d.port) o.Set("port", *d.port);
  if (d.ttl) o.Set("ttl", *d.ttl);
  return o;
}

}  // namespace napi_conv
