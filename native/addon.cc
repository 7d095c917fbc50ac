// N-API glue: unpacks arguments and calls the kernels. Decides nothing:
// src/engine/native.ts validated the arguments (the layers validate shapes).
// Arguments are passed positionally (typed arrays, then numbers) to keep a
// call at about a microsecond; the raw N-API C calls are used for that.
//
// The kernels share per-process scratch memory and a thread pool, so calls are
// serialised by a mutex (only one JavaScript thread normally calls them).
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <napi.h>

#include <mutex>

#include "kernels.h"

namespace {

using namespace digits;

std::mutex g_mutex;

struct Args {
  napi_env env;
  napi_value argv[32];
  size_t argc = 32;
  Args(napi_env e, napi_callback_info info) : env(e) { napi_get_cb_info(e, info, &argc, argv, nullptr, nullptr); }

  template <class T>
  T* array(size_t i, size_t* len = nullptr) const {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    napi_get_typedarray_info(env, argv[i], &type, &length, &data, nullptr, nullptr);
    if (len != nullptr) *len = length;
    return static_cast<T*>(data);
  }
  float* f32(size_t i, size_t* len = nullptr) const { return array<float>(i, len); }
  int32_t* i32(size_t i) const { return array<int32_t>(i); }
  int num(size_t i) const {
    int32_t v = 0;
    napi_get_value_int32(env, argv[i], &v);
    return v;
  }
  double dbl(size_t i) const {
    double v = 0;
    napi_get_value_double(env, argv[i], &v);
    return v;
  }
  bool flag(size_t i) const {
    bool v = false;
    napi_get_value_bool(env, argv[i], &v);
    return v;
  }
  // an optional activation name (Backend's Activation): true for "relu"
  bool is_relu(size_t i) const {
    if (i >= argc) return false;
    char buf[8] = {0};
    size_t len = 0;
    if (napi_get_value_string_utf8(env, argv[i], buf, sizeof(buf), &len) != napi_ok) return false;
    return len == 4 && buf[0] == 'r' && buf[1] == 'e' && buf[2] == 'l' && buf[3] == 'u';
  }
  // an optional Float32Array: nullptr when undefined
  float* f32_or_null(size_t i) const {
    if (i >= argc) return nullptr;
    napi_valuetype t;
    if (napi_typeof(env, argv[i], &t) != napi_ok || t != napi_object) return nullptr;
    return f32(i);
  }
  ConvGeom conv(size_t i) const {
    return ConvGeom{num(i),     num(i + 1), num(i + 2), num(i + 3),  num(i + 4),  num(i + 5), num(i + 6),
                    num(i + 7), num(i + 8), num(i + 9), num(i + 10), num(i + 11), num(i + 12)};
  }
  PoolGeom pool(size_t i) const {
    return PoolGeom{num(i),     num(i + 1), num(i + 2), num(i + 3), num(i + 4),
                    num(i + 5), num(i + 6), num(i + 7), num(i + 8), num(i + 9)};
  }
};

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value number(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

// Geometry order (conv): n, h, w, c, kh, kw, k, strideH, strideW, padTop, padLeft, outH, outW
// Geometry order (pool): n, h, w, c, poolH, poolW, strideH, strideW, outH, outW

napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  set_threads(a.num(0));
  return undefined(env);
}

napi_value HardwareThreads(napi_env env, napi_callback_info) { return number(env, hardware_threads()); }

// (x, w, b, y, geom..., relu)
napi_value Conv2dForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  conv2d_forward(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.conv(4), a.flag(17));
  return undefined(env);
}

// (dy, w, dx, geom...)
napi_value Conv2dBackwardInput(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  conv2d_backward_input(a.f32(0), a.f32(1), a.f32(2), a.conv(3));
  return undefined(env);
}

// (x, dy, dw, db, geom...)
napi_value Conv2dBackwardFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  conv2d_backward_filter(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.conv(4));
  return undefined(env);
}

// (a, b, c, m, n, k, transA, transB, accumulate)
napi_value Matmul(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  matmul(a.f32(0), a.f32(1), a.f32(2), a.num(3), a.num(4), a.num(5), a.flag(6), a.flag(7), a.flag(8));
  return undefined(env);
}

// (y, b, rows, cols, relu)
napi_value BiasActivation(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  bias_activation(a.f32(0), a.f32(1), a.num(2), a.num(3), a.flag(4));
  return undefined(env);
}

// (dy, db, rows, cols)
napi_value BiasGrad(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  bias_grad(a.f32(0), a.f32(1), a.num(2), a.num(3));
  return undefined(env);
}

// (dy, y, dx, relu); length = dy.length
napi_value ActivationBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  size_t len = 0;
  float* dy = a.f32(0, &len);
  activation_backward(dy, a.f32(1), a.f32(2), len, a.flag(3));
  return undefined(env);
}

// (x, y, argmax, geom...)
napi_value MaxPool2dForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  maxpool2d_forward(a.f32(0), a.f32(1), a.i32(2), a.pool(3));
  return undefined(env);
}

// (dy, argmax, dx, geom...)
napi_value MaxPool2dBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  maxpool2d_backward(a.f32(0), a.i32(1), a.f32(2), a.pool(3));
  return undefined(env);
}

