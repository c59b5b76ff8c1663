// nwave's compiled LIF loops: plain C++ over raw pointers (no torch headers), loaded with ctypes
// by nwave_core/engine/native.py, which builds this file on first use and caches the library.
//
// The forward performs the Python reference's IEEE operations in the same order (built without
// FMA contraction or fast-math), so it is bit for bit equal to it. The reset is the one formula
// of nwave_core/engine/reference.py (reset_membrane): subtraction u - s * thr, zero u - u * s,
// none u; both products are exact since s is 0 or 1. The backward: one pass writes
// x = u - threshold of every step into the gradient buffer; then, per block of steps from the
// last, Python evaluates the surrogate on the block's x and one call computes the block's
// gradients (the recurrence), overwriting that x; a recurrent layer makes one call per step,
// after torch's mm for gu_{t+1} W^T. With a closed-form surrogate (fused below), a feed-forward
// layer's whole backward is one call, and a recurrent layer's step one call after the mm.
//
// The passes over many rows split the batch rows into contiguous chunks (parallel.h, `threads`
// from torch.get_num_threads()); every row is computed alone, in the same order, so the results
// do not depend on the number of threads. The synapses' event-driven products are in
// events.cpp, built into the same library.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "parallel.h"

namespace {

using nwave::parallel_rows;

// the forward of rows [b0, b1), steps [0, T); v0: the state before step 0 (zeros when null)
template <typename S, int RESET, bool FLOOR, bool REC, bool KEEP_U>
void forward_rows(int64_t b0, int64_t b1, int64_t T, int64_t N, const S* cur, int64_t cur_sb,
                  int64_t cur_st, const S* beta, const S* thr, const S* v0, int64_t v0_sb,
                  const S* rec, int64_t rec_sb, S* spk, S* mem, S* uu, int64_t out_sb,
                  int64_t out_st, S floor) {
  std::vector<S> zeros(N, S(0));
  for (int64_t b = b0; b < b1; ++b) {
    const S* v = v0 ? v0 + b * v0_sb : zeros.data();
    for (int64_t t = 0; t < T; ++t) {
      const S* in = cur + b * cur_sb + t * cur_st;
      const S* r = REC ? rec + b * rec_sb : nullptr;
      S* s_row = spk + b * out_sb + t * out_st;
      S* m_row = mem + b * out_sb + t * out_st;
      S* u_row = KEEP_U ? uu + b * out_sb + t * out_st : nullptr;
      for (int64_t n = 0; n < N; ++n) {
        S u = v[n] * beta[n];  // beta * v, then + I: two roundings, as in the reference
        u = u + in[n];
        if (REC) u = u + r[n];
        const S s = static_cast<S>(u >= thr[n]);
        S m;
        if (RESET == 1) m = u - s * thr[n];  // subtraction; s * thr is exact (s is 0 or 1)
        else if (RESET == 0) m = u - u * s;  // zero: u * (1 - s); u * s is exact
        else m = u;                          // none
        if (FLOOR) m = m < floor ? floor : m;
        if (KEEP_U) u_row[n] = u;
        s_row[n] = s;
        m_row[n] = m;
      }
      v = m_row;
    }
  }
}

template <typename S>
std::vector<S> broadcast(int64_t N, const S* x, int64_t sn) {  // 0-d (sn = 0) or [N] -> [N]
  std::vector<S> out(N);
  for (int64_t n = 0; n < N; ++n) out[n] = x[n * sn];
  return out;
}

template <typename S>
void forward(int64_t B, int64_t T, int64_t N, const S* cur, int64_t cur_sb, int64_t cur_st,
             const S* beta, int64_t beta_sn, const S* thr, int64_t thr_sn, const S* v0,
             int64_t v0_sb, const S* rec, int64_t rec_sb, S* spk, S* mem, S* uu, int64_t out_sb,
             int64_t out_st, int reset, int has_floor, double floor, int threads) {
  const std::vector<S> beta_n = broadcast(N, beta, beta_sn), thr_n = broadcast(N, thr, thr_sn);
  const S f = static_cast<S>(floor);
  auto run = [&](auto rows) {
    parallel_rows(B, T * N, threads, [&](int64_t b0, int64_t b1) {
      rows(b0, b1, T, N, cur, cur_sb, cur_st, beta_n.data(), thr_n.data(), v0, v0_sb, rec,
           rec_sb, spk, mem, uu, out_sb, out_st, f);
    });
  };
  // every mode its own loop, so that the compiler vectorizes each without branches
#define NWAVE_KEEP(R, F, REC)                                                         \
  if (uu) run(forward_rows<S, R, F, REC, true>);                                      \
  else run(forward_rows<S, R, F, REC, false>)
#define NWAVE_REC(R, F)                                                               \
  if (rec) { NWAVE_KEEP(R, F, true); } else { NWAVE_KEEP(R, F, false); }
#define NWAVE_FLOOR(R)                                                                \
  if (has_floor) { NWAVE_REC(R, true) } else { NWAVE_REC(R, false) }
  if (reset == 0) { NWAVE_FLOOR(0) }
  else if (reset == 1) { NWAVE_FLOOR(1) }
  else { NWAVE_FLOOR(2) }
#undef NWAVE_FLOOR
#undef NWAVE_REC
#undef NWAVE_KEEP
}

// the backward's x = u - threshold: m - thr from the saved pre-reset membrane (or mem without
// reset); m + (s - 1) * thr from the saved mem and spikes of the subtraction reset (the
// forward's u - thr exactly: the product is exact)
template <typename S, bool SPIKES>
void shift_rows(int64_t b0, int64_t b1, int64_t T, int64_t N, const S* m, int64_t m_sb,
                int64_t m_st, const S* spk, int64_t s_sb, int64_t s_st, const S* thr, S* x,
                int64_t x_sb, int64_t x_st) {
  for (int64_t b = b0; b < b1; ++b)
    for (int64_t t = 0; t < T; ++t) {
      const S* mt = m + b * m_sb + t * m_st;
      const S* st = SPIKES ? spk + b * s_sb + t * s_st : nullptr;
      S* xt = x + b * x_sb + t * x_st;
      for (int64_t n = 0; n < N; ++n)
        xt[n] = SPIKES ? mt[n] + (st[n] - S(1)) * thr[n] : mt[n] - thr[n];
    }
}

template <typename S>
void shift(int64_t B, int64_t T, int64_t N, const S* m, int64_t m_sb, int64_t m_st,
           const S* spk, int64_t s_sb, int64_t s_st, const S* thr, int64_t thr_sn, S* x,
           int64_t x_sb, int64_t x_st, int threads) {
  const std::vector<S> thr_n = broadcast(N, thr, thr_sn);
  parallel_rows(B, T * N, threads, [&](int64_t b0, int64_t b1) {
    if (spk)
      shift_rows<S, true>(b0, b1, T, N, m, m_sb, m_st, spk, s_sb, s_st, thr_n.data(), x, x_sb,
                          x_st);
    else
      shift_rows<S, false>(b0, b1, T, N, m, m_sb, m_st, spk, s_sb, s_st, thr_n.data(), x, x_sb,
                           x_st);
  });
}

// the backward of a block of K steps, from K-1 down to 0, with c = d(reset membrane)/du
// (COEFF 0: 1; 1: 1 - thr * g, the subtraction reset; 2: the tensor coeff [B, K, N]) and
// g = surrogate.grad(u - thr) [B, K, N]:
//   gu_k = c_k * grad_mem_k + g_k * (grad_spikes_k + rec_k) + c_k * beta * gu_{k+1}
// g and coeff: rows of K steps g_sb apart; rec (recurrent layers, null otherwise): the
// gradient reaching the spike through the recurrent weights, gu_{k+1} W^T, rows rec_sb apart
// (the recurrent backward calls this once per step, after torch's mm)
template <typename S, int COEFF, bool GM, bool GS>
void block_rows(int64_t b0, int64_t b1, int64_t K, int64_t N, const S* g, const S* coeff,
                const S* gm, int64_t gm_sb, int64_t gm_st, const S* gs, int64_t gs_sb,
                int64_t gs_st, const S* beta, const S* thr, const S* nxt, int64_t nxt_sb, S* gu,
                int64_t gu_sb, int64_t gu_st, int64_t g_sb, const S* rec, int64_t rec_sb) {
  for (int64_t b = b0; b < b1; ++b) {
    const S* next = nxt ? nxt + b * nxt_sb : nullptr;
    for (int64_t k = K - 1; k >= 0; --k) {
      const S* gk = g + b * g_sb + k * N;
      const S* ck = COEFF == 2 ? coeff + b * g_sb + k * N : nullptr;
      const S* rk = rec ? rec + b * rec_sb + k * N : nullptr;
      const S* gmk = GM ? gm + b * gm_sb + k * gm_st : nullptr;
      const S* gsk = GS ? gs + b * gs_sb + k * gs_st : nullptr;
      S* out = gu + b * gu_sb + k * gu_st;
      for (int64_t n = 0; n < N; ++n) {
        const S c = COEFF == 0 ? S(1) : COEFF == 1 ? S(1) - thr[n] * gk[n] : ck[n];
        S base = GM ? c * gmk[n] : S(0);
        if (GS) base = base + gk[n] * gsk[n];
        if (rk) base = base + gk[n] * rk[n];
        out[n] = next ? base + c * beta[n] * next[n] : base;
      }
      next = out;
    }
  }
}

template <typename S>
void block(int64_t B, int64_t K, int64_t N, const S* g, int coeff_mode, const S* coeff,
           const S* gm, int64_t gm_sb, int64_t gm_st, const S* gs, int64_t gs_sb, int64_t gs_st,
           const S* beta, int64_t beta_sn, const S* thr, int64_t thr_sn, const S* nxt,
           int64_t nxt_sb, S* gu, int64_t gu_sb, int64_t gu_st, int64_t g_sb, const S* rec,
           int64_t rec_sb, int threads) {
  const std::vector<S> beta_n = broadcast(N, beta, beta_sn), thr_n = broadcast(N, thr, thr_sn);
  auto run = [&](auto rows) {
    parallel_rows(B, K * N, threads, [&](int64_t b0, int64_t b1) {
      rows(b0, b1, K, N, g, coeff, gm, gm_sb, gm_st, gs, gs_sb, gs_st, beta_n.data(),
           thr_n.data(), nxt, nxt_sb, gu, gu_sb, gu_st, g_sb, rec, rec_sb);
    });
  };
#define NWAVE_GRADS(C)                                                                \
  if (gm) { if (gs) run(block_rows<S, C, true, true>);                                \
            else run(block_rows<S, C, true, false>); }                                \
  else { if (gs) run(block_rows<S, C, false, true>);                                  \
         else run(block_rows<S, C, false, false>); }
  if (coeff_mode == 0) { NWAVE_GRADS(0) }
  else if (coeff_mode == 1) { NWAVE_GRADS(1) }
  else { NWAVE_GRADS(2) }
#undef NWAVE_GRADS
}

// closed-form surrogate gradients, declared by built-in surrogates (their `kernel` attribute)
// and mapped to KIND and the coefficients c0, c1 in native.py (CLOSED_FORMS); each is tested
// against the surrogate's Python grad. 1 atan: c0 / (1 + (c1 x)^2), c0 = alpha/2,
// c1 = pi/2 alpha; 2 fast_sigmoid: 1 / (c0 |x| + 1)^2; 3 sigmoid: c0 s(c0 x) s(-c0 x).
template <typename S, int KIND>
inline S closed_form(S x, S c0, S c1) {
  if (KIND == 1) {
    const S z = c1 * x;
    return c0 / (S(1) + z * z);
  } else if (KIND == 2) {
    const S d = c0 * std::fabs(x) + S(1);
    return S(1) / (d * d);
  } else {
    const S z = c0 * x;
    return c0 * (S(1) / (S(1) + std::exp(-z))) * (S(1) / (S(1) + std::exp(z)));
  }
}

// the backward of steps [0, T) with a closed-form surrogate, from T-1 down to 0: x = u - thr
// from the saved mem (and spikes, subtraction reset), g, then
//   gu_t = c_t * grad_mem_t + g_t * (grad_spikes_t + rec_t) + c_t * beta * gu_{t+1}
// with c = 1 - thr * g (COEFF 1, subtraction reset) or 1 (COEFF 0). A feed-forward layer's
// whole backward is one call (nxt, rec null); a recurrent layer calls it once per step (T = 1)
// with nxt = gu_{t+1} and rec = gu_{t+1} W^T from torch's mm (rows rec_sb apart).
// one step of one row; every branch a template parameter, so that each loop vectorizes
template <typename S, int KIND, bool SPIKES, int COEFF, bool GM, bool GS, bool REC, bool NEXT>
inline void fused_step(int64_t N, const S* mt, const S* st, const S* gmt, const S* gst,
                       const S* rt, const S* next, S* out, const S* thr, const S* beta, S c0,
                       S c1) {
  for (int64_t n = 0; n < N; ++n) {
    const S x = SPIKES ? mt[n] + (st[n] - S(1)) * thr[n] : mt[n] - thr[n];
    const S g = closed_form<S, KIND>(x, c0, c1);
    const S c = COEFF == 1 ? S(1) - thr[n] * g : S(1);
    S base = GM ? c * gmt[n] : S(0);
    if (GS) base = base + g * gst[n];
    if (REC) base = base + g * rt[n];
    out[n] = NEXT ? base + c * beta[n] * next[n] : base;
  }
}

template <typename S, int KIND, bool SPIKES, int COEFF, bool GM, bool GS, bool REC>
void fused_rows(int64_t b0, int64_t b1, int64_t T, int64_t N, const S* m, int64_t m_sb,
                int64_t m_st, const S* spk, int64_t s_sb, int64_t s_st, const S* thr,
                const S* beta, const S* gm, int64_t gm_sb, int64_t gm_st, const S* gs,
                int64_t gs_sb, int64_t gs_st, const S* nxt, int64_t nxt_sb, S* gu, int64_t gu_sb,
                int64_t gu_st, const S* rec, int64_t rec_sb, S c0, S c1) {
  for (int64_t b = b0; b < b1; ++b) {
    const S* next = nxt ? nxt + b * nxt_sb : nullptr;
    for (int64_t t = T - 1; t >= 0; --t) {
      const S* mt = m + b * m_sb + t * m_st;
      const S* st = SPIKES ? spk + b * s_sb + t * s_st : nullptr;
      const S* gmt = GM ? gm + b * gm_sb + t * gm_st : nullptr;
      const S* gst = GS ? gs + b * gs_sb + t * gs_st : nullptr;
      const S* rt = REC ? rec + b * rec_sb + t * N : nullptr;
      S* out = gu + b * gu_sb + t * gu_st;
      if (next)
        fused_step<S, KIND, SPIKES, COEFF, GM, GS, REC, true>(N, mt, st, gmt, gst, rt, next, out,
                                                             thr, beta, c0, c1);
      else
        fused_step<S, KIND, SPIKES, COEFF, GM, GS, REC, false>(N, mt, st, gmt, gst, rt, next,
                                                              out, thr, beta, c0, c1);
      next = out;
    }
  }
}

template <typename S>
void fused(int64_t B, int64_t T, int64_t N, const S* m, int64_t m_sb, int64_t m_st,
           const S* spk, int64_t s_sb, int64_t s_st, const S* thr, int64_t thr_sn,
           const S* beta, int64_t beta_sn, const S* gm, int64_t gm_sb, int64_t gm_st,
           const S* gs, int64_t gs_sb, int64_t gs_st, const S* nxt, int64_t nxt_sb, S* gu,
           int64_t gu_sb, int64_t gu_st, const S* rec, int64_t rec_sb, int kind, int coeff_mode,
           double c0, double c1, int threads) {
  const std::vector<S> beta_n = broadcast(N, beta, beta_sn), thr_n = broadcast(N, thr, thr_sn);
  auto run = [&](auto rows) {
    parallel_rows(B, T * N, threads, [&](int64_t b0, int64_t b1) {
      rows(b0, b1, T, N, m, m_sb, m_st, spk, s_sb, s_st, thr_n.data(), beta_n.data(), gm,
           gm_sb, gm_st, gs, gs_sb, gs_st, nxt, nxt_sb, gu, gu_sb, gu_st, rec, rec_sb,
           static_cast<S>(c0), static_cast<S>(c1));
    });
  };
  // the cases the engine calls: saved spikes with the subtraction reset (coeff_mode 1, or 0
  // with detach_reset), no spikes without reset (coeff_mode 0)
#define NWAVE_GRADS(K, SP, C)                                                          \
  if (gm) { if (gs) { if (rec) run(fused_rows<S, K, SP, C, true, true, true>);         \
                      else run(fused_rows<S, K, SP, C, true, true, false>); }          \
            else { if (rec) run(fused_rows<S, K, SP, C, true, false, true>);           \
                   else run(fused_rows<S, K, SP, C, true, false, false>); } }          \
  else { if (gs) { if (rec) run(fused_rows<S, K, SP, C, false, true, true>);           \
                   else run(fused_rows<S, K, SP, C, false, true, false>); }            \
         else { if (rec) run(fused_rows<S, K, SP, C, false, false, true>);             \
                else run(fused_rows<S, K, SP, C, false, false, false>); } }
#define NWAVE_FUSED(K)                                                                \
  if (spk) { if (coeff_mode == 1) { NWAVE_GRADS(K, true, 1) }                        \
             else { NWAVE_GRADS(K, true, 0) } }                                      \
  else { NWAVE_GRADS(K, false, 0) }
  if (kind == 1) { NWAVE_FUSED(1) }
  else if (kind == 2) { NWAVE_FUSED(2) }
  else { NWAVE_FUSED(3) }
#undef NWAVE_FUSED
#undef NWAVE_GRADS
}

// the closed form alone on n values, for the tests against the surrogate's Python grad
template <typename S>
void closed_forms(int kind, double c0, double c1, const S* x, S* out, int64_t n) {
  const S a = static_cast<S>(c0), b = static_cast<S>(c1);
  for (int64_t i = 0; i < n; ++i)
    out[i] = kind == 1 ? closed_form<S, 1>(x[i], a, b)
           : kind == 2 ? closed_form<S, 2>(x[i], a, b) : closed_form<S, 3>(x[i], a, b);
}

}  // namespace

