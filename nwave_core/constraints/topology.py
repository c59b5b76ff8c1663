"""Rules on the network as a whole: core fit, the frontend, the synapse transfer, structure and
finite values."""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch
from torch import Tensor

from .base import Constraint, Deployment, Stage, Violation, doc, number, one_of, positive_int
from .transfer import TRANSFERS
from .weights import straight_through

__all__ = ["CoreFit", "Frontend", "SynapseTransfer", "Structure", "FiniteValues", "map_to_cores"]

Mapping = list[tuple[str, tuple[tuple[int, int], ...]]]


def _core_sizes(instance: Any, attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    if not value or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in value):
        raise ValueError(f"CoreFit.core_sizes must be a non-empty tuple of integers >= 1, "
                         f"got {value!r}")


def _pack(sizes: list[int], free: list[int], budget: int = 20000) -> list[int] | None:
    """Cores for items of ``sizes`` (each whole in one core), largest first, by a search over
    distinct free capacities that gives up after ``budget`` placements; None when they cannot
    all fit (or the search gave up)."""
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i])
    chosen = [0] * len(sizes)
    tries = [0]

    def place(k: int) -> bool:
        if k == len(order):
            return True
        item = order[k]
        tried: set[int] = set()
        for core, room in enumerate(free):
            if room >= sizes[item] and room not in tried:
                tries[0] += 1
                if tries[0] > budget:
                    return False
                tried.add(room)
                free[core] -= sizes[item]
                chosen[item] = core
                if place(k + 1):
                    return True
                free[core] += sizes[item]
        return False

    return chosen if place(0) else None


def map_to_cores(layers: list[tuple[str, int, bool]], core_sizes: tuple[int, ...],
                 recurrent_scope: str = "core") -> tuple[Mapping, list[str]]:
    """Place layers ``(name, neurons, whole)`` onto cores, in any core with room.

    A layer with ``whole=True`` (recurrent, on a chip whose recurrence stays in one core) goes
    whole into one core; the others fill the remaining room and may span cores. Returns the
    mapping in layer order and the names of layers that did not fit.
    """
    free = list(core_sizes)
    whole = [i for i, (_, _, w) in enumerate(layers) if w and recurrent_scope == "core"]
    parts: dict[int, tuple[tuple[int, int], ...]] = {}
    unplaced: list[str] = []
    fitting = [i for i in whole if layers[i][1] <= max(core_sizes)]
    unplaced += [layers[i][0] for i in whole if i not in fitting]
    cores = _pack([layers[i][1] for i in fitting], list(free))
    if cores is None and fitting:  # too many or no exact fit: first fit, largest first
        cores = []
        trial = list(free)
        for i in fitting:
            core = next((c for c in range(len(trial)) if trial[c] >= layers[i][1]), None)
            cores.append(core)
            if core is not None:
                trial[core] -= layers[i][1]
    for i, core in zip(fitting, cores or []):
        if core is None:
            unplaced.append(layers[i][0])
            continue
        free[core] -= layers[i][1]
        parts[i] = ((core, layers[i][1]),)
    core = 0
    for i, (name, size, _) in enumerate(layers):
        if i in whole:
            continue
        if size > sum(free):
            unplaced.append(name)
            continue
        left, placed = size, []
        while left:
            while free[core] == 0:
                core += 1
            take = min(left, free[core])
            free[core] -= take
            placed.append((core, take))
            left -= take
        parts[i] = tuple(placed)
    mapping = [(name, parts.get(i, ())) for i, (name, _, _) in enumerate(layers)]
    return mapping, [n for n, _, _ in layers if n in unplaced]


@attrs.frozen
class CoreFit(Constraint):
    """The neuron layers fit the chip's cores (a frontend's first-stage neurons count).

    Feed-forward layers may span cores; a recurrent layer stays in one core when
    ``recurrent_scope="core"``, may span cores with ``"chip"``, and is not allowed with
    ``"none"``. Layers go in any core with room (an exact search for recurrent layers).
    """

    kind = "core_fit"

    core_sizes: tuple[int, ...] = attrs.field(converter=tuple, validator=_core_sizes,
                                              metadata=doc("neurons per core"))
    recurrent_scope: str = attrs.field(default="core", validator=one_of(("core", "chip", "none")),
                                       metadata=doc("where recurrent connections may go: "
                                                    "within one 'core', anywhere on the "
                                                    "'chip', or 'none'"))

    def _layers(self, deployment: Deployment) -> list[tuple[str, int, bool]]:
        return [(s.where, s.n, s.recurrent) for s in deployment.neurons()]

    def mapping(self, deployment: Deployment) -> Mapping:
        return map_to_cores(self._layers(deployment), self.core_sizes, self.recurrent_scope)[0]

    def check(self, deployment: Deployment) -> list[Violation]:
        found = []
        layers = self._layers(deployment)
        largest = max(self.core_sizes)
        for name, size, recurrent in layers:
            if recurrent and self.recurrent_scope == "none":
                found.append(Violation(self.kind, name, "recurrent layer: the chip has no "
                                                        "recurrent connections"))
            elif recurrent and self.recurrent_scope == "core" and size > largest:
                found.append(Violation(self.kind, name,
                                       f"recurrent layer of {size} neurons cannot stay within "
                                       f"one core (largest core: {largest}); recurrence across "
                                       f"cores is not allowed"))
        reported = {v.where for v in found}
        _, unplaced = map_to_cores(layers, self.core_sizes, self.recurrent_scope)
        unplaced = [name for name in unplaced if name not in reported]
        if unplaced:
            total = sum(n for _, n, _ in layers)
            found.append(Violation(self.kind, ", ".join(unplaced),
                                   f"does not fit: {total} neurons in {len(layers)} layers; "
                                   f"cores {list(self.core_sizes)} ({sum(self.core_sizes)} "
                                   f"neurons)"))
        return found


