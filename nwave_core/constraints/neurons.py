"""Rules on the neuron model: time constants, thresholds, reset rule, membrane floor."""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch
from torch import Tensor

from .base import RESETS, TOLERANCE, Constraint, Deployment, Violation, doc, one_of, positive

__all__ = ["TauSet", "TauRange", "Threshold", "ResetRule", "MembraneFloor"]


def _taus(instance: Any, attribute: attrs.Attribute, value: tuple[float, ...]) -> None:
    if not value or any(isinstance(t, bool) or not isinstance(t, (int, float))
                        or not math.isfinite(t) or t <= 0 for t in value):
        raise ValueError(f"TauSet.values must be a non-empty tuple of taus > 0 in seconds, "
                         f"got {value!r}")


def _sorted(value: Any) -> tuple[float, ...]:
    try:
        return tuple(sorted(float(t) for t in value))
    except (TypeError, ValueError):
        return value  # the validator reports it


def _shown(values: list[float]) -> str:
    return ", ".join(f"{v:.4g}" for v in values[:3]) + (" ..." if len(values) > 3 else "")


@attrs.frozen
class TauSet(Constraint):
    """Membrane time constants are one of the hardware's profiles; hardening snaps a tau to
    the nearest profile in log scale (ties to the shorter)."""

    kind = "tau_set"

    values: tuple[float, ...] = attrs.field(converter=_sorted, validator=_taus, metadata=doc(
        "the taus the hardware offers, seconds"))

    def nearest(self, taus: Tensor) -> Tensor:
        options = torch.tensor(self.values, dtype=torch.float64)
        t = taus.detach().double().reshape(-1, 1)
        distance = (torch.log(options) - torch.log(t.clamp(min=1e-300))).abs()
        # argmin returns the first of equal distances: the shorter tau
        snapped = options[distance.argmin(dim=1)].reshape(taus.shape)
        # a NaN or infinite tau stays what it is: the finite rule reports it, hardening fails
        finite = torch.isfinite(taus.detach().double())
        return torch.where(finite, snapped, taus.detach().double()).to(taus.dtype)

    def check(self, deployment: Deployment) -> list[Violation]:
        found = []
        for site in deployment.neurons():
            t = site.taus.detach().double()
            off = (self.nearest(t) - t).abs() > TOLERANCE * t.abs()
            off |= ~torch.isfinite(t)
            if off.any():
                bad = t[off].tolist()
                found.append(Violation(self.kind, site.where,
                                       f"{int(off.sum())} of {site.n} taus are not among the "
                                       f"profiles {list(self.values)} (e.g. {_shown(bad)} s)"))
        return found

    def harden(self, deployment: Deployment) -> None:
        for site in deployment.neurons():
            site.taus.copy_(self.nearest(site.taus))


@attrs.frozen
class TauRange(Constraint):
    """Membrane time constants lie in ``[low, high]`` seconds (a continuous, programmable leak);
    hardening clamps."""

    kind = "tau_range"

    low: float = attrs.field(validator=positive, metadata=doc("shortest tau, seconds"))
    high: float = attrs.field(validator=positive, metadata=doc("longest tau, seconds"))

    def __attrs_post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"TauRange: low must be <= high, got {self.low!r} > {self.high!r}")

    def nearest(self, taus: Tensor) -> Tensor:
        return taus.detach().clamp(self.low, self.high)

    def check(self, deployment: Deployment) -> list[Violation]:
        found = []
        for site in deployment.neurons():
            t = site.taus.detach().double()
            off = (t < self.low * (1 - TOLERANCE)) | (t > self.high * (1 + TOLERANCE))
            off |= ~torch.isfinite(t)
            if off.any():
                found.append(Violation(self.kind, site.where,
                                       f"{int(off.sum())} of {site.n} taus outside "
                                       f"[{self.low:g}, {self.high:g}] s "
                                       f"(e.g. {_shown(t[off].tolist())} s)"))
        return found

    def harden(self, deployment: Deployment) -> None:
        for site in deployment.neurons():
            site.taus.copy_(self.nearest(site.taus))


