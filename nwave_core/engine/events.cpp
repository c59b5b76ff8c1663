// The synapses' event-driven products (nwave_core/engine/events.py), built into one library with
// engine.cpp by nwave_core/engine/native.py.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>
#if defined(__AVX__)
#include <immintrin.h>
#endif

#include "parallel.h"

namespace {

using nwave::parallel_rows;

// Event-driven synaptic products, for inputs that are mostly zeros (spikes): x [R, K] with row
// stride x_sr, w [K, N] and g [R, N] with unit-stride rows. The forward out = x w and the
// weight's gradient x^T g visit only the nonzero x: each row's nonzero columns are gathered
// first without branches, then their rows are added (a spike, 1, without a product). Each output
// element sums its terms in index order, alone, so the results do not depend on the number of
// threads. Whether these passes run at all is decided by Python from count_nonzero (the share of
// nonzero inputs), the same on any number of threads.

// bit j: x[j] != 0 (NaN included), for j < 64; vector compares where the build allows
inline uint64_t nonzero_mask(const float* x) {
  uint64_t m = 0;
#if defined(__AVX512F__)
  for (int j = 0; j < 4; ++j)
    m |= static_cast<uint64_t>(
             _mm512_cmp_ps_mask(_mm512_loadu_ps(x + 16 * j), _mm512_setzero_ps(), _CMP_NEQ_UQ))
         << (16 * j);
#elif defined(__AVX__)
  for (int j = 0; j < 8; ++j)
    m |= static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_ps(
             _mm256_cmp_ps(_mm256_loadu_ps(x + 8 * j), _mm256_setzero_ps(), _CMP_NEQ_UQ))))
         << (8 * j);
#else
  for (int j = 0; j < 64; ++j) m |= static_cast<uint64_t>(x[j] != 0.0f) << j;
#endif
  return m;
}

inline uint64_t nonzero_mask(const double* x) {
  uint64_t m = 0;
#if defined(__AVX512F__)
  for (int j = 0; j < 8; ++j)
    m |= static_cast<uint64_t>(
             _mm512_cmp_pd_mask(_mm512_loadu_pd(x + 8 * j), _mm512_setzero_pd(), _CMP_NEQ_UQ))
         << (8 * j);
#elif defined(__AVX__)
  for (int j = 0; j < 16; ++j)
    m |= static_cast<uint64_t>(static_cast<uint32_t>(_mm256_movemask_pd(
             _mm256_cmp_pd(_mm256_loadu_pd(x + 4 * j), _mm256_setzero_pd(), _CMP_NEQ_UQ))))
         << (4 * j);
#else
  for (int j = 0; j < 64; ++j) m |= static_cast<uint64_t>(x[j] != 0.0) << j;
#endif
  return m;
}

// the columns k in [k0, k1) where row x is nonzero, into idx (64 columns a mask, the set bits
// read back in order); returns how many
template <typename S>
int64_t nonzero_columns(const S* x, int64_t k0, int64_t k1, int32_t* idx) {
  int64_t count = 0, k = k0;
  for (; k + 64 <= k1; k += 64)
    for (uint64_t mask = nonzero_mask(x + k); mask; mask &= mask - 1)
      idx[count++] = static_cast<int32_t>(k + __builtin_ctzll(mask));
  for (; k < k1; ++k) {
    idx[count] = static_cast<int32_t>(k);
    count += x[k] != S(0);
  }
  return count;
}

// o[0:W] = sum over the listed columns of x[k] * w[k, n0:n0+W], in list order, in registers
template <typename S, int W>
inline void add_rows(S* o, const S* x, const S* w, int64_t N, int64_t n0, const int32_t* idx,
                     int64_t count) {
  S acc[W];
  for (int j = 0; j < W; ++j) acc[j] = S(0);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t k = idx[i];
    const S v = x[k];
    const S* wk = w + k * N + n0;
    if (v == S(1)) {
      for (int j = 0; j < W; ++j) acc[j] += wk[j];
    } else {
      for (int j = 0; j < W; ++j) acc[j] += v * wk[j];
    }
  }
  for (int j = 0; j < W; ++j) o[j] = acc[j];
}

