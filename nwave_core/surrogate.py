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
    """Heaviside forward, ``grad_output * surrogate.grad(x)`` backward (torch.func ready)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, surrogate: SurrogateBase) -> Tensor:  # type: ignore[override]
        return (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple, output: Tensor) -> None:
        x, surrogate = inputs
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.grad(x), None


def spike(x: Tensor, surrogate: SurrogateBase) -> Tensor:
    """Spikes ``(x >= 0)`` whose gradient is ``surrogate.grad(x)``."""
    return SpikeFunction.apply(x, surrogate)


class SurrogateBase(nn.Module):
    """Base class of surrogate gradients.

    A subclass declares [`param_name`][nwave_core.surrogate.SurrogateBase.param_name], takes that
    parameter as a constructor keyword and passes it to ``super().__init__``, and implements
    [`grad`][nwave_core.surrogate.SurrogateBase.grad] and
    [`primitive`][nwave_core.surrogate.SurrogateBase.primitive] reading the parameter as
    ``self.<param_name>`` (a 0-d tensor). Other, unscheduled parameters are listed in
    [`extra_params`][nwave_core.surrogate.SurrogateBase.extra_params] and assigned as attributes
    after ``super().__init__`` (``self.width = width``); they are checked on every assignment, like
    the scheduled one.

    Every parameter must be finite and ``> 0`` unless
    [`bounds`][nwave_core.surrogate.SurrogateBase.bounds] says otherwise.

    Args:
        value: initial value of the scheduled parameter.
        spiking: ``True``: calling the module returns spikes; ``False``: ``primitive(x)``.
        learnable: make the scheduled parameter an ``nn.Parameter`` that receives a gradient
            (through the primitive, ``d primitive / d param``).
    """

    #: name of the one scheduled parameter ("alpha", "slope", ...)
    param_name: ClassVar[str] = "alpha"
    #: names of the unscheduled parameters (plain attributes), shown in repr
    extra_params: ClassVar[tuple[str, ...]] = ()
    #: parameter name -> (minimum, inclusive); a missing name must be > 0; minimum None: any
    bounds: ClassVar[dict[str, tuple[float | None, bool]]] = {}
    #: parameters that must be whole numbers
    integer_params: ClassVar[tuple[str, ...]] = ()
    #: registry name, used in messages
    name: ClassVar[str] = ""
    #: the gradient g(x) and its primitive P(x), as text in the parameters' names
    formula: ClassVar[str] = ""
    primitive_formula: ClassVar[str] = ""
    #: max of g and its integral over the real line, as Python expressions in the parameters'
    #: names (``pi``, ``sqrt``, ``exp``, ``max``, ``inf`` and ``nan`` are known); "" if unknown.
    #: ``nwave show`` evaluates them; ``nwave_core.testing.check_surrogate`` verifies them.
    peak: ClassVar[str] = ""
    area: ClassVar[str] = ""
    #: True for the few published surrogates whose gradient dips below zero on purpose
    may_be_negative: ClassVar[bool] = False
    #: a closed-form gradient the engine's compiled backward evaluates in place, by name
    #: (``nwave_core.engine.native.CLOSED_FORMS``); "" (the default): ``grad`` is called
    kernel: ClassVar[str] = ""

    def __init__(self, value: float, *, spiking: bool = True, learnable: bool = False) -> None:
        super().__init__()
        number = self._check(self.param_name, value)
        tensor = torch.tensor(number, dtype=torch.float64)
        if learnable:
            self.register_parameter(self.param_name, nn.Parameter(tensor))
        else:
            self.register_buffer(self.param_name, tensor)
        self.spiking = bool(spiking)
        self.learnable = bool(learnable)

    # -- the formula (subclasses) ----------------------------------------------------------

    def grad(self, x: Tensor) -> Tensor:
        """The surrogate derivative ``g(x)``."""
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
        return float(getattr(self, self.param_name).detach())

    def params(self) -> dict[str, float]:
        """Every parameter by name, the scheduled one first, as plain numbers."""
        values = {self.param_name: self.param_value}
        values.update({n: getattr(self, n) for n in self.extra_params})
        return values

    def peak_value(self) -> float | None:
        """[`peak`][nwave_core.surrogate.SurrogateBase.peak] evaluated at the current parameters
        (None when not declared)."""
        return self._evaluate(self.peak)

    def area_value(self) -> float | None:
        """[`area`][nwave_core.surrogate.SurrogateBase.area] evaluated at the current parameters
        (None when not declared)."""
        return self._evaluate(self.area)

    def details(self) -> dict[str, str]:
        """What ``nwave show surrogate NAME`` prints: formulas, parameters, peak and area."""
        info = {"gradient": f"g(x) = {self.formula}" if self.formula else "(not documented)",
                "primitive": f"P(x) = {self.primitive_formula}" if self.primitive_formula else
                "(not documented)",
                "scheduled parameter": f"{self.param_name} = {self.param_value:g}"}
        for label, expression, value in (("peak", self.peak, self.peak_value()),
                                         ("area", self.area, self.area_value())):
            if expression and value is not None:
                shown = {"inf": "unbounded", "nan": "undefined"}.get(f"{value:g}", f"{value:g}")
                info[label] = shown if expression in (shown, f"{value:g}") else f"{expression} = {shown}"
        if self.may_be_negative:
            info["note"] = "the gradient is negative in places, by design"
        return info

    def _evaluate(self, expression: str) -> float | None:
        if not expression:
            return None
        names = {"pi": math.pi, "sqrt": math.sqrt, "exp": math.exp, "max": max, "min": min,
                 "inf": math.inf, "nan": math.nan, **self.params()}
        return float(eval(expression, {"__builtins__": {}}, names))  # noqa: S307 - class text

    def __setattr__(self, name: str, value: Any) -> None:
        cls = type(self)
        if name == cls.param_name:
            owned = self.__dict__.get("_parameters", {}).keys() | self.__dict__.get("_buffers", {}).keys()
            if name in owned:
                number = self._check(name, value)
                with torch.no_grad():
                    getattr(self, name).fill_(number)
                return
        elif name in cls.extra_params:
            value = self._check(name, value)
        super().__setattr__(name, value)

    def _check(self, name: str, value: Any) -> Any:
        """Check one parameter value against [`bounds`][nwave_core.surrogate.SurrogateBase.bounds];
        returns it as a float or int."""
        if isinstance(value, Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"surrogate {self._label()}: {name} must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"surrogate {self._label()}: {name} must be finite, got {number}")
        if name in self.integer_params:
            if number != int(number):
                raise ValueError(f"surrogate {self._label()}: {name} must be a whole number, "
                                 f"got {value!r}")
            number = int(number)
        minimum, inclusive = self.bounds.get(name, (0.0, False))
        if minimum is not None and (number < minimum or (number == minimum and not inclusive)):
            relation = ">=" if inclusive else ">"
            raise ValueError(f"surrogate {self._label()}: {name} must be {relation} {minimum:g}, "
                             f"got {value!r}")
        return number

    def _label(self) -> str:
        return repr(self.name) if self.name else type(self).__name__

    def extra_repr(self) -> str:
        parts = [f"{name}={value:g}" for name, value in self.params().items()]
        if not self.spiking:
            parts.append("spiking=False")
        if self.learnable:
            parts.append("learnable=True")
        return ", ".join(parts)
