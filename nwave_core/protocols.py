"""The contracts plugins fulfil. Each is a runtime-checkable `typing.Protocol`.

``isinstance(obj, Surrogate)`` checks only that the members exist; the conformance checks in
[`nwave_core.testing`][nwave_core.testing] check behaviour.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["Surrogate", "Policy", "NeuronLayer", "Scheduler", "ChipTarget"]


@runtime_checkable
class Surrogate(Protocol):
    """A spike nonlinearity with a smooth stand-in for its derivative.

    Contract:
        * ``__call__(x)`` returns exactly ``(x >= 0)`` as 0./1. of ``x``'s dtype in spiking mode,
          and ``primitive(x)`` when spiking mode is off; its backward multiplies the incoming
          gradient by ``grad(x)``.
        * ``grad(x)`` is finite and non-negative for every finite ``x``; it is the derivative of
          ``primitive(x)``.
        * ``param_name`` names the one scheduled parameter (``"alpha"``, ``"slope"``, ...),
          readable and writable as an attribute of that name.
    """

    param_name: str

    def __call__(self, x: Any) -> Any: ...

    def grad(self, x: Any) -> Any: ...

    def primitive(self, x: Any) -> Any: ...


@runtime_checkable
class Policy(Protocol):
    """How a scheduled value moves from ``start`` to ``end`` over ``total_steps`` steps.

    Contract: ``value`` is a pure function returning a float; it equals ``start`` at step 0 for
    every policy that interpolates, accepts and ignores ``**options`` it does not use (such as
    ``step_size`` and ``gamma``), and clips the result to ``[min_value, max_value]`` when those
    options are given.
    """

    def value(self, step: int, start: float, end: float, total_steps: int,
              **options: Any) -> float: ...


@runtime_checkable
class NeuronLayer(Protocol):
    """A spiking neuron layer (a ``torch.nn.Module``), batch-first.

    Contract: ``layer(x)`` takes one step ``[B, N]`` (state kept between calls) or a whole
    sequence ``[B, T, N]`` and returns the spikes of the same shape; ``layer.mem`` holds the
    membrane of the last call; ``spike_grad`` is the layer's surrogate; ``reset_state()`` forgets
    the state so the next call starts from rest.
    """

    spike_grad: Surrogate

    def __call__(self, x: Any) -> Any: ...

    def reset_state(self) -> None: ...


@runtime_checkable
class Scheduler(Protocol):
    """Anything stepped during training whose position must survive a checkpoint.

    Contract: ``load_state_dict(state_dict())`` on a fresh scheduler built with the same
    arguments continues the exact same sequence of values.
    """

    def step(self, *args: Any, **kwargs: Any) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@runtime_checkable
class ChipTarget(Protocol):
    """A neuromorphic chip a model is trained for, declared as data.

    Contract: ``name`` identifies the chip; ``validate(model)`` returns a report of every way the
    model breaks the chip's rules without changing the model; ``harden(model)`` returns a copy
    that ``validate`` accepts.
    """

    name: str

    def validate(self, model: Any) -> Any: ...

    def harden(self, model: Any) -> Any: ...
