// The WebAssembly module (wasm/digits.wasm, built by native/wasm-build.mjs): the same kernels as the
// Node addon, for runtimes without it (issue 31). Every kernel of the table is an export named after
// it, taking the address of a descriptor of its arguments in linear memory: d[2i] the address of
// argument i (0: null) and d[2i + 1] its length in elements, its arrays by position, then its
// integers and its reals (kernel_table.h), as the addon's arguments. It returns the kernel's number
// (softmaxCrossEntropy's loss), else 0. alloc / release manage linear memory for the caller
// (src/engine/wasm.ts). One thread (pool.h, DIGITS_NO_THREADS); the portable kernels of kernels.cc.
#include <cstdint>
#include <cstdlib>
#include <utility>

#include "bindings.h"
#include "pool.h"

namespace {

using namespace digits;

// A kernel's arguments as the descriptor gives them (bindings.h says what a binding asks for).
struct WasmArgs {
  const uint32_t* d;
  template <class T>
  T* array(size_t i, size_t* len = nullptr) const {
    if (len != nullptr) *len = d[2 * i + 1];
    return reinterpret_cast<T*>(uintptr_t(d[2 * i]));
  }
  float* f32(size_t i, size_t* len = nullptr) const { return array<float>(i, len); }
  int32_t* i32(size_t i) const { return array<int32_t>(i); }
  float* f32_or_null(size_t i) const { return array<float>(i); }
  const int32_t* ints(int arrays) const { return array<int32_t>(size_t(arrays)); }
  const double* reals(int arrays) const { return array<double>(size_t(arrays) + 1); }
};

template <class R>
struct Call;
template <>
struct Call<void> {
  template <void (*Body)(const WasmArgs&)>
  static double run(const uint32_t* d) {
    Body(WasmArgs{d});
    return 0.0;
  }
};
template <>
struct Call<double> {
  template <double (*Body)(const WasmArgs&)>
  static double run(const uint32_t* d) {
    return Body(WasmArgs{d});
  }
};

}  // namespace

#define DIGITS_WASM_EXPORT(name)                                                                          \
  extern "C" __attribute__((export_name(#name))) double digits_wasm_##name(const uint32_t* d) {          \
    return Call<decltype(bindings::name<WasmArgs>(std::declval<const WasmArgs&>()))>::run<                \
        bindings::name<WasmArgs>>(d);                                                                     \
  }
DIGITS_KERNELS(DIGITS_WASM_EXPORT)
#undef DIGITS_WASM_EXPORT

// bytes of linear memory, 16-byte aligned (0 when there is no more)
extern "C" __attribute__((export_name("alloc"))) void* digits_wasm_alloc(uint32_t bytes) {
  return std::aligned_alloc(16, (size_t(bytes) + 15) & ~size_t(15));
}

extern "C" __attribute__((export_name("release"))) void digits_wasm_release(void* p) { std::free(p); }

// the measured peak of this module's arithmetic, GFLOP/s (kernels.h)
extern "C" __attribute__((export_name("peakGflops"))) double digits_wasm_peak_gflops() { return peak_gflops(false); }
