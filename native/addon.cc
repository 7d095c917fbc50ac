// N-API glue: unpacks arguments and calls the kernels (one short function per
// kernel, wrapped by bind<>; the export table is the kernel table's list).
// Decides nothing: src/engine/native.ts checked the arguments against the
// kernel table (src/engine/kernels.ts). A kernel gets its arrays, then one
// Int32Array of its integers (geometry, sizes, flags) and one Float64Array of
// its reals; kernel_table.h, generated from the table, says where each
// argument is. The raw N-API C calls keep a call at about a microsecond.
//
// The kernels share per-process scratch memory and a thread pool, so calls are
// serialised by a mutex (only one JavaScript thread normally calls them).
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <napi.h>

#include <mutex>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <utility>
#include <vector>

#include "amx.h"
#include "kernel_table.h"
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
  // an optional Float32Array: nullptr when undefined
  float* f32_or_null(size_t i) const {
    if (i >= argc) return nullptr;
    napi_valuetype t;
    if (napi_typeof(env, argv[i], &t) != napi_ok || t != napi_object) return nullptr;
    return f32(i);
  }
  // the kernel's integers (the Int32Array after its arrays) and reals (the Float64Array after that)
  const int32_t* ints(int arrays) const { return array<int32_t>(arrays); }
  const double* reals(int arrays) const { return array<double>(arrays + 1); }
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

// A geometry from the integers at d (kernel_table.h gives the fields' order: the structs' own).
ConvGeom conv_at(const int32_t* d) { return ConvGeom{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12]}; }
PoolGeom pool_at(const int32_t* d) { return PoolGeom{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8], d[9]}; }

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

// How the bf16 conv kernels compute: "amx" (tiles), "avx512-bf16" (VDPBF16PS pairs) or "rounding"
// (operands rounded, then the float32 kernels).
napi_value Bf16Kernels(napi_env env, napi_callback_info) {
  const char* kind = amx_available() ? "amx" : dpbf16_available() ? "avx512-bf16" : "rounding";
  napi_value r;
  napi_create_string_utf8(env, kind, NAPI_AUTO_LENGTH, &r);
  return r;
}

// peakGflops(bf16): the machine's measured arithmetic peak on the pool's threads (kernels.h).
double PeakGflops(const Args& a) { return peak_gflops(a.num(0) != 0); }

// Gives the C heap's free pages back to the system (glibc keeps what a burst of large buffers
// freed, so a server's resident memory would stay at its peak); true where that is possible.
napi_value ReleaseFreeMemory(napi_env env, napi_callback_info) {
  napi_value r;
#if defined(__GLIBC__)
  malloc_trim(0);
  napi_get_boolean(env, true, &r);
#else
  napi_get_boolean(env, false, &r);
#endif
  return r;
}

// One binding per kernel: `namespace K` is the kernel's layout in kernel_table.h; the conv kernels'
// integer bf16 picks their bfloat16-precision twins (amx.h).

void conv2dForward(const Args& a) {
  namespace K = kernel::conv2dForward;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_forward_bf16 : conv2d_forward)(a.f32(K::arg::x), a.f32(K::arg::w), a.f32(K::arg::b),
                                                           a.f32(K::arg::y), conv_at(d + K::dim::g), d[K::dim::act]);
}

void conv2dBackwardInput(const Args& a) {
  namespace K = kernel::conv2dBackwardInput;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_backward_input_bf16 : conv2d_backward_input)(a.f32(K::arg::dy), a.f32(K::arg::w),
                                                                         a.f32(K::arg::dx), conv_at(d + K::dim::g));
}

void conv2dBackwardFilter(const Args& a) {
  namespace K = kernel::conv2dBackwardFilter;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_backward_filter_bf16 : conv2d_backward_filter)(
      a.f32(K::arg::x), a.f32(K::arg::dy), a.f32(K::arg::dw), a.f32(K::arg::db), conv_at(d + K::dim::g));
}

void matmul(const Args& a) {
  namespace K = kernel::matmul;
  const int32_t* d = a.ints(K::arrays);
  digits::matmul(a.f32(K::arg::a), a.f32(K::arg::b), a.f32(K::arg::c), d[K::dim::m], d[K::dim::n], d[K::dim::k],
                 d[K::dim::transA], d[K::dim::transB], d[K::dim::accumulate]);
}

