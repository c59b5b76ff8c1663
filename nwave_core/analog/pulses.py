"""The pulse-train arithmetic of a pulsed update, as small pure functions.

A rank-1 update ``-lr * x d^T`` (one ``(batch, time)`` pair: input activity ``x`` [N_in], error
``d`` [N_out], the gradient at the synapse's output current) is sent to a crossbar as pulse
trains of length ``BL``: input line ``j`` fires in each slot with probability
``p_x = B |x_j|`` and output line ``i`` with ``p_d = A |d_i|``. Every coincidence moves the
cross point one device step against ``sign(x_j d_i)``. With ``A B BL = lr / dw_min`` the expected
number of coincidences is ``lr |x_j| |d_i| / dw_min``, i.e. an expected update of ``-lr x_j d_i``
(where no probability clips at 1).

The formulas (aihwkit's, see [`UpdateParameters`][nwave_core.analog.params.UpdateParameters]):

* fixed BL: ``BL = desired_bl``, ``A = B = sqrt(lr / (dw_min * BL))``;
* not fixed: if ``dw_min * desired_bl < lr`` then ``A = B = 1``, ``BL = ceil(lr / dw_min)``,
  else as fixed;
* BL management, per pair: ``BL = min(ceil(lr * max|x| * max|d| / dw_min), desired_bl)`` and
  ``A = B = sqrt(lr / (dw_min * BL))``;
* update management, per pair: ``gamma = max|x| / (um_grad_scale * max|d|)``; ``A`` times
  ``sqrt(gamma)``, ``B`` times ``1 / sqrt(gamma)``. (The seed's docstring says ``gamma`` and
  ``1/gamma``; aihwkit's implementation uses the square roots, which keep ``A B`` and make the
  largest ``p_x`` and ``p_d`` equal. We follow the implementation.)
* ``res``: probabilities snapped to multiples of the bin width (nearest, or stochastic rounding
  ``round(p / res + U - 1/2) * res`` with ``sto_round``), then clipped to ``[0, 1]``.

All pairs of a step are processed at once: pulse bits (or counts) of every pair and slot become
the rows of two matrices and the coincidence counts of the whole step are matrix products.
"""

from __future__ import annotations

import math
import threading

import attrs
import torch
from torch import Tensor

from .params import PulseType, UpdateParameters

__all__ = ["resolution", "discretize", "pulse_train", "managed_pulse_trains",
           "pulse_probabilities", "PulseCounts", "coincidences"]

#: resolution of the uniforms the stochastic bits are drawn with
_LEVELS = 2**16
#: the signs of the two threshold rows of a line (its positive and its negative part)
_SIGNS = torch.tensor([[1.0], [-1.0]])
_DETERMINISTIC = (PulseType.MEAN_COUNT, PulseType.DETERMINISTIC_IMPLICIT)
#: slot rows (pairs times slots) per counting product: bounds the scratch buffers
_CHUNK_ROWS = 8192


def resolution(res: float) -> float:
    """The bin width a ``res`` field means: ``0`` (off) for ``res <= 0``, ``1 / res`` for a
    number of steps ``res > 1``, else ``res``."""
    if res <= 0:
        return 0.0
    return 1.0 / res if res > 1 else float(res)


def discretize(p: Tensor, res: float, sto_round: bool = False,
               generator: torch.Generator | None = None) -> Tensor:
    """Snap ``p`` to multiples of the bin width ``resolution(res)`` (no change when off).

    Nearest rounding (half to even), or with ``sto_round`` ``round(p / r + U - 1/2) * r`` with
    ``U ~ Uniform[0, 1)``, which is unbiased: ``E[result] = p``.
    """
    width = resolution(res)
    if width == 0:
        return p
    scaled = p / width
    if sto_round:
        scaled = scaled + (torch.rand(p.shape, generator=generator, dtype=p.dtype) - 0.5)
    return torch.round(scaled) * width


def pulse_train(lr: float, dw_min: float, params: UpdateParameters) -> tuple[int, float, float]:
    """``(BL, A, B)`` before any management (``fixed_bl`` and the non-fixed rule).

    With ``update_bl_management`` the result is the fixed-BL one (``desired_bl`` is then the
    maximal length). ``lr == 0`` gives ``(0, 0.0, 0.0)``.

    Raises:
        ValueError: ``lr < 0`` or ``dw_min <= 0``.
    """
    if lr < 0:
        raise ValueError(f"pulsed update: the learning rate must be >= 0, got {lr!r}")
    if dw_min <= 0:
        raise ValueError(f"pulsed update: dw_min must be > 0, got {dw_min!r}")
    if lr == 0:
        return 0, 0.0, 0.0
    if params.fixed_bl or params.update_bl_management or dw_min * params.desired_bl >= lr:
        bl = params.desired_bl
        a = math.sqrt(lr / (dw_min * bl))
        return bl, a, a
    return max(math.ceil(lr / dw_min), 1), 1.0, 1.0


