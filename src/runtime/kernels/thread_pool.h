// The fast path's own thread pool: work items are claimed one at a time from a shared counter
// and the calling thread works too, so a worker that the OS has not scheduled (a loaded
// machine) never holds the others up at a barrier: whoever runs does the work. Workers spin
// briefly after a job (consecutive layers follow within microseconds), then sleep.
//
// Size: set_num_threads() (conv.h) sets it together with oneDNN's OpenMP count; 0 = one
// thread per available core. A parallel_for issued from inside a work item, or while another
// thread is using the pool, runs inline on the calling thread.
#pragma once
#include <cstdint>
#include <type_traits>

namespace dfmpc::pool {

// Threads a parallel_for uses (including the caller).
int threads();
// Threads a parallel_for issued now from this thread would use: 1 inside a work item (where
// it runs inline) or while the pool runs jobs serially (oversubscribed machine), else
// threads(). Kernels size their work split with it.
int concurrency();

// Runs fn(ctx, item, thread) for every item in [0, n); `thread` in [0, threads()) is unique
// among the threads running concurrently (index per-thread scratch with it).
void run(int64_t n, void (*fn)(void* ctx, int64_t item, int thread), void* ctx);

template <class F>
void parallel_for(int64_t n, F&& f) {  // f(item, thread)
  using Fn = std::remove_reference_t<F>;
  run(n, [](void* c, int64_t i, int t) { (*static_cast<Fn*>(c))(i, t); },
      const_cast<void*>(static_cast<const void*>(&f)));
}

// Used by set_num_threads(): 0 = one per available core.
void set_threads(int n);

}  // namespace dfmpc::pool
