// JS <-> codec struct conversion, on the JS thread only.
#pragma once

#include <napi.h>

#include "ipvs/client.h"
#include "ipvs/records.h"

namespace napi_conv {

// Copies packed records (ipvs/records.h) and the names they index; throws a
// TypeError on a malformed record.
records::Requests requestsFromRecords(const Napi::Value& records, const Napi::Value& names);
// Reads a daemon or timeouts command (RawControl in lib/native.ts).
ipvs::Mutation controlFromJs(const Napi::Value& v);
ipvs::Daemon daemonFromJs(const Napi::Value& v, const char* field);

Napi::Object daemonToJs(Napi::Env env, const ipvs::Daemon& d);

}  // namespace napi_conv
