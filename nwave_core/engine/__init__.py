"""The multi-step neuron engine: a whole sequence of LIF-family dynamics for one layer.

[`lif_sequence`][nwave_core.engine.lif_sequence] runs ``T`` steps of one layer as a single autograd
node ([`LIFSequence`][nwave_core.engine.autograd.LIFSequence]): the forward loop runs without
autograd into preallocated outputs, and the backward is a hand-written reverse loop that calls
``surrogate.grad`` on ``membrane - threshold``, so any surrogate works.
[`lif_sequence_reference`][nwave_core.engine.reference.lif_sequence_reference] is the same dynamics
as a plain per-step loop with autograd; the tests hold the two equal: bit for bit in the forward, to
rounding in the gradients.

The package, by concern:

- ``checks``: input validation and the compute dtype;
- ``reference``: the step's formulas (the one reset formula, the floor, what a neuron emits)
  and the per-step reference;
- ``loops``: the forward loop and the backward's recurrence, compiled or in PyTorch;
- ``backward``: the reverse pass in blocks of steps;
- ``autograd``: the ``torch.autograd.Function`` (torch.func ready; second order raises
  [`DoubleBackwardError`][nwave_core.engine.autograd.DoubleBackwardError]);
- ``ops``: the loops as ``torch.library`` custom ops, which ``torch.compile`` calls;
- ``events``: the synapses' event-driven product ``x @ weight`` for spike inputs
  ([`synaptic_current`][nwave_core.engine.events.synaptic_current]);
- ``native`` and the C++ sources (``engine.cpp``, ``events.cpp``, ``parallel.h``): the
  compiled loops and products, one library built on first use and cached.

One step ``t`` (batch-first: sequences are ``[B, T, N]``)::

    v = beta * v_prev + I[t] (+ s_prev @ W_rec)     # W_rec: recurrent_weight [N, N]
    s = H(v - threshold)                            # forward (v - threshold) >= 0
    zero: v = v - v * s;  subtraction: v = v - s * threshold;  none: v unchanged
    v = clamp(v, min=floor)                         # when floor is not None; gradient 1 at floor
    mem[:, t] = v                                   # the state carried to the next step

With a surrogate in primitive mode (``spiking=False``) the output is ``s = P(v - threshold)``
(the surrogate's primitive) instead of ``H``, and drives the reset the same way.

``s_prev`` is ``s0`` at ``t = 0`` (zeros when ``None``) and ``v_prev`` is ``v0`` (zeros when
``None``). Gradients flow to ``current``, ``beta``, ``threshold``, ``recurrent_weight``, ``v0``,
``s0`` and the surrogate's parameters that require grad (a learnable surrogate gets
``sum_t <d loss / d s_t, d P(x_t) / d theta>``, as the reference's autograd computes), so a
sequence fed in pieces gets the same gradients as one call over the whole sequence.

``detach_reset=True`` detaches the spike in the reset term (SpikingJelly's ``detach_reset``):
no gradient flows through ``s`` into the reset; ``threshold`` still gets the direct ``-s`` of
the subtraction reset.

The compute dtype is the promotion of the dtypes of ``current`` and the other inputs that have
dimensions (``[N]``, ``[N, N]``, ``[B, N]``); 0-d ``beta``/``threshold`` follow it, as in torch's
own type promotion. float32 and float64 are the supported dtypes; bfloat16 and float16 run.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import native
from .autograd import DoubleBackwardError, LIFSequence, apply
from .checks import is_spiking, prepare, surrogate_params
from .events import synaptic_current
from .native import extension_status
from .reference import lif_sequence_reference

__all__ = ["DoubleBackwardError", "extension_status", "lif_sequence", "lif_sequence_reference",
           "synaptic_current"]


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
        surrogate: a [`nwave_core.SurrogateBase`][nwave_core.surrogate.SurrogateBase] (any object
            with ``grad(x)``; in primitive mode also ``primitive(x)``); its ``grad`` is called on
            the saved ``membrane - threshold`` in the backward, and its parameters that require grad
            receive their gradient.
        reset: ``"zero"``, ``"subtraction"`` or ``"none"``.
        floor: clamp the membrane at ``floor`` after the reset (chips: 0.0); None: no clamp.
        recurrent_weight: ``[N, N]``; the step's recurrent input is ``s_prev @ recurrent_weight``.
        v0: initial membrane ``[B, N]`` (zeros when None).
        s0: spikes of the step before the first ``[B, N]`` (zeros when None).
        detach_reset: no gradient through the spike in the reset term.

    Returns:
        ``(spikes, mem)``: ``mem[:, t]`` is the membrane after reset and floor, the state
        carried to step ``t + 1``.

    Raises:
        ValueError: a bad argument (named, with the expected shape or type).
        DoubleBackwardError: when the gradient is differentiated again (second order).
    """
    current, beta, threshold, reset, floor, weight, v0, s0, detach_reset = prepare(
        current, beta, threshold, surrogate, reset, floor, recurrent_weight, v0, s0,
        detach_reset)
    theta = surrogate_params(surrogate)
    if torch.compiler.is_compiling() and (theta or not is_spiking(surrogate)):
        # the primitive mode and the surrogate's own gradient call Python inside the loops:
        # torch.compile traces the per-step definition instead (same values and gradients)
        return lif_sequence_reference(current, beta, threshold, surrogate, reset=reset,
                                      floor=floor, recurrent_weight=weight, v0=v0, s0=s0,
                                      detach_reset=detach_reset)
    tensors = (current, beta, threshold, weight, v0, s0, *theta)
    keep = torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors)
    spikes, mem, _ = apply(LIFSequence, current, beta, threshold, weight, v0, s0, surrogate,
                           reset, floor, detach_reset, keep, *theta)
    return spikes, mem
