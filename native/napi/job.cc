#include "napi/job.h"

#include <cerrno>
#include <cstring>

#include "nl/attr.h"
#include "nl/socket.h"

namespace napi_job {

namespace {

class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, const char* op, Work work, Result result, Gate* gate, uint64_t order)
      : Napi::AsyncWorker(env, op),
        op_(op),
        work_(std::move(work)),
        result_(std::move(result)),
        deferred_(env),
        gate_(gate),
        order_(order) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const nl::Error& e) {
      Fail(e.error(), e.what(), e.extack());
    } catch (const nl::ParseError& e) {
      Fail(EPROTO, std::string("malformed reply from the kernel: ") + e.what(), {});
    } catch (const std::bad_alloc&) {
      Fail(ENOMEM, "out of memory", {});
    } catch (const std::exception& e) {
      Fail(EIO, e.what(), {});
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Settle settle{gate_};
    if (error_ != 0) return finish(false, makeError(env, op_, error_, message_, extack_).Value());
    try {
      finish(true, result_ ? result_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      finish(false, e.Value());
    }
  }

  void OnError(const Napi::Error& e) override {
    Settle settle{gate_};
    finish(false, e.Value());
  }

 private:
  void Fail(int error, std::string message, std::string extack) {
    error_ = error;
    message_ = std::move(message);
    extack_ = std::move(extack);
  }

  // Tells the gate, once the promise is settled, that the pool has room again.
  struct Settle {
    Gate* gate;
    ~Settle() {
      if (gate) gate->settled();
    }
  };

  // Settles now, or once the jobs queued before this one have settled.
  void finish(bool ok, Napi::Value value) {
    if (!gate_ || gate_->isNext(order_)) {
      ok ? deferred_.Resolve(value) : deferred_.Reject(value);
      if (gate_) gate_->settle(order_, [] {});
      return;
    }
    // Kept in an array: a reference to a primitive (null, a number) is not
    // allowed before Node-API 9.
    Napi::Env env = Env();
    Napi::Array holder = Napi::Array::New(env, 1);
    holder.Set(0u, value);
    auto kept = std::make_shared<Napi::Reference<Napi::Array>>(Napi::Persistent(holder));
    Napi::Promise::Deferred deferred = deferred_;
    gate_->settle(order_, [env, ok, kept, deferred]() mutable {
      Napi::HandleScope scope(env);
      Napi::Value v = kept->Value().Get(0u);
      ok ? deferred.Resolve(v) : deferred.Reject(v);
    });
  }

  std::string op_;
  Work work_;
  Result result_;
  Napi::Promise::Deferred deferred_;
  Gate* gate_;
  uint64_t order_;
  int error_ = 0;
  std::string message_;
  std::string extack_;
};

}  // namespace

void SettleQueue::settle(uint64_t order, std::function<void()> settleNow) {
  if (order != next_) {
    waiting_.emplace(order, std::move(settleNow));
    return;
  }
  settleNow();
  ++next_;
  for (auto it = waiting_.find(next_); it != waiting_.end(); it = waiting_.find(next_)) {
    std::function<void()> fn = std::move(it->second);
    waiting_.erase(it);
    fn();
    ++next_;
  }
}

Napi::Promise queue(Napi::Env env, const char* op, Work work, Result result, Gate* gate, uint64_t order) {
  auto* job = new Job(env, op, std::move(work), std::move(result), gate, order);
  Napi::Promise promise = job->Promise();
  if (gate) {
    try {
      gate->admit(job);
    } catch (...) {
      gate->settle(order, [] {});  // never queued: the jobs after it must not wait for it
      throw;
    }
  } else {
    job->Queue();
  }
  return promise;
}

void setErrorClass(Napi::Env env, Napi::Function ctor) {
  env.GetInstanceData<AddonData>()->errorClass = Napi::Persistent(ctor);
}

