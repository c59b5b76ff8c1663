"""The forward loop and the backward's recurrence, compiled (``engine.cpp``) or in PyTorch.

Both forward implementations run without autograd on detached tensors into preallocated
outputs and perform the reference's floating-point operations in the same order, so they are
bit for bit equal to
[`nwave_core.engine.lif_sequence_reference`][nwave_core.engine.reference.lif_sequence_reference]:
``beta * v + I`` is a multiply then an add (not a fused ``addcmul``), and the reset is
[`reset_membrane`][nwave_core.engine.reference.reset_membrane].
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import native
from .native import ptr
from .reference import reset_membrane

__all__ = ["forward_loop", "scan_python"]


def _forward_compiled(kernel: Any, current: Tensor, beta: Tensor, threshold: Tensor, reset: str,
                      floor: float | None, weight: Tensor | None, v0: Tensor | None,
                      s0: Tensor | None, keep_u: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    """[`forward_loop`][nwave_core.engine.loops.forward_loop] compiled: one call, or one per step
    when recurrent."""
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
    params = (ptr(beta), int(beta.dim() > 0), ptr(threshold), int(threshold.dim() > 0))
    tail = (native.RESET_CODES[reset], int(floor is not None), 0.0 if floor is None else floor,
            torch.get_num_threads())
    if weight is None:
        kernel(b, steps, n, ptr(current), cur_sb, cur_st, *params, ptr(v0),
               v0.stride(0) if v0 is not None else 0, None, 0, ptr(spikes), ptr(mem),
               ptr(u_all), out_sb, out_st, *tail)
    else:  # the recurrent input through torch's own mm (bit for bit the reference's)
        rec = current.new_empty(b, n)
        size = current.element_size()
        cur0, spk0, mem0, rec0 = ptr(current), ptr(spikes), ptr(mem), ptr(rec)
        u0 = ptr(u_all)
        spikes_t = spikes.unbind(1)
        for t in range(steps):
            s_prev = spikes_t[t - 1] if t else s0
            if s_prev is not None:
                torch.mm(s_prev, weight, out=rec)
            if t:
                v_prev, v_sb = mem0 + (t - 1) * out_st * size, out_sb
            else:
                v_prev, v_sb = ptr(v0), v0.stride(0) if v0 is not None else 0
            out = t * out_st * size
            kernel(b, 1, n, cur0 + t * cur_st * size, cur_sb, cur_st, *params, v_prev, v_sb,
                   rec0 if s_prev is not None else None, n, spk0 + out, mem0 + out,
                   u0 + out if u0 is not None else None, out_sb, out_st, *tail)
    return spikes, mem, (mem if mem_is_u else u_all) if keep_u else None


def forward_loop(current: Tensor, beta: Tensor, threshold: Tensor, reset: str,
                 floor: float | None, weight: Tensor | None, v0: Tensor | None,
                 s0: Tensor | None, keep_u: bool,
                 primitive: Any = None) -> tuple[Tensor, Tensor, Tensor | None]:
    """The forward dynamics on detached tensors, without autograd.

    Args:
        primitive: a surrogate in primitive mode: the output is ``primitive(u - threshold)``
            instead of spikes (the PyTorch loop runs, since it calls Python every step).

    Returns:
        ``(spikes, mem, u)`` with ``u`` the pre-reset membrane ``[B, T, N]`` when ``keep_u``
        (else None).
    """
    found = native.kernels(current, beta, threshold, weight, v0, s0)
    if found is not None and primitive is None:
        return _forward_compiled(found[0], current, beta, threshold, reset, floor, weight, v0,
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
        if primitive is None:
            torch.ge(u, threshold, out=s)  # == (u - threshold >= 0) in IEEE arithmetic
        else:
            s.copy_(primitive.primitive(u - threshold))
        m = mem_t[t]
        if not mem_is_u:
            reset_membrane(u, s, threshold, reset, out=m)
        if floor is not None:
            m.clamp_(min=floor)
        v, s_prev = m, s
    return spikes, mem, (mem if mem_is_u else u_all) if keep_u else None


def scan_python(gu: Tensor, base: Tensor, decay: Tensor, g: Tensor, weight_t: Tensor | None,
                t0: int, t1: int, steps: int) -> Tensor | None:
    """The backward's recurrence over steps ``t1 - 1`` down to ``t0``, one step at a time.

    ``gu_t = base_t + decay_t * gu_{t+1} (+ g_t * (gu_{t+1} W^T))``. Writes ``gu[:, t0:t1]``;
    returns ``gu_{t+1} W^T`` of the block when recurrent (else None).
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
