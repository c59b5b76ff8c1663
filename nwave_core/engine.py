"""The multi-step neuron engine: a whole sequence of LIF-family dynamics for one layer.

:func:`lif_sequence` runs ``T`` steps of one layer as a single ``torch.autograd.Function``: the
forward loop runs without autograd on detached tensors into preallocated outputs, and the
backward is a hand-written reverse loop that calls ``surrogate.grad`` on ``membrane - threshold``,
so any surrogate works. :func:`lif_sequence_reference` is the same dynamics as a plain per-step
loop with autograd through it; the tests hold the two equal: bit for bit in the forward (the
engine performs the reference's floating-point operations), to rounding in the gradients.

Saved for the backward: no graph, only the pre-reset membrane ``u`` ``[B, T, N]`` (zero reset,
or any reset with a floor; spikes are recomputed as ``u >= threshold``), or nothing beyond the
outputs (subtraction or no reset without a floor: ``u - threshold`` follows exactly from
``mem`` and ``spikes``). The backward works in blocks of steps (:data:`BLOCK_ELEMENTS`): the
surrogate and every term that does not depend on the recurrence are whole-block tensor
operations, and the per-step loop is one ``addcmul`` (plus one ``mm`` when recurrent).

The loops have two implementations. On CPU, for float32 and float64, a small compiled library
runs them (C++ built on first use with the system's compiler, about two seconds, and cached in
``$NWAVE_EXTENSION_DIR`` or ``~/.cache/nwave/engine``): the forward is one call per layer (one
per step with recurrent weights, whose ``mm`` stays torch's), the backward one call per block;
``surrogate.grad`` is still called from Python on every block. Everywhere else, and when no
compiler is found, the build fails (one warning) or ``NWAVE_NO_EXTENSION=1`` is set, the
pure-PyTorch loops run. Both are held to the same reference by the tests; the forward is bit
for bit equal either way. :func:`extension_status` says which one runs.

One step ``t`` (batch-first: sequences are ``[B, T, N]``)::

    v = beta * v_prev + I[t] (+ s_prev @ W_rec)     # W_rec: recurrent_weight [N, N]
    s = H(v - threshold)                            # forward (v - threshold) >= 0
    zero: v = v * (1 - s);  subtraction: v = v - s * threshold;  none: v unchanged
    v = clamp(v, min=floor)                         # when floor is not None; gradient 1 at floor
    mem[:, t] = v                                   # the state carried to the next step

``s_prev`` is ``s0`` at ``t = 0`` (zeros when ``None``) and ``v_prev`` is ``v0`` (zeros when
``None``). Gradients flow to ``current``, ``beta``, ``threshold``, ``recurrent_weight``, ``v0``
and ``s0`` whenever they require grad, so a sequence fed in pieces (``v0``/``s0`` taken from the
previous piece's last step) gets the same gradients as one call over the whole sequence.

``detach_reset=True`` detaches the spike in the reset term (SpikingJelly's ``detach_reset``):
no gradient flows through ``s`` into the reset; ``threshold`` still gets the direct
``-s`` of the subtraction reset. The surrogate's own (learnable) parameters receive no gradient
through the engine, as with :func:`nwave_core.spike`.

The compute dtype is the promotion of the dtypes of ``current`` and the other inputs that have
dimensions (``[N]``, ``[N, N]``, ``[B, N]``); 0-d ``beta``/``threshold`` follow it, as in torch's
own type promotion. float32 and float64 are the supported dtypes; bfloat16 and float16 run.
"""

from __future__ import annotations

import ctypes
import hashlib
import numbers
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .chip import RESETS as _RESETS
from .surrogate import spike

__all__ = ["extension_status", "lif_sequence", "lif_sequence_reference"]


# -- input checks shared by both implementations -----------------------------------------------


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def _as_param(name: str, value: Any, n: int, current: Tensor) -> Tensor:
    """``beta`` / ``threshold`` as a 0-d or ``[N]`` tensor on current's device."""
    if isinstance(value, bool) or not isinstance(value, (Tensor, numbers.Real)):
        raise ValueError(f"{name} must be a number, a 0-d tensor or a [N] = [{n}] tensor, "
                         f"got {type(value).__name__}")
    if not isinstance(value, Tensor):
        return torch.tensor(float(value), dtype=current.dtype, device=current.device)
    if value.dim() != 0 and tuple(value.shape) != (n,):
        raise ValueError(f"{name} must be a 0-d tensor or [N] = [{n}], got {_shape(value)}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {value.dtype}")
    _check_device(name, value, current)
    return value


def _check_device(name: str, value: Tensor, current: Tensor) -> None:
    if value.device != current.device:
        raise ValueError(f"{name} must be on current's device {current.device}, "
                         f"got {value.device}")


def _check_state(name: str, value: Any, b: int, n: int, current: Tensor) -> Tensor | None:
    if value is None:
        return None
    if not isinstance(value, Tensor):
        raise ValueError(f"{name} must be None or a [B, N] = [{b}, {n}] tensor, "
                         f"got {type(value).__name__}")
    if tuple(value.shape) != (b, n):
        raise ValueError(f"{name} must be [B, N] = [{b}, {n}], got {_shape(value)}")
    _check_device(name, value, current)
    return value


