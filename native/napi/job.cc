#include "napi/job.h"

#include <cerrno>
#include <cstring>

#include "nl/attr.h"
#include "nl/socket.h"

namespace napi_job {

namespace {

class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Env env, const char* op, Work work, Result result)
      : Napi::AsyncWorker(env, op), op_(op), work_(std::move(work)), result_(std::move(result)), deferred_(env) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      work_();
    } catch (const nl::Error& e) {
      Fail(e.error(), e.what(), e.extack());
    } catch (const nl::ParseError& e) {
      Fail(EPROTO, std::string("malformed reply from the kernel: ") + e.what(), {});
    } catch (const std::exception& e) {
      Fail(EIO, e.what(), {});
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (error_ != 0) {
      deferred_.Reject(makeError(env, op_, error_, message_, extack_).Value());
      return;
    }
    try {
      deferred_.Resolve(result_ ? result_(env) : env.Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  void Fail(int error, std::string message, std::string extack) {
    error_ = error;
    message_ = std::move(message);
    extack_ = std::move(extack);
  }

  std::string op_;
  Work work_;
  Result result_;
  Napi::Promise::Deferred deferred_;
  int error_ = 0;
  std::string message_;
  std::string extack_;
};

}  // namespace

Napi::Promise queue(Napi::Env env, const char* op, Work work, Result result) {
  auto* job = new Job(env, op, std::move(work), std::move(result));
  Napi::Promise promise = job->Promise();
  job->Queue();
  return promise;
}

void setErrorClass(Napi::Env env, Napi::Function ctor) {
  env.GetInstanceData<AddonData>()->errorClass = Napi::Persistent(ctor);
}

std::string errnoCode(int error) {
  const char* name = strerrorname_np(error);
  return name ? name : "E" + std::to_string(error);
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
