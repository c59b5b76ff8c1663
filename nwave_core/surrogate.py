"""The spike function and the base class every surrogate gradient builds on.

Forward is the Heaviside step ``x >= 0`` (``x`` is membrane minus threshold); backward multiplies
the incoming gradient by ``surrogate.grad(x)``. A surrogate writes its formula once, as
``grad(x)`` and its antiderivative ``primitive(x)``; every execution path calls these.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

__all__ = ["SpikeFunction", "spike", "SurrogateBase"]


class SpikeFunction(torch.autograd.Function):
    """Heaviside forward, ``grad_output * surrogate.grad(x)`` backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, surrogate: SurrogateBase) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.grad(x), None


def spike(x: Tensor, surrogate: SurrogateBase) -> Tensor:
    """Spikes ``(x >= 0)`` whose gradient is ``surrogate.grad(x)``."""
    return SpikeFunction.apply(x, surrogate)


class SurrogateBase(nn.Module):
    """Base class of surrogate gradients.

    A subclass declares :attr:`param_name`, takes that parameter as a constructor keyword and
    passes it to ``super().__init__``, and implements :meth:`grad` and :meth:`primitive` reading
    the parameter as ``self.<param_name>`` (a 0-d tensor). Other, unscheduled parameters are
    plain float attributes listed in :attr:`extra_params`.

    Args:
        value: initial value of the scheduled parameter.
        spiking: ``True``: calling the module returns spikes; ``False``: ``primitive(x)``.
        learnable: make the scheduled parameter an ``nn.Parameter`` that receives a gradient
            (through the primitive, ``d primitive / d param``).
    """

    #: name of the one scheduled parameter ("alpha", "slope", ...)
    param_name: ClassVar[str] = "alpha"
    #: whether the scheduled parameter must be strictly positive
    param_positive: ClassVar[bool] = True
    #: names of the unscheduled parameters, shown in repr
    extra_params: ClassVar[tuple[str, ...]] = ()
    #: registry name, used in messages
    name: ClassVar[str] = ""

    def __init__(self, value: float, *, spiking: bool = True, learnable: bool = False) -> None:
        super().__init__()
        self._check(self.param_name, value, positive=self.param_positive)
        tensor = torch.tensor(float(value), dtype=torch.float64)
        if learnable:
            self.register_parameter(self.param_name, nn.Parameter(tensor))
        else:
            self.register_buffer(self.param_name, tensor)
        self.spiking = bool(spiking)
        self.learnable = bool(learnable)

    # -- the formula (subclasses) ----------------------------------------------------------

    def grad(self, x: Tensor) -> Tensor:
        """The surrogate derivative ``g(x)``: finite and non-negative."""
        raise NotImplementedError

    def primitive(self, x: Tensor) -> Tensor:
        """The smooth function ``P(x)`` with ``P' = g``."""
        raise NotImplementedError

    # -- behaviour shared by all surrogates ------------------------------------------------

    def forward(self, x: Tensor) -> Tensor:
        if not self.spiking:
            return self.primitive(x)
        out = spike(x, self)
        if self.learnable and torch.is_grad_enabled():
            # adds exactly zero; routes d primitive / d param to the learnable parameter
            smooth = self.primitive(x.detach())
            out = out + (smooth - smooth.detach())
        return out

    def set_spiking_mode(self, spiking: bool) -> SurrogateBase:
        """Switch between spikes (``True``) and the primitive (``False``); returns self."""
        self.spiking = bool(spiking)
        return self

    @property
    def param_value(self) -> float:
        """The scheduled parameter as a float."""
        return float(getattr(self, self.param_name))

    def __setattr__(self, name: str, value: Any) -> None:
        owned = self.__dict__.get("_parameters", {}).keys() | self.__dict__.get("_buffers", {}).keys()
        if name == type(self).param_name and name in owned:
            self._check(name, value, positive=self.param_positive)
            with torch.no_grad():
                getattr(self, name).fill_(float(value))
            return
        super().__setattr__(name, value)

    def _check(self, name: str, value: Any, *, positive: bool) -> float:
        """Check one parameter value; returns it as a float."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"surrogate {self._label()}: {name} must be a number, "
                            f"got {value!r}") from None
        if not math.isfinite(number):
            raise ValueError(f"surrogate {self._label()}: {name} must be finite, got {number}")
        if positive and number <= 0:
            raise ValueError(f"surrogate {self._label()}: {name} must be > 0, got {number}")
        return number

    def _label(self) -> str:
        return repr(self.name) if self.name else type(self).__name__

    def extra_repr(self) -> str:
        parts = [f"{self.param_name}={self.param_value:g}"]
        parts += [f"{n}={getattr(self, n)!r}" for n in self.extra_params]
        if not self.spiking:
            parts.append("spiking=False")
        if self.learnable:
            parts.append("learnable=True")
        return ", ".join(parts)