def _prepare(current: Any, beta: Any, threshold: Any, surrogate: Any, reset: Any, floor: Any,
             recurrent_weight: Any, v0: Any, s0: Any, detach_reset: Any) -> tuple:
    """Validate the inputs and cast them to one compute dtype (differentiably)."""
    if not isinstance(current, Tensor) or current.dim() != 3:
        got = _shape(current) if isinstance(current, Tensor) else type(current).__name__
        raise ValueError(f"current must be a [B, T, N] tensor, got {got}")
    if not current.is_floating_point():
        raise ValueError(f"current must be a floating-point tensor, got {current.dtype}")
    b, t, n = current.shape
    if t < 1:
        raise ValueError(f"current must have at least one time step, got {_shape(current)}")
    if not callable(getattr(surrogate, "grad", None)):
        raise ValueError(f"surrogate must have a grad(x) method (a nwave_core.SurrogateBase), "
                         f"got {surrogate!r}")
    if not isinstance(reset, str) or reset not in _RESETS:
        raise ValueError(f"reset must be one of {', '.join(map(repr, _RESETS))}, got {reset!r}")
    if floor is not None:
        if isinstance(floor, Tensor) and floor.numel() == 1:
            floor = floor.item()
        if isinstance(floor, bool) or not isinstance(floor, numbers.Real):
            raise ValueError(f"floor must be None or a number, got {floor!r}")
        floor = float(floor)
    if not isinstance(detach_reset, bool):
        raise ValueError(f"detach_reset must be True or False, got {detach_reset!r}")
    beta = _as_param("beta", beta, n, current)
    threshold = _as_param("threshold", threshold, n, current)
    weight = recurrent_weight
    if weight is not None:
        if not isinstance(weight, Tensor) or tuple(weight.shape) != (n, n):
            got = _shape(weight) if isinstance(weight, Tensor) else type(weight).__name__
            raise ValueError(f"recurrent_weight must be [N, N] = [{n}, {n}], got {got}")
        if not weight.is_floating_point():
            raise ValueError(f"recurrent_weight must be a floating-point tensor, "
                             f"got {weight.dtype}")
        _check_device("recurrent_weight", weight, current)
    v0 = _check_state("v0", v0, b, n, current)
    s0 = _check_state("s0", s0, b, n, current)
    # compute dtype: promotion over the inputs with dimensions; 0-d parameters follow
    dtype = current.dtype
    for x in (beta, threshold, weight, v0):
        if x is not None and x.dim() > 0 and x.is_floating_point():
            dtype = torch.promote_types(dtype, x.dtype)

    def cast(x: Tensor | None) -> Tensor | None:
        return None if x is None else x.to(dtype)  # no-op (no graph node) when already dtype

    return (cast(current), cast(beta), cast(threshold), reset, floor, cast(weight), cast(v0),
            cast(s0), detach_reset)


# -- the reference: plain per-step autograd ----------------------------------------------------


def _clamp_min(v: Tensor, floor: float) -> Tensor:
    """``clamp(v, min=floor)`` whose gradient passes where ``v >= floor``, the floor included.

    The convention is pinned here rather than left to ``torch.clamp``, whose gradient exactly
    at the bound differs between torch versions (1 up to 2.x, 0 in some later builds). It
    matters: a zero reset lands exactly on a floor of 0 at every spike.
    """
    return torch.where(v < floor, v.new_tensor(floor), v)  # NaN stays NaN, as with clamp


def lif_sequence_reference(current: Tensor, beta: Tensor | float, threshold: Tensor | float,
                           surrogate: Any, *, reset: str = "subtraction",
                           floor: float | None = None, recurrent_weight: Tensor | None = None,
                           v0: Tensor | None = None, s0: Tensor | None = None,
                           detach_reset: bool = False) -> tuple[Tensor, Tensor]:
    """The dynamics of :func:`lif_sequence` as a plain loop of single steps with autograd.

    Slow for long sequences (its backward graph has ``T`` nodes per operation); it is the
    definition the fast engine is tested against, and the path for single steps.
    """
    current, beta, threshold, reset, floor, weight, v0, s0, detach_reset = _prepare(
        current, beta, threshold, surrogate, reset, floor, recurrent_weight, v0, s0,
        detach_reset)
    b, steps, n = current.shape
    v = v0 if v0 is not None else current.new_zeros(b, n)
    s = s0 if s0 is not None else current.new_zeros(b, n)
    spikes, mems = [], []
    for t in range(steps):
        v = beta * v + current[:, t]
        if weight is not None:
            v = v + s @ weight
        s = spike(v - threshold, surrogate)
        s_reset = s.detach() if detach_reset else s
        if reset == "zero":
            v = v * (1 - s_reset)
        elif reset == "subtraction":
            v = v - s_reset * threshold
        if floor is not None:
            v = _clamp_min(v, floor)
        spikes.append(s)
        mems.append(v)
    return torch.stack(spikes, 1), torch.stack(mems, 1)


# -- the fast engine ---------------------------------------------------------------------------


def _saves_u(reset: str, floor: float | None) -> bool:
    """Whether the backward needs the pre-reset membrane ``u`` saved.

    Without a floor, the outputs give back what the backward needs, bit for bit: no reset:
    ``u = mem``; subtraction: ``u - threshold = mem - (1 - s) * threshold`` (``mem`` is the
    forward's ``u - threshold`` where it spiked and ``u`` elsewhere). The zero reset and the
    floor lose ``u``.
    """
    return reset == "zero" or floor is not None


# -- the optional compiled loops ---------------------------------------------------------------
#
# The per-step loops cost a few interpreter and dispatcher round trips per step. The same loops
# in a small C++ library (no torch headers: plain loops over raw pointers, loaded with ctypes)
# cost one call per layer. The forward performs the reference's IEEE operations in the same
# order (no FMA contraction, no fast-math), so it stays bit for bit equal. The backward: one
# pass writes x = u - threshold of every step into the gradient buffer ``gu``; then, per block
# from the last, Python calls ``surrogate.grad`` on the block's x (a view of ``gu``) and one call
# computes the block's gu (coefficients, the terms without gu_{t+1}, and the recurrence),
# overwriting that x. Single-threaded on purpose: a second thread of its own competes with
# torch's intra-op threads, which spin between operations, and was slower on 2 cores.

