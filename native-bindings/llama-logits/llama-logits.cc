// specroute_llama_logits: reads the logits node-llama-cpp's context has just computed, on the thread that runs
// its batches, without a sampler or a trip through the thread pool (docs/ARCHITECTURE.md#reading-logits-in-place).
//
// node-llama-cpp hands out one async sampling call per scored position; a lock-step pass of 16 sequences spends
// as long in those as in llama_decode itself. This addon takes node-llama-cpp's own context object (its
// `_ctx`, a Napi::ObjectWrap of AddonContext), finds the llama_context inside it through node-llama-cpp's own
// header (compiled against the llama.cpp headers of the same release, unpacked from the package's git bundle),
// and calls llama_get_logits_ith of the libllama that node-llama-cpp loaded. Nothing is written to the context.
//
// `probe` checks the object before anything is read through it: the context parameters it holds must equal the
// ones the caller created the context with, and llama_n_ctx of its llama_context must agree. Any mismatch (a
// node-llama-cpp whose layout differs) returns a reason, and the caller keeps node-llama-cpp's sampler path.
#include <napi.h>

#include <dlfcn.h>
#if defined(__linux__)
#include <link.h>
#endif

#include <cstdint>
#include <cstring>
#include <string>

#include "AddonContext.h"
#include "kernels.h"

