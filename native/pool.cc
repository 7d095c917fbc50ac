#include "pool.h"

#include <chrono>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
[[maybe_unused]] static inline void cpu_relax() { _mm_pause(); }
// MXCSR bits: DAZ (denormal operands read as zero) and FTZ (denormal results written as zero).
constexpr unsigned kFlushBits = 0x0040u | 0x8000u;
static inline unsigned get_fp_control() { return _mm_getcsr(); }
static inline void set_fp_control(unsigned v) { _mm_setcsr(v); }
#else
[[maybe_unused]] static inline void cpu_relax() {}
constexpr unsigned kFlushBits = 0;
static inline unsigned get_fp_control() { return 0; }
static inline void set_fp_control(unsigned) {}
#endif

namespace digits {

DenormalsFlushed::DenormalsFlushed() : saved_(get_fp_control()) {
  if ((saved_ & kFlushBits) != kFlushBits) set_fp_control(saved_ | kFlushBits);
}

DenormalsFlushed::~DenormalsFlushed() {
  if ((saved_ & kFlushBits) != kFlushBits) set_fp_control(saved_);
}

void flush_denormals() { set_fp_control(get_fp_control() | kFlushBits); }

#ifndef DIGITS_NO_THREADS
namespace {
constexpr int kTaskBits = 18;
constexpr uint64_t kTaskMask = (uint64_t(1) << kTaskBits) - 1;
inline uint64_t gen_of(uint64_t s) { return s >> (2 * kTaskBits); }
inline int ntasks_of(uint64_t s) { return int((s >> kTaskBits) & kTaskMask); }
inline int next_of(uint64_t s) { return int(s & kTaskMask); }
}  // namespace
#endif

Buffer::~Buffer() { std::free(data_); }

float* Buffer::get(size_t n) {
  if (n > cap_ || data_ == nullptr) {
    std::free(data_);
    size_t cap = n + (n >> 2) + 16;  // headroom against regrowth
    size_t bytes = ((cap * sizeof(float)) + 63) & ~size_t(63);
    data_ = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (data_ == nullptr) std::abort();
    cap_ = bytes / sizeof(float);
  }
  return data_;
}

ThreadPool& ThreadPool::instance() {
  // Never destroyed: workers are detached and simply end with the process.
  static ThreadPool* pool = new ThreadPool();
  return *pool;
}

ThreadPool::ThreadPool() { scratch_.push_back(new Scratch()); }

#ifdef DIGITS_NO_THREADS
void ThreadPool::set_threads(int) { active_.store(1, std::memory_order_relaxed); }

// Never called with one thread (run() calls the tasks itself); kept for the interface.
void ThreadPool::dispatch(Job job, void* ctx, int ntasks) {
  for (int t = 0; t < ntasks; t++) job(ctx, t, 0);
}
#else
void ThreadPool::set_threads(int n) {
  if (n < 1) n = 1;
  while (static_cast<int>(threads_.size()) < n - 1) {
    int tid = static_cast<int>(threads_.size()) + 1;
    scratch_.push_back(new Scratch());
    threads_.emplace_back([this, tid] { worker(tid); });
    threads_.back().detach();
  }
  active_.store(n, std::memory_order_relaxed);
}

// Claims and runs tasks of generation gen until none are left.
void ThreadPool::work(uint64_t gen, int tid) {
  uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (gen_of(s) != gen || next_of(s) >= ntasks_of(s)) return;
    if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      // The job cannot change while one of its tasks is unfinished.
      job_(ctx_, next_of(s), tid);
      done_.fetch_add(1, std::memory_order_release);
      s = state_.load(std::memory_order_acquire);
    }
  }
}

void ThreadPool::dispatch(Job job, void* ctx, int ntasks) {
  if (ntasks > kMaxTasks) std::abort();  // callers bound their task counts
  job_ = job;
  ctx_ = ctx;
  done_.store(0, std::memory_order_relaxed);
  generation_ = (generation_ + 1) & ((uint64_t(1) << (64 - 2 * kTaskBits)) - 1);
  if (generation_ == 0) generation_ = 1;
  const uint64_t gen = generation_;
  state_.store((gen << (2 * kTaskBits)) | (uint64_t(ntasks) << kTaskBits), std::memory_order_seq_cst);
  if (sleeping_.load(std::memory_order_seq_cst) > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    cv_.notify_all();
  }
  work(gen, 0);
  // Only tasks already running elsewhere remain: wait for them.
  for (int spins = 0; done_.load(std::memory_order_acquire) != ntasks; spins++) {
    if (spins < 4000) cpu_relax();
    else std::this_thread::yield();
  }
}

void ThreadPool::worker(int tid) {
  flush_denormals();
  uint64_t seen = gen_of(state_.load(std::memory_order_acquire));
  using clock = std::chrono::steady_clock;
  // Idle: spin (cheap wake-up between the kernels of a step), then yield the
  // core to others for a while, then sleep.
  const auto spin_for = std::chrono::microseconds(100);
  const auto yield_for = std::chrono::microseconds(2000);
  for (;;) {
    uint64_t g = gen_of(state_.load(std::memory_order_acquire));
    if (g == seen) {
      const auto start = clock::now();
      for (;;) {
        for (int i = 0; i < 32 && g == seen; i++) {
          cpu_relax();
          g = gen_of(state_.load(std::memory_order_acquire));
        }
        if (g != seen) break;
        const auto idle = clock::now() - start;
        if (idle > yield_for) {
          std::unique_lock<std::mutex> lock(mutex_);
          sleeping_.fetch_add(1, std::memory_order_seq_cst);
          cv_.wait(lock, [&] { return gen_of(state_.load(std::memory_order_seq_cst)) != seen; });
          sleeping_.fetch_sub(1, std::memory_order_seq_cst);
          g = gen_of(state_.load(std::memory_order_acquire));
          break;
        }
        if (idle > spin_for) std::this_thread::yield();
      }
    }
    seen = g;
    if (tid < threads()) work(g, tid);
  }
}
#endif

}  // namespace digits