_EXTENSION_SOURCE = r"""
#include <cstdint>
#include <vector>

namespace {

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
             int64_t out_st, int reset, int has_floor, double floor) {
  const std::vector<S> beta_n = broadcast(N, beta, beta_sn), thr_n = broadcast(N, thr, thr_sn);
  const S f = static_cast<S>(floor);
  auto run = [&](auto rows) {
    rows(0, B, T, N, cur, cur_sb, cur_st, beta_n.data(), thr_n.data(), v0, v0_sb, rec, rec_sb,
         spk, mem, uu, out_sb, out_st, f);
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
           int64_t x_sb, int64_t x_st) {
  const std::vector<S> thr_n = broadcast(N, thr, thr_sn);
  if (spk)
    shift_rows<S, true>(0, B, T, N, m, m_sb, m_st, spk, s_sb, s_st, thr_n.data(), x, x_sb, x_st);
  else
    shift_rows<S, false>(0, B, T, N, m, m_sb, m_st, spk, s_sb, s_st, thr_n.data(), x, x_sb,
                         x_st);
}

// the backward of a block of K steps, from K-1 down to 0, with c = d(reset membrane)/du
// (COEFF 0: 1; 1: 1 - thr * g, the subtraction reset; 2: the tensor coeff [B, K, N]) and
// g = surrogate.grad(u - thr) [B, K, N]:
//   gu_k = c_k * grad_mem_k + g_k * grad_spikes_k + c_k * beta * gu_{k+1}
template <typename S, int COEFF, bool GM, bool GS>
void block_rows(int64_t b0, int64_t b1, int64_t K, int64_t N, const S* g, const S* coeff,
                const S* gm, int64_t gm_sb, int64_t gm_st, const S* gs, int64_t gs_sb,
                int64_t gs_st, const S* beta, const S* thr, const S* nxt, int64_t nxt_sb, S* gu,
                int64_t gu_sb, int64_t gu_st) {
  for (int64_t b = b0; b < b1; ++b) {
    const S* next = nxt ? nxt + b * nxt_sb : nullptr;
    for (int64_t k = K - 1; k >= 0; --k) {
      const S* gk = g + (b * K + k) * N;
      const S* ck = COEFF == 2 ? coeff + (b * K + k) * N : nullptr;
      const S* gmk = GM ? gm + b * gm_sb + k * gm_st : nullptr;
      const S* gsk = GS ? gs + b * gs_sb + k * gs_st : nullptr;
      S* out = gu + b * gu_sb + k * gu_st;
      for (int64_t n = 0; n < N; ++n) {
        const S c = COEFF == 0 ? S(1) : COEFF == 1 ? S(1) - thr[n] * gk[n] : ck[n];
        S base = GM ? c * gmk[n] : S(0);
        if (GS) base = base + gk[n] * gsk[n];
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
           int64_t nxt_sb, S* gu, int64_t gu_sb, int64_t gu_st) {
  const std::vector<S> beta_n = broadcast(N, beta, beta_sn), thr_n = broadcast(N, thr, thr_sn);
  auto run = [&](auto rows) {
    rows(0, B, K, N, g, coeff, gm, gm_sb, gm_st, gs, gs_sb, gs_st, beta_n.data(), thr_n.data(),
         nxt, nxt_sb, gu, gu_sb, gu_st);
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

}  // namespace

#define NWAVE_EXPORT(NAME, S)                                                                 \
  extern "C" void nwave_forward_##NAME(                                                       \
      int64_t B, int64_t T, int64_t N, const S* cur, int64_t cur_sb, int64_t cur_st,          \
      const S* beta, int64_t beta_sn, const S* thr, int64_t thr_sn, const S* v0,              \
      int64_t v0_sb, const S* rec, int64_t rec_sb, S* spk, S* mem, S* uu, int64_t out_sb,     \
      int64_t out_st, int reset, int has_floor, double floor) {                               \
    forward<S>(B, T, N, cur, cur_sb, cur_st, beta, beta_sn, thr, thr_sn, v0, v0_sb, rec,       \
               rec_sb, spk, mem, uu, out_sb, out_st, reset, has_floor, floor);                \
  }                                                                                           \
  extern "C" void nwave_shift_##NAME(                                                         \
      int64_t B, int64_t T, int64_t N, const S* m, int64_t m_sb, int64_t m_st, const S* spk,  \
      int64_t s_sb, int64_t s_st, const S* thr, int64_t thr_sn, S* x, int64_t x_sb,           \
      int64_t x_st) {                                                                         \
    shift<S>(B, T, N, m, m_sb, m_st, spk, s_sb, s_st, thr, thr_sn, x, x_sb, x_st);             \
  }                                                                                           \
  extern "C" void nwave_block_##NAME(                                                         \
      int64_t B, int64_t K, int64_t N, const S* g, int coeff_mode, const S* coeff,            \
      const S* gm, int64_t gm_sb, int64_t gm_st, const S* gs, int64_t gs_sb, int64_t gs_st,   \
      const S* beta, int64_t beta_sn, const S* thr, int64_t thr_sn, const S* nxt,             \
      int64_t nxt_sb, S* gu, int64_t gu_sb, int64_t gu_st) {                                  \
    block<S>(B, K, N, g, coeff_mode, coeff, gm, gm_sb, gm_st, gs, gs_sb, gs_st, beta, beta_sn, \
             thr, thr_sn, nxt, nxt_sb, gu, gu_sb, gu_st);                                     \
  }

NWAVE_EXPORT(f32, float)
NWAVE_EXPORT(f64, double)

extern "C" int nwave_abi_version() { return 3; }
"""