@attrs.frozen
class Threshold(Constraint):
    """Firing thresholds: one fixed ``value``, or a programmable range ``[low, high]``.

    ``scope`` says how many distinct thresholds the chip holds: ``"chip"`` (one for every
    neuron), ``"layer"`` (one per layer) or ``"neuron"`` (each its own). Hardening clamps to the
    range and, for ``chip`` / ``layer``, sets the mean of the clamped values.
    """

    kind = "threshold"

    value: float | None = attrs.field(default=None, validator=positive, metadata=doc(
        "the fixed threshold; None: a range"))
    low: float | None = attrs.field(default=None, validator=positive, metadata=doc(
        "smallest programmable threshold"))
    high: float | None = attrs.field(default=None, validator=positive, metadata=doc(
        "largest programmable threshold"))
    scope: str = attrs.field(default="chip", validator=one_of(("chip", "layer", "neuron")),
                             metadata=doc("distinct thresholds: one per 'chip', per 'layer', or "
                                          "per 'neuron'"))

    def __attrs_post_init__(self) -> None:
        ranged = self.low is not None or self.high is not None
        if (self.value is None) == (not ranged) or (ranged and (self.low is None or self.high is None)):
            raise ValueError("Threshold needs either value= (fixed) or both low= and high= (a "
                             f"range), got value={self.value!r}, low={self.low!r}, "
                             f"high={self.high!r}")
        if ranged and not self.low <= self.high:
            raise ValueError(f"Threshold: low must be <= high, got {self.low!r} > {self.high!r}")

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.value, self.value) if self.value is not None else (self.low, self.high)

    def _text(self) -> str:
        low, high = self.bounds
        return f"{low:g}" if low == high else f"[{low:g}, {high:g}]"

    def check(self, deployment: Deployment) -> list[Violation]:
        found = []
        low, high = self.bounds
        sites = list(deployment.neurons())
        for site in sites:
            th = site.thresholds.detach().double()
            off = (th < low * (1 - TOLERANCE)) | (th > high * (1 + TOLERANCE)) | ~torch.isfinite(th)
            if off.any():
                found.append(Violation(self.kind, site.where,
                                       f"{int(off.sum())} of {site.n} thresholds are not "
                                       f"{self._text()} (e.g. {_shown(th[off].tolist())})"))
            elif self.scope == "layer" and _spread(th) > TOLERANCE * high:
                found.append(Violation(self.kind, site.where,
                                       f"thresholds differ within the layer ({th.min():.4g} to "
                                       f"{th.max():.4g}); the chip holds one per layer"))
        if self.scope == "chip" and sites and low != high:
            every = torch.cat([s.thresholds.detach().double().reshape(-1) for s in sites])
            if _spread(every) > TOLERANCE * high:
                found.append(Violation(self.kind, ", ".join(s.where for s in sites),
                                       f"thresholds differ ({float(every.min()):.4g} to "
                                       f"{float(every.max()):.4g}); the chip holds one threshold"))
        return found

    def harden(self, deployment: Deployment) -> None:
        low, high = self.bounds
        sites = list(deployment.neurons())
        for site in sites:
            site.thresholds.copy_(site.thresholds.detach().clamp(low, high))
            if self.scope == "layer":
                site.thresholds.fill_(float(site.thresholds.double().mean()))
        if self.scope == "chip" and sites:
            mean = float(torch.cat([s.thresholds.detach().double().reshape(-1) for s in sites]).mean())
            for site in sites:
                site.thresholds.fill_(mean)


def _spread(values: Tensor) -> float:
    return float(values.max() - values.min()) if values.numel() else 0.0


def _resets(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    if not value or any(r not in RESETS for r in value):
        raise ValueError(f"ResetRule.allowed must be a non-empty tuple of "
                         f"{', '.join(map(repr, RESETS))}, got {value!r}")


@attrs.frozen
class ResetRule(Constraint):
    """What a spike does to the membrane is one of the ``allowed`` rules; hardening sets the
    first."""

    kind = "reset"

    allowed: tuple[str, ...] = attrs.field(converter=tuple, validator=_resets, metadata=doc(
        "reset rules the hardware implements: 'zero', 'subtraction', 'none'"))

    def check(self, deployment: Deployment) -> list[Violation]:
        return [Violation(self.kind, site.where,
                          f"reset {site.reset!r}; the chip resets by "
                          f"{' or '.join(map(repr, self.allowed))}")
                for site in deployment.neurons() if site.reset not in self.allowed]

    def harden(self, deployment: Deployment) -> None:
        for site in deployment.neurons():
            if site.reset not in self.allowed:
                site.assign("reset", self.allowed[0])


def _floor(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or not math.isfinite(value)):
        raise ValueError(f"MembraneFloor.value must be None or a finite number, got {value!r}")


@attrs.frozen
class MembraneFloor(Constraint):
    """The membrane is clamped at ``value`` after each step (``None``: the chip has no floor,
    and a model must not assume one)."""

    kind = "membrane_floor"

    value: float | None = attrs.field(default=None, validator=_floor, metadata=doc(
        "the floor; None: no floor"))

    def _ok(self, floor: Any) -> bool:
        if self.value is None or floor is None:
            return floor is None and self.value is None
        return isinstance(floor, (int, float)) and math.isclose(floor, self.value,
                                                               rel_tol=TOLERANCE, abs_tol=1e-12)

    def check(self, deployment: Deployment) -> list[Violation]:
        return [Violation(self.kind, site.where,
                          f"membrane floor {site.floor!r}; the chip has {self.value!r}")
                for site in deployment.neurons() if not self._ok(site.floor)]

    def harden(self, deployment: Deployment) -> None:
        for site in deployment.neurons():
            if not self._ok(site.floor):
                site.assign("floor", self.value)
