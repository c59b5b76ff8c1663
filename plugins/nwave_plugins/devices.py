"""Built-in analog device models (the ``device`` registry): constant step, soft bounds
(linear step) and exponential step.

Each is a [`nwave_core.analog.DeviceSpec`][nwave_core.analog.devices.DeviceSpec]: the common
parameters (``dw_min`` with device-to-device and cycle-to-cycle spread, bounds with device-to-device
spread, up/down asymmetry) plus its own step response. ``dw_up``, ``dw_down``, ``w_lo`` and ``w_hi``
below are the per-device draws described in
[`nwave_core.analog.devices`][nwave_core.analog.devices]; every pulse's step is also multiplied by
``1 + dw_min_std xi`` and the weight is clipped to ``[w_lo, w_hi]``.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import Tensor

from nwave_core import Entry, hookimpl
from nwave_core.analog.devices import DeviceSpec, DeviceState, affine_pulses, non_negative

__all__ = ["ConstantStepDevice", "SoftBoundsDevice", "ExpStepDevice"]


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _finite(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, float) or value != value \
            or value in (float("inf"), float("-inf")):
        raise ValueError(f"{type(instance).__name__}.{attribute.name} must be a finite number, "
                         f"got {value!r}")


def _affine_update(spec: DeviceSpec, w: Tensor, n_up: Tensor, n_down: Tensor, state: DeviceState,
                   slopes: tuple[Tensor, Tensor] | None,
                   generator: torch.Generator | None) -> Tensor:
    """Exact pulse composition for devices whose single pulse is affine in ``w``, then
    cycle-to-cycle noise and the bounds.

    The noise of ``n`` pulses has std ``dw_min_std * sqrt(n_up s_up^2 + n_down s_down^2) *
    S^((n-1)/n)`` with the steps ``s`` at the starting weight and ``S`` the composed slope:
    exact for pulses of one direction (each pulse's noise is contracted by the later pulses),
    an approximation for mixed ones. ``slopes`` None: constant steps (slopes 1), where the
    mean is the plain sum ``w + n_up dw_up - n_down dw_down`` and nothing contracts.
    """
    s_up, s_down = spec.step_up(w, state), spec.step_down(w, state)
    dw_up, dw_down = state.dw_up.to(w.dtype), state.dw_down.to(w.dtype)
    variance = n_up * s_up * s_up + n_down * s_down * s_down
    if slopes is None:
        mean = w + n_up * dw_up - n_down * dw_down
        return state.clip(mean + spec._noise(variance, generator))
    slope_up, slope_down = slopes
    log_s = n_up * torch.log(slope_up) + n_down * torch.log(slope_down)
    mean = affine_pulses(w, n_up, n_down, slope_up, dw_up, slope_down, -dw_down, log_s=log_s)
    return _noisy_clip(spec, mean, variance, n_up + n_down, log_s, state, generator)


def _noisy_clip(spec: DeviceSpec, mean: Tensor, variance: Tensor, n: Tensor, log_s: Tensor,
                state: DeviceState, generator: torch.Generator | None) -> Tensor:
    """``clip(mean + noise(variance) S^((n-1)/n))``, the noise and bounds of
    `_affine_update`."""
    contraction = torch.exp(log_s * ((n - 1).clamp(min=0) / n.clamp(min=1)))
    return state.clip(mean + spec._noise(variance, generator) * contraction)


@attrs.frozen(kw_only=True)
class ConstantStepDevice(DeviceSpec):
    """Constant step: every pulse moves the weight by the device's own step, up to hard bounds.

    Step response: ``w <- clip(w + dw_up (1 + dw_min_std xi), w_lo, w_hi)`` for an up pulse and
    ``w <- clip(w - dw_down (1 + dw_min_std xi), w_lo, w_hi)`` for a down pulse.
    """

    def step_up(self, w: Tensor, state: DeviceState) -> Tensor:
        return state.dw_up.to(w.dtype).expand_as(w)

    def step_down(self, w: Tensor, state: DeviceState) -> Tensor:
        return state.dw_down.to(w.dtype).expand_as(w)

    def apply_pulses(self, w: Tensor, n_up: Tensor, n_down: Tensor, state: DeviceState,
                     generator: torch.Generator | None = None) -> Tensor:
        return _affine_update(self, w, n_up, n_down, state, None, generator)


@attrs.frozen(kw_only=True)
class SoftBoundsDevice(DeviceSpec):
    """Soft bounds (linear step): the step shrinks linearly as the weight nears its bound.

    Step response: up ``dw_up (1 - gamma_up w / w_hi)``, down ``dw_down (1 - gamma_down w /
    w_lo)``, each times ``(1 + dw_min_std xi)``, then clipped to ``[w_lo, w_hi]``. With
    ``gamma = 1`` (the default) the step reaches 0 at the bound and ``n`` up pulses from ``w``
    give ``w_hi - (w_hi - w) (1 - dw_up / w_hi)^n``; ``gamma = 0`` is the constant step.
    """

    gamma_up: float = attrs.field(default=1.0, converter=_float, validator=non_negative,
                                  metadata={"doc": "how much of the up step is lost at w_hi "
                                                   "(1: soft bounds, 0: constant step)"})
    gamma_down: float = attrs.field(default=1.0, converter=_float, validator=non_negative,
                                    metadata={"doc": "how much of the down step is lost at w_lo"})

    def step_up(self, w: Tensor, state: DeviceState) -> Tensor:
        dw_up, w_hi = state.dw_up.to(w.dtype), state.w_hi.to(w.dtype)
        return (dw_up * (1 - self.gamma_up * w / w_hi)).clamp(min=0)

    def step_down(self, w: Tensor, state: DeviceState) -> Tensor:
        dw_down, w_lo = state.dw_down.to(w.dtype), state.w_lo.to(w.dtype)
        return (dw_down * (1 - self.gamma_down * w / w_lo)).clamp(min=0)

    def apply_pulses(self, w: Tensor, n_up: Tensor, n_down: Tensor, state: DeviceState,
                     generator: torch.Generator | None = None) -> Tensor:
        """`_affine_update` with the steps written as ``s = dw + c w`` (``c_up = -gamma_up
        dw_up / w_hi``, ``c_down = -gamma_down dw_down / w_lo``) and the per-device slopes
        ``1 + c_up``, ``1 - c_down`` and their logarithms computed once per set of draws."""
        def slopes() -> dict[str, Tensor]:
            dw_up, dw_down = state.dw_up.to(w.dtype), state.dw_down.to(w.dtype)
            c_up = -self.gamma_up * dw_up / state.w_hi.to(w.dtype)
            c_down = -self.gamma_down * dw_down / state.w_lo.to(w.dtype)
            # a step as large as the bound would make the slope 0 (log -inf): keep it positive
            up, down = (1 + c_up).clamp(min=1e-6), (1 - c_down).clamp(min=1e-6)
            return {"dw_up": dw_up, "dw_down": dw_down, "c_up": c_up, "c_down": c_down,
                    "slope_up": up, "slope_down": down, "loss_up": 1 - up, "loss_down": 1 - down,
                    "log_up": torch.log(up), "log_down": torch.log(down)}

        c = state.derived(f"soft_bounds:{id(self)}:{w.dtype}", slopes)
        s_up = torch.addcmul(c["dw_up"], c["c_up"], w).clamp_(min=0)
        s_down = torch.addcmul(c["dw_down"], c["c_down"], w).clamp_(min=0)
        variance = s_up.square_().mul_(n_up).addcmul_(s_down.square_(), n_down)
        log_s = torch.mul(n_up, c["log_up"]).addcmul_(n_down, c["log_down"])
        k = torch.mul(n_up, c["loss_up"]).addcmul_(n_down, c["loss_down"])
        mean = affine_pulses(w, n_up, n_down, c["slope_up"], c["dw_up"], c["slope_down"],
                             -c["dw_down"], log_s=log_s, k=k)
        return _noisy_clip(self, mean, variance, n_up + n_down, log_s, state, generator)


@attrs.frozen(kw_only=True)
class ExpStepDevice(DeviceSpec):
    """Exponential step (CMOS-like): the step falls off exponentially towards one bound.

    Step response: with ``z = 2 a w / (w_hi - w_lo) + b``, an up pulse moves
    ``dw_up max(1 - A_up exp(gamma_up z), 0)`` and a down pulse
    ``dw_down max(1 - A_down exp(-gamma_down z), 0)``, each times ``(1 + dw_min_std xi)``,
    then clipped to ``[w_lo, w_hi]``. The defaults are aihwkit's fit of a measured device.
    """

    A_up: float = attrs.field(default=0.00081, converter=_float, validator=non_negative,
                              metadata={"doc": "prefactor of the up step's exponential loss"})
    A_down: float = attrs.field(default=0.36833, converter=_float, validator=non_negative,
                                metadata={"doc": "prefactor of the down step's exponential loss"})
    gamma_up: float = attrs.field(default=12.44625, converter=_float, validator=_finite,
                                  metadata={"doc": "exponent of the up step"})
    gamma_down: float = attrs.field(default=12.78785, converter=_float, validator=_finite,
                                    metadata={"doc": "exponent of the down step"})
    a: float = attrs.field(default=0.244, converter=_float, validator=_finite,
                           metadata={"doc": "slope of z in the normalized weight"})
    b: float = attrs.field(default=0.2425, converter=_float, validator=_finite,
                           metadata={"doc": "offset of z"})

    def _z(self, w: Tensor, state: DeviceState) -> Tensor:
        span = (state.w_hi - state.w_lo).to(w.dtype)
        return 2 * self.a * w / span + self.b

    def step_up(self, w: Tensor, state: DeviceState) -> Tensor:
        y = 1 - self.A_up * torch.exp(self.gamma_up * self._z(w, state))
        return state.dw_up.to(w.dtype) * y.clamp(min=0)

    def step_down(self, w: Tensor, state: DeviceState) -> Tensor:
        y = 1 - self.A_down * torch.exp(-self.gamma_down * self._z(w, state))
        return state.dw_down.to(w.dtype) * y.clamp(min=0)


@hookimpl
def nwave_devices() -> list[Entry]:
    return [
        Entry(name="constant_step", factory=ConstantStepDevice, params=ConstantStepDevice,
              summary="constant step per pulse up to hard bounds"),
        Entry(name="soft_bounds", factory=SoftBoundsDevice, params=SoftBoundsDevice,
              aliases=("linear_step",),
              summary="step shrinking linearly to zero at the bounds (linear step)"),
        Entry(name="exp_step", factory=ExpStepDevice, params=ExpStepDevice,
              summary="step falling off exponentially towards a bound (CMOS-like)"),
    ]
