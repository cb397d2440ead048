// JS <-> codec struct conversion, on the JS thread only.
#pragma once

#include <napi.h>

#include "ipvs/client.h"

namespace napi_conv {

// Reads a RawService (lib/native.ts); `field` names it in TypeErrors.
ipvs::Service serviceFromJs(const Napi::Value& v, const char* field);
ipvs::Destination destinationFromJs(const Napi::Value& v, const char* field);
ipvs::Daemon daemonFromJs(const Napi::Value& v, const char* field);
ipvs::Mutation mutationFromJs(const Napi::Value& v);

Napi::Object serviceToJs(Napi::Env env, const ipvs::Service& s);
Napi::Object destinationToJs(Napi::Env env, const ipvs::Destination& d);
Napi::Object daemonToJs(Napi::Env env, const ipvs::Daemon& d);

}  // namespace napi_conv