@attrs.frozen
class Frontend(Constraint):
    """The chip's fixed frontend: its width and the range of its per-channel gains.

    Hardening clamps the gains; the training-time projection clamps them with a straight-through
    gradient.
    """

    kind = "frontend"
    order = 10

    channels: int | None = attrs.field(default=None, validator=positive_int, metadata=doc(
        "frontend width (one channel per first-stage neuron); None: any"))
    gain_low: float | None = attrs.field(default=None, validator=number, metadata=doc(
        "smallest per-channel gain; None: no bound"))
    gain_high: float | None = attrs.field(default=None, validator=number, metadata=doc(
        "largest per-channel gain; None: no bound"))

    applies_to = ("frontend",)

    def __attrs_post_init__(self) -> None:
        if self.gain_low is not None and self.gain_high is not None \
                and not self.gain_low <= self.gain_high:
            raise ValueError(f"Frontend: gain_low must be <= gain_high, got {self.gain_low!r} > "
                             f"{self.gain_high!r}")

    def _clamp(self, value: Tensor) -> Tensor:
        if self.gain_low is None and self.gain_high is None:
            return value
        return value.clamp(min=self.gain_low, max=self.gain_high)

    def check(self, deployment: Deployment) -> list[Violation]:
        found = []
        for stage in deployment.stages:
            if stage.kind != "frontend":
                continue
            if self.channels is not None and stage.n_out != self.channels:
                found.append(Violation(self.kind, stage.where,
                                       f"{stage.n_out} channels; the chip's frontend has "
                                       f"{self.channels}"))
        if self.gain_low is None and self.gain_high is None:
            return found
        for site in deployment.weights("frontend"):
            w = site.value.detach()
            off = (w != self._clamp(w)) | ~torch.isfinite(w)
            if off.any():
                bounds = f"[{self.gain_low if self.gain_low is not None else '-inf'}, " \
                         f"{self.gain_high if self.gain_high is not None else 'inf'}]"
                found.append(Violation(self.kind, site.where,
                                       f"{int(off.sum())} of {w.numel()} gains outside {bounds} "
                                       f"(e.g. channel {int(off.nonzero()[0, 0])}: "
                                       f"{float(w[off][0]):.4g})"))
        return found

    def harden(self, deployment: Deployment) -> None:
        for site in deployment.weights("frontend"):
            site.value.copy_(self._clamp(site.value.detach()))

    def project(self, value: Tensor, role: str) -> Tensor | None:
        if role != "frontend" or (self.gain_low is None and self.gain_high is None):
            return None
        return straight_through(value, self._clamp(value))


