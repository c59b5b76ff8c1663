"""Generic hardware layers: synapse, neurons and frontend of any chip, driven by its ChipSpec.

``ChipSynapse(16, 50, chip=spec)`` and ``ChipLayer(50, chip=spec)`` work for every chip that
declares its numbers; the H1 classes in ``nwave_plugins.layers`` are these with ``default_chip``
set to the H1 specs.
What the spec drives:

* synapses: effective weight ``gain * f(p(w)) + noise``, where ``p`` is the chip's training-time
  projection (QAT: the weight range and grid its rules declare, straight-through gradient; on by
  default when the chip declares a grid), ``f`` the synapse transfer, and the noise the synaptic
  mismatch, drawn by [`prepare_net`][nwave_core.neurons.prepare_net];
* neurons: the chip's threshold (per-neuron thresholds when the chip's threshold rule allows
  them), reset rule and membrane floor; taus moved to the nearest legal ones (tau profiles or a
  tau range); leak (tau) and threshold mismatch drawn by ``prepare_net``; recurrent weights
  projected and transferred like synapses;
* frontend: one channel per first-stage neuron, a per-channel (diagonal) gain within the chip's
  frontend and weight rules.

Each module describes itself to the chip rules with ``deployment_stage`` (see
[`nwave_core.constraints`][nwave_core.constraints]).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from .chip import ChipSpec, resolve_chip
from .constraints import Stage, Violation, WeightSite, apply_transfer, straight_through
from .engine import synaptic_current
from .neurons import NeuronLayerBase, _check_count, _per_neuron

__all__ = ["resolve_chip", "quantize", "weight_levels", "synapse_transfer", "ChipSynapse",
           "ChipLayer", "ChipFrontend", "set_mismatch", "MISMATCH_MODES"]


def weight_levels(bits: int) -> int:
    """Levels on each side of zero for ``bits``-bit symmetric codes (``2^(bits-1) - 1``)."""
    return 2 ** (bits - 1) - 1


def quantize(weight: Tensor, limit: float, bits: int) -> Tensor:
    """Snap to ``bits``-bit symmetric uniform levels over ``[-limit, limit]``.

    The forward value is exactly on the grid (and inside the range); the gradient passes
    straight through to ``weight``.
    """
    levels = weight_levels(bits)
    step = limit / levels
    # in float64, so that code * step rounds the same way wherever a code is turned back into a
    # weight (an exported file loads into exactly the hardened weights)
    codes = torch.clamp(torch.round(weight.detach().double() / step), -levels, levels)
    return straight_through(weight, (codes * step).to(weight.dtype))


def synapse_transfer(weight: Tensor, chip: ChipSpec) -> Tensor:
    """``gain * f(weight)``: the charge a weight delivers on this chip."""
    return apply_transfer(weight, chip.synapse_nonlinearity, chip.synapse_gain, chip.weight_limit)


def _check_bits(owner: str, bits: Any) -> int | None:
    if bits is not None and (isinstance(bits, bool) or not isinstance(bits, int) or bits < 2):
        raise ValueError(f"{owner}: quantization_bits must be None (float weights) or an "
                         f"integer >= 2, got {bits!r}")
    return bits


def _check_std(owner: str, name: str, value: Any) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{owner}: {name} must be a number >= 0, got {value!r}")
    return float(value)


def _qat(owner: str, qat: Any, chip: ChipSpec, role: str) -> bool:
    """QAT on or off: ``None`` means on when the chip declares a grid for ``role``."""
    if qat is None:
        return any(g.governs(role) for g in chip.rules_of("weight_grid"))
    if not isinstance(qat, bool):
        raise ValueError(f"{owner}: qat must be True, False or None (on when the chip declares a "
                         f"weight grid), got {qat!r}")
    return qat


def _site_name(name: str, attribute: str) -> str:
    return f"{name}.{attribute}" if name else attribute


MISMATCH_MODES: tuple[str, ...] = ("as_built", "nominal", "chip")
"""What ``prepare_net`` draws: the module's own settings, none, or all the chip declares."""


class _ChipBound:
    """The chip a hardware module follows (``chip=`` or the class's ``default_chip``), and
    mismatch control: a frozen module keeps its mismatch sample (one physical chip);
    ``mismatch_mode`` says what a new sample draws (see
    [`set_mismatch`][nwave_core.hardware.set_mismatch])."""

    #: the chip used when none is passed (set by chip-specific subclasses such as H1v2Layer)
    default_chip: Any = None
    mismatch_frozen: bool = False
    mismatch_mode: str = "as_built"

    @classmethod
    def _chip(cls, chip: Any) -> ChipSpec:
        return resolve_chip(cls.default_chip if chip is None else chip, cls.__name__)

    def freeze_mismatch(self, frozen: bool = True) -> Any:
        """Keep (``True``) or resample per batch (``False``) the mismatch sample; returns self."""
        self.mismatch_frozen = bool(frozen)
        return self


