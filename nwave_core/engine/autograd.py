"""The engine's autograd Function: the whole sequence in one node, torch.func ready.

:class:`LIFSequence` is a new-style ``torch.autograd.Function`` (``forward`` without ``ctx``,
``setup_context``, and a ``vmap`` rule), so ``torch.func.grad``, ``vmap`` and ``jacrev`` work
through it. Its backward is first order only: when the gradient it returns would itself be
differentiated (``create_graph=True``, a Hessian), that second backward raises
:class:`DoubleBackwardError` instead of returning a partial result.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .backward import run_backward
from .checks import is_spiking
from .loops import forward_loop

__all__ = ["DoubleBackwardError", "LIFSequence"]


class DoubleBackwardError(RuntimeError):
    """A second-order gradient through :func:`nwave_core.engine.lif_sequence`."""


_DOUBLE_BACKWARD = ("nwave engine: lif_sequence has no second-order gradient (its backward is "
                    "a hand-written loop); the gradient was differentiated again "
                    "(create_graph=True, a Hessian, or grad of grad). Use "
                    "nwave_core.engine.lif_sequence_reference for second-order gradients.")


def saves_u(reset: str, floor: float | None, spiking: bool) -> bool:
    """Whether the backward needs the pre-reset membrane ``u`` saved.

    Without a floor, the outputs give back what the backward needs, bit for bit: no reset:
    ``u = mem``; subtraction: ``u - threshold = mem - (1 - s) * threshold`` (``mem`` is the
    forward's ``u - threshold`` where it spiked and ``u`` elsewhere). The zero reset, the floor
    and the primitive mode (``s`` not 0 or 1) lose ``u``.
    """
    return reset == "zero" or floor is not None or not spiking


class _FirstOrderOnly(torch.autograd.Function):
    """Identity on ``values``; differentiating through it raises :class:`DoubleBackwardError`."""

    @staticmethod
    def forward(n_anchors: int, *tensors: Tensor) -> tuple[Tensor, ...]:  # type: ignore[override]
        return tuple(t.view_as(t) for t in tensors[n_anchors:])

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise DoubleBackwardError(_DOUBLE_BACKWARD)


def _first_order_only(anchors: list[Tensor], grads: tuple[Any, ...]) -> tuple[Any, ...]:
    """``grads`` unchanged, attached to ``anchors`` by a node whose backward raises."""
    present = [g for g in grads if g is not None]
    if not present:
        return grads
    out = iter(_FirstOrderOnly.apply(len(anchors), *anchors, *present))
    return tuple(None if g is None else next(out) for g in grads)


class LIFSequence(torch.autograd.Function):
    """Forward: the whole sequence, no graph. Backward: one reverse loop over time.

    Inputs: ``current, beta, threshold, weight, v0, s0, surrogate, reset, floor,
    detach_reset, keep, *theta`` (``theta``: the surrogate's parameters that require grad;
    ``keep``: whether a backward may follow). Outputs: ``spikes, mem, u`` (``u`` the pre-reset
    membrane where the backward needs it, else an empty tensor; not differentiable).
    """

    @staticmethod
    def forward(current: Tensor, beta: Tensor, threshold: Tensor,  # type: ignore[override]
                weight: Tensor | None, v0: Tensor | None, s0: Tensor | None, surrogate: Any,
                reset: str, floor: float | None, detach_reset: bool, keep: bool,
                *theta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        spiking = is_spiking(surrogate)
        keep_u = keep and saves_u(reset, floor, spiking)
        with torch.no_grad():
            spikes, mem, u = forward_loop(
                current.detach(), beta.detach(), threshold.detach(), reset, floor,
                weight.detach() if weight is not None else None,
                v0.detach() if v0 is not None else None,
                s0.detach() if s0 is not None else None, keep_u=keep_u,
                primitive=None if spiking else surrogate)
        if u is None or u is mem:
            u = current.new_empty(0)
        return spikes, mem, u

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: tuple) -> None:
        current, beta, threshold, weight, v0, s0, surrogate, reset, floor, detach_reset, keep, \
            *theta = inputs
        spikes, mem, u = output
        ctx.set_materialize_grads(False)
        ctx.mark_non_differentiable(u)
        spiking = is_spiking(surrogate)
        ctx.saves_u = saves_u(reset, floor, spiking)
        membrane = u if ctx.saves_u and u.numel() else mem
        keep_spikes = not ctx.saves_u and reset == "subtraction"
        ctx.save_for_backward(membrane, spikes if keep_spikes else None, beta, threshold, weight,
                              v0, s0, *theta)
        ctx.options = (surrogate, reset, floor, detach_reset, spiking)

    @staticmethod
    def backward(ctx: Any, grad_spikes: Tensor | None, grad_mem: Tensor | None,
                 _grad_u: Any) -> tuple[Tensor | None, ...]:
        membrane, spikes, beta, threshold, weight, v0, s0, *theta = ctx.saved_tensors
        surrogate, reset, floor, detach_reset, spiking = ctx.options
        need = ctx.needs_input_grad
        theta_needed = tuple(p for p, wanted in zip(theta, need[11:]) if wanted)

        def plain(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.detach()

        with torch.no_grad():
            grads = run_backward(
                plain(membrane), plain(spikes), ctx.saves_u, plain(beta), plain(threshold),
                plain(weight), plain(v0), plain(s0), plain(grad_spikes), plain(grad_mem),
                surrogate, reset, floor, detach_reset, need_beta=need[1],
                need_threshold=need[2], need_weight=weight is not None and need[3],
                need_v0=v0 is not None and need[4],
                need_s0=s0 is not None and weight is not None and need[5],
                theta=tuple(p.detach().requires_grad_() for p in theta_needed),
                primitive_mode=not spiking)
        grad_current, grad_beta, grad_threshold, grad_weight, grad_v0, grad_s0, grad_theta = \
            grads
        theta_grads = iter(grad_theta)
        all_theta = tuple(next(theta_grads) if wanted else None for wanted in need[11:])
        result = (grad_current if need[0] else None, grad_beta, grad_threshold, grad_weight,
                  grad_v0, grad_s0, *all_theta)
        if torch.is_grad_enabled():  # create_graph=True: a second backward must not be silent
            anchors = [x for x in (membrane, spikes, beta, threshold, weight, v0, s0,
                                   grad_spikes, grad_mem, *theta)
                       if x is not None and x.requires_grad]
            if anchors:
                result = _first_order_only(anchors, result)
        grad_current, *rest = result
        return (grad_current, *rest[:5], None, None, None, None, None, *rest[5:])

    @staticmethod
    def vmap(info: Any, in_dims: tuple, current: Tensor, beta: Tensor, threshold: Tensor,
             weight: Tensor | None, v0: Tensor | None, s0: Tensor | None, surrogate: Any,
             reset: str, floor: float | None, detach_reset: bool, keep: bool,
             *theta: Tensor) -> tuple[tuple[Tensor, Tensor, Tensor], tuple[int, int, int]]:
        """Batched networks: the vmapped dimension joins the batch when only the inputs with a
        batch dimension (``current``, ``v0``, ``s0``) are batched; otherwise one call each."""
        size = info.batch_size
        tensors = [current, beta, threshold, weight, v0, s0]

        def front(x: Tensor | None, dim: int | None) -> Tensor | None:
            if x is None:
                return None
            return x.movedim(dim, 0) if dim is not None else x.expand(size, *x.shape)

        if any(d is not None for d in in_dims[11:]):
            raise ValueError("nwave engine: vmap over the surrogate's parameters is not "
                             "supported; vmap over the inputs and the layer's weights")
        batched = [front(x, d) for x, d in zip(tensors, in_dims[:6])]
        options = (surrogate, reset, floor, detach_reset, keep, *theta)
        if all(d is None for d in in_dims[1:4]):
            b, steps, n = batched[0].shape[1:]
            cur = batched[0].reshape(size * b, steps, n)
            state = [x.reshape(size * b, n) if x is not None else None for x in batched[4:]]
            spikes, mem, u = LIFSequence.apply(cur, beta, threshold, weight, *state, *options)
            shape = (size, b, steps, n)
            u = u.reshape(shape) if u.numel() else u.expand(size, 0)
            return (spikes.reshape(shape), mem.reshape(shape), u), (0, 0, 0)
        outputs = [LIFSequence.apply(*[x[i] if x is not None else None for x in batched],
                                     *options) for i in range(size)]
        spikes, mem, u = (torch.stack(list(parts)) for parts in zip(*outputs))
        return (spikes, mem, u), (0, 0, 0)
