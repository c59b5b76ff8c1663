"""Chips as data: [`ChipSpec`][nwave_core.chip.ChipSpec] declares a chip as its neuron model plus a
tuple of rules.

A chip is a frozen attrs instance: the neuron model (threshold, reset, membrane floor, tau
discretisation, synapse transfer, mismatch and energy figures) and a tuple of
[`Constraint`][nwave_core.constraints.base.Constraint] s. The field shorthand reads as rules too
(``weight_limit=1.66`` is a weight range, ``sign_block=5`` sign blocks over the outputs,
``weight_bits=8`` a symmetric grid, ``core_sizes`` a core fit, ...), so a simple chip stays a few
lines; a rule given in ``constraints`` replaces the shorthand's rule of the same kind. The
hardware layers, validation, hardening, export, the hardware losses, QAT and SignAnnealing read
[`ChipSpec.rules`][nwave_core.chip.ChipSpec.rules]; nothing in the core hard-codes a chip's
numbers::

    from nwave_core import ChipSpec
    from nwave_core.constraints import SignBlock, TauRange
    ACME = ChipSpec(name="acme", weight_limit=0.5, core_sizes=(128, 128),
                    constraints=(SignBlock(4, axis="inputs"), TauRange(1e-3, 27e-3)))

Values that a vendor does not publish are marked *nominal* in the declaring plugin's docs.
``ChipSpec`` imports none of its consumers (layers, export, training).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Mapping
from typing import Any

import attrs

from . import constraints as _rules
from .constraints import (
    RESETS,
    TRANSFERS,
    ChipValidationError,
    Constraint,
    CoreFit,
    FiniteValues,
    Frontend,
    MembraneFloor,
    ResetRule,
    SignBlock,
    Structure,
    SynapseTransfer,
    TauSet,
    Threshold,
    ValidationReport,
    WeightGrid,
    WeightRange,
)

__all__ = ["ChipSpec", "RESETS", "SYNAPSE_NONLINEARITIES", "resolve_chip"]

SYNAPSE_NONLINEARITIES: tuple[str, ...] = ("linear", "tanh")
"""The built-in synapse transfer functions (plugins add more:
``constraints.register_transfer``)."""


def _positive(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"ChipSpec.{attribute.name} must be a finite number > 0, got {value!r}")


def _non_negative(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"ChipSpec.{attribute.name} must be a finite number >= 0, got {value!r}")


def _positive_int(instance: Any, attribute: attrs.Attribute, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"ChipSpec.{attribute.name} must be an integer >= 1, got {value!r}")


def _one_of(options: tuple[str, ...]):
    def check(instance: Any, attribute: attrs.Attribute, value: str) -> None:
        if value not in options:
            raise ValueError(f"ChipSpec.{attribute.name} must be one of "
                             f"{', '.join(map(repr, options))}, got {value!r}")
    return check


def _core_sizes(instance: Any, attribute: attrs.Attribute, value: tuple[int, ...]) -> None:
    if not value or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in value):
        raise ValueError(f"ChipSpec.core_sizes must be a non-empty tuple of integers >= 1, "
                         f"got {value!r}")


def _weight_bits(instance: Any, attribute: attrs.Attribute, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 2 <= value <= 32):
        raise ValueError(f"ChipSpec.weight_bits must be None (no quantization) or an integer "
                         f"from 2 to 32, got {value!r}")


def _tau_profiles(instance: Any, attribute: attrs.Attribute, value: tuple[float, ...] | None) -> None:
    if value is None:
        return
    if not value or any(not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0) for t in value):
        raise ValueError(f"ChipSpec.tau_profiles must be None (any tau) or a non-empty tuple of "
                         f"taus > 0 in seconds, got {value!r}")


def _transfer(instance: Any, attribute: attrs.Attribute, value: str) -> None:
    if value not in TRANSFERS:
        from .suggest import did_you_mean

        raise ValueError(f"ChipSpec.synapse_nonlinearity must be a registered synapse transfer "
                         f"({', '.join(sorted(TRANSFERS))}), got {value!r}."
                         f"{did_you_mean(str(value), list(TRANSFERS))}")


def _constraint_list(value: Any) -> tuple[Any, ...]:
    """Constraints from instances or config tables ``{"type": kind, **params}``."""
    if value is None:
        return ()
    if isinstance(value, (Constraint, Mapping)):
        value = (value,)
    items = []
    for item in value:
        if isinstance(item, Mapping):
            params = dict(item)
            kind = params.pop("type", None)
            if not isinstance(kind, str):
                raise ValueError(f"ChipSpec.constraints: a table needs a 'type' (a constraint "
                                 f"kind), got {dict(item)!r}")
            from . import create

            item = create("constraint", kind, **params)
        items.append(item)
    return tuple(items)


def _device(value: Any) -> Any:
    """A DeviceSpec from a device name, a table or itself (None stays None)."""
    if value is None:
        return None
    from .analog.devices import device_spec

    try:
        return device_spec(dict(value) if isinstance(value, Mapping) else value)
    except TypeError as exc:
        raise ValueError(f"ChipSpec.synapse_device: {exc}") from None


def _device_table(device: Any) -> dict[str, Any]:
    """A device spec as a config table ``{"type": registry name, **fields}``."""
    from . import registry

    names = [e.name for e in registry("device") if e.factory is type(device)]
    if not names:
        raise ValueError(f"the chip's synapse device {type(device).__name__} is not a registered "
                         f"device model; it cannot be written")
    return {"type": names[0], **attrs.asdict(device)}


def _constraints(instance: Any, attribute: attrs.Attribute, value: tuple[Any, ...]) -> None:
    for item in value:
        if not isinstance(item, Constraint):
            raise ValueError(f"ChipSpec.constraints must hold nwave_core.constraints.Constraint "
                             f"instances (or tables with a 'type'), got {item!r}")


def _floor(instance: Any, attribute: attrs.Attribute, value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
        raise ValueError(f"ChipSpec.membrane_floor must be None or a finite number, got {value!r}")


def _sorted_floats(value: Any) -> tuple[float, ...] | None:
    return None if value is None else tuple(sorted(float(t) for t in value))


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


def _bound_to_each_other(rules: list[Constraint]) -> list[Constraint]:
    """Grids restricted to each role's range (weight ranges, frontend gain bounds); tau
    profiles to a declared tau range."""
    ranges = {}
    for role in ("synapse", "recurrent", "frontend"):
        lows = [r.low for r in rules if r.kind == "weight_range" and r.governs(role)]
        highs = [r.high for r in rules if r.kind == "weight_range" and r.governs(role)]
        if role == "frontend":
            lows += [r.gain_low for r in rules if r.kind == "frontend" and r.gain_low is not None]
            highs += [r.gain_high for r in rules if r.kind == "frontend" and r.gain_high is not None]
        if lows or highs:
            ranges[role] = (max(lows) if lows else -math.inf, min(highs) if highs else math.inf)
    tau_ranges = [r for r in rules if r.kind == "tau_range"]
    bound = []
    for rule in rules:
        if rule.kind == "weight_grid":
            rule = rule.within(ranges)
        elif rule.kind == "tau_set" and tau_ranges:
            low, high = max(r.low for r in tau_ranges), min(r.high for r in tau_ranges)
            inside = tuple(t for t in rule.values if low * (1 - 1e-9) <= t <= high * (1 + 1e-9))
            if not inside:
                raise ValueError(f"no tau profile of {list(rule.values)} lies in the tau range "
                                 f"[{low:g}, {high:g}]")
            rule = attrs.evolve(rule, values=inside)
        bound.append(rule)
    return bound


@attrs.frozen(kw_only=True)
class ChipSpec:
    """A neuromorphic chip, declared as data. Every field but ``name`` has a default.

    The fields from ``weight_limit`` to ``frontend_channels`` and ``global_threshold`` are
    shorthand for rules (see [`rules`][nwave_core.chip.ChipSpec.rules]); the neuron-model fields
    drive the chip layers.
    """

    name: str = attrs.field(validator=[attrs.validators.instance_of(str),
                                       attrs.validators.min_len(1)],
                            metadata=_doc("registry name of the chip, e.g. 'h1v2'"))
    spec_version: str = attrs.field(default="1", metadata=_doc(
        "version of this declaration; written into exported files"))
    summary: str = attrs.field(default="", metadata=_doc("one line for listings"))

    # weights
    weight_limit: float = attrs.field(default=1.0, validator=_positive, metadata=_doc(
        "the weight scale: weights in [-weight_limit, weight_limit] (a weight_range rule on "
        "synapse, recurrent and frontend weights), the span of weight_bits' grid and of the "
        "tanh transfer"))
    sign_block: int = attrs.field(default=1, validator=_positive_int, metadata=_doc(
        "a sign_block rule along the outputs: in each input row of W[N_in, N_out], blocks of "
        "this many consecutive post-synaptic neurons share one sign; 1 means no sign rule"))
    weight_bits: int | None = attrs.field(default=None, validator=_weight_bits, metadata=_doc(
        "a weight_grid rule: symmetric codes of this many bits over [-weight_limit, "
        "weight_limit], 2^bits - 1 levels (8 bits: codes -127..127); None: float weights"))

    # topology
    core_sizes: tuple[int, ...] = attrs.field(default=(1024,), converter=tuple,
                                              validator=_core_sizes, metadata=_doc(
        "neurons per core (a core_fit rule)"))
    recurrent_scope: str = attrs.field(default="core", validator=_one_of(("core", "chip", "none")),
                                       metadata=_doc(
        "where recurrent connections may go: within one core, anywhere, or nowhere"))
    frontend_channels: int | None = attrs.field(default=None, metadata=_doc(
        "width of the fixed analog frontend (a frontend rule; one channel per first-stage "
        "neuron); None: no frontend rule"))

    # neurons
    threshold: float = attrs.field(default=1.0, validator=_positive, metadata=_doc(
        "the firing threshold (normalized units) the chip layers start from"))
    global_threshold: bool = attrs.field(default=True, metadata=_doc(
        "a threshold rule: every neuron's threshold is `threshold` (no per-layer or per-neuron "
        "thresholds); False: no threshold rule"))
    reset: str = attrs.field(default="subtraction", validator=_one_of(RESETS), metadata=_doc(
        "what a spike does to the membrane: 'zero', 'subtraction' (of the threshold), 'none' "
        "(a reset rule)"))
    membrane_floor: float | None = attrs.field(default=None, validator=_floor, metadata=_doc(
        "the membrane is clamped at or above this value after each step; None: no floor (a "
        "membrane_floor rule either way)"))
    tau_profiles: tuple[float, ...] | None = attrs.field(default=None, converter=_sorted_floats,
                                                         validator=_tau_profiles, metadata=_doc(
        "time constants the hardware offers (seconds; a tau_set rule); a requested tau snaps to "
        "the nearest; None: any tau"))

    # synapses
    synapse_gain: float = attrs.field(default=1.0, validator=_positive, metadata=_doc(
        "charge per unit weight: effective weight = gain * f(weight)"))
    synapse_nonlinearity: str = attrs.field(default="linear", validator=_transfer,
                                            metadata=_doc(
        "f in the effective weight, a registered synapse transfer: 'linear' (f(w) = w), 'tanh' "
        "(f(w) = weight_limit * tanh(w / weight_limit), saturating), or a plugin's"))

    # mismatch (device-to-device variation), all relative or absolute standard deviations
    synapse_stddev: float = attrs.field(default=0.0, validator=_non_negative, metadata=_doc(
        "default std of the additive noise on effective weights"))
    leak_mismatch: float = attrs.field(default=0.0, validator=_non_negative, metadata=_doc(
        "std of log(tau) across neurons when leak mismatch is on (tau * exp(std * z))"))
    threshold_mismatch: float = attrs.field(default=0.0, validator=_non_negative, metadata=_doc(
        "relative std of the per-neuron threshold when leak/threshold mismatch is on"))

    # energy
    energy_per_spike: float = attrs.field(default=0.0, validator=_non_negative, metadata=_doc(
        "energy of one output spike, joules"))
    energy_per_synaptic_event: float = attrs.field(default=0.0, validator=_non_negative,
                                                   metadata=_doc(
        "energy of one spike delivered through one synapse, joules"))

    synapse_device: Any = attrs.field(default=None, converter=_device, metadata=_doc(
        "the analog device of the chip's synapses, for pulsed in-memory updates (pulsed_sgd): "
        "a device name, a table {type = name, ...} or a nwave_core.analog.DeviceSpec; None: "
        "digital synapses"))

    constraints: tuple[Constraint, ...] = attrs.field(default=(), converter=_constraint_list,
                                                      validator=_constraints, metadata=_doc(
        "rules beyond the shorthand (Constraint instances, or config tables {type = kind, "
        "...}); a rule here replaces the shorthand's rule of the same kind"))

    @frontend_channels.validator
    def _frontend(self, attribute: attrs.Attribute, value: int | None) -> None:
        if value is not None:
            _positive_int(self, attribute, value)

    def __attrs_post_init__(self) -> None:
        """The neuron model the chip layers start from must meet the chip's own rules, and the
        rules must leave each weight something to be."""
        problems = []
        try:
            rules = self.rules
        except ValueError as exc:
            raise ValueError(f"ChipSpec {self.name!r}: {exc}") from None
        for grid in (r for r in rules if r.kind == "weight_grid"):
            for role in grid.applies_to:
                if not grid.allowed(role).numel():
                    problems.append(f"no level of the weight grid lies in the {role} weights' "
                                    f"range")
                elif not (grid.allowed(role) == 0).any() and any(
                        b.governs(role) for b in rules if b.kind == "sign_block"):
                    problems.append(f"sign blocks need 0 on the weight grid of {role} weights "
                                    f"(hardening zeroes a block's minority sign)")
        for rule in rules:
            if rule.kind == "reset" and self.reset not in rule.allowed:
                problems.append(f"reset {self.reset!r} is not among the reset rule's "
                                f"{list(rule.allowed)}")
            elif rule.kind == "threshold":
                low, high = rule.bounds
                if not low * (1 - 1e-9) <= self.threshold <= high * (1 + 1e-9):
                    problems.append(f"threshold {self.threshold!r} is outside the threshold "
                                    f"rule's [{low:g}, {high:g}]")
            elif rule.kind == "membrane_floor" and rule.value != self.membrane_floor:
                problems.append(f"membrane_floor {self.membrane_floor!r} differs from the "
                                f"membrane_floor rule's {rule.value!r}")
            elif rule.kind == "synapse_transfer" and rule.function != self.synapse_nonlinearity:
                problems.append(f"synapse_nonlinearity {self.synapse_nonlinearity!r} differs "
                                f"from the synapse_transfer rule's {rule.function!r}")
        if problems:
            raise ValueError(f"ChipSpec {self.name!r}: the declaration contradicts its own "
                             f"rules: {'; '.join(problems)}")

    def with_overrides(self, **changes: Any) -> ChipSpec:
        """A copy with some fields changed (``attrs.evolve`` with a did-you-mean on typos)."""
        names = [f.name for f in attrs.fields(type(self))]
        unknown = [k for k in changes if k not in names]
        if unknown:
            from .suggest import did_you_mean

            hints = "".join(did_you_mean(k, names) for k in unknown)
            raise TypeError(f"chip {self.name!r} has no field {', '.join(map(repr, unknown))}."
                            f"{hints} Fields: {', '.join(names)}.")
        return attrs.evolve(self, **changes) if changes else self

    # -- the rules ---------------------------------------------------------------------------

    @functools.cached_property
    def rules(self) -> tuple[Constraint, ...]:
        """Every rule of the chip, in hardening order: the shorthand's rules (a declared rule
        of the same kind replaces them; for weight rules, only for the roles it governs), the
        declared ones bound to this chip, and ``structure`` and ``finite``, which hold for
        every chip. Grids are restricted to the levels inside each role's range, tau profiles
        to those inside a declared tau range."""
        declared = [c.bind(self) for c in self.constraints]
        shorthand: list[Constraint] = [WeightRange.symmetric(self.weight_limit)]
        if self.sign_block > 1:
            shorthand.append(SignBlock(self.sign_block))
        if self.weight_bits is not None:
            shorthand.append(WeightGrid(bits=self.weight_bits, limit=self.weight_limit))
        shorthand.append(CoreFit(self.core_sizes, self.recurrent_scope))
        if self.frontend_channels is not None:
            shorthand.append(Frontend(self.frontend_channels))
        if self.global_threshold:
            shorthand.append(Threshold(value=self.threshold, scope="chip"))
        shorthand += [ResetRule((self.reset,)), MembraneFloor(self.membrane_floor)]
        if self.tau_profiles is not None:
            shorthand.append(TauSet(self.tau_profiles))
        shorthand.append(SynapseTransfer(self.synapse_nonlinearity, self.synapse_gain))
        kept = []
        for rule in shorthand:
            same = [c for c in declared if c.kind == rule.kind]
            if not same:
                kept.append(rule)
            elif rule.applies_to:  # keep the shorthand for the roles no declared rule governs
                covered = {role for c in same for role in c.applies_to}
                left = tuple(r for r in rule.applies_to if r not in covered)
                if left:
                    kept.append(attrs.evolve(rule, applies_to=left))
        every = [Structure(), FiniteValues(), *kept, *declared]
        return tuple(sorted(_bound_to_each_other(every), key=lambda c: c.order))

    def rules_of(self, kind: str) -> list[Constraint]:
        """The rules of one kind (``"weight_grid"``, ...)."""
        return [c for c in self.rules if c.kind == kind]

    def project(self, value: Any, role: str) -> Any:
        """The training-time value of a weight of ``role`` (``"synapse"``, ``"recurrent"``,
        ``"frontend"``): every rule's projection (range, gains, grid) in order; the forward is
        exactly the hardened value (sign blocks aside), the gradient passes straight through."""
        for rule in self.rules:
            projected = rule.project(value, role)
            if projected is not None:
                value = projected
        return value

    def nearest_taus(self, taus: Any) -> Any:
        """The legal taus nearest to ``taus`` (a tensor), by the chip's tau rules."""
        for rule in self.rules:
            nearest = getattr(rule, "nearest", None)
            if callable(nearest):
                taus = nearest(taus)
        return taus

    def snap_tau(self, tau: float) -> float:
        """The legal tau nearest to ``tau`` (``tau`` itself when the chip has no tau rule)."""
        import torch

        return float(self.nearest_taus(torch.tensor([float(tau)], dtype=torch.float64))[0])

    def weight_bounds(self, role: str) -> tuple[float, float] | None:
        """``(low, high)`` of the tightest weight range governing ``role``, or None."""
        ranges = [r for r in self.rules_of("weight_range") if r.governs(role)]
        if not ranges:
            return None
        return max(r.low for r in ranges), min(r.high for r in ranges)

    # -- the ChipTarget protocol ---------------------------------------------------------------

    def check(self, deployment: Any, extra: Any = ()) -> ValidationReport:
        """Every violation of this chip's rules by a deployment (a model read by
        [`deployment_of`][nwave_core.constraints.view.deployment_of], or an export file)."""
        return _rules.check_rules(self.name, self.rules, deployment, extra)

    def validate(self, model: Any) -> ValidationReport:
        """Every violation of this chip's rules by ``model``: a
        [`ValidationReport`][nwave_core.constraints.report.ValidationReport] (``.ok``,
        ``.violations``, ``.table()``, ``.to_json()``). The model is not changed."""
        return self.check(_rules.deployment_of(model))

    def harden(self, model: Any) -> Any:
        """A deployable copy of ``model`` that [`validate`][nwave_core.chip.ChipSpec.validate]
        accepts.

        Parametrizations (SignAnnealing) are folded into plain weights; chip modules declared
        for another ChipSpec are rebound to this one; then every rule moves the values to the
        nearest legal ones: weights clipped to the range, one sign per block (the block's signed
        mass kept), snapped to the grid; taus, thresholds, reset and floor set.

        Raises:
            ChipValidationError: what hardening cannot fix (layers that do not fit the cores,
                a synapse with another transfer, NaN values, ...), with the report.
        """
        import torch
        from torch.nn.utils import parametrize

        hardened = copy.deepcopy(model)
        for module in list(hardened.modules()):
            if parametrize.is_parametrized(module):
                # a deep copy shares the parametrized class with the original, and removing a
                # parametrization deletes its property from the class: give the copy its own
                cls = type(module)
                own = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")}
                module.__class__ = type(cls.__name__, cls.__bases__, own)
                for attribute in list(module.parametrizations.keys()):
                    parametrize.remove_parametrizations(module, attribute, leave_parametrized=True)
        for module in hardened.modules():
            fold = getattr(module, "fold_for_deployment", None)
            if callable(fold):
                fold()
            if isinstance(getattr(module, "chip", None), ChipSpec) and module.chip != self:
                module.chip = self
        deployment = _rules.deployment_of(hardened)
        with torch.no_grad():
            _rules.harden_rules(self.rules, deployment)
        report = self.check(deployment)
        if not report.ok:
            raise ChipValidationError(f"hardening for chip {self.name!r} cannot fix every "
                                      "violation:", report)
        return hardened

    def export(self, model: Any, path: Any) -> Any:
        """Write a valid ``model`` to a self-describing JSON file, atomically; refuse an
        invalid one. Read it back with
        [`nwave_core.export.load_export`][nwave_core.export.load_export].

        Raises:
            ChipValidationError: the model breaks the chip's rules (the report is attached).
        """
        from .constraints.document import write_document, write_json_atomically

        deployment = _rules.deployment_of(model)
        report = self.check(deployment)
        if not report.ok:
            raise ChipValidationError(f"refusing to export a model that breaks chip "
                                      f"{self.name!r}'s rules; harden it first "
                                      f"(chip.harden(model)):", report)
        return write_json_atomically(write_document(self, deployment), path)

    # -- description ---------------------------------------------------------------------------

    def fields_dict(self) -> dict[str, Any]:
        """Every field but ``constraints``, as JSON-ready values."""
        values = {f.name: list(v) if isinstance(v, tuple) else v
                  for f in attrs.fields(type(self)) if f.name != "constraints"
                  for v in (getattr(self, f.name),)}
        if self.synapse_device is not None:
            values["synapse_device"] = _device_table(self.synapse_device)
        return values

    def to_dict(self) -> dict[str, Any]:
        """Every field as JSON-ready values, the declared rules as tables
        ``{"type": kind, **params}`` (what [`from_dict`][nwave_core.chip.ChipSpec.from_dict] reads
        back)."""
        return {**self.fields_dict(),
                "constraints": [{"type": c.kind, **c.params()} for c in self.constraints]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChipSpec:
        """The chip written by [`to_dict`][nwave_core.chip.ChipSpec.to_dict] (lists read as tuples;
        rule tables built through the ``constraint`` registry, so a third party's rules need its
        plugin).

        Raises:
            TypeError: an unknown field (with a "did you mean").
            ValueError: an invalid value.
            UnknownNameError: a rule kind no installed plugin provides.
        """
        names = [f.name for f in attrs.fields(cls)]
        unknown = [k for k in data if k not in names]
        if unknown:
            from .suggest import did_you_mean

            hints = "".join(did_you_mean(k, names) for k in unknown)
            raise TypeError(f"ChipSpec has no field {', '.join(map(repr, unknown))}.{hints}")
        values = {k: tuple(v) if isinstance(v, list) and k != "constraints" else v
                  for k, v in data.items()}
        return cls(**values)

    def details(self) -> dict[str, str]:
        """What ``nwave show chip NAME`` prints: every field, its value and what it means, then
        every rule with its parameters."""
        shown = {f.name: f"{getattr(self, f.name)!r}  ({f.metadata.get('doc', '')})"
                 for f in attrs.fields(type(self)) if f.name not in ("name", "summary",
                                                                      "constraints")}
        for index, rule in enumerate(self.rules):
            shown[f"rule {index + 1}"] = rule.describe()
        return shown

    @property
    def total_neurons(self) -> int:
        """Neurons on the chip, all cores together."""
        return sum(self.core_sizes)


def resolve_chip(chip: Any, owner: str = "layer") -> ChipSpec:
    """A [`ChipSpec`][nwave_core.chip.ChipSpec] from a spec or a chip registry name."""
    if chip is None:
        raise TypeError(f"{owner} needs a chip: pass chip= a nwave_core.ChipSpec or a chip name "
                        f"(e.g. chip='h1v2')")
    if isinstance(chip, str):
        from . import create

        chip = create("chip", chip)
    if not isinstance(chip, ChipSpec):
        raise TypeError(f"{owner}: chip must be a nwave_core.ChipSpec or a chip name, got {chip!r}")
    return chip
