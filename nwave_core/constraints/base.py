"""What a chip's rules look at, and the protocol every rule follows.

A model, or an exported file, is read into a [`Deployment`][nwave_core.constraints.base.Deployment]:
its *stages* in data-flow order (frontend, synapses, neuron layers), each carrying the values the
chip would hold:
[`WeightSite`][nwave_core.constraints.base.WeightSite] for every weight tensor (synapse weights
``[N_in, N_out]``, recurrent weights ``[N, N]``, frontend gains ``[N]``) and
[`NeuronSite`][nwave_core.constraints.base.NeuronSite] for a layer's neuron parameters. Read from a
model, the sites hold the model's live tensors, so hardening writes into them.

A [`Constraint`][nwave_core.constraints.base.Constraint] is a frozen attrs spec with validated
parameters. It says which roles it governs, reports every
[`Violation`][nwave_core.constraints.base.Violation] of a deployment, and may harden a deployment in
place, offer a differentiable ``penalty`` (hardware losses) and a training-time ``project`` (QAT).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar

import attrs

__all__ = ["TOLERANCE", "ROLES", "RESETS", "Violation", "WeightSite", "NeuronSite", "Stage",
           "Deployment", "Constraint", "doc", "number", "positive", "positive_int", "one_of",
           "roles"]

TOLERANCE = 1e-6
"""Values off by less than this (relative) count as meeting a rule."""
ROLES: tuple[str, ...] = ("synapse", "recurrent", "frontend")
"""What a weight site is: synapse weights, recurrent weights, frontend (per-channel) gains."""
RESETS: tuple[str, ...] = ("zero", "subtraction", "none")
"""Reset rules a neuron can follow after a spike."""


def doc(text: str) -> dict[str, str]:
    """Field metadata carrying the field's documentation (shown by ``nwave show``)."""
    return {"doc": text}


def _owner(instance: Any) -> str:
    return type(instance).__name__