namespace {

constexpr uint32_t kAbiVersion = 1;

using GetLogitsIth = float* (*)(llama_context*, int32_t);
using NCtx = uint32_t (*)(const llama_context*);

GetLogitsIth getLogitsIth = nullptr;
NCtx nCtx = nullptr;
std::string resolveError;

#if defined(__linux__)
int FindLlama(struct dl_phdr_info* info, size_t, void* data) {
  const char* name = info->dlpi_name;
  if (name != nullptr && std::strstr(name, "libllama") != nullptr && std::strstr(name, "libllama-common") == nullptr) {
    *static_cast<std::string*>(data) = name;
    return 1;
  }
  return 0;
}
#endif

// The libllama node-llama-cpp loaded (never another copy): the global scope first, then a loaded library named
// libllama*.
bool ResolveLlama() {
  if (getLogitsIth != nullptr && nCtx != nullptr) return true;
  void* get = dlsym(RTLD_DEFAULT, "llama_get_logits_ith");
  void* n = dlsym(RTLD_DEFAULT, "llama_n_ctx");
#if defined(__linux__)
  if (get == nullptr || n == nullptr) {
    std::string path;
    dl_iterate_phdr(FindLlama, &path);
    if (path.empty()) {
      resolveError = "no libllama is loaded in this process (load a model with node-llama-cpp first)";
      return false;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
    if (handle == nullptr) {
      resolveError = "cannot reopen " + path;
      return false;
    }
    get = dlsym(handle, "llama_get_logits_ith");
    n = dlsym(handle, "llama_n_ctx");
    dlclose(handle);  // still loaded: node-llama-cpp holds it
  }
#endif
  if (get == nullptr || n == nullptr) {
    resolveError = "llama_get_logits_ith is not found in the loaded libllama";
    return false;
  }
  getLogitsIth = reinterpret_cast<GetLogitsIth>(get);
  nCtx = reinterpret_cast<NCtx>(n);
  return true;
}

// node-llama-cpp's AddonContext behind a context's `_ctx` object, or nullptr (with a JS exception pending when
// `report`).
AddonContext* Unwrap(const Napi::Env& env, const Napi::Value& value, bool report) {
  if (!value.IsObject()) {
    if (report) Napi::TypeError::New(env, "context must be node-llama-cpp's context object (_ctx)").ThrowAsJavaScriptException();
    return nullptr;
  }
  void* raw = nullptr;
  if (napi_unwrap(env, value, &raw) != napi_ok || raw == nullptr) {
    if (report) Napi::TypeError::New(env, "context does not wrap a native object").ThrowAsJavaScriptException();
    return nullptr;
  }
  return static_cast<AddonContext*>(raw);
}

// probe(context, contextSize, sequences): null when logits can be read through `context`, else a reason.
Napi::Value Probe(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "probe(context, contextSize, sequences)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (!ResolveLlama()) return Napi::String::New(env, resolveError);
  AddonContext* context = Unwrap(env, info[0], false);
  if (context == nullptr) return Napi::String::New(env, "the context object wraps no native object");
  const uint32_t size = info[1].As<Napi::Number>().Uint32Value();
  const uint32_t sequences = info[2].As<Napi::Number>().Uint32Value();
  if (context->disposed || !context->contextLoaded || context->ctx == nullptr) return Napi::String::New(env, "the context is not loaded");
  if (context->context_params.n_ctx != size || context->context_params.n_seq_max != sequences) {
    return Napi::String::New(env, "node-llama-cpp's context layout differs from the headers this addon was built with");
  }
  if (nCtx(context->ctx) != size) return Napi::String::New(env, "llama_n_ctx disagrees with the context size");
  return env.Null();
}

// The logits row of batch output `index`, after the checks every read makes; nullptr with a JS exception pending.
const float* Row(const Napi::CallbackInfo& info, const char* name) {
  const Napi::Env env = info.Env();
  AddonContext* context = Unwrap(env, info[0], true);
  if (context == nullptr) return nullptr;
  if (getLogitsIth == nullptr || context->disposed || context->ctx == nullptr) {
    Napi::Error::New(env, std::string(name) + ": the context is disposed or was never probed").ThrowAsJavaScriptException();
    return nullptr;
  }
  if (!info[1].IsNumber()) {
    Napi::TypeError::New(env, std::string(name) + ": index must be a number").ThrowAsJavaScriptException();
    return nullptr;
  }
  const float* row = getLogitsIth(context->ctx, info[1].As<Napi::Number>().Int32Value());
  if (row == nullptr) Napi::RangeError::New(env, std::string(name) + ": no logits at that batch index").ThrowAsJavaScriptException();
  return row;
}

// top(context, index, vocabSize, tokens: Int32Array, logprobs: Float64Array): count. The most likely tokens of
// the row, most likely first (lowest id on ties, as llama.cpp's greedy sampler), with log-probabilities.
Napi::Value Top(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[2].IsNumber() || !info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      !info[4].IsTypedArray() || info[4].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    Napi::TypeError::New(env, "top(context, index, vocabSize, tokens: Int32Array, logprobs: Float64Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Napi::Int32Array tokens = info[3].As<Napi::Int32Array>();
  Napi::Float64Array logprobs = info[4].As<Napi::Float64Array>();
  if (tokens.ElementLength() != logprobs.ElementLength()) {
    Napi::RangeError::New(env, "top: tokens and logprobs must have the same length").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const float* row = Row(info, "top");
  if (row == nullptr) return env.Undefined();
  const size_t n = info[2].As<Napi::Number>().Uint32Value();
  const double log_z = specroute::LogSumExp(row, n);
  const size_t count = specroute::TopLogprobs(row, n, log_z, tokens.ElementLength(), tokens.Data(), logprobs.Data());
  return Napi::Number::New(env, static_cast<double>(count));
}

// copy(context, index, out: Float32Array): the row's first out.length logits into `out`.
Napi::Value Copy(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    Napi::TypeError::New(env, "copy(context, index, out: Float32Array)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const float* row = Row(info, "copy");
  if (row == nullptr) return env.Undefined();
  Napi::Float32Array out = info[2].As<Napi::Float32Array>();
  std::memcpy(out.Data(), row, out.ElementLength() * sizeof(float));
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("top", Napi::Function::New(env, Top, "top"));
  exports.Set("copy", Napi::Function::New(env, Copy, "copy"));
  return exports;
}

}  // namespace

NODE_API_MODULE(specroute_llama_logits, Init)