void biasActivation(const Args& a) {
  namespace K = kernel::biasActivation;
  const int32_t* d = a.ints(K::arrays);
  bias_activation(a.f32(K::arg::y), a.f32(K::arg::b), d[K::dim::rows], d[K::dim::cols], d[K::dim::act]);
}

void biasGrad(const Args& a) {
  namespace K = kernel::biasGrad;
  const int32_t* d = a.ints(K::arrays);
  bias_grad(a.f32(K::arg::dy), a.f32(K::arg::db), d[K::dim::rows], d[K::dim::cols]);
}

// over dy.length values
void activationBackward(const Args& a) {
  namespace K = kernel::activationBackward;
  size_t len = 0;
  float* dy = a.f32(K::arg::dy, &len);
  activation_backward(dy, a.f32(K::arg::y), a.f32(K::arg::dx), len, a.ints(K::arrays)[K::dim::act]);
}

void maxPool2dForward(const Args& a) {
  namespace K = kernel::maxPool2dForward;
  maxpool2d_forward(a.f32(K::arg::x), a.f32(K::arg::y), a.i32(K::arg::argmax), pool_at(a.ints(K::arrays) + K::dim::g));
}

void maxPool2dBackward(const Args& a) {
  namespace K = kernel::maxPool2dBackward;
  maxpool2d_backward(a.f32(K::arg::dy), a.i32(K::arg::argmax), a.f32(K::arg::dx), pool_at(a.ints(K::arrays) + K::dim::g));
}

void conv2dMaxPoolForward(const Args& a) {
  namespace K = kernel::conv2dMaxPoolForward;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_maxpool_forward_bf16 : conv2d_maxpool_forward)(
      a.f32(K::arg::x), a.f32(K::arg::w), a.f32(K::arg::b), a.f32(K::arg::y), a.i32(K::arg::argmax), conv_at(d + K::dim::g),
      pool_at(d + K::dim::p), d[K::dim::act]);
}

void conv2dMaxPoolBackwardFilter(const Args& a) {
  namespace K = kernel::conv2dMaxPoolBackwardFilter;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_maxpool_backward_filter_bf16 : conv2d_maxpool_backward_filter)(
      a.f32(K::arg::x), a.f32(K::arg::dy), a.i32(K::arg::argmax), a.f32(K::arg::dw), a.f32(K::arg::db),
      conv_at(d + K::dim::g), pool_at(d + K::dim::p));
}

void conv2dMaxPoolBackwardInput(const Args& a) {
  namespace K = kernel::conv2dMaxPoolBackwardInput;
  const int32_t* d = a.ints(K::arrays);
  (d[K::dim::bf16] ? conv2d_maxpool_backward_input_bf16 : conv2d_maxpool_backward_input)(
      a.f32(K::arg::dy), a.i32(K::arg::argmax), a.f32(K::arg::w), a.f32(K::arg::dx), conv_at(d + K::dim::g),
      pool_at(d + K::dim::p));
}

// over a.length values
void mul(const Args& a) {
  namespace K = kernel::mul;
  size_t len = 0;
  float* x = a.f32(K::arg::a, &len);
  digits::mul(x, a.f32(K::arg::b), a.f32(K::arg::out), len);
}

void softmax(const Args& a) {
  namespace K = kernel::softmax;
  const int32_t* d = a.ints(K::arrays);
  digits::softmax(a.f32(K::arg::logits), a.f32(K::arg::probs), d[K::dim::rows], d[K::dim::cols]);
}

// returns the loss
double softmaxCrossEntropy(const Args& a) {
  namespace K = kernel::softmaxCrossEntropy;
  const int32_t* d = a.ints(K::arrays);
  return softmax_cross_entropy(a.f32(K::arg::logits), a.f32(K::arg::targets), a.f32(K::arg::probs), a.f32(K::arg::dlogits),
                               d[K::dim::rows], d[K::dim::cols]);
}

// over p.length values; o: lr, beta1, beta2, epsilon, step
void adamUpdate(const Args& a) {
  namespace K = kernel::adamUpdate;
  size_t len = 0;
  float* p = a.f32(K::arg::p, &len);
  const double* o = a.reals(K::arrays) + K::real::o;
  adam_update(p, a.f32(K::arg::g), a.f32(K::arg::m), a.f32(K::arg::v), len, o[0], o[1], o[2], o[3], o[4]);
}

