// Promise jobs shared by the IPVS and host bindings: the work runs on the
// libuv pool with plain C++ data only ("baton" style), the result is built
// and the promise settled on the JS thread.
#pragma once

#include <napi.h>

#include <functional>
#include <string>

namespace napi_job {

// Work on the pool thread; throw nl::Error (or nl::ParseError) to reject.
using Work = std::function<void()>;
// Builds the resolution value on the JS thread; null resolves to undefined.
using Result = std::function<Napi::Value(Napi::Env)>;

// Holds jobs back from the libuv pool; JS thread only. admit() gets each new
// job (it calls Queue() now or later); settled() follows each job's settling.
class Gate {
 public:
  virtual ~Gate() = default;
  virtual void admit(Napi::AsyncWorker* job) = 0;
  virtual void settled() = 0;
};

// Queues `work` (through `gate` when given, which must outlive the job),
// returns the promise `result` settles.
Napi::Promise queue(Napi::Env env, const char* op, Work work, Result result = nullptr, Gate* gate = nullptr);

// Remembers the JS IpvsError class; rejections are instances of it.
void setErrorClass(Napi::Env env, Napi::Function ctor);

// An IpvsError (errno, code, op, extack); a plain Error before setErrorClass.
Napi::Error makeError(Napi::Env env, const std::string& op, int error, const std::string& message,
                      const std::string& extack);

// The symbolic name of an errno ("EEXIST").
std::string errnoCode(int error);

// Per-environment data of the addon.
struct AddonData {
  Napi::FunctionReference errorClass;
};

}  // namespace napi_job
