// A small persistent thread pool. run(ntasks, fn) calls fn(task, tid) once
// for every task in [0, ntasks), spread over the calling thread (tid 0) and
// threads()-1 workers, and returns when all are done.
//
// Tasks are claimed one at a time from a shared counter, so a worker that the
// OS has descheduled (this machine is shared) never holds the caller up: the
// caller claims the remaining tasks itself and only waits for tasks already
// running. Kernels make every task write its own outputs in a fixed order, so
// results never depend on which thread ran which task.
//
// Idle workers spin briefly between jobs (a training step makes ~40 kernel
// calls in a row), then yield, then sleep on a condition variable.
//
// Each thread also owns scratch memory (grown once, reused), so kernels
// allocate nothing in the steady state.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

// WebAssembly without its threads proposal (wasm32-wasi): one thread, no workers; run() calls every
// task on the caller.
#if defined(__wasm__) && !defined(__wasm_threads__)
#define DIGITS_NO_THREADS 1
#else
#include <condition_variable>
#include <mutex>
#include <thread>
#endif

namespace digits {

// Denormal floats (below ~1.2e-38) are flushed to zero in the kernels' arithmetic (the SSE/AVX
// control bits FTZ and DAZ). Training makes them: Adam's moment estimates of a weight whose
// gradient is zero decay geometrically (m by 0.9 a step) through the denormal range, and each
// denormal operand costs the core a microcode assist of ~100 cycles. In `fast`, a quarter of the
// optimizer's values were denormal after 1,000 steps and its step had slowed from 2.9 to 3.7 ms.
// Workers set the bits once; the calling (JavaScript) thread sets them for the length of each
// kernel call only (DenormalsFlushed), so JavaScript's own arithmetic stays IEEE.
class DenormalsFlushed {
 public:
  DenormalsFlushed();
  ~DenormalsFlushed();
  DenormalsFlushed(const DenormalsFlushed&) = delete;
  DenormalsFlushed& operator=(const DenormalsFlushed&) = delete;

 private:
  unsigned saved_ = 0;
};

// Sets FTZ and DAZ on the calling thread for good (the pool's workers).
void flush_denormals();

// A growable 64-byte-aligned float buffer; contents are not preserved on growth.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer();
  float* get(size_t n);  // at least n floats
  float* data() const { return data_; }

 private:
  float* data_ = nullptr;
  size_t cap_ = 0;
};

// Per-thread scratch: a few named buffers.
struct Scratch {
  Buffer a;  // packed / transposed operand
  Buffer b;  // partial results
  Buffer c;  // column buffers
  std::vector<int> offs;
  std::vector<ptrdiff_t> loffs;
  std::vector<const float*> rows;
};

class ThreadPool {
 public:
  static constexpr int kMaxTasks = (1 << 18) - 1;

  static ThreadPool& instance();

  // Number of threads used by run(), >= 1; creates threads as needed.
  void set_threads(int n);
  int threads() const { return active_.load(std::memory_order_relaxed); }

  // Calls fn(task, tid) for task in [0, ntasks) (ntasks <= kMaxTasks).
  template <class F>
  void run(int ntasks, F&& fn) {
    if (ntasks <= 0) return;
    if (threads() <= 1 || ntasks == 1) {
      for (int t = 0; t < ntasks; t++) fn(t, 0);
      return;
    }
    using Fn = typename std::remove_reference<F>::type;
    dispatch(&invoke<Fn>, const_cast<void*>(static_cast<const void*>(&fn)), ntasks);
  }

  Scratch& scratch(int tid) { return *scratch_[tid]; }
  // Memory shared by all threads of one kernel call, owned by the caller.
  Scratch& shared() { return shared_; }

 private:
  using Job = void (*)(void* ctx, int task, int tid);
  template <class F>
  static void invoke(void* ctx, int task, int tid) {
    (*static_cast<F*>(ctx))(task, tid);
  }

  ThreadPool();
  void dispatch(Job job, void* ctx, int ntasks);
  void work(uint64_t gen, int tid);
  void worker(int tid);

  std::atomic<int> active_{1};
#ifndef DIGITS_NO_THREADS
  std::vector<std::thread> threads_;
#endif
  std::vector<Scratch*> scratch_;
  Scratch shared_;

  // state_ = generation (28 bits) | ntasks (18 bits) | next task (18 bits)
  std::atomic<uint64_t> state_{0};
  uint64_t generation_ = 0;  // written by the caller only
  std::atomic<int> done_{0};
  std::atomic<int> sleeping_{0};
  Job job_ = nullptr;
  void* ctx_ = nullptr;
#ifndef DIGITS_NO_THREADS
  std::mutex mutex_;
  std::condition_variable cv_;
#endif
};

}  // namespace digits
