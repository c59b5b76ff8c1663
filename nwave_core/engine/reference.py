"""The definition of the dynamics: one step's formulas and the per-step autograd reference.

[`reset_membrane`][nwave_core.engine.reference.reset_membrane] is the one reset formula every path
uses (the reference, the pure-PyTorch loop, the backward's recomputation; ``engine.cpp`` writes the
same operations in C++), and [`clamp_min`][nwave_core.engine.reference.clamp_min] the one floor.
[`fire`][nwave_core.engine.reference.fire] is what a neuron emits: spikes whose gradient is
the surrogate's, or the primitive ``P(x)`` itself in primitive mode (``spiking=False``); a
learnable surrogate parameter gets ``d P / d theta`` times the gradient of the spike.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ..surrogate import spike
from .checks import is_spiking, prepare, surrogate_params

__all__ = ["clamp_min", "fire", "lif_sequence_reference", "reset_membrane"]


def reset_membrane(u: Tensor, s: Tensor, threshold: Tensor, reset: str, *,
                   out: Tensor | None = None) -> Tensor:
    """The membrane after the reset: subtraction ``u - s * threshold``, zero ``u - u * s``
    (``u * (1 - s)``), none ``u``.

    For spikes (``s`` 0 or 1) both products are exact, so every path that uses this function
    rounds alike. With ``out`` (the loops, no autograd) the result is written there.
    """
    if reset == "subtraction":
        return torch.addcmul(u, s, threshold, value=-1, out=out) if out is not None else \
            torch.addcmul(u, s, threshold, value=-1)
    if reset == "zero":
        return torch.addcmul(u, u, s, value=-1, out=out) if out is not None else \
            torch.addcmul(u, u, s, value=-1)
    if out is not None:
        return out.copy_(u)
    return u


def clamp_min(v: Tensor, floor: float) -> Tensor:
    """``clamp(v, min=floor)`` whose gradient passes where ``v >= floor``, the floor included.

    The convention is pinned here rather than left to ``torch.clamp``, whose gradient exactly
    at the bound differs between torch versions (1 up to 2.x, 0 in some later builds). It
    matters: a zero reset lands exactly on a floor of 0 at every spike.
    """
    return torch.where(v < floor, v.new_tensor(floor), v)  # NaN stays NaN, as with clamp


def fire(x: Tensor, surrogate: Any) -> Tensor:
    """The neuron's output for ``x = membrane - threshold``, with autograd.

    Spiking mode: ``x >= 0`` with gradient ``surrogate.grad(x)``, plus (when the surrogate has
    parameters that require grad) an exact zero ``P(x) - P(x)`` that routes ``d P / d theta``
    to them. Primitive mode: ``surrogate.primitive(x)``.
    """
    if not is_spiking(surrogate):
        return surrogate.primitive(x)
    s = spike(x, surrogate)
    if torch.is_grad_enabled() and surrogate_params(surrogate):
        smooth = surrogate.primitive(x.detach())
        s = s + (smooth - smooth.detach()).to(s.dtype)
    return s


def lif_sequence_reference(current: Tensor, beta: Tensor | float, threshold: Tensor | float,
                           surrogate: Any, *, reset: str = "subtraction",
                           floor: float | None = None, recurrent_weight: Tensor | None = None,
                           v0: Tensor | None = None, s0: Tensor | None = None,
                           detach_reset: bool = False) -> tuple[Tensor, Tensor]:
    """The dynamics of [`nwave_core.engine.lif_sequence`][nwave_core.engine.lif_sequence] as a loop
    of single steps.

    Slow for long sequences (its backward graph has ``T`` nodes per operation); it is the
    definition the fast engine is tested against, and the path for single steps. Takes the
    same arguments and returns ``(spikes, mem)``, each ``[B, T, N]``.
    """
    current, beta, threshold, reset, floor, weight, v0, s0, detach_reset = prepare(
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
        s = fire(v - threshold, surrogate)
        v = reset_membrane(v, s.detach() if detach_reset else s, threshold, reset)
        if floor is not None:
            v = clamp_min(v, floor)
        spikes.append(s)
        mems.append(v)
    return torch.stack(spikes, 1), torch.stack(mems, 1)
