// N-API bindings of the LVS host helpers (native/host).
#pragma once

#include <napi.h>

#include <string>

// Adds `exports.host` with the host functions (lib/host/native.ts types them).
void InitHost(Napi::Env env, Napi::Object exports);