def managed_pulse_trains(lr: float, dw_min: float, x_max: Tensor, d_max: Tensor,
                         params: UpdateParameters) -> tuple[Tensor, Tensor, Tensor]:
    """Per pair ``(BL, A, B)`` given each pair's ``max|x|`` and ``max|d|`` (float64 ``[P]``).

    Pairs with ``max|x| == 0`` or ``max|d| == 0`` send no pulses (``BL = 0``).

    Returns:
        ``BL`` int64 ``[P]``, ``A`` and ``B`` float64 ``[P]``.
    """
    bl0, a0, b0 = pulse_train(lr, dw_min, params)
    x_max = x_max.double()
    d_max = d_max.double()
    bl = torch.full(x_max.shape, float(bl0), dtype=torch.float64)
    a = torch.full(x_max.shape, a0, dtype=torch.float64)
    b = torch.full(x_max.shape, b0, dtype=torch.float64)
    live = (x_max > 0) & (d_max > 0)
    if lr > 0 and params.update_bl_management:
        bl = torch.ceil(lr * x_max * d_max / dw_min).clamp(min=1, max=params.desired_bl)
        a = torch.sqrt(lr / (dw_min * bl))
        b = a.clone()
    if lr > 0 and params.managed:
        gamma = torch.where(live, x_max / (params.um_grad_scale * d_max), torch.ones_like(x_max))
        root = torch.sqrt(gamma)
        a = a * root
        b = b / root
    bl = torch.where(live, bl, torch.zeros_like(bl)).long()
    return bl, a, b


def pulse_probabilities(v: Tensor, scale: Tensor, res: float, sto_round: bool = False,
                        generator: torch.Generator | None = None) -> Tensor:
    """``clip(discretize(scale * |v|), 0, 1)`` with one ``scale`` per pair (``v`` is ``[P, N]``,
    ``scale`` ``[P]``)."""
    p = scale.to(v.dtype)[:, None] * v.abs()
    return discretize(p, res, sto_round, generator).clamp(0.0, 1.0)


@attrs.frozen
class PulseCounts:
    """Coincidences of one update step, per cross point ``[N_in, N_out]``."""

    up: Tensor = attrs.field(metadata={"doc": "coincidences that raise the weight (x d < 0)"})
    down: Tensor = attrs.field(metadata={"doc": "coincidences that lower the weight (x d > 0)"})
    d_sparsity: float = attrs.field(default=float("nan"), metadata={
        "doc": "share of error entries (over live pairs) with zero pulse probability"})