// Every Linux errno by its name (aliases such as EWOULDBLOCK left out). Not
// strerrorname_np: glibc has it only from 2.32 and musl not at all, and a
// source build must work where the prebuilt binaries do not.
#define IPVS_TS_ERRNO_NAMES(X) \
    X(EPERM) X(ENOENT) X(ESRCH) X(EINTR) X(EIO) X(ENXIO) X(E2BIG) X(ENOEXEC) X(EBADF) X(ECHILD) X(EAGAIN) \
    X(ENOMEM) X(EACCES) X(EFAULT) X(ENOTBLK) X(EBUSY) X(EEXIST) X(EXDEV) X(ENODEV) X(ENOTDIR) X(EISDIR) \
    X(EINVAL) X(ENFILE) X(EMFILE) X(ENOTTY) X(ETXTBSY) X(EFBIG) X(ENOSPC) X(ESPIPE) X(EROFS) X(EMLINK) \
    X(EPIPE) X(EDOM) X(ERANGE) X(EDEADLK) X(ENAMETOOLONG) X(ENOLCK) X(ENOSYS) X(ENOTEMPTY) X(ELOOP) X(ENOMSG) \
    X(EIDRM) X(ECHRNG) X(EL2NSYNC) X(EL3HLT) X(EL3RST) X(ELNRNG) X(EUNATCH) X(ENOCSI) X(EL2HLT) X(EBADE) \
    X(EBADR) X(EXFULL) X(ENOANO) X(EBADRQC) X(EBADSLT) X(EBFONT) X(ENOSTR) X(ENODATA) X(ETIME) X(ENOSR) \
    X(ENONET) X(ENOPKG) X(EREMOTE) X(ENOLINK) X(EADV) X(ESRMNT) X(ECOMM) X(EPROTO) X(EMULTIHOP) X(EDOTDOT) \
    X(EBADMSG) X(EOVERFLOW) X(ENOTUNIQ) X(EBADFD) X(EREMCHG) X(ELIBACC) X(ELIBBAD) X(ELIBSCN) X(ELIBMAX) \
    X(ELIBEXEC) X(EILSEQ) X(ERESTART) X(ESTRPIPE) X(EUSERS) X(ENOTSOCK) X(EDESTADDRREQ) X(EMSGSIZE) \
    X(EPROTOTYPE) X(ENOPROTOOPT) X(EPROTONOSUPPORT) X(ESOCKTNOSUPPORT) X(EOPNOTSUPP) X(EPFNOSUPPORT) \
    X(EAFNOSUPPORT) X(EADDRINUSE) X(EADDRNOTAVAIL) X(ENETDOWN) X(ENETUNREACH) X(ENETRESET) X(ECONNABORTED) \
    X(ECONNRESET) X(ENOBUFS) X(EISCONN) X(ENOTCONN) X(ESHUTDOWN) X(ETOOMANYREFS) X(ETIMEDOUT) X(ECONNREFUSED) \
    X(EHOSTDOWN) X(EHOSTUNREACH) X(EALREADY) X(EINPROGRESS) X(ESTALE) X(EUCLEAN) X(ENOTNAM) X(ENAVAIL) \
    X(EISNAM) X(EREMOTEIO) X(EDQUOT) X(ENOMEDIUM) X(EMEDIUMTYPE) X(ECANCELED) X(ENOKEY) X(EKEYEXPIRED) \
    X(EKEYREVOKED) X(EKEYREJECTED) X(EOWNERDEAD) X(ENOTRECOVERABLE) X(ERFKILL) X(EHWPOISON)

std::string errnoCode(int error) {
  switch (error) {
#define IPVS_TS_ERRNO_CASE(name) \
  case name:                     \
    return #name;
    IPVS_TS_ERRNO_NAMES(IPVS_TS_ERRNO_CASE)
#undef IPVS_TS_ERRNO_CASE
    default:
      return "E" + std::to_string(error);
  }
}

Napi::Function function(Napi::Env env, const char* name, Callback fn) {
  return Napi::Function::New(
      env,
      [name, fn](const Napi::CallbackInfo& info) -> Napi::Value {
        try {
          return fn(info);
        } catch (const Napi::Error&) {
          throw;
        } catch (const nl::Error& e) {
          throw makeError(info.Env(), name, e.error(), e.what(), e.extack());
        } catch (const std::bad_alloc&) {
          throw makeError(info.Env(), name, ENOMEM, "out of memory", {});
        } catch (const std::exception& e) {
          throw Napi::Error::New(info.Env(), std::string(name) + ": " + e.what());
        }
      },
      name);
}

Napi::Error makeError(Napi::Env env, const std::string& op, int error, const std::string& message,
                      const std::string& extack) {
  Napi::Object details = Napi::Object::New(env);
  details.Set("errno", error);
  details.Set("code", errnoCode(error));
  details.Set("op", op);
  if (!extack.empty()) details.Set("extack", extack);
  auto* data = env.GetInstanceData<AddonData>();
  if (data && !data->errorClass.IsEmpty()) {
    return Napi::Error(env, data->errorClass.New({Napi::String::New(env, message), details}));
  }
  Napi::Error err = Napi::Error::New(env, message);
  for (const char* key : {"errno", "code", "op", "extack"}) {
    if (details.Has(key)) err.Value().Set(key, details.Get(key));
  }
  return err;
}

}  // namespace napi_job