def _transfer_name(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value not in TRANSFERS:
        from ..suggest import did_you_mean

        raise ValueError(f"{type(instance).__name__}.{attribute.name}: unknown synapse transfer "
                         f"{value!r}.{did_you_mean(str(value), list(TRANSFERS))} Known: "
                         f"{', '.join(sorted(TRANSFERS))} (a plugin adds one with "
                         f"nwave_core.constraints.register_transfer)")


@attrs.frozen
class SynapseTransfer(Constraint):
    """Every synapse (feed-forward and recurrent) delivers ``gain * f(w)`` with the chip's
    ``f`` and gain: a model trained with another transfer (a plain ``LIFSynapse`` on a chip
    whose synapses saturate, say) would compute something else on the chip."""

    kind = "synapse_transfer"

    function: str = attrs.field(default="linear", validator=_transfer_name, metadata=doc(
        "the transfer f by registered name ('linear', 'tanh', or a plugin's)"))
    gain: float = attrs.field(default=1.0, validator=number, metadata=doc(
        "charge per unit of f(w)"))

    applies_to = ("synapse", "recurrent")

    def check(self, deployment: Deployment) -> list[Violation]:
        found = []
        for site in deployment.weights(self.applies_to):
            if site.transfer != self.function or not math.isclose(site.gain, self.gain,
                                                                  rel_tol=1e-9):
                use = "the chip's synapse (ChipSynapse(..., chip=...))" if site.role == "synapse" \
                    else "the chip's neuron layer (ChipLayer(..., chip=...))"
                found.append(Violation(self.kind, site.where,
                                       f"delivers {site.gain:g} * {site.transfer}(w); the chip's "
                                       f"synapses deliver {self.gain:g} * {self.function}(w): "
                                       f"use {use}"))
        return found


def _stage_size_problems(stage: Stage) -> list[str]:
    problems = []
    for site in stage.weights:
        shape = tuple(site.value.shape)
        expected = {"synapse": (stage.n_in, stage.n_out), "recurrent": (stage.n_out, stage.n_out),
                    "frontend": (stage.n_out,)}[site.role]
        if shape != expected:
            problems.append(f"{site.where} has shape {list(shape)}, expected {list(expected)}")
    return problems


@attrs.frozen
class Structure(Constraint):
    """What any deployable network satisfies: at least one layer; only chip modules; the
    frontend first; every synapse feeding a neuron layer, and neuron layers connected only
    through synapses; each stage's input width equal to the previous stage's output width;
    taus, thresholds, ``dt`` and weight scales > 0. Every chip has this rule."""

    kind = "structure"
    order = 0

    def check(self, deployment: Deployment) -> list[Violation]:
        found = list(deployment.foreign)
        stages = deployment.stages
        if not stages:
            found.append(Violation(self.kind, "model", "nothing to deploy: no synapse or neuron "
                                                       "layer"))
        for index, stage in enumerate(stages):
            if stage.kind == "frontend" and index > 0:
                found.append(Violation(self.kind, stage.where,
                                       "a frontend must be the first stage"))
            following = stages[index + 1].kind if index + 1 < len(stages) else None
            if stage.kind == "synapse" and following != "neurons":
                found.append(Violation(self.kind, stage.where,
                                       "a synapse must feed a neuron layer" + (
                                           ", not end the model" if following is None else
                                           f", not a {following}")))
            if stage.kind in ("neurons", "frontend") and following in ("neurons", "frontend"):
                found.append(Violation(self.kind, stage.where,
                                       "neuron layers connect through a synapse, not directly"))
            if index > 0 and stages[index - 1].n_out != stage.n_in:
                previous = stages[index - 1]
                found.append(Violation(self.kind, stage.where,
                                       f"takes {stage.n_in} inputs but {previous.where} gives "
                                       f"{previous.n_out}"))
            for problem in _stage_size_problems(stage):
                found.append(Violation(self.kind, stage.where, problem))
            for site in stage.weights:
                if site.scale is not None and not (math.isfinite(site.scale) and site.scale > 0):
                    found.append(Violation(self.kind, site.where,
                                           f"scale must be a finite number > 0, got {site.scale!r}"))
            neurons = stage.neurons
            if neurons is None:
                continue
            for name, values in (("taus", neurons.taus), ("thresholds", neurons.thresholds)):
                v = values.detach()
                if tuple(v.shape) != (neurons.n,):
                    found.append(Violation(self.kind, neurons.where,
                                           f"{name} has shape {list(v.shape)}, expected "
                                           f"[{neurons.n}]"))
                elif (v <= 0).any():
                    found.append(Violation(self.kind, neurons.where,
                                           f"{int((v <= 0).sum())} {name} are <= 0"))
            if not (isinstance(neurons.dt, (int, float)) and neurons.dt > 0):
                found.append(Violation(self.kind, neurons.where,
                                       f"dt must be > 0 seconds, got {neurons.dt!r}"))
        return found


@attrs.frozen
class FiniteValues(Constraint):
    """No NaN or infinity in any weight, tau, threshold, ``dt`` or floor. Every chip has this
    rule."""

    kind = "finite"
    order = 0

    def check(self, deployment: Deployment) -> list[Violation]:
        found = []
        for site in deployment.weights():
            bad = ~torch.isfinite(site.value.detach())
            if bad.any():
                found.append(Violation(self.kind, site.where,
                                       f"{int(bad.sum())} of {bad.numel()} values are NaN or "
                                       f"infinite"))
        for site in deployment.neurons():
            for name in ("taus", "thresholds"):
                bad = ~torch.isfinite(getattr(site, name).detach())
                if bad.any():
                    found.append(Violation(self.kind, site.where,
                                           f"{int(bad.sum())} {name} are NaN or infinite"))
            for name in ("dt", "floor"):
                value = getattr(site, name)
                if isinstance(value, float) and not math.isfinite(value):
                    found.append(Violation(self.kind, site.where, f"{name} is {value!r}"))
        return found