def number(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Validator: a finite real number (``None`` allowed where the default is ``None``)."""
    if value is None and attribute.default is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{_owner(instance)}.{attribute.name} must be a finite number, "
                         f"got {value!r}")


def positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Validator: a finite number > 0 (``None`` allowed where the default is ``None``)."""
    number(instance, attribute, value)
    if value is not None and value <= 0:
        raise ValueError(f"{_owner(instance)}.{attribute.name} must be > 0, got {value!r}")


def positive_int(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """Validator: an integer >= 1 (``None`` allowed where the default is ``None``)."""
    if value is None and attribute.default is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{_owner(instance)}.{attribute.name} must be an integer >= 1, "
                         f"got {value!r}")


def one_of(options: tuple[str, ...]):
    """Validator: one of ``options``."""
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in options:
            raise ValueError(f"{_owner(instance)}.{attribute.name} must be one of "
                             f"{', '.join(map(repr, options))}, got {value!r}")
    return check


def roles(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    """Validator: a non-empty tuple of weight roles."""
    if not value or any(r not in ROLES for r in value):
        raise ValueError(f"{_owner(instance)}.{attribute.name} must be a non-empty tuple of "
                         f"{', '.join(map(repr, ROLES))}, got {value!r}")


@attrs.frozen
class Violation:
    """One broken rule, naming the layer, the tensor and the offending indices."""

    rule: str = attrs.field(metadata=doc("the constraint kind: weight_range, sign_block, ..."))
    where: str = attrs.field(metadata=doc("the layer or tensor, by qualified name"))
    detail: str = attrs.field(metadata=doc("what is wrong, with numbers and indices"))


@attrs.define(eq=False)
class WeightSite:
    """One weight tensor as the chip would hold it.

    ``value`` is the stored weight (before the synapse transfer), live when read from a model.
    ``transfer`` and ``gain`` say what the module applies to it (``"linear"`` and 1 for plain
    synapses); ``codes`` and ``scale`` are set when the site was read from an exported file.
    """

    where: str
    role: str
    value: Any  # torch.Tensor
    transfer: str = "linear"
    gain: float = 1.0
    module: Any = None
    attribute: str = ""
    codes: Any = None
    scale: float | None = None


@attrs.define(eq=False)
class NeuronSite:
    """A layer's neuron parameters as the chip would hold them (mismatch samples excluded).

    ``taus`` and ``thresholds`` are ``[n]`` tensors (live when read from a model);
    [`assign`][nwave_core.constraints.base.NeuronSite.assign] changes ``reset`` / ``floor`` here and
    on the module.
    """

    where: str
    n: int
    taus: Any
    thresholds: Any
    reset: str
    floor: float | None
    dt: float
    recurrent: bool = False
    module: Any = None

    def assign(self, name: str, value: Any) -> None:
        setattr(self, name, value)
        if self.module is not None:
            setattr(self.module, name, value)


@attrs.define(eq=False)
class Stage:
    """One step of the data flow: a ``"synapse"`` (``n_in -> n_out``), ``"neurons"`` or a
    ``"frontend"`` (``n_in == n_out``; per-channel gains, then neurons)."""

    where: str
    kind: str
    n_in: int
    n_out: int
    cls: str = ""
    weights: list[WeightSite] = attrs.Factory(list)
    neurons: NeuronSite | None = None
    module: Any = None


@attrs.define(eq=False)
class Deployment:
    """A model or an exported file as the chip sees it: stages in data-flow order, plus what
    cannot be deployed at all (``foreign``: e.g. a ``torch.nn.Linear``)."""

    stages: list[Stage] = attrs.Factory(list)
    foreign: list[Violation] = attrs.Factory(list)
    origin: str = "model"

    def weights(self, role: str | tuple[str, ...] | None = None) -> Iterator[WeightSite]:
        """Every weight site, optionally only those of ``role`` (one or several)."""
        wanted = (role,) if isinstance(role, str) else role
        for stage in self.stages:
            for site in stage.weights:
                if wanted is None or site.role in wanted:
                    yield site

    def neurons(self) -> Iterator[NeuronSite]:
        """Every neuron site, in data-flow order."""
        for stage in self.stages:
            if stage.neurons is not None:
                yield stage.neurons


class Constraint:
    """Base of chip rules. Subclasses are ``attrs.frozen`` classes with validated, documented
    parameters and a class-level ``kind`` (their registry name).

    Contract:

    * ``check(deployment)`` returns every violation (never raises for a bad model);
    * ``harden(deployment)`` moves the deployment's values in place to the nearest ones the rule
      accepts, or leaves what it cannot fix (``check`` then still reports it);
    * ``penalty(deployment)`` returns a differentiable scalar that is zero iff the rule holds, or
      ``None`` when the rule has none;
    * ``project(value, role)`` returns the training-time value of a weight of ``role`` (the
      forward sees the projected value, the gradient passes straight through), or ``None``;
    * ``bind(chip)`` returns the rule with defaults taken from the chip (e.g. a grid's limit).

    ``order`` sorts hardening: ranges before signs before grids.
    """

    kind: ClassVar[str] = ""
    order: ClassVar[int] = 50
    #: weight roles the rule governs (empty for rules on neurons or topology)
    applies_to: tuple[str, ...] = ()

    def check(self, deployment: Deployment) -> list[Violation]:
        raise NotImplementedError

    def harden(self, deployment: Deployment) -> None:
        """Nothing to harden by default."""

    def penalty(self, deployment: Deployment) -> Any:
        return None

    def project(self, value: Any, role: str) -> Any:
        return None

    def bind(self, chip: Any) -> Constraint:
        return self

    def governs(self, role: str) -> bool:
        return role in self.applies_to

    def params(self) -> dict[str, Any]:
        """The parameters, as a config table would give them."""
        return {f.name: list(v) if isinstance(v, tuple) else v
                for f in attrs.fields(type(self)) if f.init
                for v in (getattr(self, f.name),)}

    def describe(self) -> str:
        """One line for ``nwave show chip``: the kind and its parameters."""
        shown = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{self.kind}({shown})"
