"""The engine's autograd Function: the whole sequence in one node, torch.func ready.

[`LIFSequence`][nwave_core.engine.autograd.LIFSequence] is a new-style ``torch.autograd.Function``
(``forward`` without ``ctx``,
``setup_context``, and a ``vmap`` rule), so ``torch.func.grad``, ``vmap`` and ``jacrev`` work
through it. Its backward is first order only: when the gradient it returns would itself be
differentiated (``create_graph=True``, a Hessian), that second backward raises
[`DoubleBackwardError`][nwave_core.engine.autograd.DoubleBackwardError] instead of returning a
partial result.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from . import ops
from .backward import run_backward
from .checks import is_spiking
from .loops import forward_loop

__all__ = ["DoubleBackwardError", "LIFSequence", "apply"]


class DoubleBackwardError(RuntimeError):
    """A second-order gradient through
    [`nwave_core.engine.lif_sequence`][nwave_core.engine.lif_sequence]."""


_DOUBLE_BACKWARD = ("nwave engine: lif_sequence has no second-order gradient (its backward is "
                    "a hand-written loop); the gradient was differentiated again "
                    "(create_graph=True, a Hessian, or grad of grad). Use "
                    "nwave_core.engine.lif_sequence_reference for second-order gradients.")


def apply(function: type[torch.autograd.Function], *args: Any) -> Any:
    """``function.apply(*args)`` without its per-call ``inspect.signature`` binding (about
    0.1 ms per call) when no ``torch.func`` transform is active and nothing is compiled.

    ``Function.apply`` binds the arguments to ``forward``'s signature for new-style Functions;
    the engine always passes every argument positionally, so the binding changes nothing.
    Under ``torch.func`` transforms or ``torch.compile`` the public ``apply`` runs.
    """
    if torch.compiler.is_compiling() or torch._C._are_functorch_transforms_active():
        return function.apply(*args)
    return super(torch.autograd.Function, function).apply(*args)  # the C++ apply itself


def saves_u(reset: str, floor: float | None, spiking: bool) -> bool:
    """Whether the backward needs the pre-reset membrane ``u`` saved.

    Without a floor, the outputs give back what the backward needs, bit for bit: no reset:
    ``u = mem``; subtraction: ``u - threshold = mem - (1 - s) * threshold`` (``mem`` is the
    forward's ``u - threshold`` where it spiked and ``u`` elsewhere). The zero reset, the floor
    and the primitive mode (``s`` not 0 or 1) lose ``u``.
    """
    return reset == "zero" or floor is not None or not spiking


def _select(x: Any, dim: int | None, i: int) -> Any:
    return x.select(dim, i) if isinstance(x, Tensor) and dim is not None else x


def _loop_vmap(function: Any, info: Any, in_dims: tuple, args: tuple) -> tuple[tuple, tuple]:
    """A vmap rule: one call per vmapped index, outputs stacked along dimension 0."""
    outputs = [function.apply(*[_select(x, d, i) for x, d in zip(args, in_dims)])
               for i in range(info.batch_size)]
    stacked = tuple(torch.stack(list(parts)) for parts in zip(*outputs))
    return stacked, (0,) * len(stacked)


class _Backward(torch.autograd.Function):
    """The engine's backward as a Function of its own: composable with torch.func, and its
    backward (a second order) raises
    [`DoubleBackwardError`][nwave_core.engine.autograd.DoubleBackwardError].

    Inputs: ``membrane, spikes, beta, threshold, weight, v0, s0, grad_spikes, grad_mem,
    options, needs, *theta``. Outputs: the gradients of ``current, beta, threshold, weight,
    v0, s0, *theta``, an empty tensor for each one not needed.
    """

    @staticmethod
    def forward(membrane: Tensor, spikes: Tensor | None, beta: Tensor,  # type: ignore[override]
                threshold: Tensor, weight: Tensor | None, v0: Tensor | None, s0: Tensor | None,
                grad_spikes: Tensor | None, grad_mem: Tensor | None, options: tuple,
                needs: tuple, *theta: Tensor) -> tuple[Tensor, ...]:
        surrogate, reset, floor, detach_reset, spiking, saved_u = options

        def plain(x: Tensor | None) -> Tensor | None:
            return None if x is None else x.detach()

        with torch.no_grad():
            grads = run_backward(
                plain(membrane), plain(spikes), saved_u, plain(beta), plain(threshold),
                plain(weight), plain(v0), plain(s0), plain(grad_spikes), plain(grad_mem),
                surrogate, reset, floor, detach_reset, need_beta=needs[1],
                need_threshold=needs[2], need_weight=needs[3], need_v0=needs[4],
                need_s0=needs[5], theta=theta, primitive_mode=not spiking)
        *first, grad_theta = grads
        empty = membrane.new_empty(0)
        return tuple(g if g is not None and wanted else empty
                     for g, wanted in zip((*first, *grad_theta), needs))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Any) -> None:
        pass

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise DoubleBackwardError(_DOUBLE_BACKWARD)

    @staticmethod
    def vmap(info: Any, in_dims: tuple, *args: Any) -> tuple[tuple, tuple]:
        return _loop_vmap(_Backward, info, in_dims, args)


def _compiled_backward(membrane: Tensor, spikes: Tensor | None, beta: Tensor, threshold: Tensor,
                       weight: Tensor | None, v0: Tensor | None, s0: Tensor | None,
                       grad_spikes: Tensor | None, grad_mem: Tensor | None, options: tuple,
                       needs: tuple) -> tuple[Tensor | None, ...]:
    """The backward under ``torch.compile``: ``surrogate.grad`` of every step in the traced
    graph, then the reverse pass as the opaque ``nwave::lif_backward``."""
    surrogate, reset, floor, detach_reset, _, saved_u = options
    if saved_u or spikes is None:
        x = membrane - threshold
    else:  # subtraction: u - threshold = mem + (s - 1) * threshold, as the eager backward
        x = torch.addcmul(membrane, spikes - 1, threshold)
    g = surrogate.grad(x).to(membrane.dtype).expand_as(x).contiguous()
    grads = ops.lif_backward(membrane, spikes, beta, threshold, weight, v0, s0, grad_spikes,
                             grad_mem, g, reset, floor, detach_reset, saved_u, list(needs[:6]))
    result = [x if wanted else None for x, wanted in zip(grads, needs[:6])]
    return (*result, None, None, None, None, None)


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
        if torch.compiler.is_compiling():  # spiking, no theta: see lif_sequence
            return ops.lif_forward(current, beta, threshold, weight, v0, s0, reset, floor,
                                   keep_u)
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
        needs = (need[0], need[1], need[2], weight is not None and need[3],
                 v0 is not None and need[4], s0 is not None and weight is not None and need[5],
                 *(True for _ in theta_needed))
        options = (surrogate, reset, floor, detach_reset, spiking, ctx.saves_u)
        if torch.compiler.is_compiling():
            return _compiled_backward(membrane, spikes, beta, threshold, weight, v0, s0,
                                      grad_spikes, grad_mem, options, needs)
        grads = apply(_Backward, membrane, spikes, beta, threshold, weight, v0, s0, grad_spikes,
                      grad_mem, options, needs, *theta_needed)
        result = [g if wanted else None for g, wanted in zip(grads, needs)]
        grad_theta = iter(result[6:])
        all_theta = tuple(next(grad_theta) if wanted else None for wanted in need[11:])
        return (*result[:6], None, None, None, None, None, *all_theta)

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