#: the version the library reports (bumped with every change of its functions' signatures)
_EXTENSION_ABI = 3
#: ``reset`` as the compiled loop's code
_RESET_CODES = {"zero": 0, "subtraction": 1, "none": 2}
#: compiler flags: no -ffast-math and no FMA contraction, so the forward rounds as torch does
_EXTENSION_FLAGS = ("-O3", "-std=c++17", "-shared", "-fPIC", "-ffp-contract=off")
#: tried first (about 3x faster loops with AVX2 / AVX-512); the library is then cached per CPU
_NATIVE_FLAGS = ("-march=native",)
_EXTENSION_STATE: dict[str, Any] = {"tried": False, "lib": None, "reason": "not built yet"}
_EXTENSION_LOCK = threading.Lock()


def _extension_disabled() -> bool:
    return os.environ.get("NWAVE_NO_EXTENSION", "").strip().lower() not in ("", "0", "false",
                                                                               "no")


def _find_compiler() -> str | None:
    for name in (os.environ.get("CXX"), "c++", "g++", "clang++"):
        if name:
            path = shutil.which(name)
            if path:
                return path
    return None


def _extension_dirs() -> list[Path]:
    """Where the compiled library is cached: ``$NWAVE_EXTENSION_DIR``, else the user's cache
    directory, else (not writable) a directory of this user's in the temporary directory."""
    configured = os.environ.get("NWAVE_EXTENSION_DIR")
    if configured:
        return [Path(configured)]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return [Path(cache) / "nwave" / "engine",
            Path(tempfile.gettempdir()) / f"nwave-engine-{user}"]


def _cpu_signature() -> str:
    """The CPU model and feature flags: a library built with -march=native is cached per CPU."""
    try:
        with open("/proc/cpuinfo") as f:
            lines = [line for line in f if line.startswith(("model name", "flags", "Features"))]
        return "".join(sorted(set(lines)))
    except OSError:
        return platform.processor()


def _build_extension(directory: Path, compiler: str) -> ctypes.CDLL:
    """Compile (unless cached) and load the library; raises on any failure."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True,
                             timeout=60, check=True).stdout
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if hasattr(os, "getuid") and directory.stat().st_uid != os.getuid():
        raise PermissionError(f"{directory} belongs to another user")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise PermissionError(f"{directory} is not writable")
    errors = []
    for extra in (_NATIVE_FLAGS, ()):  # -march=native where the compiler takes it
        flags = (*_EXTENSION_FLAGS, *extra)
        key = hashlib.sha256("\0".join([_EXTENSION_SOURCE, compiler, version, *flags,
                                        platform.machine(), sys.platform,
                                        _cpu_signature() if extra else ""]).encode())
        library = directory / f"nwave_engine_{key.hexdigest()[:16]}.so"
        if library.exists():
            break
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            source = Path(tmp) / "nwave_engine.cpp"
            source.write_text(_EXTENSION_SOURCE)
            built = Path(tmp) / library.name
            result = subprocess.run([compiler, *flags, str(source), "-o", str(built)],
                                    capture_output=True, text=True, timeout=300, check=False)
            if result.returncode == 0:
                os.replace(built, library)  # atomic: concurrent builds each install a whole file
                break
            errors.append(f"{compiler} {' '.join(flags)} failed:\n"
                          f"{result.stderr.strip()[-2000:]}")
    else:
        raise RuntimeError("\n".join(errors))
    lib = ctypes.CDLL(str(library))
    if lib.nwave_abi_version() != _EXTENSION_ABI:
        raise RuntimeError(f"{library} is not this version's library")
    i64, ptr = ctypes.c_int64, ctypes.c_void_p
    for name in ("f32", "f64"):
        forward = getattr(lib, f"nwave_forward_{name}")
        forward.argtypes = [i64, i64, i64, ptr, i64, i64, ptr, i64, ptr, i64, ptr, i64, ptr,
                            i64, ptr, ptr, ptr, i64, i64, ctypes.c_int, ctypes.c_int,
                            ctypes.c_double]
        forward.restype = None
        shift = getattr(lib, f"nwave_shift_{name}")
        shift.argtypes = [i64, i64, i64, ptr, i64, i64, ptr, i64, i64, ptr, i64, ptr, i64, i64]
        shift.restype = None
        block = getattr(lib, f"nwave_block_{name}")
        block.argtypes = [i64, i64, i64, ptr, ctypes.c_int, ptr, ptr, i64, i64, ptr, i64, i64,
                          ptr, i64, ptr, i64, ptr, i64, ptr, i64, i64]
        block.restype = None
    return lib


def _load_extension() -> ctypes.CDLL | None:
    """The compiled library, built on first use (once per process); None when unavailable."""
    if _EXTENSION_STATE["tried"]:
        return _EXTENSION_STATE["lib"]
    with _EXTENSION_LOCK:
        if not _EXTENSION_STATE["tried"]:
            lib, reason = None, "built and loaded"
            compiler = _find_compiler()
            if os.name == "nt":
                reason = "not supported on Windows: pure-PyTorch loops"
            elif compiler is None:
                reason = "no C++ compiler found (CXX, c++, g++, clang++): pure-PyTorch loops"
            else:
                error: Exception | None = None
                for directory in _extension_dirs():
                    try:
                        lib = _build_extension(directory, compiler)
                        break
                    except OSError as dir_error:  # this directory is unusable: the next one
                        error = dir_error
                    except Exception as build_error:  # noqa: BLE001 - the fallback
                        error = build_error
                        break
                if lib is None:
                    reason = f"build failed, pure-PyTorch loops: {error}"
                    warnings.warn(f"nwave engine: the compiled loop is unavailable ({reason})",
                                  RuntimeWarning, stacklevel=3)
            _EXTENSION_STATE.update(tried=True, lib=lib, reason=reason)
    return _EXTENSION_STATE["lib"]


def extension_status() -> str:
    """Which loops :func:`lif_sequence` runs on CPU (float32/float64), and why.

    Builds the compiled loop if that has not been tried yet in this process.
    """
    if _extension_disabled():
        return "disabled by NWAVE_NO_EXTENSION: pure-PyTorch loops"
    lib = _load_extension()
    return f"compiled loop ({_EXTENSION_STATE['reason']})" if lib is not None else \
        str(_EXTENSION_STATE["reason"])


def _extension_for(*tensors: Tensor | None) -> tuple[Any, Any, Any] | None:
    """``(forward, shift, block)`` of the compiled library for these tensors' dtype, or None."""
    first = tensors[0]
    if first.device.type != "cpu" or first.dtype not in _DTYPE_SUFFIX or _extension_disabled():
        return None
    if any(x is not None and (x.dtype != first.dtype or x.device.type != "cpu")
           for x in tensors):
        return None
    lib = _load_extension()
    if lib is None:
        return None
    suffix = _DTYPE_SUFFIX[first.dtype]
    return (getattr(lib, f"nwave_forward_{suffix}"), getattr(lib, f"nwave_shift_{suffix}"),
            getattr(lib, f"nwave_block_{suffix}"))


