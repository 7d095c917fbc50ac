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
#include "bindings.h"
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
#define DIGITS_EXPORT(name) \
  {#name, Binder<decltype(bindings::name<Args>(std::declval<const Args&>()))>::fn<bindings::name<Args>>},
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
