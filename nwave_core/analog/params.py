"""The parameters of a pulsed analog update: [`PulseType`][nwave_core.analog.params.PulseType] and
[`UpdateParameters`][nwave_core.analog.params.UpdateParameters].

Field names, defaults and meanings follow aihwkit's ``UpdateParameters`` (the seed text the
project was made from); the formulas they drive are in
[`nwave_core.analog.pulses`][nwave_core.analog.pulses].
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from typing import Any

import attrs

from ..suggest import did_you_mean

__all__ = ["PulseType", "UpdateParameters", "update_parameters"]


class PulseType(enum.Enum):
    """How an outer-product update ``-lr * x d^T`` reaches the crossbar."""

    NONE = "none"
    """Floating-point update (plain SGD on the weight's gradient); devices are ignored."""
    NONE_WITH_DEVICE = "none_with_device"
    """Floating-point update expressed as fractional pulses of size ``dw_min``, applied
    through the device (its step response, asymmetry and bounds), without pulse statistics."""
    STOCHASTIC = "stochastic"
    """Stochastic bit trains; up and down coincidences come from two independent passes."""
    STOCHASTIC_COMPRESSED = "stochastic_compressed"
    """Stochastic bit trains; up and down coincidences come from the same pass."""
    MEAN_COUNT = "mean_count"
    """No randomness: each line fires ``round(BL * p)`` pulses and a cross point sees
    ``count_x * count_d / BL`` coincidences (the mean of the stochastic count)."""
    DETERMINISTIC_IMPLICIT = "deterministic_implicit"
    """Coincidences ``BL * x_q * d_q`` from probabilities quantized to ``x_res_implicit`` and
    ``d_res_implicit``."""

    @classmethod
    def parse(cls, value: Any) -> PulseType:
        """A pulse type from itself, its name or value in any case (``"stochastic_compressed"``,
        ``"STOCHASTIC_COMPRESSED"``), or aihwkit's spelling (``"StochasticCompressed"``).

        Raises:
            ValueError: no such pulse type (with a suggestion and the accepted names).
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower()
            for member in cls:
                if key in (member.value, member.name.lower(), member.value.replace("_", "")):
                    return member
        names = [m.value for m in cls]
        hint = did_you_mean(str(value).lower(), names) if isinstance(value, str) else ""
        raise ValueError(f"unknown pulse_type {value!r}.{hint} Accepted: {', '.join(names)}")


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


def _int_at_least(low: int):
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"UpdateParameters.{attribute.name} must be an integer >= {low}, "
                             f"got {value!r}")
    return check


def _bool(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"UpdateParameters.{attribute.name} must be true or false, got {value!r}")


def _resolution(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or (value < 0 and value != -1)):
        raise ValueError(f"UpdateParameters.{attribute.name} must be -1 or 0 (off), a bin width "
                         f"in (0, 1], or a number of steps > 1, got {value!r}")


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or value <= 0):
        raise ValueError(f"UpdateParameters.{attribute.name} must be a finite number > 0, "
                         f"got {value!r}")


def _to_float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


@attrs.frozen
class UpdateParameters:
    """How a pulsed device is updated (aihwkit's ``UpdateParameters``, same fields and defaults).

    ``BL`` is the pulse-train length, ``A`` scales the error ``d`` and ``B`` the input ``x``
    into pulse probabilities ``p_d = A|d|`` and ``p_x = B|x|``; a cross point moves one device
    step per coincidence, so the expected update is ``BL * A * B * |x| |d|`` steps of
    ``dw_min``, i.e. ``lr * |x| |d|`` in weight units.
    """

    desired_bl: int = attrs.field(default=31, validator=_int_at_least(1), metadata=_doc(
        "desired length of the pulse trains; the maximal length under update_bl_management"))
    fixed_bl: bool = attrs.field(default=True, validator=_bool, metadata=_doc(
        "True: BL = desired_bl, A = B = sqrt(lr / (dw_min * BL)). False: if dw_min * desired_bl "
        "< lr then A = B = 1 and BL = ceil(lr / dw_min), else as for True"))
    pulse_type: PulseType = attrs.field(default=PulseType.STOCHASTIC_COMPRESSED,
                                        converter=PulseType.parse, metadata=_doc(
        "how pulses are made (PulseType); none: a floating-point update, the other fields "
        "ignored"))
    res: float = attrs.field(default=0.0, converter=_to_float, validator=_resolution,
                             metadata=_doc(
        "bin width in (0, 1] of the pulse probabilities; a value > 1 is a number of steps "
        "(bin width 1/res); 0 or -1: no discretization"))
    x_res_implicit: float = attrs.field(default=0.0, converter=_to_float, validator=_resolution,
                                        metadata=_doc(
        "bin width of the quantized x for deterministic_implicit pulses (as res)"))
    d_res_implicit: float = attrs.field(default=0.0, converter=_to_float, validator=_resolution,
                                        metadata=_doc(
        "bin width of the quantized d for deterministic_implicit pulses (as res)"))
    d_sparsity: bool = attrs.field(default=False, validator=_bool, metadata=_doc(
        "record the share of error entries that send no pulse (optimizer state 'd_sparsity')"))
    sto_round: bool = attrs.field(default=False, validator=_bool, metadata=_doc(
        "stochastic instead of nearest rounding when probabilities are discretized"))
    update_bl_management: bool = attrs.field(default=True, validator=_bool, metadata=_doc(
        "per (batch, time) pair: BL = min(ceil(lr * max|x| * max|d| / dw_min), desired_bl), "
        "A = B = sqrt(lr / (dw_min * BL)); turns update_management on"))
    update_management: bool = attrs.field(default=True, validator=_bool, metadata=_doc(
        "scale A by sqrt(gamma) and B by 1/sqrt(gamma), gamma = max|x| / (um_grad_scale * "
        "max|d|), so both pulse probabilities peak alike"))
    um_grad_scale: float = attrs.field(default=1.0, converter=_to_float, validator=_positive,
                                       metadata=_doc(
        "the factor alpha in gamma of update_management"))

    @property
    def managed(self) -> bool:
        """Whether update management applies (always with BL management, as in aihwkit)."""
        return self.update_management or self.update_bl_management


def update_parameters(value: Any) -> UpdateParameters:
    """[`UpdateParameters`][nwave_core.analog.params.UpdateParameters] from itself, ``None`` (the
    defaults) or a mapping (a config's ``[optimizer.update]`` table).

    Raises:
        ValueError: an unknown key (with a suggestion) or a bad value.
    """
    if value is None:
        return UpdateParameters()
    if isinstance(value, UpdateParameters):
        return value
    if not isinstance(value, Mapping):
        raise ValueError(f"update must be a table of UpdateParameters fields, got "
                         f"{type(value).__name__}")
    names = [f.name for f in attrs.fields(UpdateParameters)]
    for key in value:
        if key not in names:
            raise ValueError(f"update has no parameter {key!r}.{did_you_mean(str(key), names)} "
                             f"Accepted: {', '.join(names)}")
    return UpdateParameters(**value)