// over p.length values; o: nesterov (dim), lr, momentum (real)
void sgdUpdate(const Args& a) {
  namespace K = kernel::sgdUpdate;
  size_t len = 0;
  float* p = a.f32(K::arg::p, &len);
  const double* o = a.reals(K::arrays) + K::real::o;
  sgd_update(p, a.f32(K::arg::g), a.f32(K::arg::vel), len, o[0], o[1], a.ints(K::arrays)[K::dim::o]);
}

// over avg.length values
void emaUpdate(const Args& a) {
  namespace K = kernel::emaUpdate;
  size_t len = 0;
  float* avg = a.f32(K::arg::avg, &len);
  ema_update(avg, a.f32(K::arg::x), len, a.reals(K::arrays)[K::real::keep]);
}

void batchNormStats(const Args& a) {
  namespace K = kernel::batchNormStats;
  const int32_t* d = a.ints(K::arrays);
  batchnorm_stats(a.f32(K::arg::x), a.f32(K::arg::mean), a.f32(K::arg::variance), d[K::dim::rows], d[K::dim::cols]);
}

void batchNormForward(const Args& a) {
  namespace K = kernel::batchNormForward;
  const int32_t* d = a.ints(K::arrays);
  batchnorm_forward(a.f32(K::arg::x), a.f32(K::arg::mean), a.f32(K::arg::variance), a.f32(K::arg::gamma), a.f32(K::arg::beta),
                    a.reals(K::arrays)[K::real::epsilon], a.f32(K::arg::y), d[K::dim::rows], d[K::dim::cols], d[K::dim::act]);
}

// reluY may be null
void batchNormBackward(const Args& a) {
  namespace K = kernel::batchNormBackward;
  const int32_t* d = a.ints(K::arrays);
  batchnorm_backward(a.f32(K::arg::x), a.f32(K::arg::dy), a.f32(K::arg::mean), a.f32(K::arg::variance), a.f32(K::arg::gamma),
                     a.reals(K::arrays)[K::real::epsilon], a.f32(K::arg::dx), a.f32(K::arg::dgamma), a.f32(K::arg::dbeta),
                     d[K::dim::rows], d[K::dim::cols], a.f32_or_null(K::arg::reluY));
}

// disp may be null
void affineResample(const Args& a) {
  namespace K = kernel::affineResample;
  const int32_t* d = a.ints(K::arrays);
  affine_resample(a.f32(K::arg::x), a.f32(K::arg::params), a.f32(K::arg::y), d[K::dim::n], d[K::dim::h], d[K::dim::w],
                  d[K::dim::c], a.f32_or_null(K::arg::disp));
}

void elasticField(const Args& a) {
  namespace K = kernel::elasticField;
  const int32_t* d = a.ints(K::arrays);
  const double* r = a.reals(K::arrays);
  elastic_field(a.f32(K::arg::noise), a.f32(K::arg::field), d[K::dim::n], d[K::dim::h], d[K::dim::w], r[K::real::sigma],
                r[K::real::alpha]);
}

// bind<> for a kernel that returns nothing, bind_number<> for one that returns a number.
template <class R>
struct Binder;
template <>
struct Binder<void> {
  template <void (*Body)(const Args&)>
  static constexpr napi_callback fn = bind<Body>;
};
template <>
struct Binder<double> {
  template <double (*Body)(const Args&)>
  static constexpr napi_callback fn = bind_number<Body>;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  struct Export {
    const char* name;
    napi_callback fn;
  };
  // every kernel of the table, by its name, bound by its return type
#define DIGITS_EXPORT(name) {#name, Binder<decltype(name(std::declval<const Args&>()))>::fn<name>},
  static const Export table[] = {
      {"setThreads", bind<SetThreads>},
      {"hardwareThreads", HardwareThreads},
      {"amxAvailable", AmxAvailable},
      {"bf16Kernels", Bf16Kernels},
      {"peakGflops", bind_number<PeakGflops>},
      {"releaseFreeMemory", ReleaseFreeMemory},
      DIGITS_KERNELS(DIGITS_EXPORT)
  };
#undef DIGITS_EXPORT
  std::vector<napi_property_descriptor> props;
  for (const Export& x : table) props.push_back({x.name, nullptr, x.fn, nullptr, nullptr, nullptr, napi_enumerable, nullptr});
  napi_define_properties(env, exports, props.size(), props.data());
  return exports;
}

}  // namespace

NODE_API_MODULE(digits_native, Init)
