// N-API glue: unpacks arguments and calls the kernels (one short function per
// kernel, wrapped by bind<> and listed once in the export table). Decides nothing:
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
#include <vector>

#include "amx.h"
#include "kernels.h"
#include "pool.h"

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

// A binding: unpack the arguments and call the kernel under the mutex, with denormals flushed to
// zero on this thread for the call (pool.h); JavaScript gets undefined, or the number the kernel returns.
template <void (*Body)(const Args&)>
napi_value bind(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  {
    DenormalsFlushed ftz;
    Body(a);
  }
  return undefined(env);
}

template <double (*Body)(const Args&)>
napi_value bind_number(napi_env env, napi_callback_info info) {
  Args a(env, info);
  std::lock_guard<std::mutex> lock(g_mutex);
  double r;
  {
    DenormalsFlushed ftz;
    r = Body(a);
  }
  return number(env, r);
}

void SetThreads(const Args& a) {
  set_threads(a.num(0));
}

napi_value HardwareThreads(napi_env env, napi_callback_info) { return number(env, hardware_threads()); }

napi_value AmxAvailable(napi_env env, napi_callback_info) {
  napi_value r;
  napi_get_boolean(env, amx_available(), &r);
  return r;
}

// The conv kernels take a last flag, bf16: their bfloat16-precision twins (amx.h).

// (x, w, b, y, geom..., relu, bf16)
void Conv2dForward(const Args& a) {
  (a.flag(18) ? conv2d_forward_bf16 : conv2d_forward)(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.conv(4), a.flag(17));
}

// (dy, w, dx, geom..., bf16)
void Conv2dBackwardInput(const Args& a) {
  (a.flag(16) ? conv2d_backward_input_bf16 : conv2d_backward_input)(a.f32(0), a.f32(1), a.f32(2), a.conv(3));
}

// (x, dy, dw, db, geom..., bf16)
void Conv2dBackwardFilter(const Args& a) {
  (a.flag(17) ? conv2d_backward_filter_bf16 : conv2d_backward_filter)(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.conv(4));
}

// (a, b, c, m, n, k, transA, transB, accumulate)
void Matmul(const Args& a) {
  matmul(a.f32(0), a.f32(1), a.f32(2), a.num(3), a.num(4), a.num(5), a.flag(6), a.flag(7), a.flag(8));
}

// (y, b, rows, cols, relu)
void BiasActivation(const Args& a) {
  bias_activation(a.f32(0), a.f32(1), a.num(2), a.num(3), a.flag(4));
}

// (dy, db, rows, cols)
void BiasGrad(const Args& a) {
  bias_grad(a.f32(0), a.f32(1), a.num(2), a.num(3));
}

// (dy, y, dx, relu); length = dy.length
void ActivationBackward(const Args& a) {
  size_t len = 0;
  float* dy = a.f32(0, &len);
  activation_backward(dy, a.f32(1), a.f32(2), len, a.flag(3));
}

// (x, y, argmax, geom...)
void MaxPool2dForward(const Args& a) {
  maxpool2d_forward(a.f32(0), a.f32(1), a.i32(2), a.pool(3));
}

// (dy, argmax, dx, geom...)
void MaxPool2dBackward(const Args& a) {
  maxpool2d_backward(a.f32(0), a.i32(1), a.f32(2), a.pool(3));
}

// (x, w, b, y, argmax, conv geom..., pool geom..., relu, bf16)
void Conv2dMaxPoolForward(const Args& a) {
  (a.flag(29) ? conv2d_maxpool_forward_bf16 : conv2d_maxpool_forward)(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.i32(4),
                                                                      a.conv(5), a.pool(18), a.flag(28));
}

// (x, dy, argmax, dw, db, conv geom..., pool geom..., bf16)
void Conv2dMaxPoolBackwardFilter(const Args& a) {
  (a.flag(28) ? conv2d_maxpool_backward_filter_bf16 : conv2d_maxpool_backward_filter)(
      a.f32(0), a.f32(1), a.i32(2), a.f32(3), a.f32(4), a.conv(5), a.pool(18));
}

// (dy, argmax, w, dx, conv geom..., pool geom..., bf16)
void Conv2dMaxPoolBackwardInput(const Args& a) {
  (a.flag(27) ? conv2d_maxpool_backward_input_bf16 : conv2d_maxpool_backward_input)(
      a.f32(0), a.i32(1), a.f32(2), a.f32(3), a.conv(4), a.pool(17));
}

// (a, b, out); length = a.length
void Mul(const Args& a) {
  size_t len = 0;
  float* x = a.f32(0, &len);
  mul(x, a.f32(1), a.f32(2), len);
}