#define NWAVE_EXPORT(NAME, S)                                                                 \
  extern "C" void nwave_forward_##NAME(                                                       \
      int64_t B, int64_t T, int64_t N, const S* cur, int64_t cur_sb, int64_t cur_st,          \
      const S* beta, int64_t beta_sn, const S* thr, int64_t thr_sn, const S* v0,              \
      int64_t v0_sb, const S* rec, int64_t rec_sb, S* spk, S* mem, S* uu, int64_t out_sb,     \
      int64_t out_st, int reset, int has_floor, double floor, int threads) {                  \
    forward<S>(B, T, N, cur, cur_sb, cur_st, beta, beta_sn, thr, thr_sn, v0, v0_sb, rec,       \
               rec_sb, spk, mem, uu, out_sb, out_st, reset, has_floor, floor, threads);       \
  }                                                                                           \
  extern "C" void nwave_shift_##NAME(                                                         \
      int64_t B, int64_t T, int64_t N, const S* m, int64_t m_sb, int64_t m_st, const S* spk,  \
      int64_t s_sb, int64_t s_st, const S* thr, int64_t thr_sn, S* x, int64_t x_sb,           \
      int64_t x_st, int threads) {                                                            \
    shift<S>(B, T, N, m, m_sb, m_st, spk, s_sb, s_st, thr, thr_sn, x, x_sb, x_st, threads);    \
  }                                                                                           \
  extern "C" void nwave_block_##NAME(                                                         \
      int64_t B, int64_t K, int64_t N, const S* g, int coeff_mode, const S* coeff,            \
      const S* gm, int64_t gm_sb, int64_t gm_st, const S* gs, int64_t gs_sb, int64_t gs_st,   \
      const S* beta, int64_t beta_sn, const S* thr, int64_t thr_sn, const S* nxt,             \
      int64_t nxt_sb, S* gu, int64_t gu_sb, int64_t gu_st, int64_t g_sb, const S* rec,        \
      int64_t rec_sb, int threads) {                                                          \
    block<S>(B, K, N, g, coeff_mode, coeff, gm, gm_sb, gm_st, gs, gs_sb, gs_st, beta, beta_sn, \
             thr, thr_sn, nxt, nxt_sb, gu, gu_sb, gu_st, g_sb, rec, rec_sb, threads);         \
  }                                                                                           \
  extern "C" void nwave_fused_##NAME(                                                         \
      int64_t B, int64_t T, int64_t N, const S* m, int64_t m_sb, int64_t m_st, const S* spk,  \
      int64_t s_sb, int64_t s_st, const S* thr, int64_t thr_sn, const S* beta,                \
      int64_t beta_sn, const S* gm, int64_t gm_sb, int64_t gm_st, const S* gs, int64_t gs_sb, \
      int64_t gs_st, const S* nxt, int64_t nxt_sb, S* gu, int64_t gu_sb, int64_t gu_st,       \
      const S* rec, int64_t rec_sb, int kind, int coeff_mode, double c0, double c1,           \
      int threads) {                                                                          \
    fused<S>(B, T, N, m, m_sb, m_st, spk, s_sb, s_st, thr, thr_sn, beta, beta_sn, gm, gm_sb,   \
             gm_st, gs, gs_sb, gs_st, nxt, nxt_sb, gu, gu_sb, gu_st, rec, rec_sb, kind,        \
             coeff_mode, c0, c1, threads);                                                    \
  }                                                                                           \
  extern "C" void nwave_closed_form_##NAME(int kind, double c0, double c1, const S* x,       \
                                           S* out, int64_t n) {                               \
    closed_forms<S>(kind, c0, c1, x, out, n);                                                 \
  }

NWAVE_EXPORT(f32, float)
NWAVE_EXPORT(f64, double)

extern "C" int nwave_abi_version() { return 9; }
