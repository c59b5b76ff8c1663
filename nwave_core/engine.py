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

One step ``t`` (batch-first: sequences are ``[B, T, N]``)::

    v = beta * v_prev + I[t] (+ s_prev @ W_rec)     # W_rec: recurrent_weight [N, N]
    s = H(v - threshold)                            # forward (v - threshold) >= 0
    zero: v = v * (1 - s);  subtraction: v = v - s * threshold;  none: v unchanged
    v = clamp(v, min=floor)                         # when floor is not None
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

import numbers
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from .chip import RESETS as _RESETS
from .surrogate import spike

__all__ = ["lif_sequence", "lif_sequence_reference"]


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
            v = torch.clamp(v, min=floor)
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


def _forward_loop(current: Tensor, beta: Tensor, threshold: Tensor, reset: str,
                  floor: float | None, weight: Tensor | None, v0: Tensor | None,
                  s0: Tensor | None, keep_u: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """The forward dynamics on detached tensors, without autograd.

    Returns ``(spikes, mem, u)`` with ``u`` the pre-reset membrane ``[B, T, N]`` when
    ``keep_u`` (else None). Every operation reproduces the reference's rounding exactly:
    ``beta * v + I`` is a multiply then an add (not a fused ``addcmul``); the resets multiply by
    a spike that is exactly 0 or 1, so their products are exact.
    """
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


#: elements ([B, steps, N]) per block of the backward: its temporaries stay in cache
BLOCK_ELEMENTS = 1 << 18


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
    operations; the loop over steps is one ``addcmul`` (plus one ``mm`` when recurrent).
    """
    b, steps, n = membrane.shape
    dtype = membrane.dtype
    gu = torch.empty_like(membrane)
    weight_t = weight.t() if weight is not None else None
    acc_beta = membrane.new_zeros(b, n) if need_beta else None
    acc_threshold = membrane.new_zeros(b, n) if need_threshold else None
    acc_weight = membrane.new_zeros(n, n) if need_weight else None
    block = max(1, min(steps, BLOCK_ELEMENTS // max(1, b * n)))
    # the subtraction reset's direct -s * threshold, and the reset through the spike
    reset_through_s = reset == "zero" or reset == "subtraction"
    for t1 in range(steps, 0, -block):
        t0 = max(0, t1 - block)
        u = None  # the pre-reset membrane, where needed (zero reset)
        if saved_u:
            u = membrane[:, t0:t1]
            x = u - threshold
            s = (u >= threshold).to(dtype)  # the forward's own comparison, bit for bit
            reset_mem = _reset_membrane(u, s, threshold, reset)
        elif spikes is not None:
            # subtraction: mem = u - s * threshold, so u - threshold = mem - (1 - s) threshold,
            # computed with the forward's rounding exactly (the product is exact)
            reset_mem, s = membrane[:, t0:t1], spikes[:, t0:t1]
            x = torch.addcmul(reset_mem, s - 1, threshold)
        else:  # no reset: u is mem
            reset_mem = membrane[:, t0:t1]
            x = reset_mem - threshold
            s = (reset_mem >= threshold).to(dtype)
        g = surrogate.grad(x).to(dtype)
        if g.shape != x.shape:
            g = g.expand_as(x)
        mask = (reset_mem >= floor).to(dtype) if floor is not None else None
        gm = grad_mem[:, t0:t1] if grad_mem is not None else None
        gs = grad_spikes[:, t0:t1] if grad_spikes is not None else None
        # coeff = d(reset membrane)/du (times the mask); decay = coeff * beta
        coeff: Tensor | None = None
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
        gu_t, base_t, decay_t = gu[:, t0:t1].unbind(1), base.unbind(1), decay.unbind(1)
        rec_block = x.new_empty(b, t1 - t0, n) if weight is not None else None
        rec_t = rec_block.unbind(1) if rec_block is not None else None
        nxt = gu[:, t1] if t1 < steps else None
        g_t = g.unbind(1) if weight is not None else None
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
