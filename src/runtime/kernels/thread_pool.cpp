#include "runtime/kernels/thread_pool.h"

#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define DFMPC_PAUSE() _mm_pause()
#else
#define DFMPC_PAUSE() ((void)0)
#endif

namespace dfmpc::pool {
namespace {

using Clock = std::chrono::steady_clock;

thread_local bool t_busy = false;  // this thread is running a work item (or a whole job)

int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1u, std::thread::hardware_concurrency());
}

bool env_is(const char* name, const char* value) {
  const char* e = std::getenv(name);
  return e && std::string(e) == value;
}

// How long an idle worker polls for the next job before sleeping. Layers follow each other
// within microseconds; a futex wake-up costs tens of them.
std::chrono::microseconds spin_time() {
  static const auto t = [] {
    const char* e = std::getenv("DFMPC_POOL_SPIN_US");
    return std::chrono::microseconds(e ? std::atol(e) : 200);
  }();
  return t;
}

double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// The job word: generation (16 bits) | item count (24) | next item (24). A thread owns item i
// of the current job once its compare-exchange moved "next" from i to i + 1; the job's
// function and context were published before the word, and the caller changes them only
// after every item reported done, so a claimed item is always run with its own job's fields.
constexpr int kIdxBits = 24;
constexpr uint64_t kIdxMask = (uint64_t(1) << kIdxBits) - 1;
constexpr int64_t kMaxItems = int64_t(kIdxMask);
uint64_t idx_of(uint64_t w) { return w & kIdxMask; }
uint64_t count_of(uint64_t w) { return (w >> kIdxBits) & kIdxMask; }
uint64_t gen_of(uint64_t w) { return w >> (2 * kIdxBits); }
bool has_work(uint64_t w) { return idx_of(w) < count_of(w); }

class Pool {
 public:
  Pool() : want_(available_cores()) {}

  int threads() const { return want_.load(std::memory_order_relaxed); }
  // 1 while jobs run on the caller alone (see run()).
  int concurrency() const { return parallel_ok_.load(std::memory_order_relaxed) ? threads() : 1; }

  // Takes effect at the next job (workers are started or stopped there, under busy_).
  void set_threads(int n) { want_.store(n > 0 ? n : available_cores()); }

  void run(int64_t n, void (*fn)(void*, int64_t, int), void* ctx) {
    if (n <= 0) return;
    std::unique_lock<std::mutex> lk(busy_, std::defer_lock);
    if (n == 1 || t_busy || want_.load(std::memory_order_relaxed) <= 1 || !lk.try_lock()) {
      serial(n, fn, ctx);
      return;
    }
    // Oversubscription check on every 8th job: when the calling thread gets much less CPU
    // time than wall time, more threads want to run than there are cores, and spreading jobs
    // over our threads only makes them queue for the same cores and wait for each other (a
    // worker that loses its core in the middle of an item holds the job up for a whole time
    // slice). Jobs then run on the calling thread alone until the ratio recovers. On an idle
    // machine this never triggers. DFMPC_POOL_ADAPTIVE=0 turns it off.
    const bool sample = adaptive() && (++jobs_ & 7) == 0;
    const auto start = Clock::now();
    const double cpu0 = sample ? thread_cpu_seconds() : 0.0;
    if (!parallel_ok_) {
      serial(n, fn, ctx);
      if (sample) account(start, cpu0);
      return;
    }
    resize(want_.load());
    if (workers_.empty()) {
      serial(n, fn, ctx);
      return;
    }
    for (int64_t first = 0; first < n; first += kMaxItems) {  // (jobs are far smaller)
      const int64_t count = std::min(kMaxItems, n - first);
      if (first == 0) {
        fn_ = fn, ctx_ = ctx;
      } else {
        offset_fn_ = fn, offset_ctx_ = ctx, offset_ = first;
        fn_ = [](void* self, int64_t i, int t) {
          auto* p = static_cast<Pool*>(self);
          p->offset_fn_(p->offset_ctx_, p->offset_ + i, t);
        };
        ctx_ = this;
      }
      run_job(count);
      if (error_) std::rethrow_exception(error_);
    }
    if (sample) account(start, cpu0);
  }

 private:
  void run_job(int64_t n) {
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    const uint64_t w = word_.load(std::memory_order_relaxed);
    word_.store(((gen_of(w) + 1) << (2 * kIdxBits)) | (uint64_t(n) << kIdxBits), std::memory_order_seq_cst);
    wake_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_.notify_all();
    t_busy = true;
    claim(0);
    t_busy = false;
    // Wait for the items other threads are still running.
    const auto t0 = Clock::now();
    for (int k = 0; done_.load(std::memory_order_acquire) < n; ++k) {
      if (k < 64 || Clock::now() - t0 < std::chrono::microseconds(500)) DFMPC_PAUSE();
      else sched_yield();
    }
  }

  static bool adaptive() {
    static const bool on = !env_is("DFMPC_POOL_ADAPTIVE", "0");
    return on;
  }