def set_mismatch(model: nn.Module, mode: str) -> str:
    """What the chip modules of ``model`` draw at each ``prepare_net`` from now on:
    ``"as_built"`` (each module's own ``stddev`` / ``ileak_mismatch`` / ``threshold_mismatch``),
    ``"nominal"`` (no mismatch: the chip as designed) or ``"chip"`` (every variation the chip
    declares, whatever the modules were built with). Evaluates one model nominally or under
    mismatch draws without building a twin. Returns the previous mode (of the first module).

    Raises:
        ValueError: an unknown mode.
    """
    if mode not in MISMATCH_MODES:
        raise ValueError(f"set_mismatch: mode must be one of {', '.join(map(repr, MISMATCH_MODES))}, "
                         f"got {mode!r}")
    previous = None
    for module in model.modules():
        if isinstance(module, _ChipBound):
            previous = previous or module.mismatch_mode
            module.mismatch_mode = mode
    return previous or "as_built"


class ChipSynapse(_ChipBound, nn.Module):
    """All-to-all synapses ``[N_in, N_out]`` of a chip.

    Args:
        nb_inputs: presynaptic neurons (or input channels).
        nb_outputs: postsynaptic neurons.
        stddev: std of the additive synaptic mismatch on effective weights; None: the chip's
            ``synapse_stddev``.
        quantization_bits: train with weights snapped to this many bits, symmetric over the
            chip's weight limit (straight-through; the original SDK's argument); overrides
            ``qat``. None: the chip's rules decide (``qat``).
        chip: the chip (a ChipSpec or a chip name); None: the class's default chip.
        qat: train on the chip's projection of the weights (its weight range and grid, exactly
            the hardened values, straight-through gradient). None: on when the chip declares a
            weight grid.
    """

    def __init__(self, nb_inputs: int, nb_outputs: int, stddev: float | None = None,
                 quantization_bits: int | None = None, *, chip: Any = None,
                 qat: bool | None = None) -> None:
        super().__init__()
        owner = type(self).__name__
        self.chip = self._chip(chip)
        self.nb_inputs = _check_count(owner, "nb_inputs", nb_inputs)
        self.nb_outputs = _check_count(owner, "nb_outputs", nb_outputs)
        self.stddev = _check_std(owner, "stddev",
                                 self.chip.synapse_stddev if stddev is None else stddev)
        self.quantization_bits = _check_bits(owner, quantization_bits)
        self.qat = _qat(owner, qat, self.chip, "synapse")
        bound = min(self.chip.weight_limit, 1.0 / math.sqrt(nb_inputs))
        self.weight = nn.Parameter(torch.empty(nb_inputs, nb_outputs).uniform_(-bound, bound))
        self.register_buffer("mismatch", torch.zeros(nb_inputs, nb_outputs))

    def effective_weight(self) -> Tensor:
        """The weight the chip applies: projected (QAT), transferred, plus mismatch."""
        weight = self.weight
        if self.quantization_bits is not None:
            weight = quantize(weight, self.chip.weight_limit, self.quantization_bits)
        elif self.qat:
            weight = self.chip.project(weight, "synapse")
        return synapse_transfer(weight, self.chip) + self.mismatch

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.nb_inputs:
            raise ValueError(f"{type(self).__name__}: input must end in {self.nb_inputs} "
                             f"features ([B, T, {self.nb_inputs}] or [B, {self.nb_inputs}]), "
                             f"got {list(x.shape)}")
        return synaptic_current(x, self.effective_weight().to(x.dtype))

    def prepare(self, generator: torch.Generator | None = None) -> None:
        """Once per batch: draw the synaptic mismatch (unless frozen or its std is 0)."""
        if self.mismatch_frozen:
            return
        std = {"as_built": self.stddev, "nominal": 0.0,
               "chip": self.chip.synapse_stddev}[self.mismatch_mode]
        if std == 0:  # mismatch off: no stale sample stays applied
            self.mismatch.zero_()
            return
        noise = torch.randn(self.mismatch.shape, generator=generator) * std
        self.mismatch.copy_(noise)

    def deployment_issues(self, name: str) -> list[Violation]:
        """Training on ``quantization_bits`` levels the stored weights do not hold would deploy
        other weights than the trained ones (``chip.harden`` folds them in)."""
        if self.quantization_bits is None:
            return []
        with torch.no_grad():
            trained = quantize(self.weight, self.chip.weight_limit, self.quantization_bits)
        if torch.equal(trained, self.weight.detach()):
            return []
        return [Violation("structure", name, f"trains on {self.quantization_bits}-bit weights "
                                             f"(quantization_bits) that its stored weights do not "
                                             f"hold; chip.harden(model) folds them in")]

    def fold_for_deployment(self) -> None:
        """Write the ``quantization_bits`` levels the synapse trains on into its weights."""
        if self.quantization_bits is not None:
            with torch.no_grad():
                self.weight.copy_(quantize(self.weight, self.chip.weight_limit,
                                           self.quantization_bits))
            self.quantization_bits = None

    def deployment_stage(self, name: str) -> Stage:
        """The stored weights with the chip's transfer (see
        [`nwave_core.constraints`][nwave_core.constraints])."""
        site = WeightSite(_site_name(name, "weight"), "synapse", self.weight,
                          self.chip.synapse_nonlinearity, self.chip.synapse_gain, module=self,
                          attribute="weight")
        return Stage(name or type(self).__name__, "synapse", self.nb_inputs, self.nb_outputs,
                     type(self).__name__, [site], module=self)

    def extra_repr(self) -> str:
        return (f"chip={self.chip.name!r}, nb_inputs={self.nb_inputs}, nb_outputs={self.nb_outputs}, "
                f"stddev={self.stddev:g}, quantization_bits={self.quantization_bits}, qat={self.qat}")


