"""Generic hardware layers: synapse, neurons and frontend of any chip, driven by its ChipSpec.

``ChipSynapse(16, 50, chip=spec)`` and ``ChipLayer(50, chip=spec)`` work for every chip that
declares its numbers; the H1 classes in ``nwave_plugins.layers`` are these with ``default_chip``
set to the H1 specs.
What the spec drives:

* synapses: effective weight ``gain * f(q(w)) + noise``, where ``q`` snaps to
  ``weight_bits``-bit symmetric levels over ``[-weight_limit, weight_limit]`` (straight-through
  gradient) when quantization is on, ``f`` is the synapse nonlinearity, and the noise is the
  synaptic mismatch, drawn by :func:`~nwave_core.prepare_net`;
* neurons: the chip's threshold, reset rule and membrane floor; taus snapped to the chip's tau
  profiles; leak (tau) and threshold mismatch drawn by ``prepare_net``;
* frontend: one channel per first-stage neuron, a per-channel (diagonal) weight.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .chip import ChipSpec
from .neurons import NeuronLayerBase, _check_count, _per_neuron

__all__ = ["resolve_chip", "quantize", "weight_levels", "synapse_transfer", "ChipSynapse",
           "ChipLayer", "ChipFrontend"]


def resolve_chip(chip: Any, owner: str = "layer") -> ChipSpec:
    """A :class:`ChipSpec` from a spec or a chip registry name."""
    if chip is None:
        raise TypeError(f"{owner} needs a chip: pass chip= a nwave_core.ChipSpec or a chip name "
                        f"(e.g. chip='h1v2')")
    if isinstance(chip, str):
        from . import create

        chip = create("chip", chip)
    if not isinstance(chip, ChipSpec):
        raise TypeError(f"{owner}: chip must be a nwave_core.ChipSpec or a chip name, got {chip!r}")
    return chip


def weight_levels(bits: int) -> int:
    """Levels on each side of zero for ``bits``-bit symmetric codes (``2^(bits-1) - 1``)."""
    return 2 ** (bits - 1) - 1


def quantize(weight: Tensor, limit: float, bits: int) -> Tensor:
    """Snap to ``bits``-bit symmetric uniform levels over ``[-limit, limit]``.

    The forward value is on the grid (and inside the range); the gradient passes straight
    through to ``weight``.
    """
    levels = weight_levels(bits)
    step = limit / levels
    # in float64, so that code * step rounds the same way wherever a code is turned back into a
    # weight (an exported file loads into exactly the hardened weights)
    codes = torch.clamp(torch.round(weight.detach().double() / step), -levels, levels)
    snapped = (codes * step).to(weight.dtype)
    return weight + (snapped - weight.detach())


def synapse_transfer(weight: Tensor, chip: ChipSpec) -> Tensor:
    """``gain * f(weight)``: the charge a weight delivers on this chip."""
    if chip.synapse_nonlinearity == "tanh":
        weight = chip.weight_limit * torch.tanh(weight / chip.weight_limit)
    return chip.synapse_gain * weight


def _check_bits(owner: str, bits: Any) -> int | None:
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or bits < 2):
        raise ValueError(f"{owner}: quantization_bits must be None (float weights) or an "
                         f"integer >= 2, got {bits!r}")
    return bits


def _check_std(owner: str, name: str, value: Any) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}")
    return float(value)


class _ChipBound:
    """The chip a hardware module follows (``chip=`` or the class's ``default_chip``), and
    mismatch freezing: a frozen module keeps its mismatch sample (one physical chip)."""

    #: the chip used when none is passed (set by chip-specific subclasses such as H1v2Layer)
    default_chip: Any = None
    mismatch_frozen: bool = False

    @classmethod
    def _chip(cls, chip: Any) -> ChipSpec:
        return resolve_chip(cls.default_chip if chip is None else chip, cls.__name__)

    def freeze_mismatch(self, frozen: bool = True) -> Any:
        """Keep (``True``) or resample per batch (``False``) the mismatch sample; returns self."""
        self.mismatch_frozen = bool(frozen)
        return self


class ChipSynapse(_ChipBound, nn.Module):
    """All-to-all synapses ``[N_in, N_out]`` of a chip.

    Args:
        nb_inputs: presynaptic neurons (or input channels).
        nb_outputs: postsynaptic neurons.
        stddev: std of the additive synaptic mismatch on effective weights; None: the chip's
            ``synapse_stddev``.
        quantization_bits: train with weights snapped to this many bits (straight-through);
            None: float weights (hardening snaps them to the chip's ``weight_bits``).
        chip: the chip (a ChipSpec or a chip name); None: the class's default chip.
    """

    def __init__(self, nb_inputs: int, nb_outputs: int, stddev: float | None = None,
                 quantization_bits: int | None = None, *, chip: Any = None) -> None:
        super().__init__()
        owner = type(self).__name__
        self.chip = self._chip(chip)
        self.nb_inputs = _check_count(owner, "nb_inputs", nb_inputs)
        self.nb_outputs = _check_count(owner, "nb_outputs", nb_outputs)
        self.stddev = _check_std(owner, "stddev",
                                 self.chip.synapse_stddev if stddev is None else stddev)
        self.quantization_bits = _check_bits(owner, quantization_bits)
        bound = min(self.chip.weight_limit, 1.0 / math.sqrt(nb_inputs))
        self.weight = nn.Parameter(torch.empty(nb_inputs, nb_outputs).uniform_(-bound, bound))
        self.register_buffer("mismatch", torch.zeros(nb_inputs, nb_outputs))

    def effective_weight(self) -> Tensor:
        """The weight the chip applies: quantized, transferred, plus mismatch."""
        weight = self.weight
        if self.quantization_bits is not None:
            weight = quantize(weight, self.chip.weight_limit, self.quantization_bits)
        return synapse_transfer(weight, self.chip) + self.mismatch

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.nb_inputs:
            raise ValueError(f"{type(self).__name__}: input must end in {self.nb_inputs} "
                             f"features ([B, T, {self.nb_inputs}] or [B, {self.nb_inputs}]), "
                             f"got {list(x.shape)}")
        return x @ self.effective_weight().to(x.dtype)

    def prepare(self, generator: torch.Generator | None = None) -> None:
        """Once per batch: draw the synaptic mismatch (unless frozen or ``stddev == 0``)."""
        if self.mismatch_frozen:
            return
        if self.stddev == 0:  # mismatch off: no stale sample stays applied
            self.mismatch.zero_()
            return
        noise = torch.randn(self.mismatch.shape, generator=generator) * self.stddev
        self.mismatch.copy_(noise)

    def extra_repr(self) -> str:
        return (f"chip={self.chip.name!r}, nb_inputs={self.nb_inputs}, nb_outputs={self.nb_outputs}, "
                f"stddev={self.stddev:g}, quantization_bits={self.quantization_bits}")


class ChipLayer(_ChipBound, NeuronLayerBase):
    """Spiking neurons of a chip: its threshold, reset rule, floor and tau profiles.

    Args:
        n_neurons: neurons in the layer.
        taus: membrane time constant(s) in seconds, snapped to the chip's tau profiles.
        dt: simulation step in seconds.
        ileak_mismatch: draw per-neuron leak (tau) mismatch at each prepare_net.
        spike_grad: the surrogate (a module or a registry name; default fast_sigmoid).
        layer_topology: "FF" or "RC" (recurrent weights ``[N, N]`` within the layer).
        threshold_mismatch: draw per-neuron threshold mismatch at each prepare_net.
        chip: the chip (a ChipSpec or a chip name); None: the class's default chip.
    """

    def __init__(self, n_neurons: int, taus: Any = 20e-3, dt: float = 1e-3,
                 ileak_mismatch: bool = False, spike_grad: Any = None,
                 layer_topology: str = "FF", threshold_mismatch: bool = False, *,
                 chip: Any = None) -> None:
        owner = type(self).__name__
        spec = self._chip(chip)
        if str(layer_topology).upper() == "RC" and spec.recurrent_scope == "none":
            raise ValueError(f"{owner}: chip {spec.name!r} has no recurrent connections "
                             f"(recurrent_scope='none'); use layer_topology='FF'")
        super().__init__(n_neurons, spike_grad, layer_topology,
                         recurrent_limit=min(spec.weight_limit, 1.0))
        self.chip = spec
        self.reset = spec.reset
        self.floor = spec.membrane_floor
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"{owner}: dt must be a number > 0 (seconds), got {dt!r}")
        self.dt = float(dt)
        requested = _per_neuron(owner, "taus", taus, n_neurons, positive=True)
        snapped = torch.tensor([spec.snap_tau(float(t)) for t in requested])
        dtype = torch.get_default_dtype()
        self.register_buffer("taus", snapped.to(dtype))
        self.register_buffer("tau_scale", torch.ones(n_neurons, dtype=dtype))
        self.register_buffer("threshold_scale", torch.ones(n_neurons, dtype=dtype))
        self.ileak_mismatch = bool(ileak_mismatch)
        self.threshold_mismatch = bool(threshold_mismatch)

    def neuron_params(self) -> tuple[Tensor, Tensor]:
        beta = torch.exp(-self.dt / (self.taus * self.tau_scale))
        return beta, self.chip.threshold * self.threshold_scale

    def effective_recurrent(self) -> Tensor | None:
        if self.recurrent_weights is None:
            return None
        return synapse_transfer(self.recurrent_weights, self.chip)

    def resample(self, generator: torch.Generator | None = None) -> None:
        if self.mismatch_frozen:
            return
        n = self.n_neurons
        if self.ileak_mismatch and self.chip.leak_mismatch > 0:
            z = torch.randn(n, generator=generator, dtype=torch.float64)
            self.tau_scale.copy_(torch.exp(self.chip.leak_mismatch * z))
        else:
            self.tau_scale.fill_(1.0)
        if self.threshold_mismatch and self.chip.threshold_mismatch > 0:
            z = torch.randn(n, generator=generator, dtype=torch.float64)
            self.threshold_scale.copy_((1 + self.chip.threshold_mismatch * z).clamp(min=0.05))
        else:
            self.threshold_scale.fill_(1.0)

    def extra_repr(self) -> str:
        return f"chip={self.chip.name!r}, " + super().extra_repr()


class ChipFrontend(ChipLayer):
    """The chip's fixed analog frontend: each input channel drives one first-stage neuron
    through its own weight (a diagonal synapse), followed by the chip's neurons.

    Args:
        n_channels: channels; None: the chip's ``frontend_channels``.
        taus: membrane time constant(s) in seconds, snapped to the chip's tau profiles.
        dt: simulation step in seconds.
        ileak_mismatch: draw per-neuron leak (tau) mismatch at each prepare_net.
        spike_grad: the surrogate (a module or a registry name; default fast_sigmoid).
        chip: the chip (a ChipSpec or a chip name); None: the class's default chip.
    """

    def __init__(self, n_channels: int | None = None, taus: Any = 20e-3, dt: float = 1e-3,
                 ileak_mismatch: bool = False, spike_grad: Any = None, *,
                 chip: Any = None) -> None:
        spec = self._chip(chip)
        if n_channels is None:
            if spec.frontend_channels is None:
                raise ValueError(f"{type(self).__name__}: chip {spec.name!r} declares no "
                                 f"frontend_channels; pass n_channels")
            n_channels = spec.frontend_channels
        super().__init__(n_channels, taus, dt, ileak_mismatch, spike_grad, "FF", chip=spec)
        self.weight = nn.Parameter(torch.ones(n_channels))

    def input_current(self, x: Tensor) -> Tensor:
        return x * self.weight.to(x.dtype)
