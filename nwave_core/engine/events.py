"""Event-driven synaptic products: ``x @ weight`` that visits only the nonzero inputs.

A synapse layer fed with spikes multiplies a matrix that is mostly zeros: at 5 % spikes, 95 %
of a dense product's multiply-adds add zero. [`synaptic_current`][nwave_core.engine.events.synaptic_current]
computes ``x @ weight`` with the compiled library's event-driven passes when ``x`` is sparse
enough (at most [`EVENT_DENSITY`][nwave_core.engine.events.EVENT_DENSITY] of it nonzero, counted
first): the forward adds, for each row, the weight rows of its nonzero inputs (a spike adds its
row without a product), and the weight's gradient ``x^T grad`` likewise adds gradient rows only
where an input was nonzero. The gradient of ``x`` is the dense ``grad @ weight^T``.

Otherwise (denser input, a GPU, another dtype, no compiled library, autocast, forward-mode AD,
``torch.compile`` or a ``torch.func`` transform) it is plain ``x @ weight``. For finite values
both compute the same sums, only in another order, so results agree to rounding (each output
element of the event passes sums its terms in index order, and whether they run is decided by
the count: the same bits on any number of threads). A zero input skips its weight row, so an
infinite or NaN weight reaches only the outputs of the inputs that are nonzero, where the dense
product spreads ``0 * inf = NaN`` to every row. A backward with ``create_graph=True`` computes
the weight's gradient densely, so higher-order gradients are exact.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd import forward_ad

from . import native
from .native import ptr

__all__ = ["EVENT_DENSITY", "EVENT_MIN_ELEMENTS", "EVENT_MIN_OUTPUTS", "next_step_outer",
           "synaptic_current"]

EVENT_DENSITY = 0.125
"""The largest share of nonzero inputs for which the event-driven passes run."""
EVENT_MIN_ELEMENTS = 1 << 15
"""Inputs with fewer elements take the dense product (the density check would cost more)."""
EVENT_MIN_OUTPUTS = 64
"""Weights with fewer columns take the dense product: a row of so few outputs costs the
event-driven passes more to find and add than the dense product spends on it."""


def _autocast(device_type: str) -> bool:
    try:
        return torch.is_autocast_enabled(device_type)
    except TypeError:  # torch < 2.4: no device argument
        return torch.is_autocast_enabled() or torch.is_autocast_cpu_enabled()


def _library(x: Tensor, other: Tensor) -> tuple[Any, Any, Any] | None:
    """``(event_matmul, event_weight_grad, count_nonzero)`` for these tensors (one CPU device and
    dtype, at least [`EVENT_MIN_ELEMENTS`][nwave_core.engine.events.EVENT_MIN_ELEMENTS] elements
    in ``x`` and [`EVENT_MIN_OUTPUTS`][nwave_core.engine.events.EVENT_MIN_OUTPUTS] in
    ``other``'s last dimension), or None: the dense product."""
    if (x.dim() < 2 or x.numel() < EVENT_MIN_ELEMENTS or other.shape[-1] < EVENT_MIN_OUTPUTS
            or x.dtype != other.dtype or other.device != x.device
            or torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active()
            or getattr(forward_ad, "_current_level", -1) >= 0 or _autocast(x.device.type)):
        return None
    if native.kernels(x, other) is None:
        return None
    lib = native.load()
    suffix = native._DTYPE_SUFFIX[x.dtype]
    return tuple(getattr(lib, f"nwave_{name}_{suffix}")
                 for name in ("event_matmul", "event_weight_grad", "count_nonzero"))


def _rows(x: Tensor) -> Tensor:
    """``x`` as a contiguous ``[rows, K]``."""
    return x.reshape(-1, x.shape[-1]).contiguous()


def _sparse(passes: tuple, rows: Tensor) -> bool:
    """Whether at most EVENT_DENSITY of the contiguous ``rows`` are nonzero."""
    limit = int(EVENT_DENSITY * rows.numel())
    return passes[2](rows.numel(), ptr(rows), limit, torch.get_num_threads()) <= limit


class _EventMatmul(torch.autograd.Function):
    """``x @ weight`` by the event-driven passes (``x`` sparse: checked by the caller)."""

    @staticmethod
    def forward(x: Tensor, weight: Tensor, passes: tuple) -> Tensor:  # type: ignore[override]
        rows, w = _rows(x.detach()), weight.detach().contiguous()
        out = rows.new_empty(*x.shape[:-1], w.shape[1])  # not a view: in-place edits allowed
        passes[0](rows.shape[0], rows.shape[1], w.shape[1], ptr(rows), rows.stride(0), ptr(w),
                  ptr(out), torch.get_num_threads())
        return out

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        x, weight, passes = inputs
        ctx.save_for_backward(x, weight)
        ctx.passes = passes

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        x, weight = ctx.saved_tensors
        need_x, need_weight = ctx.needs_input_grad[:2]
        grad_x = grad @ weight.t() if need_x else None
        grad_weight = None
        if need_weight:
            g = grad.reshape(-1, grad.shape[-1])
            if torch.is_grad_enabled():  # create_graph: differentiable, for higher orders
                grad_weight = x.reshape(-1, x.shape[-1]).t() @ g
            else:
                rows = _rows(x.detach())
                if g.stride(1) != 1:
                    g = g.contiguous()
                grad_weight = g.new_empty(weight.shape)
                ctx.passes[1](rows.shape[0], rows.shape[1], g.shape[1], ptr(rows),
                              rows.stride(0), ptr(g), g.stride(0), ptr(grad_weight), 0,
                              torch.get_num_threads())
        return grad_x, grad_weight, None


def synaptic_current(x: Tensor, weight: Tensor) -> Tensor:
    """``x @ weight`` (``x`` ``[..., K]``, ``weight`` ``[K, N]``), event-driven when ``x`` is
    mostly zeros.

    The event-driven passes run when the compiled library is available for ``x``'s device and
    dtype, ``x`` has at least [`EVENT_MIN_ELEMENTS`][nwave_core.engine.events.EVENT_MIN_ELEMENTS]
    elements, ``weight`` at least
    [`EVENT_MIN_OUTPUTS`][nwave_core.engine.events.EVENT_MIN_OUTPUTS] columns, and at most
    [`EVENT_DENSITY`][nwave_core.engine.events.EVENT_DENSITY] of ``x`` is nonzero; otherwise this
    is ``x @ weight``. Autograd, ``torch.compile`` and ``torch.func`` work either way.
    """
    passes = _library(x, weight) if weight.dim() == 2 else None
    if passes is None or not _sparse(passes, _rows(x.detach())):
        return x @ weight
    from .autograd import apply  # autograd imports the backward, which imports this module
    return apply(_EventMatmul, x, weight, passes)


def next_step_outer(s: Tensor, gu: Tensor) -> Tensor | None:
    """``sum_{b, t < T-1} s[b, t]^T gu[b, t + 1]`` (``[N, N]``, from ``s`` and ``gu``
    ``[B, T, N]``) by the event-driven pass: the recurrent weight's gradient, each step's spikes
    paired with the next step's membrane gradient. None when the pass does not apply (no
    compiled library for these tensors, or ``s`` more than
    [`EVENT_DENSITY`][nwave_core.engine.events.EVENT_DENSITY] nonzero): the caller takes the
    dense product."""
    passes = _library(s, gu) if s.dim() == 3 and gu.shape == s.shape else None
    if passes is None:
        return None
    b, steps, n = s.shape
    rows = _rows(s.detach())
    if not _sparse(passes, rows):
        return None
    g = gu.detach().contiguous()
    out = g.new_zeros(n, n)
    if steps > 1:
        passes[1](b * steps, n, n, ptr(rows), n, ptr(g, n), n, ptr(out), steps,
                  torch.get_num_threads())
    return out