// (x, w, b, y, argmax, conv geom..., pool geom..., relu)
napi_value Conv2dMaxPoolForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  conv2d_maxpool_forward(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.i32(4), a.conv(5), a.pool(18), a.flag(28));
  return undefined(env);
}

// (x, dy, argmax, dw, db, conv geom..., pool geom...)
napi_value Conv2dMaxPoolBackwardFilter(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  conv2d_maxpool_backward_filter(a.f32(0), a.f32(1), a.i32(2), a.f32(3), a.f32(4), a.conv(5), a.pool(18));
  return undefined(env);
}

// (dy, argmax, w, dx, conv geom..., pool geom...)
napi_value Conv2dMaxPoolBackwardInput(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  conv2d_maxpool_backward_input(a.f32(0), a.i32(1), a.f32(2), a.f32(3), a.conv(4), a.pool(17));
  return undefined(env);
}

// (a, b, out); length = a.length
napi_value Mul(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  size_t len = 0;
  float* x = a.f32(0, &len);
  mul(x, a.f32(1), a.f32(2), len);
  return undefined(env);
}

// (logits, probs, rows, cols)
napi_value Softmax(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  softmax(a.f32(0), a.f32(1), a.num(2), a.num(3));
  return undefined(env);
}

// (logits, targets, probs, dlogits, rows, cols) -> loss
napi_value SoftmaxCrossEntropy(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  return number(env, softmax_cross_entropy(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.num(4), a.num(5)));
}

// (p, g, m, v, lr, beta1, beta2, epsilon, step); length = p.length
napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  size_t len = 0;
  float* p = a.f32(0, &len);
  adam_update(p, a.f32(1), a.f32(2), a.f32(3), len, a.dbl(4), a.dbl(5), a.dbl(6), a.dbl(7), a.dbl(8));
  return undefined(env);
}

// (p, g, vel, lr, momentum, nesterov); length = p.length
napi_value SgdUpdate(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  size_t len = 0;
  float* p = a.f32(0, &len);
  sgd_update(p, a.f32(1), a.f32(2), len, a.dbl(3), a.dbl(4), a.flag(5));
  return undefined(env);
}

// (x, mean, variance, rows, cols)
napi_value BatchNormStats(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  batchnorm_stats(a.f32(0), a.f32(1), a.f32(2), a.num(3), a.num(4));
  return undefined(env);
}

// (x, mean, variance, gamma, beta, epsilon, y, rows, cols)
napi_value BatchNormForward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  batchnorm_forward(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.f32(4), a.dbl(5), a.f32(6), a.num(7), a.num(8),
                    a.is_relu(9));
  return undefined(env);
}

// (x, dy, mean, variance, gamma, epsilon, dx, dgamma, dbeta, rows, cols[, reluY])
napi_value BatchNormBackward(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  batchnorm_backward(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.f32(4), a.dbl(5), a.f32(6), a.f32(7), a.f32(8), a.num(9),
                     a.num(10), a.f32_or_null(11));
  return undefined(env);
}

// (x, params, y, n, h, w, c, disp | null)
napi_value AffineResample(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  affine_resample(a.f32(0), a.f32(1), a.f32(2), a.num(3), a.num(4), a.num(5), a.num(6), a.f32(7));
  return undefined(env);
}

// (noise, field, n, h, w, sigma, alpha)
napi_value ElasticField(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  elastic_field(a.f32(0), a.f32(1), a.num(2), a.num(3), a.num(4), a.dbl(5), a.dbl(6));
  return undefined(env);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  const napi_property_descriptor props[] = {
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"hardwareThreads", nullptr, HardwareThreads, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dForward", nullptr, Conv2dForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackwardInput", nullptr, Conv2dBackwardInput, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dBackwardFilter", nullptr, Conv2dBackwardFilter, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"matmul", nullptr, Matmul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"biasActivation", nullptr, BiasActivation, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"biasGrad", nullptr, BiasGrad, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"activationBackward", nullptr, ActivationBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxPool2dForward", nullptr, MaxPool2dForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"maxPool2dBackward", nullptr, MaxPool2dBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dMaxPoolForward", nullptr, Conv2dMaxPoolForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"conv2dMaxPoolBackwardFilter", nullptr, Conv2dMaxPoolBackwardFilter, nullptr, nullptr, nullptr, napi_enumerable,
       nullptr},
      {"conv2dMaxPoolBackwardInput", nullptr, Conv2dMaxPoolBackwardInput, nullptr, nullptr, nullptr, napi_enumerable,
       nullptr},
      {"mul", nullptr, Mul, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"softmaxCrossEntropy", nullptr, SoftmaxCrossEntropy, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"adamUpdate", nullptr, AdamUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"sgdUpdate", nullptr, SgdUpdate, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormStats", nullptr, BatchNormStats, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormForward", nullptr, BatchNormForward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"batchNormBackward", nullptr, BatchNormBackward, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"affineResample", nullptr, AffineResample, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"elasticField", nullptr, ElasticField, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NODE_API_MODULE(digits_native, Init)