// (logits, probs, rows, cols)
void Softmax(const Args& a) {
  softmax(a.f32(0), a.f32(1), a.num(2), a.num(3));
}

// (logits, targets, probs, dlogits, rows, cols) -> loss
double SoftmaxCrossEntropy(const Args& a) {
  return softmax_cross_entropy(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.num(4), a.num(5));
}

// (p, g, m, v, lr, beta1, beta2, epsilon, step); length = p.length
void AdamUpdate(const Args& a) {
  size_t len = 0;
  float* p = a.f32(0, &len);
  adam_update(p, a.f32(1), a.f32(2), a.f32(3), len, a.dbl(4), a.dbl(5), a.dbl(6), a.dbl(7), a.dbl(8));
}

// (p, g, vel, lr, momentum, nesterov); length = p.length
void SgdUpdate(const Args& a) {
  size_t len = 0;
  float* p = a.f32(0, &len);
  sgd_update(p, a.f32(1), a.f32(2), len, a.dbl(3), a.dbl(4), a.flag(5));
}

// (avg, x, keep); length = avg.length
void EmaUpdate(const Args& a) {
  size_t len = 0;
  float* avg = a.f32(0, &len);
  ema_update(avg, a.f32(1), len, a.dbl(2));
}

// (x, mean, variance, rows, cols)
void BatchNormStats(const Args& a) {
  batchnorm_stats(a.f32(0), a.f32(1), a.f32(2), a.num(3), a.num(4));
}

// (x, mean, variance, gamma, beta, epsilon, y, rows, cols)
void BatchNormForward(const Args& a) {
  batchnorm_forward(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.f32(4), a.dbl(5), a.f32(6), a.num(7), a.num(8),
                    a.is_relu(9));
}

// (x, dy, mean, variance, gamma, epsilon, dx, dgamma, dbeta, rows, cols[, reluY])
void BatchNormBackward(const Args& a) {
  batchnorm_backward(a.f32(0), a.f32(1), a.f32(2), a.f32(3), a.f32(4), a.dbl(5), a.f32(6), a.f32(7), a.f32(8), a.num(9),
                     a.num(10), a.f32_or_null(11));
}

// (x, params, y, n, h, w, c, disp | null)
void AffineResample(const Args& a) {
  affine_resample(a.f32(0), a.f32(1), a.f32(2), a.num(3), a.num(4), a.num(5), a.num(6), a.f32_or_null(7));
}

// (noise, field, n, h, w, sigma, alpha)
void ElasticField(const Args& a) {
  elastic_field(a.f32(0), a.f32(1), a.num(2), a.num(3), a.num(4), a.dbl(5), a.dbl(6));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  struct Export {
    const char* name;
    napi_callback fn;
  };
  static const Export table[] = {
      {"setThreads", bind<SetThreads>},
      {"hardwareThreads", HardwareThreads},
      {"amxAvailable", AmxAvailable},
      {"conv2dForward", bind<Conv2dForward>},
      {"conv2dBackwardInput", bind<Conv2dBackwardInput>},
      {"conv2dBackwardFilter", bind<Conv2dBackwardFilter>},
      {"matmul", bind<Matmul>},
      {"biasActivation", bind<BiasActivation>},
      {"biasGrad", bind<BiasGrad>},
      {"activationBackward", bind<ActivationBackward>},
      {"maxPool2dForward", bind<MaxPool2dForward>},
      {"maxPool2dBackward", bind<MaxPool2dBackward>},
      {"conv2dMaxPoolForward", bind<Conv2dMaxPoolForward>},
      {"conv2dMaxPoolBackwardFilter", bind<Conv2dMaxPoolBackwardFilter>},
      {"conv2dMaxPoolBackwardInput", bind<Conv2dMaxPoolBackwardInput>},
      {"mul", bind<Mul>},
      {"softmax", bind<Softmax>},
      {"softmaxCrossEntropy", bind_number<SoftmaxCrossEntropy>},
      {"adamUpdate", bind<AdamUpdate>},
      {"sgdUpdate", bind<SgdUpdate>},
      {"emaUpdate", bind<EmaUpdate>},
      {"batchNormStats", bind<BatchNormStats>},
      {"batchNormForward", bind<BatchNormForward>},
      {"batchNormBackward", bind<BatchNormBackward>},
      {"affineResample", bind<AffineResample>},
      {"elasticField", bind<ElasticField>},
  };
  std::vector<napi_property_descriptor> props;
  for (const Export& x : table) props.push_back({x.name, nullptr, x.fn, nullptr, nullptr, nullptr, napi_enumerable, nullptr});
  napi_define_properties(env, exports, props.size(), props.data());
  return exports;
}

}  // namespace

NODE_API_MODULE(digits_native, Init)
