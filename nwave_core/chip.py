"""Chips as data: :class:`ChipSpec` declares everything the generic machinery needs.

A chip is a frozen attrs instance. The hardware layers, and later validation, hardening,
losses, quantization and mismatch, read their numbers from it; nothing in the core hard-codes a
chip's numbers. A third party declares a chip in a few lines::

    from nwave_core import ChipSpec
    ACME = ChipSpec(name="acme", weight_limit=0.5, sign_block=4, core_sizes=(128, 128))

Values that a vendor does not publish are marked *nominal* in the declaring plugin's docs.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

__all__ = ["ChipSpec", "RESETS", "SYNAPSE_NONLINEARITIES"]

#: reset rules a neuron can follow after a spike
RESETS: tuple[str, ...] = ("zero", "subtraction", "none")
#: synapse transfer functions: effective weight = gain * f(w)
SYNAPSE_NONLINEARITIES: tuple[str, ...] = ("linear", "tanh")


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
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
        raise ValueError(f"ChipSpec.weight_bits must be None (no quantization) or an integer "
                         f">= 2, got {value!r}")


def _tau_profiles(instance: Any, attribute: attrs.Attribute, value: tuple[float, ...] | None) -> None:
    if value is None:
        return
    if not value or any(not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0) for t in value):
        raise ValueError(f"ChipSpec.tau_profiles must be None (any tau) or a non-empty tuple of "
                         f"taus > 0 in seconds, got {value!r}")


def _floor(instance: Any, attribute: attrs.Attribute, value: float | None) -> None:
    if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
        raise ValueError(f"ChipSpec.membrane_floor must be None or a finite number, got {value!r}")


def _sorted_floats(value: Any) -> tuple[float, ...] | None:
    return None if value is None else tuple(sorted(float(t) for t in value))


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@attrs.frozen(kw_only=True)
class ChipSpec:
    """A neuromorphic chip, declared as data. Every field but ``name`` has a default."""

    name: str = attrs.field(validator=attrs.validators.min_len(1),
                            metadata=_doc("registry name of the chip, e.g. 'h1v2'"))
    spec_version: str = attrs.field(default="1", metadata=_doc(
        "version of this declaration; written into exported files"))
    summary: str = attrs.field(default="", metadata=_doc("one line for listings"))

    # weights
    weight_limit: float = attrs.field(default=1.0, validator=_positive, metadata=_doc(
        "weights must lie in [-weight_limit, weight_limit]"))
    sign_block: int = attrs.field(default=1, validator=_positive_int, metadata=_doc(
        "post-synaptic neurons grouped in consecutive blocks of this size share the sign of each "
        "incoming weight row; 1 means no sign constraint"))
    weight_bits: int | None = attrs.field(default=None, validator=_weight_bits, metadata=_doc(
        "bits of a weight code: symmetric uniform levels over the weight range; None: float"))

    # topology
    core_sizes: tuple[int, ...] = attrs.field(default=(1024,), converter=tuple,
                                              validator=_core_sizes, metadata=_doc(
        "neurons per core"))
    recurrent_scope: str = attrs.field(default="core", validator=_one_of(("core", "chip", "none")),
                                       metadata=_doc(
        "where recurrent connections may go: within one core, anywhere, or nowhere"))
    frontend_channels: int | None = attrs.field(default=None, metadata=_doc(
        "width of the fixed analog frontend (one channel per first-stage neuron); None: none"))

    # neurons
    threshold: float = attrs.field(default=1.0, validator=_positive, metadata=_doc(
        "the firing threshold (normalized units)"))
    global_threshold: bool = attrs.field(default=True, metadata=_doc(
        "one threshold for the whole chip (no per-layer or per-neuron thresholds)"))
    reset: str = attrs.field(default="subtraction", validator=_one_of(RESETS), metadata=_doc(
        "what a spike does to the membrane: 'zero', 'subtraction' (of the threshold), 'none'"))
    membrane_floor: float | None = attrs.field(default=None, validator=_floor, metadata=_doc(
        "the membrane is clamped at or above this value after each step; None: no floor"))
    tau_profiles: tuple[float, ...] | None = attrs.field(default=None, converter=_sorted_floats,
                                                         validator=_tau_profiles, metadata=_doc(
        "time constants the hardware offers (seconds); a requested tau snaps to the nearest; "
        "None: any tau"))

    # synapses
    synapse_gain: float = attrs.field(default=1.0, validator=_positive, metadata=_doc(
        "charge per unit weight: effective weight = gain * f(weight)"))
    synapse_nonlinearity: str = attrs.field(default="linear",
                                            validator=_one_of(SYNAPSE_NONLINEARITIES),
                                            metadata=_doc(
        "f in the effective weight: 'linear' (f(w) = w) or 'tanh' "
        "(f(w) = weight_limit * tanh(w / weight_limit), saturating)"))

    # mismatch (device-to-device variation), all relative or absolute standard deviations
    synapse_stddev: float = attrs.field(default=0.0, validator=_non_negative, metadata=_doc(
        "default std of the additive noise on effective weights"))
    leak_mismatch: float = attrs.field(default=0.0, validator=_non_negative, metadata=_doc(
        "std of log(tau) across neurons when leak mismatch is on (tau * exp(std * z))"))
    threshold_mismatch: float = attrs.field(default=0.0, validator=_non_negative, metadata=_doc(
        "relative std of the per-neuron threshold when threshold mismatch is on"))

    # energy
    energy_per_spike: float = attrs.field(default=0.0, validator=_non_negative, metadata=_doc(
        "energy of one output spike, joules"))
    energy_per_synaptic_event: float = attrs.field(default=0.0, validator=_non_negative,
                                                   metadata=_doc(
        "energy of one spike delivered through one synapse, joules"))

    @frontend_channels.validator
    def _frontend(self, attribute: attrs.Attribute, value: int | None) -> None:
        if value is not None:
            _positive_int(self, attribute, value)

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

    # -- the ChipTarget protocol: rules read from the fields above ---------------------------

    def validate(self, model: Any) -> Any:
        """Every violation of this chip's rules by ``model``: a
        :class:`~nwave_core.rules.ValidationReport` (``.ok``, ``.violations``, ``.table()``,
        ``.to_json()``). The model is not changed."""
        from .rules import validate

        return validate(self, model)

    def harden(self, model: Any) -> Any:
        """A deployable copy of ``model`` that :meth:`validate` accepts (see
        :func:`nwave_core.rules.harden`)."""
        from .rules import harden

        return harden(self, model)

    def export(self, model: Any, path: Any) -> Any:
        """Write a valid ``model`` to a self-describing file; refuses an invalid one (see
        :func:`nwave_core.export.export`). Read it back with ``nwave_core.export.load_export``."""
        from .export import export

        return export(self, model, path)

    def details(self) -> dict[str, str]:
        """What ``nwave show chip NAME`` prints: every field, its value and what it means."""
        return {f.name: f"{getattr(self, f.name)!r}  ({f.metadata.get('doc', '')})"
                for f in attrs.fields(type(self)) if f.name not in ("name", "summary")}

    @property
    def total_neurons(self) -> int:
        """Neurons on the chip, all cores together."""
        return sum(self.core_sizes)

    def snap_tau(self, tau: float) -> float:
        """The hardware tau nearest to ``tau`` (``tau`` itself when the chip has no profiles)."""
        if self.tau_profiles is None:
            return float(tau)
        return min(self.tau_profiles, key=lambda t: (abs(math.log(t / tau)), t))
