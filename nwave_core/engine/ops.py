"""The loops as ``torch.library`` custom ops, for ``torch.compile``.

``torch.compile`` cannot trace the loops (ctypes calls, out= writes into preallocated outputs),
so under compilation [`LIFSequence`][nwave_core.engine.autograd.LIFSequence] calls them as opaque
operators with shape functions (``register_fake``): ``nwave::lif_forward`` runs the forward
loop, and ``nwave::lif_backward`` the reverse pass given the surrogate's gradient of every step,
which the compiled graph computes itself (``surrogate.grad`` is traced, so any surrogate works).
The autograd formula stays the Function's; the ops themselves are never differentiated.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .backward import run_backward
from .loops import forward_loop

__all__ = ["lif_backward", "lif_forward"]


@torch.library.custom_op("nwave::lif_forward", mutates_args=())
def lif_forward(current: Tensor, beta: Tensor, threshold: Tensor, weight: Tensor | None,
                v0: Tensor | None, s0: Tensor | None, reset: str, floor: float | None,
                keep_u: bool) -> tuple[Tensor, Tensor, Tensor]:
    """``(spikes, mem, u)`` of the forward loop; ``u`` is empty where not kept (or ``mem``)."""
    spikes, mem, u = forward_loop(current, beta, threshold, reset, floor, weight, v0, s0,
                                  keep_u=keep_u)
    return spikes, mem, current.new_empty(0) if u is None or u is mem else u


@lif_forward.register_fake
def _(current: Tensor, beta: Tensor, threshold: Tensor, weight: Tensor | None,
      v0: Tensor | None, s0: Tensor | None, reset: str, floor: float | None,
      keep_u: bool) -> tuple[Tensor, Tensor, Tensor]:
    b, steps, n = current.shape
    spikes = current.new_empty(b, steps, n)
    has_u = keep_u and not (reset == "none" and floor is None)
    return spikes, current.new_empty(b, steps, n), \
        current.new_empty(b, steps, n) if has_u else current.new_empty(0)


@torch.library.custom_op("nwave::lif_backward", mutates_args=())
def lif_backward(membrane: Tensor, spikes: Tensor | None, beta: Tensor, threshold: Tensor,
                 weight: Tensor | None, v0: Tensor | None, s0: Tensor | None,
                 grad_spikes: Tensor | None, grad_mem: Tensor | None, g: Tensor, reset: str,
                 floor: float | None, detach_reset: bool, saved_u: bool,
                 needs: list[bool]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The gradients of ``current, beta, threshold, weight, v0, s0`` (empty where not needed),
    with ``g`` the surrogate's gradient at ``u - threshold`` of every step."""
    grads = run_backward(membrane, spikes, saved_u, beta, threshold, weight, v0, s0,
                         grad_spikes, grad_mem, None, reset, floor, detach_reset,
                         need_beta=needs[1], need_threshold=needs[2], need_weight=needs[3],
                         need_v0=needs[4], need_s0=needs[5], g_all=g)
    return tuple(x.contiguous() if x is not None and wanted else membrane.new_empty(0)  # type: ignore[return-value]
                 for x, wanted in zip(grads[:6], needs))


@lif_backward.register_fake
def _(membrane: Tensor, spikes: Tensor | None, beta: Tensor, threshold: Tensor,
      weight: Tensor | None, v0: Tensor | None, s0: Tensor | None, grad_spikes: Tensor | None,
      grad_mem: Tensor | None, g: Tensor, reset: str, floor: float | None, detach_reset: bool,
      saved_u: bool, needs: list[bool]) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    b, _, n = membrane.shape
    shapes = (membrane.shape, beta.shape, threshold.shape, (n, n), (b, n), (b, n))
    return tuple(membrane.new_empty(shape) if wanted else membrane.new_empty(0)  # type: ignore[return-value]
                 for shape, wanted in zip(shapes, needs))
