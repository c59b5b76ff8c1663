// The thread split shared by engine.cpp and events.cpp (one library, built by
// nwave_core/engine/native.py).
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace nwave {

// elements per thread below which a pass runs on fewer threads (starting one costs ~20 us)
constexpr int64_t MIN_ELEMENTS_PER_THREAD = int64_t(1) << 16;

// rows(b0, b1) over [0, B) in up to `threads` contiguous chunks. Built with OpenMP (when torch's
// own GNU OpenMP runtime is loaded, so that this library shares its thread pool instead of
// competing with its spinning workers), the chunks run on the pool's threads; otherwise chunk 0
// runs on the calling thread and the others on std::threads (a thread that cannot be started
// runs its chunk here).
template <typename F>
void parallel_rows(int64_t B, int64_t per_row, int threads, F rows) {
  int64_t n = std::min<int64_t>(std::max(threads, 1), B);
  n = std::min<int64_t>(n, std::max<int64_t>(1, B * per_row / MIN_ELEMENTS_PER_THREAD));
  if (n <= 1) {
    rows(int64_t(0), B);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel num_threads(static_cast<int>(n))
  {
    const int64_t i = omp_get_thread_num(), m = omp_get_num_threads();
    rows(B * i / m, B * (i + 1) / m);
  }
#else
  std::vector<std::thread> pool;
  for (int64_t i = 1; i < n; ++i) {
    const int64_t b0 = B * i / n, b1 = B * (i + 1) / n;
    try {
      pool.emplace_back(rows, b0, b1);
    } catch (...) {
      rows(b0, b1);
    }
  }
  rows(int64_t(0), B / n);
  for (auto& thread : pool) thread.join();
#endif
}

}  // namespace nwave