  static void serial(int64_t n, void (*fn)(void*, int64_t, int), void* ctx) {
    const bool was = t_busy;
    t_busy = true;
    try {
      for (int64_t i = 0; i < n; ++i) fn(ctx, i, 0);
    } catch (...) {
      t_busy = was;
      throw;
    }
    t_busy = was;
  }

  // Adds a sampled job to the CPU / wall tally of the calling thread and, every 2 ms of
  // sampled wall time, decides whether jobs may use the workers: off after two windows below
  // 75% CPU time, back on above 85% (after 2^k - 1 good windows following k failures).
  void account(Clock::time_point start, double cpu0) {
    wall_acc_ += std::chrono::duration<double>(Clock::now() - start).count();
    cpu_acc_ += thread_cpu_seconds() - cpu0;
    if (wall_acc_ < 0.002) return;
    const double ratio = cpu_acc_ / wall_acc_;
    if (parallel_ok_) {
      bad_ = ratio < 0.75 ? bad_ + 1 : 0;
      if (bad_ >= 2) {  // two bad windows in a row (one may be a passing hiccup): back off,
        parallel_ok_ = false;  // each failed try doubling the wait before the next one
        fails_ = std::min(fails_ + 1, 10);
        good_ = bad_ = 0;
      } else if (bad_ == 0) {
        fails_ = 0;
      }
    } else {
      good_ = ratio > 0.85 ? good_ + 1 : 0;
      if (good_ >= (1 << fails_) - 1) parallel_ok_ = true;
    }
    wall_acc_ = cpu_acc_ = 0;
  }

  // Runs items of the current job until none is left to claim.
  void claim(int thread) {
    uint64_t w = word_.load(std::memory_order_acquire);
    while (has_work(w)) {
      if (!word_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      try {
        fn_(ctx_, static_cast<int64_t>(idx_of(w)), thread);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mu_);
        if (!error_) error_ = std::current_exception();
      }
      done_.fetch_add(1, std::memory_order_release);
      w = word_.load(std::memory_order_acquire);
    }
  }

  void worker(int index) {
    t_busy = true;  // a parallel_for inside an item runs inline
    for (;;) {
      uint64_t w = word_.load(std::memory_order_acquire);
      auto t0 = Clock::now();
      int k = 0;
      while (!stop_.load(std::memory_order_relaxed) && !has_work(w)) {
        if (++k % 64 != 0 || Clock::now() - t0 < spin_time()) {
          DFMPC_PAUSE();
        } else {  // sleep until the next job is published
          const uint32_t seq = wake_.load(std::memory_order_seq_cst);
          sleepers_.fetch_add(1, std::memory_order_seq_cst);
          if (!stop_.load() && !has_work(word_.load(std::memory_order_seq_cst)))
            wake_.wait(seq, std::memory_order_seq_cst);
          sleepers_.fetch_sub(1, std::memory_order_seq_cst);
          t0 = Clock::now();
        }
        w = word_.load(std::memory_order_acquire);
      }
      if (stop_.load(std::memory_order_relaxed)) return;
      claim(index);
    }
  }

  // Called with busy_ held and no job running.
  void resize(int total) {
    if (static_cast<int>(workers_.size()) == total - 1) return;
    stop_.store(true);
    wake_.fetch_add(1);
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    stop_.store(false);
    for (int i = 1; i < total; ++i) {
      try {
        workers_.emplace_back([this, i] { worker(i); });
      } catch (...) {
        break;  // could not start a thread: run with fewer
      }
    }
  }

  std::mutex busy_;  // one job at a time
  std::atomic<int> want_;
  std::vector<std::thread> workers_;
  uint64_t jobs_ = 0;
  std::atomic<bool> parallel_ok_{true};
  int fails_ = 0, good_ = 0;  // failed parallel tries in a row; good serial windows since
  int bad_ = 0;               // bad parallel windows in a row
  double wall_acc_ = 0, cpu_acc_ = 0;
  void (*fn_)(void*, int64_t, int) = nullptr;
  void* ctx_ = nullptr;
  void (*offset_fn_)(void*, int64_t, int) = nullptr;  // for jobs beyond kMaxItems items
  void* offset_ctx_ = nullptr;
  int64_t offset_ = 0;
  std::exception_ptr error_;
  std::mutex error_mu_;
  alignas(64) std::atomic<uint64_t> word_{0};
  alignas(64) std::atomic<int64_t> done_{0};
  alignas(64) std::atomic<uint32_t> wake_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
};

// Never destroyed: workers may still be sleeping when the process exits.
Pool& the_pool() {
  static Pool* p = new Pool();
  return *p;
}

}  // namespace

int threads() { return the_pool().threads(); }
int concurrency() { return t_busy ? 1 : the_pool().concurrency(); }
void run(int64_t n, void (*fn)(void*, int64_t, int), void* ctx) { the_pool().run(n, fn, ctx); }
void set_threads(int n) { the_pool().set_threads(n); }

}  // namespace dfmpc::pool
