"""What makes a synapse analog: [`attach_device`][nwave_core.analog.tile.attach_device] hangs an
[`AnalogTile`][nwave_core.analog.tile.AnalogTile] on it.

The tile is a submodule of the synapse (``synapse.analog``), so its per-device draws are in the
synapse's ``state_dict`` and move with ``.to()`` and copies. It hooks the synapse's forward:

* forward non-idealities ([`AnalogForward`][nwave_core.analog.tile.AnalogForward], each optional):
  DAC quantization of the input, weight read noise and conductance drift (as the extra current
  ``x @ dW``), output noise and ADC quantization of the output current;
* for a tile with a device, each forward under autograd records the pairs ``(x, d)`` the pulsed
  update needs: ``x`` the synapse's input activity, ``d`` the gradient at its output current.
  [`PulsedSGD`][nwave_core.analog.optimizer.PulsedSGD] consumes them.

Any synapse whose forward is ``x @ W`` with a 2-D ``weight`` parameter ``W`` ``[N_in, N_out]``
works: ``nwave_core.hardware.ChipSynapse`` (and the H1 synapses), ``LIFSynapse``. For chip
synapses the drift acts on ``effective_weight()`` (what the chip applies).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .devices import DeviceSpec, DeviceState, device_spec

__all__ = ["AnalogForward", "AnalogTile", "attach_device", "attach_devices", "detach_device",
           "analog_tiles", "set_inference_time", "TILE_ATTRIBUTE"]

TILE_ATTRIBUTE = "_nwave_analog"
"""The attribute of a weight Parameter that points at its tile (set on every forward)."""


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


def _bits(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 2):
        raise ValueError(f"AnalogForward.{attribute.name} must be None (off) or an integer >= 2, "
                         f"got {value!r}")


def _at_least(low: float, inclusive: bool):
    def check(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        ok = (not isinstance(value, bool) and isinstance(value, (int, float))
              and math.isfinite(value) and (value >= low if inclusive else value > low))
        if not ok:
            raise ValueError(f"AnalogForward.{attribute.name} must be a finite number "
                             f"{'>=' if inclusive else '>'} {low:g}, got {value!r}")
    return check


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


@attrs.frozen(kw_only=True)
class AnalogForward:
    """Non-idealities of an analog matrix-vector product; every one is off by default.

    Quantizers snap to ``2^(bits-1) - 1`` symmetric levels per side over ``[-range, range]``
    (clipping outside) with a straight-through gradient.
    """

    dac_bits: int | None = attrs.field(default=None, validator=_bits, metadata=_doc(
        "input (DAC) resolution in bits; None: float inputs"))
    dac_range: float = attrs.field(default=1.0, converter=_float, validator=_at_least(0, False),
                                   metadata=_doc("inputs are clipped to [-dac_range, dac_range]"))
    adc_bits: int | None = attrs.field(default=None, validator=_bits, metadata=_doc(
        "output (ADC) resolution in bits; None: float outputs"))
    adc_range: float = attrs.field(default=10.0, converter=_float, validator=_at_least(0, False),
                                   metadata=_doc("outputs are clipped to [-adc_range, adc_range]"))
    out_noise: float = attrs.field(default=0.0, converter=_float, validator=_at_least(0, True),
                                   metadata=_doc("std of Gaussian noise added to every output "
                                                 "current, fresh at each forward"))
    w_noise: float = attrs.field(default=0.0, converter=_float, validator=_at_least(0, True),
                                 metadata=_doc("std of the weight read noise (weight units), "
                                               "redrawn by prepare_net"))
    drift_nu: float = attrs.field(default=0.0, converter=_float, validator=_at_least(0, True),
                                  metadata=_doc("mean drift exponent nu: conductance times "
                                                "(t / t0)^-nu at inference time t"))
    drift_nu_dtod: float = attrs.field(default=0.0, converter=_float,
                                       validator=_at_least(0, True),
                                       metadata=_doc("device-to-device std of nu"))
    drift_t0: float = attrs.field(default=20.0, converter=_float, validator=_at_least(0, False),
                                  metadata=_doc("seconds after programming from which drift "
                                                "counts (no drift before)"))

    @property
    def ideal(self) -> bool:
        """True when nothing is switched on."""
        return (self.dac_bits is None and self.adc_bits is None and self.out_noise == 0
                and self.w_noise == 0 and self.drift_nu == 0 and self.drift_nu_dtod == 0)


def _forward_config(value: Any) -> AnalogForward:
    if value is None:
        return AnalogForward()
    if isinstance(value, AnalogForward):
        return value
    if isinstance(value, dict):
        names = [f.name for f in attrs.fields(AnalogForward)]
        unknown = [k for k in value if k not in names]
        if unknown:
            from ..suggest import did_you_mean

            raise ValueError(f"forward has no parameter {unknown[0]!r}."
                             f"{did_you_mean(str(unknown[0]), names)} Accepted: {', '.join(names)}")
        return AnalogForward(**value)
    raise TypeError(f"forward must be a nwave_core.analog.AnalogForward or a table of its "
                    f"fields, got {value!r}")


def _snap(value: Tensor, limit: float, bits: int) -> Tensor:
    from ..hardware import quantize

    return quantize(value, limit, bits)


class AnalogTile(nn.Module):
    """The analog side of one synapse: its devices, forward non-idealities and the recorded
    ``(x, d)`` pairs. Made by [`attach_device`][nwave_core.analog.tile.attach_device]; not called
    directly.

    Args:
        shape: the synapse's weight shape ``[N_in, N_out]``.
        device: the device model, or None (forward non-idealities only).
        forward: the forward non-idealities.
        seed: seed of the per-device draws (device parameters, drift exponents).
    """

    def __init__(self, shape: tuple[int, int], device: DeviceSpec | None,
                 forward: AnalogForward, seed: int = 0) -> None:
        super().__init__()
        self.shape = tuple(shape)
        self.device: DeviceState | None = device.build(self.shape, seed) if device else None
        self.forward_config = forward
        self.seed = seed
        generator = torch.Generator().manual_seed(seed + 1)
        nu = forward.drift_nu + forward.drift_nu_dtod * torch.randn(
            self.shape, generator=generator, dtype=torch.float64)
        dtype = torch.get_default_dtype()
        self.register_buffer("drift_nu", nu.clamp(min=0).to(dtype))
        self.register_buffer("read_noise", torch.zeros(self.shape, dtype=dtype), persistent=False)
        #: seconds since programming for the drift model; None: no drift (training)
        self.inference_time: float | None = None
        self._noise_generator = torch.Generator().manual_seed(seed + 2)
        self._pairs: list[tuple[Tensor, Tensor]] = []
        self._raw_input: Tensor | None = None

    # -- recorded pairs --------------------------------------------------------------------

    def take_pairs(self) -> tuple[Tensor, Tensor] | None:
        """All recorded pairs as ``x`` ``[P, N_in]`` and ``d`` ``[P, N_out]`` (and forget them);
        None when nothing was recorded."""
        if not self._pairs:
            return None
        xs = [x.reshape(-1, self.shape[0]) for x, _ in self._pairs]
        ds = [d.reshape(-1, self.shape[1]) for _, d in self._pairs]
        self._pairs = []
        if len(xs) == 1:
            return xs[0], ds[0]
        return torch.cat(xs), torch.cat(ds)

    def clear_pairs(self) -> None:
        """Forget the recorded pairs (the optimizer's ``zero_grad`` does this)."""
        self._pairs = []

    def _record(self, x: Tensor, grad: Tensor) -> None:
        self._pairs.append((x, grad.detach()))

    # -- hooks -----------------------------------------------------------------------------

    def _pre_hook(self, module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        x = args[0]
        self._raw_input = x.detach() if isinstance(x, Tensor) else None
        config = self.forward_config
        if config.dac_bits is None or not isinstance(x, Tensor):
            return None
        return (_snap(x, config.dac_range, config.dac_bits), *args[1:])

    def _forward_hook(self, module: nn.Module, args: tuple[Any, ...], out: Tensor) -> Tensor:
        raw, self._raw_input = self._raw_input, None
        config = self.forward_config
        x = args[0]
        delta = self._weight_delta(module)
        if delta is not None:
            out = out + x @ delta.to(x.dtype)
        if config.out_noise > 0:
            noise = torch.randn(out.shape, generator=self._noise_generator, dtype=out.dtype)
            out = out + config.out_noise * noise.to(out.device)
        if config.adc_bits is not None:
            out = _snap(out, config.adc_range, config.adc_bits)
        if self.device is not None and raw is not None and out.requires_grad:
            setattr(module.weight, TILE_ATTRIBUTE, self)  # the optimizer finds the tile here
            out.register_hook(functools.partial(self._record, raw))
        return out

    def _weight_delta(self, module: nn.Module) -> Tensor | None:
        """``read noise + W_eff ((t / t0)^-nu - 1)``, or None when both are off."""
        config = self.forward_config
        delta = None
        if config.w_noise > 0:
            delta = self.read_noise
        if self.inference_time is not None and (config.drift_nu > 0 or config.drift_nu_dtod > 0):
            t = max(float(self.inference_time), config.drift_t0)
            factor = torch.pow(torch.tensor(t / config.drift_t0, dtype=self.drift_nu.dtype),
                               -self.drift_nu)
            effective = getattr(module, "effective_weight", None)
            weight = effective() if callable(effective) else module.weight
            drift = weight * (factor - 1).to(weight.dtype)
            delta = drift if delta is None else delta + drift
        return delta

    def prepare(self, generator: torch.Generator | None = None) -> None:
        """Once per batch (``prepare_net``): redraw the read noise and reseed the output noise."""
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        self._noise_generator.manual_seed(seed)
        if self.forward_config.w_noise > 0:
            noise = torch.randn(self.shape, generator=generator, dtype=torch.float64)
            self.read_noise.copy_(self.forward_config.w_noise * noise)
        else:
            self.read_noise.zero_()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_pairs"], state["_raw_input"] = [], None  # recorded activity is not state
        return state

    def extra_repr(self) -> str:
        return (f"shape={list(self.shape)}, seed={self.seed}, forward={self.forward_config!r}, "
                f"inference_time={self.inference_time}")


def _check_synapse(synapse: Any) -> tuple[int, int]:
    weight = getattr(synapse, "weight", None)
    if not isinstance(synapse, nn.Module) or not isinstance(weight, nn.Parameter) \
            or weight.dim() != 2:
        raise TypeError(f"attach_device: {type(synapse).__name__} is not a synapse: it needs a "
                        f"2-D weight Parameter [N_in, N_out] used as x @ weight (ChipSynapse, "
                        f"LIFSynapse)")
    return tuple(weight.shape)  # type: ignore[return-value]


def attach_device(synapse: nn.Module, device: Any = None, *, forward: Any = None,
                  seed: int = 0) -> AnalogTile:
    """Make ``synapse`` analog: its weight lives in devices of the model ``device`` and/or its
    forward pass has the non-idealities ``forward``. Returns the tile (``synapse.analog``).

    The weights are clipped into the drawn device bounds (the devices cannot hold more).

    Args:
        synapse: a module with a 2-D ``weight`` Parameter used as ``x @ weight``.
        device: a [`DeviceSpec`][nwave_core.analog.devices.DeviceSpec], a ``device`` registry name,
            a table with ``type``, or None (no pulsed update; forward non-idealities only).
        forward: an [`AnalogForward`][nwave_core.analog.tile.AnalogForward] or a table of its
            fields; None: ideal forward.
        seed: seed of the per-device draws.

    Raises:
        TypeError: not a synapse, or a device that is not a device.
        ValueError: the synapse already carries a tile, or neither device nor forward is given.
    """
    shape = _check_synapse(synapse)
    if isinstance(getattr(synapse, "analog", None), AnalogTile):
        raise ValueError(f"attach_device: this {type(synapse).__name__} already carries an "
                         f"analog tile; call nwave_core.analog.detach_device first")
    if device is None and forward is None:
        raise ValueError("attach_device: give a device, forward non-idealities, or both")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"attach_device: seed must be an integer >= 0, got {seed!r}")
    spec = device_spec(device) if device is not None else None
    tile = AnalogTile(shape, spec, _forward_config(forward), seed)
    tile.to(synapse.weight.device)
    synapse.analog = tile
    synapse.register_forward_pre_hook(tile._pre_hook)
    synapse.register_forward_hook(tile._forward_hook)
    if tile.device is not None:
        with torch.no_grad():
            synapse.weight.copy_(tile.device.clip(synapse.weight))
        setattr(synapse.weight, TILE_ATTRIBUTE, tile)
    return tile


def detach_device(synapse: nn.Module) -> None:
    """Undo [`attach_device`][nwave_core.analog.tile.attach_device] (the weights keep their
    values)."""
    tile = getattr(synapse, "analog", None)
    if not isinstance(tile, AnalogTile):
        raise ValueError(f"detach_device: this {type(synapse).__name__} carries no analog tile")
    for hook_dict in (synapse._forward_pre_hooks, synapse._forward_hooks):
        for key in [k for k, fn in hook_dict.items() if getattr(fn, "__self__", None) is tile]:
            del hook_dict[key]
    del synapse.analog
    if getattr(synapse.weight, TILE_ATTRIBUTE, None) is tile:
        delattr(synapse.weight, TILE_ATTRIBUTE)


def _synapses(model: nn.Module) -> list[nn.Module]:
    found = []
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if (isinstance(weight, nn.Parameter) and weight.dim() == 2
                and tuple(weight.shape) == (getattr(module, "nb_inputs", None),
                                            getattr(module, "nb_outputs", None))):
            found.append(module)
    return found


def attach_devices(model: nn.Module, device: Any = None, *, forward: Any = None,
                   seed: int = 0) -> list[AnalogTile]:
    """[`attach_device`][nwave_core.analog.tile.attach_device] on every synapse of ``model`` that
    carries no tile yet (modules with a 2-D ``weight`` of shape ``[nb_inputs, nb_outputs]``);
    synapse ``k`` gets seed ``seed + k``. Returns the new tiles."""
    spec = device_spec(device) if device is not None else None
    tiles = []
    for k, synapse in enumerate(_synapses(model)):
        if isinstance(getattr(synapse, "analog", None), AnalogTile):
            continue
        tiles.append(attach_device(synapse, spec, forward=forward, seed=seed + k))
    return tiles


def analog_tiles(model: nn.Module) -> list[AnalogTile]:
    """Every analog tile in ``model``."""
    return [m for m in model.modules() if isinstance(m, AnalogTile)]


def set_inference_time(model: nn.Module, seconds: float | None) -> None:
    """Evaluate the drift model of every tile at ``seconds`` after programming (None: no drift).

    Raises:
        ValueError: a negative or non-finite time.
    """
    if seconds is not None and not (isinstance(seconds, (int, float)) and math.isfinite(seconds)
                                    and seconds >= 0):
        raise ValueError(f"set_inference_time: seconds must be a number >= 0 or None, "
                         f"got {seconds!r}")
    for tile in analog_tiles(model):
        tile.inference_time = None if seconds is None else float(seconds)