class ChipLayer(_ChipBound, NeuronLayerBase):
    """Spiking neurons of a chip: its threshold, reset rule, floor and tau rules.

    Args:
        n_neurons: neurons in the layer.
        taus: membrane time constant(s) in seconds, moved to the nearest legal ones (the chip's
            tau profiles or tau range).
        dt: simulation step in seconds.
        ileak_mismatch: draw per-neuron leak (tau) and threshold variation at each prepare_net,
            as the chip declares them (``leak_mismatch``, ``threshold_mismatch``).
        spike_grad: the surrogate (a module or a registry name; default fast_sigmoid).
        layer_topology: "FF" or "RC" (recurrent weights ``[N, N]`` within the layer).
        threshold_mismatch: draw the threshold variation even without ``ileak_mismatch``.
        chip: the chip (a ChipSpec or a chip name); None: the class's default chip.
        thresholds: firing threshold(s): a number or one per neuron; None: the chip's
            ``threshold``. Values the chip's threshold rule forbids fail validation.
        learn_thresholds: make the thresholds trainable (for chips with programmable ones).
        learn_taus: make the taus trainable (for chips with a tau range).
        qat: train on the chip's projection of the recurrent weights (range and grid); None:
            on when the chip declares a weight grid for recurrent weights.
    """

    def __init__(self, n_neurons: int, taus: Any = 20e-3, dt: float = 1e-3,
                 ileak_mismatch: bool = False, spike_grad: Any = None,
                 layer_topology: str = "FF", threshold_mismatch: bool = False, *,
                 chip: Any = None, thresholds: Any = None, learn_thresholds: bool = False,
                 learn_taus: bool = False, qat: bool | None = None) -> None:
        owner = type(self).__name__
        spec = self._chip(chip)
        if str(layer_topology).upper() == "RC" and spec.recurrent_scope == "none":
            raise ValueError(f"{owner}: chip {spec.name!r} has no recurrent connections "
                             f"(recurrent_scope='none'); use layer_topology='FF'")
        super().__init__(n_neurons, spike_grad, layer_topology,
                         recurrent_limit=min(spec.weight_limit, 1.0))
        bounds = spec.weight_bounds("recurrent")
        if self.recurrent_weights is not None and bounds is not None:
            # the usual +-limit / sqrt(N) where the range allows it, else inside the range
            scale = min(spec.weight_limit, 1.0) / math.sqrt(n_neurons)
            low, high = max(bounds[0], -scale), min(bounds[1], scale)
            if low >= high:
                low, high = bounds[0], min(bounds[1], bounds[0] + scale)
            with torch.no_grad():
                self.recurrent_weights.uniform_(low, high)
        self.chip = spec
        self.reset = spec.reset
        self.floor = spec.membrane_floor
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"{owner}: dt must be a number > 0 (seconds), got {dt!r}")
        self.dt = float(dt)
        self.qat = _qat(owner, qat, spec, "recurrent")
        dtype = torch.get_default_dtype()
        requested = _per_neuron(owner, "taus", taus, n_neurons, positive=True)
        legal = spec.nearest_taus(requested).to(dtype)
        thr = _per_neuron(owner, "thresholds", spec.threshold if thresholds is None else thresholds,
                          n_neurons, positive=True).to(dtype)
        if learn_taus:
            self.taus = nn.Parameter(legal)
        else:
            self.register_buffer("taus", legal)
        if learn_thresholds:
            self.thresholds = nn.Parameter(thr)
        else:
            self.register_buffer("thresholds", thr)
        self.register_buffer("tau_scale", torch.ones(n_neurons, dtype=dtype))
        self.register_buffer("threshold_scale", torch.ones(n_neurons, dtype=dtype))
        self.ileak_mismatch = bool(ileak_mismatch)
        self.threshold_mismatch = bool(threshold_mismatch)

    def neuron_params(self) -> tuple[Tensor, Tensor]:
        taus = self.taus.clamp(min=1e-9 * self.dt) if self.taus.requires_grad else self.taus
        beta = torch.exp(-self.dt / (taus * self.tau_scale))
        return beta, self.thresholds * self.threshold_scale

    def effective_recurrent(self) -> Tensor | None:
        if self.recurrent_weights is None:
            return None
        weight = self.recurrent_weights
        if self.qat:
            weight = self.chip.project(weight, "recurrent")
        return synapse_transfer(weight, self.chip)

    def synapse_transfer(self) -> tuple[str, float]:
        return self.chip.synapse_nonlinearity, self.chip.synapse_gain

    def resample(self, generator: torch.Generator | None = None) -> None:
        """Draw the leak and threshold variation (the original's ``ileak_mismatch`` covers
        both; ``threshold_mismatch=True`` draws the threshold's alone)."""
        if self.mismatch_frozen:
            return
        n = self.n_neurons
        leak = {"as_built": self.ileak_mismatch, "nominal": False, "chip": True}[self.mismatch_mode]
        threshold = {"as_built": self.ileak_mismatch or self.threshold_mismatch, "nominal": False,
                     "chip": True}[self.mismatch_mode]
        if leak and self.chip.leak_mismatch > 0:
            z = torch.randn(n, generator=generator, dtype=torch.float64)
            self.tau_scale.copy_(torch.exp(self.chip.leak_mismatch * z))
        else:
            self.tau_scale.fill_(1.0)
        if threshold and self.chip.threshold_mismatch > 0:
            z = torch.randn(n, generator=generator, dtype=torch.float64)
            # a threshold stays positive: the variation is cut at 5 % of the nominal value
            self.threshold_scale.copy_((1 + self.chip.threshold_mismatch * z).clamp(min=0.05))
        else:
            self.threshold_scale.fill_(1.0)

    def extra_repr(self) -> str:
        return f"chip={self.chip.name!r}, " + super().extra_repr()