_DTYPE_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}


def _ptr(x: Tensor | None, offset: int = 0) -> int | None:
    return None if x is None else x.data_ptr() + offset * x.element_size()


def _forward_compiled(kernel: Any, current: Tensor, beta: Tensor, threshold: Tensor, reset: str,
                      floor: float | None, weight: Tensor | None, v0: Tensor | None,
                      s0: Tensor | None, keep_u: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """:func:`_forward_loop` with the loop compiled: one call, or one per step when recurrent."""
    b, steps, n = current.shape
    if current.stride(2) != 1:
        current = current.contiguous()
    spikes = torch.empty(b, steps, n, dtype=current.dtype)
    mem = torch.empty_like(spikes)
    mem_is_u = reset == "none" and floor is None
    u_all = torch.empty_like(spikes) if keep_u and not mem_is_u else None
    beta, threshold = beta.contiguous(), threshold.contiguous()
    if v0 is not None and v0.stride(1) != 1:
        v0 = v0.contiguous()
    cur_sb, cur_st = current.stride(0), current.stride(1)
    out_sb, out_st = spikes.stride(0), spikes.stride(1)
    params = (_ptr(beta), int(beta.dim() > 0), _ptr(threshold), int(threshold.dim() > 0))
    tail = (_RESET_CODES[reset], int(floor is not None), 0.0 if floor is None else floor)
    if weight is None:
        kernel(b, steps, n, _ptr(current), cur_sb, cur_st, *params, _ptr(v0),
               v0.stride(0) if v0 is not None else 0, None, 0, _ptr(spikes), _ptr(mem),
               _ptr(u_all), out_sb, out_st, *tail)
    else:  # the recurrent input through torch's own mm (bit for bit the reference's)
        rec = current.new_empty(b, n)
        for t in range(steps):
            s_prev = spikes[:, t - 1] if t else s0
            if s_prev is not None:
                torch.mm(s_prev, weight, out=rec)
            v_prev, v_sb = (mem, out_sb) if t else (v0, v0.stride(0) if v0 is not None else 0)
            kernel(b, 1, n, _ptr(current, t * cur_st), cur_sb, cur_st, *params,
                   _ptr(v_prev, (t - 1) * out_st) if t else _ptr(v_prev), v_sb,
                   _ptr(rec) if s_prev is not None else None, n, _ptr(spikes, t * out_st),
                   _ptr(mem, t * out_st), _ptr(u_all, t * out_st), out_sb, out_st, *tail)
    return spikes, mem, (mem if mem_is_u else u_all) if keep_u else None


def _forward_loop(current: Tensor, beta: Tensor, threshold: Tensor, reset: str,
                  floor: float | None, weight: Tensor | None, v0: Tensor | None,
                  s0: Tensor | None, keep_u: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """The forward dynamics on detached tensors, without autograd.

    Returns ``(spikes, mem, u)`` with ``u`` the pre-reset membrane ``[B, T, N]`` when
    ``keep_u`` (else None). Every operation reproduces the reference's rounding exactly:
    ``beta * v + I`` is a multiply then an add (not a fused ``addcmul``); the resets multiply by
    a spike that is exactly 0 or 1, so their products are exact.
    """
    kernels = _extension_for(current, beta, threshold, weight, v0, s0)
    if kernels is not None:
        return _forward_compiled(kernels[0], current, beta, threshold, reset, floor, weight, v0,
                                 s0, keep_u)
    b, steps, n = current.shape
    spikes = torch.empty_like(current, memory_format=torch.contiguous_format)
    mem = torch.empty_like(spikes)
    cur_t, spk_t, mem_t = current.unbind(1), spikes.unbind(1), mem.unbind(1)
    # with reset "none" and no floor, mem is the pre-reset membrane itself
    mem_is_u = reset == "none" and floor is None
    u_all = torch.empty_like(spikes) if keep_u and not mem_is_u else None
    u_t = mem_t if mem_is_u else u_all.unbind(1) if u_all is not None else None
    scratch = current.new_empty(b, n) if u_t is None else None
    rec = current.new_empty(b, n) if weight is not None else None
    neg_threshold = -threshold
    v = v0 if v0 is not None else current.new_zeros(b, n)
    s_prev = s0
    for t in range(steps):
        u = u_t[t] if u_t is not None else scratch
        torch.mul(v, beta, out=u)
        u.add_(cur_t[t])
        if weight is not None and s_prev is not None:
            torch.mm(s_prev, weight, out=rec)
            u.add_(rec)
        s = spk_t[t]
        torch.ge(u, threshold, out=s)  # == (u - threshold >= 0) in IEEE arithmetic
        m = mem_t[t]
        if reset == "subtraction":
            torch.addcmul(u, s, neg_threshold, out=m)  # u - s * threshold, exact product
        elif reset == "zero":
            torch.addcmul(u, u, s, value=-1, out=m)  # u * (1 - s): u - u * s, exact product
        elif not mem_is_u:
            m.copy_(u)
        if floor is not None:
            m.clamp_(min=floor)
        v, s_prev = m, s
    return spikes, mem, (mem if mem_is_u else u_all) if keep_u else None


def _reset_membrane(u: Tensor, s: Tensor, threshold: Tensor, reset: str) -> Tensor:
    """The membrane after the reset, with the forward loop's exact arithmetic."""
    if reset == "subtraction":
        return torch.addcmul(u, s, -threshold)
    if reset == "zero":
        return torch.addcmul(u, u, s, value=-1)
    return u


class _LIFSequence(torch.autograd.Function):
    """Forward: the whole sequence, no graph. Backward: one reverse loop over time.

    Saved for the backward: the pre-reset membrane ``u`` for the zero reset or with a floor;
    otherwise nothing beyond the outputs (``mem`` and, for the subtraction reset, ``spikes``),
    from which ``u`` follows. Spikes are recomputed as ``u >= threshold`` where ``u`` is saved.
    """

    @staticmethod
    def forward(ctx: Any, current: Tensor, beta: Tensor,  # type: ignore[override]
                threshold: Tensor, weight: Tensor | None, v0: Tensor | None, s0: Tensor | None, surrogate: Any,
                reset: str, floor: float | None, detach_reset: bool) -> tuple[Tensor, Tensor]:
        ctx.set_materialize_grads(False)
        current, beta, threshold = current.detach(), beta.detach(), threshold.detach()
        weight = weight.detach() if weight is not None else None
        v0 = v0.detach() if v0 is not None else None
        s0 = s0.detach() if s0 is not None else None
        saves_u = _saves_u(reset, floor)
        spikes, mem, u = _forward_loop(current, beta, threshold, reset, floor, weight, v0, s0,
                                       keep_u=saves_u)
        if saves_u:
            saved = (u, None)
        else:
            saved = (mem, spikes if reset == "subtraction" else None)
        ctx.save_for_backward(*saved, beta, threshold, weight, v0, s0)
        ctx.surrogate, ctx.reset, ctx.floor, ctx.detach_reset = (surrogate, reset, floor,
                                                                 detach_reset)
        ctx.saves_u = saves_u
        return spikes, mem

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad_spikes: Tensor | None,  # type: ignore[override]
                 grad_mem: Tensor | None) -> tuple[Tensor | None, ...]:
        membrane, spikes, beta, threshold, weight, v0, s0 = ctx.saved_tensors
        need = ctx.needs_input_grad
        grads = _backward(membrane, spikes, ctx.saves_u, beta, threshold, weight, v0, s0,
                          grad_spikes, grad_mem, ctx.surrogate, ctx.reset, ctx.floor,
                          ctx.detach_reset, need_beta=need[1], need_threshold=need[2],
                          need_weight=weight is not None and need[3],
                          need_v0=v0 is not None and need[4],
                          need_s0=s0 is not None and weight is not None and need[5])
        grad_current, grad_beta, grad_threshold, grad_weight, grad_v0, grad_s0 = grads
        return (grad_current if need[0] else None, grad_beta, grad_threshold, grad_weight,
                grad_v0, grad_s0, None, None, None, None)


def _overlaps(a: Tensor, b: Tensor) -> bool:
    """Whether ``a`` may share memory with ``b`` (the same storage)."""
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _scan_python(gu: Tensor, base: Tensor, decay: Tensor, g: Tensor, weight_t: Tensor | None,
                 t0: int, t1: int, steps: int) -> Tensor | None:
    """The backward's recurrence over steps ``t1 - 1`` down to ``t0``, one step at a time.

    Writes ``gu[:, t0:t1]``; returns ``gu_{t+1} W^T`` of the block when recurrent (else None).
    """
    b, _, n = gu.shape
    gu_t, base_t, decay_t = gu[:, t0:t1].unbind(1), base.unbind(1), decay.unbind(1)
    rec_block = gu.new_empty(b, t1 - t0, n) if weight_t is not None else None
    rec_t = rec_block.unbind(1) if rec_block is not None else None
    nxt = gu[:, t1] if t1 < steps else None
    g_t = g.unbind(1) if weight_t is not None else None
    for k in range(t1 - t0 - 1, -1, -1):
        if nxt is None:
            gu_t[k].copy_(base_t[k])
            if rec_t is not None:
                rec_t[k].zero_()
        else:
            torch.addcmul(base_t[k], decay_t[k], nxt, out=gu_t[k])
            if rec_t is not None:
                torch.mm(nxt, weight_t, out=rec_t[k])  # gu_{t+1} W^T: d loss / d s_t
                gu_t[k].addcmul_(rec_t[k], g_t[k])
        nxt = gu_t[k]
    return rec_block


#: elements ([B, steps, N]) per block of the backward: its temporaries stay in cache
BLOCK_ELEMENTS = 1 << 17


def _backward(membrane: Tensor, spikes: Tensor | None, saved_u: bool, beta: Tensor,
              threshold: Tensor, weight: Tensor | None, v0: Tensor | None, s0: Tensor | None,
              grad_spikes: Tensor | None, grad_mem: Tensor | None, surrogate: Any, reset: str,
              floor: float | None, detach_reset: bool, *, need_beta: bool, need_threshold: bool,
              need_weight: bool, need_v0: bool, need_s0: bool) -> tuple[Tensor | None, ...]:
    """The reverse loop, in blocks of steps processed from the last to the first.

    With ``gu_t`` the gradient of the pre-reset membrane ``u_t`` (== the gradient of
    ``current[:, t]``), ``g_t = surrogate.grad(u_t - threshold)``, ``m_t`` the floor's mask and
    ``c_t = d(reset)/du`` (through the spike too, unless ``detach_reset``)::

        gu_t = c_t m_t (grad_mem_t + beta gu_{t+1}) + g_t (grad_spikes_t + gu_{t+1} W^T)

    Everything but the recurrence itself (``g``, ``c m``, the terms without ``gu_{t+1}``, and
    the reductions for beta, threshold and W) is computed per block with whole-block tensor
    operations; the loop over steps is one ``addcmul`` (plus one ``mm`` when recurrent). With
    the compiled loops (no recurrent weights), ``x``, the coefficients, the terms and the loop
    are compiled passes; ``g`` and the reductions stay tensor operations.
    """
    b, steps, n = membrane.shape
    dtype = membrane.dtype
    gu = torch.empty_like(membrane)
    # the compiled passes (not with recurrent weights: their mm stays torch's)
    kernels = _extension_for(membrane, beta, threshold) if weight is None else None
    weight_t = weight.t() if weight is not None else None
    acc_beta = membrane.new_zeros(b, n) if need_beta else None
    acc_threshold = membrane.new_zeros(b, n) if need_threshold else None
    acc_weight = membrane.new_zeros(n, n) if need_weight else None
    block = max(1, min(steps, BLOCK_ELEMENTS // max(1, b * n)))
    # the subtraction reset's direct -s * threshold, and the reset through the spike
    reset_through_s = reset == "zero" or reset == "subtraction"
    beta_sn = beta.stride(0) if beta.dim() else 0
    threshold_sn = threshold.stride(0) if threshold.dim() else 0
    if kernels is not None and membrane.stride(2) == 1 and (spikes is None
                                                            or spikes.stride(2) == 1):
        # x = u - threshold of every step in one pass, written into gu: each block reads its
        # x there before its gu overwrites it (see "the optional compiled loops" above)
        kernels[1](b, steps, n, _ptr(membrane), membrane.stride(0), membrane.stride(1),
                   _ptr(spikes), spikes.stride(0) if spikes is not None else 0,
                   spikes.stride(1) if spikes is not None else 0, _ptr(threshold),
                   threshold_sn, _ptr(gu), gu.stride(0), gu.stride(1))
    else:
        kernels = None
    for t1 in range(steps, 0, -block):
        t0 = max(0, t1 - block)
        u = None  # the pre-reset membrane, where needed (zero reset)
        x = gu[:, t0:t1] if kernels is not None else None
        if saved_u:
            u = membrane[:, t0:t1]
            if x is None:
                x = u - threshold
            s = (u >= threshold).to(dtype)  # the forward's own comparison, bit for bit
            reset_mem = _reset_membrane(u, s, threshold, reset)
        elif spikes is not None:
            # subtraction: mem = u - s * threshold, so u - threshold = mem - (1 - s) threshold,
            # computed with the forward's rounding exactly (the product is exact)
            reset_mem, s = membrane[:, t0:t1], spikes[:, t0:t1]
            if x is None:
                x = torch.addcmul(reset_mem, s - 1, threshold)
        else:  # no reset: u is mem
            reset_mem = membrane[:, t0:t1]
            if x is None:
                x = reset_mem - threshold
            s = (reset_mem >= threshold).to(dtype)
        g = surrogate.grad(x).to(dtype)
        if g.shape != x.shape:
            g = g.expand_as(x)
        mask = (reset_mem >= floor).to(dtype) if floor is not None else None
        gm = grad_mem[:, t0:t1] if grad_mem is not None else None
        gs = grad_spikes[:, t0:t1] if grad_spikes is not None else None
        nxt = gu[:, t1] if t1 < steps else None
        rec_block = None
        if kernels is not None and all(t is None or t.dtype == dtype for t in (g, gm, gs)):
            # coeff = d(reset membrane)/du (times the mask): mode 1 computes 1 - threshold * g
            coeff: Tensor | None = None
            mode = 0
            if reset == "subtraction" and not detach_reset and mask is None:
                mode = 1
            else:
                if reset == "zero":
                    coeff = 1 - s if detach_reset else (1 - s) - u * g
                elif reset == "subtraction" and not detach_reset:
                    coeff = 1 - threshold * g
                if mask is not None:
                    coeff = mask if coeff is None else coeff * mask
                if coeff is not None:
                    mode = 2
                    coeff = coeff.expand_as(x).contiguous()
            # g must not share memory with gu (a surrogate may return its input, or a view)
            g = g.clone() if _overlaps(g, gu) else g.contiguous()
            gm = gm if gm is None or gm.stride(2) == 1 else gm.contiguous()
            gs = gs if gs is None or gs.stride(2) == 1 else gs.contiguous()
            kernels[2](b, t1 - t0, n, _ptr(g), mode, _ptr(coeff), _ptr(gm),
                       gm.stride(0) if gm is not None else 0,
                       gm.stride(1) if gm is not None else 0, _ptr(gs),
                       gs.stride(0) if gs is not None else 0,
                       gs.stride(1) if gs is not None else 0, _ptr(beta), beta_sn,
                       _ptr(threshold), threshold_sn, _ptr(nxt), gu.stride(0),
                       _ptr(gu, t0 * gu.stride(1)), gu.stride(0), gu.stride(1))
        else:
            # coeff = d(reset membrane)/du (times the mask); decay = coeff * beta
            coeff = None
            decay: Tensor | None = None
            if reset == "zero":
                coeff = 1 - s if detach_reset else (1 - s) - u * g
            elif reset == "subtraction" and not detach_reset:
                if mask is None and gm is None:  # only decay is needed: one operation
                    decay = torch.addcmul(beta, g, -(beta * threshold))
                else:
                    coeff = 1 - threshold * g
            if mask is not None:
                coeff = mask if coeff is None else coeff * mask
            if decay is None:
                decay = beta if coeff is None else coeff * beta
            if gm is not None:
                base = gm if coeff is None else coeff * gm
                if gs is not None:
                    base = torch.addcmul(base, g, gs)
            elif gs is not None:
                base = g * gs
            else:  # pragma: no cover - autograd calls backward with at least one gradient
                base = torch.zeros_like(x)
            if decay.dim() < 3:
                decay = decay.expand(b, t1 - t0, n)
            # the recurrence, from step t1 - 1 down to t0
            rec_block = _scan_python(gu, base, decay, g, weight_t, t0, t1, steps)

        # reductions over the block, pairing step t with gu_{t+1} (zero after the last step)
        if need_beta or need_threshold or need_weight:
            if t1 < steps:
                gu_next = gu[:, t0 + 1:t1 + 1]
            else:
                gu_next = torch.cat([gu[:, t0 + 1:t1], x.new_zeros(b, 1, n)], 1)
        if need_beta:  # d u_{t+1} / d beta = v_t, the membrane after reset and floor
            mem = reset_mem.clamp(min=floor) if floor is not None else reset_mem
            acc_beta += (mem * gu_next).sum(1)
        if need_threshold:
            # -g * (d loss / d s) on every step; -s * (d loss / d reset_mem) for subtraction
            grad_reset = None
            if reset == "subtraction" or (reset == "zero" and not detach_reset):
                grad_reset = gu_next * beta
                if gm is not None:
                    grad_reset += gm
                if mask is not None:
                    grad_reset *= mask
            grad_s = gs
            if rec_block is not None:
                grad_s = rec_block if grad_s is None else grad_s + rec_block
            if reset_through_s and not detach_reset:
                through_s = grad_reset * (u if reset == "zero" else threshold)
                grad_s = -through_s if grad_s is None else grad_s - through_s
            if grad_s is not None:
                acc_threshold -= (g * grad_s).sum(1)
            if reset == "subtraction":
                acc_threshold -= (grad_reset * s).sum(1)
        if need_weight:  # sum over t of s_t^T gu_{t+1}
            acc_weight += torch.tensordot(s, gu_next, dims=([0, 1], [0, 1]))

    gu0 = gu[:, 0]
    grad_beta = grad_threshold = grad_weight = grad_v0 = grad_s0 = None
    if need_beta:
        if v0 is not None:
            acc_beta += gu0 * v0
        grad_beta = acc_beta.sum() if beta.dim() == 0 else acc_beta.sum(0)
    if need_threshold:
        grad_threshold = acc_threshold.sum() if threshold.dim() == 0 else acc_threshold.sum(0)
    if need_weight:
        if s0 is not None:
            acc_weight += s0.t() @ gu0
        grad_weight = acc_weight
    if need_v0:
        grad_v0 = gu0 * beta
    if need_s0:
        grad_s0 = gu0 @ weight_t
    return gu, grad_beta, grad_threshold, grad_weight, grad_v0, grad_s0


def lif_sequence(current: Tensor, beta: Tensor | float, threshold: Tensor | float,
                 surrogate: Any, *, reset: str = "subtraction", floor: float | None = None,
                 recurrent_weight: Tensor | None = None, v0: Tensor | None = None,
                 s0: Tensor | None = None, detach_reset: bool = False) -> tuple[Tensor, Tensor]:
    """Run ``T`` steps of LIF dynamics for one layer; returns ``(spikes, mem)``, each ``[B, T, N]``.

    Args:
        current: input current ``I [B, T, N]`` (the feed-forward matmul of all steps, done once
            outside).
        beta: decay ``exp(-dt / tau)``: a number, a 0-d tensor or ``[N]``; may require grad.
        threshold: a number, a 0-d tensor or ``[N]``; may require grad.
        surrogate: a :class:`nwave_core.SurrogateBase` (any object with ``grad(x)``); its
            ``grad`` is called on the saved ``membrane - threshold`` in the backward.
        reset: ``"zero"``, ``"subtraction"`` or ``"none"``.
        floor: clamp the membrane at ``floor`` after the reset (chips: 0.0); None: no clamp.
        recurrent_weight: ``[N, N]``; the step's recurrent input is ``s_prev @ recurrent_weight``.
        v0: initial membrane ``[B, N]`` (zeros when None).
        s0: spikes of the step before the first ``[B, N]`` (zeros when None).
        detach_reset: no gradient through the spike in the reset term.

    ``mem[:, t]`` is the membrane after reset and floor, the state carried to step ``t + 1``.
    One autograd node for the whole sequence; see the module docstring for the exact step.
    """
    current, beta, threshold, reset, floor, weight, v0, s0, detach_reset = _prepare(
        current, beta, threshold, surrogate, reset, floor, recurrent_weight, v0, s0,
        detach_reset)
    tensors = (current, beta, threshold, weight, v0, s0)
    if torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors):
        return _LIFSequence.apply(current, beta, threshold, weight, v0, s0, surrogate, reset,
                                  floor, detach_reset)
    with torch.no_grad():
        spikes, mem, _ = _forward_loop(current.detach(), beta.detach(), threshold.detach(),
                                       reset, floor,
                                       weight.detach() if weight is not None else None,
                                       v0.detach() if v0 is not None else None,
                                       s0.detach() if s0 is not None else None, keep_u=False)
    return spikes, mem