def coincidences(x: Tensor, d: Tensor, lr: float, dw_min: float, params: UpdateParameters,
                 generator: torch.Generator | None = None) -> PulseCounts:
    """The up and down coincidence counts of all pairs ``(x[p], d[p])`` of one step.

    Args:
        x: input activity ``[P, N_in]`` (one row per ``(batch, time)`` pair).
        d: gradient at the output current ``[P, N_out]``.
        lr: learning rate (``>= 0``).
        dw_min: the device's mean step (the weight granularity).
        params: the update parameters; ``pulse_type`` must not be ``NONE``/``NONE_WITH_DEVICE``.
        generator: random source of the pulse bits (and stochastic rounding).

    Returns:
        [`PulseCounts`][nwave_core.analog.pulses.PulseCounts], in ``x``'s dtype; integer-valued for
        the stochastic types.
    """
    if x.dim() != 2 or d.dim() != 2 or x.shape[0] != d.shape[0]:
        raise ValueError(f"coincidences: x must be [P, N_in] and d [P, N_out] with the same P, "
                         f"got {list(x.shape)} and {list(d.shape)}")
    kind = params.pulse_type
    if kind in (PulseType.NONE, PulseType.NONE_WITH_DEVICE):
        raise ValueError(f"coincidences: pulse_type {kind.value!r} sends no pulses")
    dtype = x.dtype
    d = d.to(dtype)
    zero = x.new_zeros(x.shape[1], d.shape[1])
    x, d = x.detach(), d.detach()
    x_min = x.amin(1)
    bl, a, b = managed_pulse_trains(lr, dw_min, torch.maximum(x.amax(1), -x_min), _abs_max(d),
                                    params)
    live = bl > 0
    if not bool(live.any()):
        return PulseCounts(zero, zero.clone())
    if not bool(live.all()):
        x, d, bl, a, b, x_min = x[live], d[live], bl[live], a[live], b[live], x_min[live]
    if kind not in _DETERMINISTIC:
        signed = bool((x_min < 0).any())
        x_thr = _thresholds(x, b, params, generator, by_sign=signed)
        d_thr = _thresholds(d, a, params, generator)
        sparsity = (float((d_thr.amax(1) < -_LEVELS // 2).double().mean()) if params.d_sparsity
                    else float("nan"))
        up, down = _stochastic(x, x_thr, d, d_thr, bl, signed, generator)
        if kind is PulseType.STOCHASTIC:  # a second, independent pass makes the up pulses
            up, _ = _stochastic(x, x_thr, d, d_thr, bl, signed, generator)
        return PulseCounts(up, down, sparsity)
    if kind is PulseType.DETERMINISTIC_IMPLICIT:
        px = pulse_probabilities(x, b, params.x_res_implicit, params.sto_round, generator)
        pd = pulse_probabilities(d, a, params.d_res_implicit, params.sto_round, generator)
    else:
        px = pulse_probabilities(x, b, params.res, params.sto_round, generator)
        pd = pulse_probabilities(d, a, params.res, params.sto_round, generator)
    sparsity = float((pd == 0).double().mean()) if params.d_sparsity else float("nan")
    blf = bl.to(dtype)[:, None]
    sx, sd = torch.sign(x), torch.sign(d)
    if kind is PulseType.MEAN_COUNT:
        # each line fires round(BL p) pulses; a cross point sees count_x * count_d / BL
        up, down = _signed_products(sx * torch.round(blf * px), sd * torch.round(blf * pd) / blf)
    else:
        up, down = _signed_products(sx * px, sd * pd * blf)
    return PulseCounts(up, down, sparsity)


_SCRATCH = threading.local()


def _scratch(name: str, shape: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """A reused per-thread buffer of ``shape`` (contents undefined): fresh multi-megabyte
    tensors on every step cost page faults that rival the arithmetic."""
    buffers = getattr(_SCRATCH, "buffers", None)
    if buffers is None:
        buffers = _SCRATCH.buffers = {}
    count = math.prod(shape)
    buffer = buffers.get(name)
    if buffer is None or buffer.numel() < count or buffer.dtype != dtype:
        buffer = buffers[name] = torch.empty(count, dtype=dtype)
    return buffer[:count].view(shape)


def _bits(n: int, slots: int, thresholds: Tensor, side: str,
          generator: torch.Generator | None) -> Tensor:
    """Bits ``[n, slots, k, width]`` (bool) for ``thresholds`` ``[n, 1, k, width]`` (float32,
    or int16 from `_int16_thresholds`): one 16-bit uniform per (pair, slot, line), shared
    by the ``k`` threshold rows, fires where it falls below the threshold (in reused buffers)."""
    k, width = thresholds.shape[2], thresholds.shape[3]
    count = n * slots * width
    words = _scratch("words", (-(-count // 4),), torch.int64)
    words.random_(-2**63, 2**63 - 1, generator=generator)
    uniform = words.view(torch.int16)[:count].view(n, slots, 1, width)
    if thresholds.dtype != torch.int16:
        uniform = _scratch("uniform", (n, slots, 1, width), torch.float32).copy_(uniform)
    bits = _scratch(f"bits_{side}", (n, slots, k, width), torch.bool)
    torch.lt(uniform, thresholds, out=bits)
    return bits


def _int16_thresholds(thresholds: Tensor) -> Tensor | None:
    """The same comparisons as int16 thresholds (``u < t`` for an integer ``u`` is ``u <
    ceil(t)``), or None when a probability is too close to 1 for int16 (``ceil(t) = 2^15``)."""
    if float(thresholds.max()) > _LEVELS // 2 - 1:
        return None
    return thresholds.ceil().clamp_(min=-(_LEVELS // 2)).to(torch.int16)


def _count_product(left: Tensor, right: Tensor) -> Tensor:
    """``left^T @ right`` for 0/1 matrices ``left`` ``[rows, m]`` and ``right`` ``[rows, n]``
    (bool, ``rows < 2^24``), exact: an int8 product with int32 sums (several times faster than
    float32 on CPUs with VNNI/AMX), float32 where that is unavailable and for ``m == 1`` (torch
    2.13's CPU ``_int_mm`` returns wrong sums for a single row)."""
    a, b = left.view(torch.int8).t(), right.view(torch.int8)
    if a.shape[0] > 1:
        try:
            return torch._int_mm(a, b)
        except (AttributeError, RuntimeError, NotImplementedError):  # pragma: no cover
            pass  # a torch without the int8 product on this CPU
    return (a.float() @ b.float()).to(torch.int32)


def _thresholds(v: Tensor, scale: Tensor, params: UpdateParameters,
                generator: torch.Generator | None, by_sign: bool = True) -> Tensor:
    """Thresholds ``t`` with ``P(u < t) = p`` rounded to a multiple of ``2^-16`` (nearest) for
    ``u`` the 16-bit uniform of `_bits`, ``p = pulse_probabilities(v, scale, res)``; ``p = 0``
    and ``p = 1`` stay exact.

    Returns:
        ``[P, 2, N]`` with ``by_sign``: row 0 holds the lines with ``v > 0``, row 1 those with
        ``v < 0`` (``p = 0`` elsewhere); else ``[P, 1, N]`` for ``v >= 0``.
    """
    if resolution(params.res) > 0:
        p = pulse_probabilities(v, scale, params.res, params.sto_round, generator).float()
        if by_sign:
            p = torch.stack([p * (v > 0), p * (v < 0)], dim=1)
        else:
            p = p[:, None, :]
        return p.mul_(_LEVELS).sub_(_LEVELS // 2 + 0.5)
    # p = scale |v| without clipping: p > 1 fires in every slot all the same, and a line of the
    # other sign gets a threshold below -2^15 - 1/2, so it never fires (a product and an
    # in-place shift: faster than addcmul with a 0-dim tensor)
    v, factor = v.float(), (scale.float() * _LEVELS)[:, None]
    if not by_sign:
        return torch.mul(v, factor).sub_(_LEVELS // 2 + 0.5)[:, None, :]
    return torch.mul(v[:, None, :], factor[:, :, None] * _SIGNS).sub_(_LEVELS // 2 + 0.5)


def _abs_max(v: Tensor) -> Tensor:
    """``max |v|`` of every row, in one pass."""
    return torch.maximum(v.amax(1), v.amin(1).neg_())


def _stochastic(x: Tensor, x_thr: Tensor, d: Tensor, d_thr: Tensor, bl: Tensor, signed: bool,
                generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """Bits for every pair and slot (``BL[p]`` slots of pair ``p``), then the counts.

    A bit fires when a 16-bit uniform falls below the line's threshold, so probabilities
    resolve to ``2^-16`` (nearest). Every pair gets ``max(BL)`` slots; the input bits of slots
    past the pair's own ``BL`` are masked off, so they make no coincidence. Each error line's
    bit lands in one of two column blocks by the sign of ``d`` (each input line's, for signed
    ``x``, in one of two row blocks by the sign of ``x``), so that one exact 0/1 product per
    chunk of slot rows counts the down (``x d > 0``) and up (``x d < 0``) coincidences apart.
    """
    n_pairs, n_in, n_out = x.shape[0], x.shape[1], d.shape[1]
    k_in = x_thr.shape[1]
    counts = None
    slots = int(bl.max())
    if slots > 1:  # comparing int16 directly saves a conversion of every uniform
        x_int, d_int = _int16_thresholds(x_thr), _int16_thresholds(d_thr)
        if x_int is not None and d_int is not None:
            x_thr, d_thr = x_int, d_int
    ragged = bool((bl != slots).any())
    valid = torch.arange(slots)[None, :] < bl[:, None] if ragged else None  # [P, slots]
    per_chunk = max(1, _CHUNK_ROWS // slots)  # pairs per product
    for start in range(0, n_pairs, per_chunk):
        pairs = slice(start, start + per_chunk)
        n = len(range(n_pairs)[pairs])
        rows = n * slots
        x_bits = _bits(n, slots, x_thr[pairs, None], "x", generator)
        if valid is not None:
            x_bits &= valid[pairs, :, None, None]
        d_bits = _bits(n, slots, d_thr[pairs, None], "d", generator)
        chunk = _count_product(x_bits.view(rows, k_in * n_in), d_bits.view(rows, 2 * n_out))
        counts = chunk if counts is None else counts.add_(chunk)
    assert counts is not None
    blocks = counts.view(k_in, n_in, 2, n_out)
    down, up = blocks[0, :, 0], blocks[0, :, 1]
    if signed:  # negative inputs: a positive error raises the weight
        down, up = down + blocks[1, :, 1], up + blocks[1, :, 0]
    return up.to(x.dtype), down.to(x.dtype)


def _signed_products(x: Tensor, d: Tensor) -> tuple[Tensor, Tensor]:
    """``(up, down)`` with ``down = X+^T D+ + X-^T D-`` and ``up = X+^T D- + X-^T D+`` for signed
    rows ``x`` [K, N_in] and ``d`` [K, N_out] (one matrix product)."""
    n_out = d.shape[1]
    d_pos, d_neg = d.clamp(min=0), (-d).clamp(min=0)
    if not bool((x < 0).any()):  # spikes and other non-negative activity: half the work
        both = x.t() @ torch.cat([d_pos, d_neg], dim=1)
        return both[:, n_out:], both[:, :n_out]
    x_pos, x_neg = x.clamp(min=0), (-x).clamp(min=0)
    left = torch.cat([x_pos, x_neg], dim=0)
    right = torch.cat([torch.cat([d_pos, d_neg], dim=1), torch.cat([d_neg, d_pos], dim=1)], dim=0)
    both = left.t() @ right
    return both[:, n_out:], both[:, :n_out]