class ChipFrontend(ChipLayer):
    """The chip's fixed analog frontend: each input channel drives one first-stage neuron
    through its own gain (a diagonal synapse), followed by the chip's neurons. The gains start
    at 1, moved into the chip's frontend and weight rules.

    Args:
        n_channels: channels; None: the chip's ``frontend_channels``.
        taus: membrane time constant(s) in seconds, moved to the nearest legal ones.
        dt: simulation step in seconds.
        ileak_mismatch: draw per-neuron leak and threshold variation at each prepare_net.
        spike_grad: the surrogate (a module or a registry name; default fast_sigmoid).
        chip: the chip (a ChipSpec or a chip name); None: the class's default chip.
        qat: train on the chip's projection of the gains (gain range, weight range and grid);
            None: on when the chip declares a weight grid or a gain range for the frontend.
    """

    def __init__(self, n_channels: int | None = None, taus: Any = 20e-3, dt: float = 1e-3,
                 ileak_mismatch: bool = False, spike_grad: Any = None, *,
                 chip: Any = None, qat: bool | None = None) -> None:
        spec = self._chip(chip)
        if n_channels is None:
            widths = [r.channels for r in spec.rules_of("frontend") if r.channels is not None]
            if not widths:
                raise ValueError(f"{type(self).__name__}: chip {spec.name!r} declares no "
                                 f"frontend width; pass n_channels")
            n_channels = widths[0]
        super().__init__(n_channels, taus, dt, ileak_mismatch, spike_grad, "FF", chip=spec)
        gated = any(getattr(r, "gain_low", None) is not None or getattr(r, "gain_high", None)
                    is not None for r in spec.rules_of("frontend"))
        self.qat = _qat(type(self).__name__, qat, spec, "frontend") or (qat is None and gated)
        start = spec.project(torch.ones(n_channels), "frontend").detach()
        self.weight = nn.Parameter(start.clone())

    def gains(self) -> Tensor:
        """The per-channel gains the chip applies (projected when ``qat``)."""
        return self.chip.project(self.weight, "frontend") if self.qat else self.weight

    def input_current(self, x: Tensor) -> Tensor:
        return x * self.gains().to(x.dtype)

    def deployment_stage(self, name: str) -> Stage | Violation:
        stage = super().deployment_stage(name)
        if isinstance(stage, Stage):
            stage.kind = "frontend"
            stage.weights.append(WeightSite(_site_name(name, "weight"), "frontend", self.weight,
                                            module=self, attribute="weight"))
        return stage
