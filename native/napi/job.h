// Promise jobs shared by the IPVS and host bindings: the work runs on the
// libuv pool with plain C++ data only ("baton" style), the result is built
// and the promise settled on the JS thread.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace napi_job {

// Work on the pool thread; throw nl::Error (or nl::ParseError) to reject.
using Work = std::function<void()>;
// Builds the resolution value on the JS thread; null resolves to undefined.
using Result = std::function<Napi::Value(Napi::Env)>;

// Holds jobs back from the libuv pool and settles their promises in the
// order they were queued; JS thread only. admit() gets each new job (it
// calls Queue() now or later); settled() follows each job's end on the pool.
// A job that ends before an earlier one hands its settling to settle(),
// which runs it once every job before it (by `order`) has been settled.
class Gate {
 public:
  virtual ~Gate() = default;
  virtual void admit(Napi::AsyncWorker* job) = 0;
  virtual void settled() = 0;
  // Whether the job of this order may settle at once (every earlier one has).
  virtual bool isNext(uint64_t order) const = 0;
  virtual void settle(uint64_t order, std::function<void()> settleNow) = 0;
};

// Queues `work` (through `gate` when given, which must outlive the job; the
// job is the gate's `order`-th), returns the promise `result` settles.
Napi::Promise queue(Napi::Env env, const char* op, Work work, Result result = nullptr, Gate* gate = nullptr,
                    uint64_t order = 0);

// Settles in order: what a Gate keeps for the jobs that ended early.
class SettleQueue {
 public:
  bool isNext(uint64_t order) const { return order == next_; }
  void settle(uint64_t order, std::function<void()> settleNow);

 private:
  uint64_t next_ = 0;
  std::map<uint64_t, std::function<void()>> waiting_;
};

// Remembers the JS IpvsError class; rejections are instances of it.
void setErrorClass(Napi::Env env, Napi::Function ctor);

// An IpvsError (errno, code, op, extack); a plain Error before setErrorClass.
Napi::Error makeError(Napi::Env env, const std::string& op, int error, const std::string& message,
                      const std::string& extack);

// The symbolic name of an errno ("EEXIST").
std::string errnoCode(int error);

using Callback = Napi::Value (*)(const Napi::CallbackInfo&);

// A JS function for `fn` that turns every C++ exception into a JS one:
// node-addon-api passes on only Napi::Error, and anything else reaching C
// would end the process. nl::Error becomes an IpvsError (op `name`),
// std::bad_alloc ENOMEM, other exceptions an Error with their message.
Napi::Function function(Napi::Env env, const char* name, Callback fn);

// Per-environment data of the addon.
struct AddonData {
  Napi::FunctionReference errorClass;
};

}  // namespace napi_job
