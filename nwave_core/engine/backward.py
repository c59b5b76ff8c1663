"""The engine's backward: one reverse loop over time, in blocks of steps.

With ``gu_t`` the gradient of the pre-reset membrane ``u_t`` (== the gradient of
``current[:, t]``), ``x_t = u_t - threshold``, ``g_t = surrogate.grad(x_t)``, ``m_t`` the floor's
mask and ``c_t = d(reset)/du`` (through the spike too, unless ``detach_reset``)::

    gu_t = c_t m_t (grad_mem_t + beta gu_{t+1}) + g_t (grad_spikes_t + gu_{t+1} W^T)

Everything but the recurrence itself (``g``, ``c m``, the terms without ``gu_{t+1}``, and the
reductions for beta, threshold, W and the surrogate's parameters) is computed per block with
whole-block tensor operations; the loop over steps is one ``addcmul`` (plus one ``mm`` when
recurrent). With the compiled loops, ``x``, the coefficients, the terms and the loop are
compiled passes (recurrent: one call per step after torch's ``mm`` for ``gu_{t+1} W^T``); ``g``
and the reductions stay tensor operations. A built-in surrogate with a closed-form kernel
(subtraction or no reset, no floor, no gradient for the threshold or the surrogate) is evaluated
in place by the compiled pass, with no Python call: a feed-forward layer whose only gradient
needed is the current's runs its whole backward as one pass, otherwise one pass per block (or
per step after the ``mm``, recurrent), with the reductions for beta and W per block.

The surrogate's learnable parameters ``theta`` get ``sum_t <G_t, d P(x_t) / d theta>``, with
``G_t`` the gradient of the neuron's output ``s_t`` (the spike gradient the threshold's gradient
uses too) and ``P`` the surrogate's primitive: what the per-step reference's autograd computes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .events import next_step_outer
from .loops import scan_python
from .native import closed_form
from .native import kernels as native_kernels
from .native import ptr
from .reference import reset_membrane

__all__ = ["BLOCK_ELEMENTS", "run_backward"]

BLOCK_ELEMENTS = 1 << 17
"""Elements ([B, steps, N]) per block of the backward: its temporaries stay in cache."""


def _overlaps(a: Tensor, b: Tensor) -> bool:
    """Whether ``a`` may share memory with ``b`` (the same storage)."""
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def _unit_stride(x: Tensor | None) -> Tensor | None:
    return x if x is None or x.stride(2) == 1 else x.contiguous()


def _closed(membrane: Tensor, spikes: Tensor | None, grad_spikes: Tensor | None,
            grad_mem: Tensor | None, surrogate: Any, reset: str, floor: float | None,
            detach_reset: bool, *, saved_u: bool, g_all: Tensor | None,
            needs_g: bool) -> tuple[int, int, float, float] | None:
    """``(kind, mode, c0, c1)`` for the compiled pass that evaluates the surrogate's closed form
    in place (``mode`` 1: the subtraction reset's ``c = 1 - threshold * g``), or None: the
    surrogate has no kernel, or the case needs ``g`` itself (``needs_g``: the threshold's or
    the surrogate's gradient) or what the pass does not handle (a floor, the zero reset)."""
    closed = closed_form(surrogate) if g_all is None and surrogate is not None else None
    dtype = membrane.dtype
    if (closed is None or saved_u or floor is not None or needs_g
            or reset not in ("subtraction", "none") or membrane.stride(2) != 1
            or (spikes is not None and spikes.stride(2) != 1)
            or any(g is not None and g.dtype != dtype for g in (grad_spikes, grad_mem))):
        return None
    kind, c0, c1 = closed
    return kind, 1 if reset == "subtraction" and not detach_reset else 0, c0, c1


def _strides(x: Tensor | None) -> tuple[int, int]:
    return (x.stride(0), x.stride(1)) if x is not None else (0, 0)


def _closed_pass(kernel: Any, closed: tuple[int, int, float, float], membrane: Tensor,
                 spikes: Tensor | None, beta: Tensor, threshold: Tensor, gm: Tensor | None,
                 gs: Tensor | None, gu: Tensor, weight_t: Tensor | None, t0: int, t1: int,
                 threads: int) -> None:
    """``gu[:, t0:t1]`` by the closed-form pass (``gm``, ``gs``: the block's slices, unit
    stride): one call, or one per step after torch's ``mm`` for ``gu_{t+1} W^T``."""
    b, steps, n = membrane.shape
    kind, mode, c0, c1 = closed
    size = membrane.element_size()
    fixed = (ptr(threshold), threshold.stride(0) if threshold.dim() else 0, ptr(beta),
             beta.stride(0) if beta.dim() else 0)
    m_s, s_s, gm_s, gs_s, gu_s = map(_strides, (membrane, spikes, gm, gs, gu))
    tail = (kind, mode, c0, c1, threads)
    if weight_t is None:
        nxt = ptr(gu, t1 * gu_s[1]) if t1 < steps else None
        kernel(b, t1 - t0, n, ptr(membrane, t0 * m_s[1]), *m_s,
               ptr(spikes, t0 * s_s[1]) if spikes is not None else None, *s_s, *fixed, ptr(gm),
               *gm_s, ptr(gs), *gs_s, nxt, gu_s[0], ptr(gu, t0 * gu_s[1]), *gu_s, None, 0, *tail)
        return
    rec = gu.new_empty(b, n)
    m0, s0, gm0, gs0, gu0, rec0 = (ptr(x) for x in (membrane, spikes, gm, gs, gu, rec))
    for t in range(t1 - 1, t0 - 1, -1):
        k = t - t0
        if t + 1 < steps:
            torch.mm(gu.select(1, t + 1), weight_t, out=rec)
            nxt, r = gu0 + (t + 1) * gu_s[1] * size, rec0
        else:
            nxt = r = None
        kernel(b, 1, n, m0 + t * m_s[1] * size, *m_s,
               s0 + t * s_s[1] * size if s0 is not None else None, *s_s, *fixed,
               gm0 + k * gm_s[1] * size if gm0 is not None else None, *gm_s,
               gs0 + k * gs_s[1] * size if gs0 is not None else None, *gs_s, nxt, gu_s[0],
               gu0 + t * gu_s[1] * size, *gu_s, r, n, *tail)


def _weight_grad(s: Tensor, gu: Tensor) -> Tensor:
    """``sum_t s_t^T gu_{t+1}`` over the batch in one ``mm``: each row of ``s`` paired with the
    next step's row of ``gu``, the last step of each sequence with zeros (no subtraction, so no
    cancellation)."""
    b, steps, n = s.shape
    if steps == 1:
        return s.new_zeros(n, n)
    events = next_step_outer(s, gu)  # spikes are mostly zeros: only their rows add
    if events is not None:
        return events
    shifted = torch.cat([gu[:, 1:], gu.new_zeros(b, 1, n)], dim=1)
    return s.reshape(b * steps, n).t() @ shifted.reshape(b * steps, n)


def run_backward(membrane: Tensor, spikes: Tensor | None, saved_u: bool, beta: Tensor,
             threshold: Tensor, weight: Tensor | None, v0: Tensor | None, s0: Tensor | None,
             grad_spikes: Tensor | None, grad_mem: Tensor | None, surrogate: Any, reset: str,
             floor: float | None, detach_reset: bool, *, need_beta: bool, need_threshold: bool,
             need_weight: bool, need_v0: bool, need_s0: bool, theta: tuple[Tensor, ...] = (),
             primitive_mode: bool = False, g_all: Tensor | None = None) -> tuple[Any, ...]:
    """The reverse loop, in blocks of steps processed from the last to the first.

    Args:
        membrane: the saved pre-reset membrane ``u`` when ``saved_u``, else ``mem``.
        spikes: the saved spikes (subtraction reset without ``saved_u``), else None.
        theta: the surrogate's parameters that need a gradient.
        primitive_mode: the output was ``surrogate.primitive(x)`` (needs ``saved_u``).
        g_all: ``surrogate.grad(x)`` of every step, computed by the caller (``torch.compile``
            traces it); ``surrogate`` is then not called.

    Returns:
        ``(grad_current, grad_beta, grad_threshold, grad_weight, grad_v0, grad_s0,
        grad_theta)``; each None where not needed, ``grad_theta`` a tuple like ``theta``.
    """
    b, steps, n = membrane.shape
    dtype = membrane.dtype
    gu = torch.empty_like(membrane)
    # the compiled passes (with recurrent weights, one call per step after torch's mm)
    kernels = native_kernels(membrane, beta, threshold, weight)
    weight_t = weight.t() if weight is not None else None
    acc_beta = membrane.new_zeros(b, n) if need_beta else None
    acc_threshold = membrane.new_zeros(b, n) if need_threshold else None
    acc_weight = membrane.new_zeros(n, n) if need_weight and saved_u else None
    acc_theta: list[Tensor | None] = [None] * len(theta)
    block = max(1, min(steps, BLOCK_ELEMENTS // max(1, b * n)))
    # the subtraction reset's direct -s * threshold, and the reset through the spike
    reset_through_s = reset == "zero" or reset == "subtraction"
    beta_sn = beta.stride(0) if beta.dim() else 0
    threshold_sn = threshold.stride(0) if threshold.dim() else 0
    threads = torch.get_num_threads()
    closed = None if kernels is None else _closed(
        membrane, spikes, grad_spikes, grad_mem, surrogate, reset, floor, detach_reset,
        saved_u=saved_u, g_all=g_all, needs_g=need_threshold or bool(theta))
    if closed is not None and weight is None and not need_beta:
        # the whole backward in one pass (the weight's and s0's gradients need a weight)
        _closed_pass(kernels[3], closed, membrane, spikes, beta, threshold,
                     _unit_stride(grad_mem), _unit_stride(grad_spikes), gu, None, 0, steps,
                     threads)
    elif closed is None and kernels is not None and membrane.stride(2) == 1 and (
            spikes is None or spikes.stride(2) == 1):
        # x = u - threshold of every step in one pass, written into gu: each block reads its
        # x there before its gu overwrites it (see "the optional compiled loops" above)
        kernels[1](b, steps, n, ptr(membrane), membrane.stride(0), membrane.stride(1),
                   ptr(spikes), spikes.stride(0) if spikes is not None else 0,
                   spikes.stride(1) if spikes is not None else 0, ptr(threshold),
                   threshold_sn, ptr(gu), gu.stride(0), gu.stride(1), threads)
    elif closed is None:
        kernels = None
    whole = closed is not None and weight is None and not need_beta
    for t1 in range(steps, 0, -block) if not whole else ():
        t0 = max(0, t1 - block)
        if closed is not None:  # g in place: only beta's and W's reductions follow
            u = mask = rec_block = None
            gm = _unit_stride(grad_mem[:, t0:t1]) if grad_mem is not None else None
            gs = _unit_stride(grad_spikes[:, t0:t1]) if grad_spikes is not None else None
            _closed_pass(kernels[3], closed, membrane, spikes, beta, threshold, gm, gs, gu,
                         weight_t, t0, t1, threads)
            reset_mem = membrane[:, t0:t1]
        else:
            u = None  # the pre-reset membrane, where needed (zero reset)
            x = gu[:, t0:t1] if kernels is not None else None
            if saved_u:
                u = membrane[:, t0:t1]
                if x is None:
                    x = u - threshold
                if primitive_mode:  # the forward's own output, bit for bit
                    s = surrogate.primitive(x).to(dtype)
                else:
                    s = (u >= threshold).to(dtype)  # the forward's own comparison, bit for bit
                reset_mem = reset_membrane(u, s, threshold, reset)
            elif spikes is not None:
                # subtraction: mem = u - s * threshold, so u - threshold = mem - (1 - s) thr,
                # computed with the forward's rounding exactly (the product is exact)
                reset_mem, s = membrane[:, t0:t1], spikes[:, t0:t1]
                if x is None:
                    x = torch.addcmul(reset_mem, s - 1, threshold)
            else:  # no reset: u is mem
                reset_mem = membrane[:, t0:t1]
                if x is None:
                    x = reset_mem - threshold
                s = (reset_mem >= threshold).to(dtype)
            x_theta = x.detach().clone() if theta else None  # grad may work on x in place
            g = (surrogate.grad(x) if g_all is None else g_all[:, t0:t1]).to(dtype)
            if g.shape != x.shape:
                g = g.expand_as(x)
            mask = (reset_mem >= floor).to(dtype) if floor is not None else None
            gm = grad_mem[:, t0:t1] if grad_mem is not None else None
            gs = grad_spikes[:, t0:t1] if grad_spikes is not None else None
            nxt = gu[:, t1] if t1 < steps else None
            rec_block = None
            if kernels is not None and all(t is None or t.dtype == dtype for t in (g, gm, gs)):
                # coeff = d(reset membrane)/du (times the mask): mode 1 is 1 - threshold * g
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
                k_all = t1 - t0
                gm_s = (gm.stride(0), gm.stride(1)) if gm is not None else (0, 0)
                gs_s = (gs.stride(0), gs.stride(1)) if gs is not None else (0, 0)
                if weight_t is None:  # the whole block in one call
                    kernels[2](b, k_all, n, ptr(g), mode, ptr(coeff), ptr(gm), *gm_s, ptr(gs),
                               *gs_s, ptr(beta), beta_sn, ptr(threshold), threshold_sn, ptr(nxt),
                               gu.stride(0), ptr(gu, t0 * gu.stride(1)), gu.stride(0),
                               gu.stride(1), k_all * n, None, 0, threads)
                else:  # one call per step, after torch's mm for gu_{t+1} W^T (time-major rows)
                    rec_steps = gu.new_empty(k_all, b, n)
                    rec_t = rec_steps.unbind(0)
                    size = g.element_size()
                    g0, c0 = ptr(g), ptr(coeff)
                    gm0, gs0, gu0 = ptr(gm), ptr(gs), ptr(gu)
                    fixed = (ptr(beta), beta_sn, ptr(threshold), threshold_sn)
                    sb, st = gu.stride(0), gu.stride(1)
                    for k in range(k_all - 1, -1, -1):
                        t = t0 + k
                        if t + 1 < steps:
                            torch.mm(gu.select(1, t + 1), weight_t, out=rec_t[k])
                            step_next = gu0 + (t + 1) * st * size
                        else:
                            rec_t[k].zero_()
                            step_next = None
                        kernels[2](b, 1, n, g0 + k * n * size, mode,
                                   c0 + k * n * size if c0 is not None else None,
                                   gm0 + k * gm_s[1] * size if gm0 is not None else None, *gm_s,
                                   gs0 + k * gs_s[1] * size if gs0 is not None else None, *gs_s,
                                   *fixed, step_next, sb, gu0 + t * st * size, sb, st, k_all * n,
                                   rec_t[k].data_ptr(), n, 1)
                    rec_block = rec_steps.transpose(0, 1)
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
                rec_block = scan_python(gu, base, decay, g, weight_t, t0, t1, steps)

        # reductions over the block, pairing step t with gu_{t+1} (zero after the last step)
        if need_beta or need_threshold or (need_weight and saved_u) or theta:
            if t1 < steps:
                gu_next = gu[:, t0 + 1:t1 + 1]
            else:
                gu_next = torch.cat([gu[:, t0 + 1:t1], gu.new_zeros(b, 1, n)], 1)
        if need_beta:  # d u_{t+1} / d beta = v_t, the membrane after reset and floor
            mem = reset_mem.clamp(min=floor) if floor is not None else reset_mem
            acc_beta += (mem * gu_next).sum(1)
        if need_threshold or theta:
            # -g * (d loss / d s) on every step; -s * (d loss / d reset_mem) for subtraction
            grad_reset = None
            if (reset == "subtraction" and need_threshold) or (reset_through_s
                                                               and not detach_reset):
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
            if grad_s is not None and need_threshold:
                acc_threshold -= (g * grad_s).sum(1)
            if reset == "subtraction" and need_threshold:
                acc_threshold -= (grad_reset * s).sum(1)
            if grad_s is not None and theta:  # sum of G_t d P(x_t) / d theta
                with torch.enable_grad():
                    smooth = surrogate.primitive(x_theta)
                    parts = torch.autograd.grad(smooth, theta, grad_s.to(smooth.dtype),
                                                allow_unused=True)
                for i, part in enumerate(parts):
                    if part is not None:
                        acc_theta[i] = part if acc_theta[i] is None else acc_theta[i] + part
        if need_weight and saved_u:  # sum over t of s_t^T gu_{t+1}
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
        if not saved_u:  # the spikes of every step are at hand: one mm
            acc_weight = _weight_grad(spikes if spikes is not None else
                                      (membrane >= threshold).to(dtype), gu)  # u is mem
        if s0 is not None:
            acc_weight += s0.t() @ gu0
        grad_weight = acc_weight
    if need_v0:
        grad_v0 = gu0 * beta
    if need_s0:
        grad_s0 = gu0 @ weight_t
    grad_theta = tuple(torch.zeros_like(p) if a is None else a.to(p.dtype)
                       for p, a in zip(theta, acc_theta))
    return gu, grad_beta, grad_threshold, grad_weight, grad_v0, grad_s0, grad_theta


