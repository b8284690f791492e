// Node-API bindings of the scoring kernels (kernels.h). Arguments are checked here and a TypeError / RangeError
// is thrown on misuse; the kernels themselves work in place on the typed arrays' memory (no copies), and the
// TypeScript wrapper (src/native/kernels.ts) turns results into the shapes the rest of specroute uses.
#include <napi.h>

#include <cstdint>
#include <string>

#include "kernels.h"

namespace {

// Bumped whenever a signature below changes; src/native/kernels.ts refuses other versions.
constexpr uint32_t kAbiVersion = 4;

struct F32 {
  float* data = nullptr;
  size_t length = 0;
};

bool Fail(const Napi::Env& env, const std::string& message, bool range = false) {
  if (range) {
    Napi::RangeError::New(env, message).ThrowAsJavaScriptException();
  } else {
    Napi::TypeError::New(env, message).ThrowAsJavaScriptException();
  }
  return false;
}

bool ArgF32(const Napi::CallbackInfo& info, size_t i, const char* name, F32* out) {
  const Napi::Value value = info[i];
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    return Fail(info.Env(), std::string(name) + " must be a Float32Array");
  }
  Napi::Float32Array array = value.As<Napi::Float32Array>();
  out->data = array.Data();
  out->length = array.ElementLength();
  return true;
}

bool ArgNumber(const Napi::CallbackInfo& info, size_t i, const char* name, double* out) {
  const Napi::Value value = info[i];
  if (!value.IsNumber()) return Fail(info.Env(), std::string(name) + " must be a number");
  *out = value.As<Napi::Number>().DoubleValue();
  return true;
}

// logSumExp(logits: Float32Array): number
Napi::Value LogSumExp(const Napi::CallbackInfo& info) {
  F32 logits;
  if (!ArgF32(info, 0, "logits", &logits)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), specroute::LogSumExp(logits.data, logits.length));
}

// argmax(values: Float32Array): number
Napi::Value Argmax(const Napi::CallbackInfo& info) {
  F32 values;
  if (!ArgF32(info, 0, "values", &values)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), static_cast<double>(specroute::Argmax(values.data, values.length)));
}

// warp(logits: Float32Array, out: Float32Array, temperature: number, topK: number, topP: number, minP: number): void
Napi::Value Warp(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  F32 logits, out;
  double temperature, top_k, top_p, min_p;
  if (!ArgF32(info, 0, "logits", &logits) || !ArgF32(info, 1, "out", &out) ||
      !ArgNumber(info, 2, "temperature", &temperature) || !ArgNumber(info, 3, "topK", &top_k) ||
      !ArgNumber(info, 4, "topP", &top_p) || !ArgNumber(info, 5, "minP", &min_p)) {
    return env.Undefined();
  }
  if (out.length != logits.length) {
    Fail(env, "warp: out must have as many entries as logits", true);
    return env.Undefined();
  }
  if (!(temperature > 0)) {
    Fail(env, "warp: temperature must be > 0 (greedy decoding is a one-hot argmax)", true);
    return env.Undefined();
  }
  specroute::Warp(logits.data, out.data, logits.length, temperature, top_k, top_p, min_p);
  return env.Undefined();
}

// residual(p: Float32Array, q: Float32Array, out: Float32Array): number (the residual's mass)
Napi::Value Residual(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  F32 p, q, out;
  if (!ArgF32(info, 0, "p", &p) || !ArgF32(info, 1, "q", &q) || !ArgF32(info, 2, "out", &out)) {
    return env.Undefined();
  }
  if (out.length < p.length) {
    Fail(env, "residual: out must have at least as many entries as p", true);
    return env.Undefined();
  }
  return Napi::Number::New(env, specroute::Residual(p.data, p.length, q.data, q.length, out.data));
}

// sampleDense(weights: Float32Array, u: number): number
Napi::Value SampleDense(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  F32 weights;
  double u;
  if (!ArgF32(info, 0, "weights", &weights) || !ArgNumber(info, 1, "u", &u)) return env.Undefined();
  const int64_t token = specroute::SampleDense(weights.data, weights.length, u);
  if (token < 0) {
    Napi::Error::New(env, "sampleDense: all weights are zero").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return Napi::Number::New(env, static_cast<double>(token));
}

// topLogprobs(logits: Float32Array, logZ: number, tokens: Int32Array, logprobs: Float64Array): number (count);
// k is the outputs' length.
Napi::Value TopLogprobs(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  F32 logits;
  double log_z;
  if (!ArgF32(info, 0, "logits", &logits) || !ArgNumber(info, 1, "logZ", &log_z)) return env.Undefined();
  const Napi::Value tokens_value = info[2];
  const Napi::Value logprobs_value = info[3];
  if (!tokens_value.IsTypedArray() || tokens_value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    Fail(env, "tokens must be an Int32Array");
    return env.Undefined();
  }
  if (!logprobs_value.IsTypedArray() ||
      logprobs_value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    Fail(env, "logprobs must be a Float64Array");
    return env.Undefined();
  }
  Napi::Int32Array tokens = tokens_value.As<Napi::Int32Array>();
  Napi::Float64Array logprobs = logprobs_value.As<Napi::Float64Array>();
  if (tokens.ElementLength() != logprobs.ElementLength()) {
    Fail(env, "topLogprobs: tokens and logprobs must have the same length", true);
    return env.Undefined();
  }
  const size_t count = specroute::TopLogprobs(logits.data, logits.length, log_z, tokens.ElementLength(),
                                              tokens.Data(), logprobs.Data());
  return Napi::Number::New(env, static_cast<double>(count));
}

// entropy(logits: Float32Array, logZ: number): number
Napi::Value Entropy(const Napi::CallbackInfo& info) {
  F32 logits;
  double log_z;
  if (!ArgF32(info, 0, "logits", &logits) || !ArgNumber(info, 1, "logZ", &log_z)) return info.Env().Undefined();
  return Napi::Number::New(info.Env(), specroute::Entropy(logits.data, logits.length, log_z));
}

// softmaxFloat32(values: Float32Array, max: number, sum: number, out: Float32Array): void
Napi::Value SoftmaxFloat32(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  F32 values, out;
  double max, sum;
  if (!ArgF32(info, 0, "values", &values) || !ArgNumber(info, 1, "max", &max) || !ArgNumber(info, 2, "sum", &sum) ||
      !ArgF32(info, 3, "out", &out)) {
    return env.Undefined();
  }
  if (out.length != values.length) {
    Fail(env, "softmaxFloat32: out must have as many entries as values", true);
    return env.Undefined();
  }
  specroute::SoftmaxFloat32(values.data, values.length, static_cast<float>(max), static_cast<float>(sum), out.data);
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("logSumExp", Napi::Function::New(env, LogSumExp, "logSumExp"));
  exports.Set("argmax", Napi::Function::New(env, Argmax, "argmax"));
  exports.Set("warp", Napi::Function::New(env, Warp, "warp"));
  exports.Set("residual", Napi::Function::New(env, Residual, "residual"));
  exports.Set("sampleDense", Napi::Function::New(env, SampleDense, "sampleDense"));
  exports.Set("topLogprobs", Napi::Function::New(env, TopLogprobs, "topLogprobs"));
  exports.Set("entropy", Napi::Function::New(env, Entropy, "entropy"));
  exports.Set("softmaxFloat32", Napi::Function::New(env, SoftmaxFloat32, "softmaxFloat32"));
  return exports;
}

}  // namespace

NODE_API_MODULE(specroute_kernels, Init)
