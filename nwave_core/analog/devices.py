"""Device models of analog synapses: how one update pulse moves a cross point's weight.

A device model is a frozen attrs spec (a subclass of
[`DeviceSpec`][nwave_core.analog.devices.DeviceSpec]) registered in the ``device`` registry (hook
``nwave_devices``). [`DeviceSpec.build`][nwave_core.analog.devices.DeviceSpec.build] draws the
per-device parameters of a ``[N_in, N_out]`` array reproducibly from a seed into a
[`DeviceState`][nwave_core.analog.devices.DeviceState] (a ``torch.nn.Module`` whose buffers hold the
draws, so they are saved in ``state_dict``).

The common parameters (aihwkit's ``PulsedDevice`` semantics), drawn once per cross point
``ij`` with standard Gaussians ``xi``:

* steps: ``dw_up = dw_min * (1 + beta + dw_min_dtod xi)`` and
  ``dw_down = dw_min * (1 - beta + dw_min_dtod xi)`` (the same ``xi``), with the up/down
  asymmetry ``beta = up_down + up_down_dtod xi'``; a step factor below 0 becomes 0;
* bounds: ``w_hi = w_max (1 + w_max_dtod xi'')`` and ``w_lo = w_min (1 + w_min_dtod xi''')``;
  a bound factor below 0.05 becomes 0.05, so each device keeps one bound on each side of 0;
* cycle to cycle, each pulse's step is multiplied by ``1 + dw_min_std xi`` (fresh ``xi``).

A subclass gives the mean size of one up and one down pulse at weight ``w`` (``step_up``,
``step_down``, both ``>= 0``); after every pulse the weight is clipped to ``[w_lo, w_hi]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import torch
from torch import Tensor, nn

__all__ = ["DeviceSpec", "DeviceState", "affine_pulses", "device_spec"]

#: the smallest factor a drawn bound keeps (relative to w_min / w_max)
_MIN_BOUND_FACTOR = 0.05


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


def _number(instance: Any, attribute: attrs.Attribute, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be a finite number, "
                         f"got {value!r}")
    return True


def positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """attrs validator: a finite number > 0."""
    if _number(instance, attribute, value) and value <= 0:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be > 0, got {value!r}")


def non_negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """attrs validator: a finite number >= 0."""
    if _number(instance, attribute, value) and value < 0:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be >= 0, got {value!r}")


def _negative(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if _number(instance, attribute, value) and value >= 0:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be < 0 (the lower "
                         f"bound of a signed weight), got {value!r}")


def _asymmetry(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if _number(instance, attribute, value) and not -1 < value < 1:
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be in (-1, 1) "
                         f"(relative up/down step difference), got {value!r}")


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


@attrs.frozen(kw_only=True)
class DeviceSpec:
    """Base of device models: the parameters every pulsed device shares.

    Subclasses implement [`step_up`][nwave_core.analog.devices.DeviceSpec.step_up] and
    [`step_down`][nwave_core.analog.devices.DeviceSpec.step_down]; they may add fields and
    per-device draws ([`extra_draws`][nwave_core.analog.devices.DeviceSpec.extra_draws]) and a
    faster exact [`apply_pulses`][nwave_core.analog.devices.DeviceSpec.apply_pulses].
    """

    #: how many Euler rounds the generic
    #: [`apply_pulses`][nwave_core.analog.devices.DeviceSpec.apply_pulses] takes at most
    max_rounds: ClassVar[int] = 16

    dw_min: float = attrs.field(default=0.001, converter=_float, validator=positive,
                                metadata=_doc("mean step of one pulse at w = 0 (weight units)"))
    dw_min_dtod: float = attrs.field(default=0.3, converter=_float, validator=non_negative,
                                     metadata=_doc("device-to-device std of the step, relative "
                                                   "to dw_min"))
    dw_min_std: float = attrs.field(default=0.3, converter=_float, validator=non_negative,
                                    metadata=_doc("cycle-to-cycle std of each pulse's step, "
                                                  "relative to the step"))
    w_min: float = attrs.field(default=-0.6, converter=_float, validator=_negative,
                               metadata=_doc("mean lower bound of the weight (< 0)"))
    w_max: float = attrs.field(default=0.6, converter=_float, validator=positive,
                               metadata=_doc("mean upper bound of the weight (> 0)"))
    w_min_dtod: float = attrs.field(default=0.3, converter=_float, validator=non_negative,
                                    metadata=_doc("device-to-device std of w_min, relative"))
    w_max_dtod: float = attrs.field(default=0.3, converter=_float, validator=non_negative,
                                    metadata=_doc("device-to-device std of w_max, relative"))
    up_down: float = attrs.field(default=0.0, converter=_float, validator=_asymmetry,
                                 metadata=_doc("systematic up/down asymmetry beta: up steps "
                                               "dw_min (1 + beta), down steps dw_min (1 - beta)"))
    up_down_dtod: float = attrs.field(default=0.01, converter=_float, validator=non_negative,
                                      metadata=_doc("device-to-device std of beta"))

    def __attrs_post_init__(self) -> None:
        if self.dw_min >= self.w_max - self.w_min:
            raise ValueError(f"{type(self).__name__}: dw_min ({self.dw_min:g}) must be smaller "
                             f"than the range w_max - w_min ({self.w_max - self.w_min:g})")

    # -- what a subclass provides ----------------------------------------------------------

    def step_up(self, w: Tensor, state: DeviceState) -> Tensor:
        """Mean size (``>= 0``) of one up pulse at weight ``w``, before noise and clipping."""
        raise NotImplementedError(f"{type(self).__name__} must implement step_up")

    def step_down(self, w: Tensor, state: DeviceState) -> Tensor:
        """Mean size (``>= 0``) of one down pulse at weight ``w``, before noise and clipping."""
        raise NotImplementedError(f"{type(self).__name__} must implement step_down")

    def extra_draws(self, shape: tuple[int, ...], generator: torch.Generator) -> dict[str, Tensor]:
        """Per-device parameters beyond the common ones (name -> float64 tensor of ``shape``)."""
        return {}

    # -- the machinery ---------------------------------------------------------------------

    def draw(self, shape: tuple[int, ...], generator: torch.Generator) -> dict[str, Tensor]:
        """Every per-device parameter of an array of ``shape``, in float64, drawn in a fixed order
        from ``generator``: ``dw_up``, ``dw_down``, ``w_lo``, ``w_hi`` and the extras."""
        def normal() -> Tensor:
            return torch.randn(shape, generator=generator, dtype=torch.float64)

        size = self.dw_min_dtod * normal()
        beta = self.up_down + self.up_down_dtod * normal()
        hi = (1 + self.w_max_dtod * normal()).clamp(min=_MIN_BOUND_FACTOR)
        lo = (1 + self.w_min_dtod * normal()).clamp(min=_MIN_BOUND_FACTOR)
        draws = {
            "dw_up": self.dw_min * (1 + beta + size).clamp(min=0),
            "dw_down": self.dw_min * (1 - beta + size).clamp(min=0),
            "w_lo": self.w_min * lo,
            "w_hi": self.w_max * hi,
        }
        draws.update(self.extra_draws(shape, generator))
        return draws

    def build(self, shape: tuple[int, ...], seed: int = 0) -> DeviceState:
        """The devices of an array of ``shape``, their parameters drawn from ``seed``."""
        return DeviceState(self, shape, seed)

    def apply_pulses(self, w: Tensor, n_up: Tensor, n_down: Tensor, state: DeviceState,
                     generator: torch.Generator | None = None) -> Tensor:
        """The weights after ``n_up`` up and ``n_down`` down pulses per cross point.

        Generic rule: the pulses are spread evenly over ``R = min(ceil(max(n_up + n_down)),
        max_rounds)`` rounds; each round moves ``w`` by ``(n_up/R) step_up(w) - (n_down/R)
        step_down(w)`` plus cycle-to-cycle noise of std ``dw_min_std * sqrt((n_up/R) step_up^2
        + (n_down/R) step_down^2)`` and clips to the bounds. Exact when no cross point gets
        more than one pulse.
        """
        total = float((n_up + n_down).max()) if n_up.numel() else 0.0
        if total <= 0:
            return w
        rounds = max(1, min(math.ceil(total), self.max_rounds))
        f_up, f_down = n_up / rounds, n_down / rounds
        for _ in range(rounds):
            s_up, s_down = self.step_up(w, state), self.step_down(w, state)
            mean = f_up * s_up - f_down * s_down
            w = state.clip(w + mean + self._noise(f_up * s_up * s_up + f_down * s_down * s_down,
                                                  generator))
        return w

    def _noise(self, variance: Tensor, generator: torch.Generator | None) -> Tensor:
        """Cycle-to-cycle noise for a summed squared step ``variance`` (zero when off)."""
        if self.dw_min_std == 0:
            return torch.zeros_like(variance)
        xi = torch.randn(variance.shape, generator=generator, dtype=variance.dtype)
        return self.dw_min_std * variance.clamp(min=0).sqrt() * xi


def affine_pulses(w: Tensor, n_up: Tensor, n_down: Tensor, slope_up: Tensor, shift_up: Tensor,
                  slope_down: Tensor, shift_down: Tensor, *, log_s: Tensor | None = None,
                  k: Tensor | None = None) -> Tensor:
    """Mean weight after interleaved pulses whose single-pulse maps are affine (no clipping).

    An up pulse maps ``w -> slope_up w + shift_up``, a down pulse ``w -> slope_down w +
    shift_down`` (slopes in ``(0, 1]``). ``n_up`` ups and ``n_down`` downs in any order give
    slope ``S = slope_up^n_up slope_down^n_down``; the result is ``S w + (1 - S) w*`` with
    ``w*`` the fixed point of evenly interleaved pulses,
    ``w* = (n_up shift_up + n_down shift_down) / K``, ``K = n_up (1 - slope_up) + n_down
    (1 - slope_down)``. It is exact for pulses of one direction and, when both slopes are 1
    (constant steps), equals ``w + n_up shift_up + n_down shift_down``. ``log_s`` (``log S``)
    and ``k`` (``K``): when the caller has them already.
    """
    if log_s is None:
        log_s = n_up * torch.log(slope_up) + n_down * torch.log(slope_down)
    if k is None:
        k = n_up * (1 - slope_up) + n_down * (1 - slope_down)
    # (1 - S) / K, which tends to 1 as K -> 0 (constant steps); no tiny denominators, whose
    # denormal intermediates are slow on CPUs. Blended arithmetically: torch.where is several
    # times slower than a product here (torch 2.13, CPU)
    small = (k < 1e-6).to(k.dtype)
    ratio = small * (1 - k / 2) + (1 - small) * (-torch.expm1(log_s) / (k + small))
    return torch.exp(log_s) * w + ratio * (n_up * shift_up + n_down * shift_down)


class DeviceState(nn.Module):
    """The devices of one synapse array: the per-device draws of a
    [`DeviceSpec`][nwave_core.analog.devices.DeviceSpec] as buffers (saved in ``state_dict``), and
    the spec's update rule.

    Args:
        spec: the device model.
        shape: the array's shape (``[N_in, N_out]`` for a synapse).
        seed: the seed the per-device parameters are drawn from.
    """

    def __init__(self, spec: DeviceSpec, shape: tuple[int, ...], seed: int = 0) -> None:
        super().__init__()
        if not isinstance(spec, DeviceSpec):
            raise TypeError(f"DeviceState: spec must be a nwave_core.analog.DeviceSpec, got "
                            f"{spec!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"DeviceState: seed must be an integer >= 0, got {seed!r}")
        self.spec = spec
        self.seed = seed
        self._derived: dict[str, tuple[Any, ...]] = {}
        self.shape = tuple(shape)
        generator = torch.Generator().manual_seed(seed)
        dtype = torch.get_default_dtype()
        for name, value in spec.draw(self.shape, generator).items():
            self.register_buffer(name, value.to(dtype))

    def derived(self, name: str, compute: Callable[[], dict[str, Tensor]]) -> dict[str, Tensor]:
        """Quantities that depend on the spec and the per-device draws only (a device model's
        slopes, say), computed by ``compute`` once and reused until the spec or a draw changes
        (a buffer replaced, loaded, moved or edited in place through torch). An edit through
        ``.data`` escapes torch's version counter: call
        [`invalidate`][nwave_core.analog.devices.DeviceState.invalidate] after one. Callers must
        not modify the returned tensors."""
        buffers = tuple(self.buffers())
        versions = tuple(b._version for b in buffers)
        cached = self._derived.get(name)
        if (cached is None or cached[0] is not self.spec or len(cached[1]) != len(buffers)
                or any(x is not y for x, y in zip(cached[1], buffers)) or cached[2] != versions):
            cached = self._derived[name] = (self.spec, buffers, versions, compute())
        return cached[3]

    def invalidate(self) -> None:
        """Forget the quantities [`derived`][nwave_core.analog.devices.DeviceState.derived]
        computed (after editing a draw through ``.data``)."""
        self._derived.clear()

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> DeviceState:
        self._derived.clear()  # .to(), .double(), ...: the draws are new tensors
        return super()._apply(fn, *args, **kwargs)

    def clip(self, w: Tensor) -> Tensor:
        """``w`` clipped to each device's bounds ``[w_lo, w_hi]``."""
        return torch.minimum(torch.maximum(w, self.w_lo.to(w.dtype)), self.w_hi.to(w.dtype))

    def step_up(self, w: Tensor) -> Tensor:
        """Mean size of one up pulse at ``w`` (the step response)."""
        return self.spec.step_up(w, self)

    def step_down(self, w: Tensor) -> Tensor:
        """Mean size of one down pulse at ``w``."""
        return self.spec.step_down(w, self)

    def apply_pulses(self, w: Tensor, n_up: Tensor, n_down: Tensor,
                     generator: torch.Generator | None = None) -> Tensor:
        """The weights after ``n_up`` up and ``n_down`` down pulses (see the spec)."""
        return self.spec.apply_pulses(w, n_up.to(w.dtype), n_down.to(w.dtype), self, generator)

    def extra_repr(self) -> str:
        return f"{self.spec!r}, shape={list(self.shape)}, seed={self.seed}"


def device_spec(device: Any) -> DeviceSpec:
    """A [`DeviceSpec`][nwave_core.analog.devices.DeviceSpec] from itself, a ``device`` registry
    name, or a mapping with a ``type`` key and the model's parameters (a config table).

    Raises:
        UnknownNameError: no such device (with suggestions).
        TypeError: anything else.
    """
    if isinstance(device, DeviceSpec):
        return device
    from .. import create

    if isinstance(device, str):
        spec = create("device", device)
    elif isinstance(device, dict) and isinstance(device.get("type"), str):
        params = {k: v for k, v in device.items() if k != "type"}
        spec = create("device", device["type"], **params)
    else:
        raise TypeError(f"device must be a nwave_core.analog.DeviceSpec, a device name (e.g. "
                        f"'soft_bounds') or a table with a 'type' key, got {device!r}")
    if not isinstance(spec, DeviceSpec):
        raise TypeError(f"device {device!r} built {spec!r}, which is not a "
                        f"nwave_core.analog.DeviceSpec")
    return spec