template <typename S>
void event_matmul(int64_t R, int64_t K, int64_t N, const S* x, int64_t x_sr, const S* w,
                  S* out, int threads) {
  constexpr int W = 64 / sizeof(S) * 4;  // four vector registers of AVX-512
  parallel_rows(R, K + N, threads, [&](int64_t r0, int64_t r1) {
    std::vector<int32_t> idx(K + 1);
    for (int64_t r = r0; r < r1; ++r) {
      const S* xr = x + r * x_sr;
      S* o = out + r * N;
      const int64_t count = nonzero_columns(xr, 0, K, idx.data());
      int64_t n0 = 0;
      for (; n0 + W <= N; n0 += W) add_rows<S, W>(o + n0, xr, w, N, n0, idx.data(), count);
      for (; n0 < N; ++n0) add_rows<S, 1>(o + n0, xr, w, N, n0, idx.data(), count);
    }
  });
}

// how many of x[0:n] (contiguous) are nonzero; a thread whose own count passes `limit` stops
// and the result is then some number above `limit` (the same decision on any number of threads)
template <typename S>
int64_t count_nonzero(int64_t n, const S* x, int64_t limit, int threads) {
  constexpr int64_t CHUNK = 4096;  // a multiple of 64
  std::atomic<int64_t> total(0);
  parallel_rows((n + CHUNK - 1) / CHUNK, CHUNK, threads, [&](int64_t c0, int64_t c1) {
    int64_t count = 0;
    for (int64_t c = c0; c < c1 && count <= limit; ++c) {
      const int64_t i0 = c * CHUNK, i1 = std::min(n, i0 + CHUNK);
      int64_t i = i0;
      for (; i + 64 <= i1; i += 64) count += __builtin_popcountll(nonzero_mask(x + i));
      for (; i < i1; ++i) count += x[i] != S(0);
    }
    total += count;
  });
  return total.load();
}

// gw = x^T g over the rows r of x paired with the rows r of g, skipping the rows r with
// r % period == period - 1 when period > 0 (the recurrent weight's gradient pairs each step's
// spikes with the next step's gradient: g points one row ahead, and each sequence's last step
// has no next)
template <typename S>
void event_weight_grad(int64_t R, int64_t K, int64_t N, const S* x, int64_t x_sr, const S* g,
                       int64_t g_sr, S* gw, int64_t period, int threads) {
  parallel_rows(K, R, threads, [&](int64_t k0, int64_t k1) {
    std::fill(gw + k0 * N, gw + k1 * N, S(0));
    std::vector<int32_t> idx(k1 - k0 + 1);
    for (int64_t r = 0; r < R; ++r) {
      if (period > 0 && r % period == period - 1) continue;
      const S* xr = x + r * x_sr;
      const S* gr = g + r * g_sr;
      const int64_t count = nonzero_columns(xr, k0, k1, idx.data());
      for (int64_t i = 0; i < count; ++i) {
        const int64_t k = idx[i];
        const S v = xr[k];
        S* o = gw + k * N;
        if (v == S(1)) {
          for (int64_t n = 0; n < N; ++n) o[n] += gr[n];
        } else {
          for (int64_t n = 0; n < N; ++n) o[n] += v * gr[n];
        }
      }
    }
  });
}

}  // namespace

#define NWAVE_EVENT_EXPORT(NAME, S)                                                           \
  extern "C" void nwave_event_matmul_##NAME(int64_t R, int64_t K, int64_t N, const S* x,       \
                                            int64_t x_sr, const S* w, S* out, int threads) {   \
    event_matmul<S>(R, K, N, x, x_sr, w, out, threads);                                       \
  }                                                                                           \
  extern "C" void nwave_event_weight_grad_##NAME(int64_t R, int64_t K, int64_t N, const S* x,  \
                                                 int64_t x_sr, const S* g, int64_t g_sr,      \
                                                 S* gw, int64_t period, int threads) {        \
    event_weight_grad<S>(R, K, N, x, x_sr, g, g_sr, gw, period, threads);                     \
  }                                                                                           \
  extern "C" int64_t nwave_count_nonzero_##NAME(int64_t n, const S* x, int64_t limit,          \
                                                int threads) {                                \
    return count_nonzero<S>(n, x, limit, threads);                                            \
  }

NWAVE_EVENT_EXPORT(f32, float)
NWAVE_EVENT_EXPORT(f64, double)
