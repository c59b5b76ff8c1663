"""Spiking neuron layers: the shared base, LIF dynamics, and ``prepare_net``.

Every neuron layer takes one step ``[B, N]`` (``[N]`` is read as ``[1, N]``), keeping its state
between calls, or a whole sequence ``[B, T, N]``, which runs through the multi-step engine
([`nwave_core.engine.lif_sequence`][nwave_core.engine.lif_sequence]). It returns the spikes, so
layers compose in ``torch.nn.Sequential``; ``layer.mem`` keeps the membrane of the last call and
``layer(x, return_mem=True)`` returns ``(spikes, mem)``.

State is kept until [`NeuronLayerBase.reset_state`][nwave_core.neurons.NeuronLayerBase.reset_state]
or [`prepare_net`][nwave_core.neurons.prepare_net] (once per batch), so a sequence may be fed in
pieces.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .constraints.base import RESETS, NeuronSite, Stage, Violation, WeightSite
from .engine import lif_sequence, lif_sequence_reference
from .guards import check_not_unpacked, check_state_is_live

__all__ = ["NeuronLayerBase", "LIFNeurons", "prepare_net", "resolve_surrogate", "TOPOLOGIES",
           "DEFAULT_SURROGATE"]

TOPOLOGIES: tuple[str, ...] = ("FF", "RC")
""""FF": feed-forward; "RC": with all-to-all recurrent weights ``[N, N]`` inside the layer."""
DEFAULT_SURROGATE = "fast_sigmoid"
"""The surrogate a layer gets when none is given."""


def resolve_surrogate(spike_grad: Any, owner: str) -> Any:
    """A surrogate module from a module, a registry name, or ``None`` (the default)."""
    if spike_grad is None:
        spike_grad = DEFAULT_SURROGATE
    if isinstance(spike_grad, str):
        from . import create

        return create("surrogate", spike_grad)
    if not callable(getattr(spike_grad, "grad", None)):
        raise TypeError(f"{owner}: spike_grad must be a surrogate (e.g. "
                        f"nwave_plugins.surrogates.atan()) or a surrogate name, got {spike_grad!r}")
    return spike_grad


def _check_count(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{owner}: {name} must be an integer >= 1, got {value!r}")
    return value


def _per_neuron(owner: str, name: str, value: Any, n: int, *, positive: bool) -> Tensor:
    """A float64 ``[n]`` tensor from a number or a sequence/tensor of ``n`` numbers."""
    tensor = torch.as_tensor(value, dtype=torch.float64).detach().clone()
    if tensor.dim() == 0:
        tensor = tensor.expand(n).clone()
    if tensor.shape != (n,):
        raise ValueError(f"{owner}: {name} must be a number or have shape [{n}], "
                         f"got shape {list(tensor.shape)}")
    if not torch.isfinite(tensor).all() or (positive and (tensor <= 0).any()):
        bad = "finite and > 0" if positive else "finite"
        raise ValueError(f"{owner}: {name} must be {bad}, got {value!r}")
    return tensor


class NeuronLayerBase(nn.Module):
    """Base of spiking neuron layers; subclasses say what their dynamics are.

    A subclass implements [`neuron_params`][nwave_core.neurons.NeuronLayerBase.neuron_params] (decay
    ``beta`` and threshold) and sets [`reset`][nwave_core.neurons.NeuronLayerBase.reset] and
    [`floor`][nwave_core.neurons.NeuronLayerBase.floor]; it may override
    [`input_current`][nwave_core.neurons.NeuronLayerBase.input_current] (e.g. a frontend's
    per-channel weights) and [`resample`][nwave_core.neurons.NeuronLayerBase.resample] (mismatch).

    The surrogate is a submodule (``layer.spike_grad``): a learnable surrogate parameter
    (``atan(learnable=True)``, or any parameter of a custom surrogate) is an ``nn.Parameter`` of
    the layer and trains with it through the engine; a surrogate in primitive mode
    (``spiking=False``) makes the layer output ``primitive(v - threshold)`` instead of spikes,
    which also drives the reset.

    Args:
        n_neurons: neurons in the layer.
        spike_grad: the surrogate (a module or a registry name; default fast_sigmoid).
        layer_topology: "FF" (feed-forward) or "RC" (recurrent weights ``[N, N]``).
        recurrent_limit: recurrent weights are initialized in ``[-limit, limit] / sqrt(N)``.
    """

    reset: str = "subtraction"
    floor: float | None = None

    def __init__(self, n_neurons: int, spike_grad: Any = None, layer_topology: str = "FF",
                 *, recurrent_limit: float = 1.0) -> None:
        super().__init__()
        self.n_neurons = _check_count(self._label(), "n_neurons", n_neurons)
        self.spike_grad = resolve_surrogate(spike_grad, self._label())
        topology = str(layer_topology).upper()
        if topology not in TOPOLOGIES:
            raise ValueError(f"{self._label()}: layer_topology must be 'FF' (feed-forward) or "
                             f"'RC' (recurrent), got {layer_topology!r}")
        self.layer_topology = topology
        if topology == "RC":
            bound = recurrent_limit / math.sqrt(n_neurons)
            weight = torch.empty(n_neurons, n_neurons).uniform_(-bound, bound)
            self.recurrent_weights = nn.Parameter(weight)
        else:
            self.recurrent_weights = None
        self.detach_reset = False
        self._v: Tensor | None = None
        self._s: Tensor | None = None
        self.mem: Tensor | None = None

    # -- subclass hooks ------------------------------------------------------------------

    def neuron_params(self) -> tuple[Tensor, Tensor]:
        """``(beta, threshold)``: 0-d or ``[N]`` tensors, may require grad."""
        raise NotImplementedError

    def input_current(self, x: Tensor) -> Tensor:
        """The current the neurons integrate, from the layer's input (identity here)."""
        return x

    def effective_recurrent(self) -> Tensor | None:
        """The recurrent weights the dynamics use (``recurrent_weights`` here)."""
        return self.recurrent_weights

    def resample(self, generator: torch.Generator | None = None) -> None:
        """Draw a new mismatch sample (layers without mismatch do nothing)."""

    def synapse_transfer(self) -> tuple[str, float]:
        """``(transfer name, gain)`` the layer applies to its recurrent weights."""
        return "linear", 1.0

    def deployment_stage(self, name: str) -> Stage | Violation:
        """How the layer appears on a chip: its neuron parameters (``taus`` and ``thresholds``,
        ``[n]`` tensors, mismatch samples excluded), reset, floor, ``dt`` and recurrent weights
        (see [`nwave_core.constraints`][nwave_core.constraints])."""
        where = name or type(self).__name__
        taus, thresholds = getattr(self, "taus", None), getattr(self, "thresholds", None)
        n = self.n_neurons
        if not (isinstance(taus, Tensor) and isinstance(thresholds, Tensor)
                and taus.shape == (n,) and thresholds.shape == (n,)):
            return Violation("structure", where, f"{type(self).__name__} has no per-neuron "
                                                 f"taus and thresholds ([{n}] tensors) to deploy")
        recurrent = self.recurrent_weights is not None
        neurons = NeuronSite(where, n, taus, thresholds, self.reset, self.floor,
                             float(getattr(self, "dt", float("nan"))), recurrent, module=self)
        weights = []
        if recurrent:
            transfer, gain = self.synapse_transfer()
            weights.append(WeightSite(f"{name}.recurrent_weights" if name else "recurrent_weights",
                                      "recurrent", self.recurrent_weights, transfer, gain,
                                      module=self, attribute="recurrent_weights"))
        return Stage(where, "neurons", n, n, type(self).__name__, weights, neurons, module=self)

    # -- state -----------------------------------------------------------------------------

    def reset_state(self) -> None:
        """Forget the membrane and last spikes; the next call starts from rest."""
        self._v = self._s = None
        self.mem = None

    def __getstate__(self) -> dict[str, Any]:
        # copies and pickles start from rest: the kept state may hold a graph (not copyable)
        state = dict(super().__getstate__() if hasattr(super(), "__getstate__") else self.__dict__)
        state["_v"] = state["_s"] = state["mem"] = None
        return state

    def prepare(self, generator: torch.Generator | None = None) -> None:
        """Once per batch: reset the state and resample mismatch."""
        self.reset_state()
        self.resample(generator)

    # -- forward ---------------------------------------------------------------------------

    def forward(self, x: Tensor, return_mem: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        if not isinstance(x, Tensor):
            raise TypeError(f"{self._label()}: input must be a tensor, got {type(x).__name__}")
        if not return_mem:  # `spk, mem = layer(x)` (the original SDK's idiom) would split the batch
            check_not_unpacked(self._label())
        single = x.dim() in (1, 2)
        if x.dim() == 1:
            x = x.unsqueeze(0)
        if x.dim() not in (2, 3) or x.shape[-1] != self.n_features():
            raise ValueError(f"{self._label()}: input must be [B, T, {self.n_features()}] (a "
                             f"sequence) or [B, {self.n_features()}] (one step), got "
                             f"{list(x.shape)}")
        current = self.input_current(x)
        seq = current.unsqueeze(1) if single else current
        beta, threshold = self.neuron_params()
        v0, s0 = self._initial_state(seq)
        run = lif_sequence_reference if single else lif_sequence
        spikes, mem = run(seq, beta, threshold, self.spike_grad, reset=self.reset,
                          floor=self.floor, recurrent_weight=self.effective_recurrent(), v0=v0, s0=s0,
                          detach_reset=self.detach_reset)
        self._v, self._s = mem[:, -1], spikes[:, -1]
        if single:
            spikes, mem = spikes[:, 0], mem[:, 0]
        self.mem = mem
        return (spikes, mem) if return_mem else spikes

    def n_features(self) -> int:
        """Width of the input's last dimension."""
        return self.n_neurons

    def _initial_state(self, seq: Tensor) -> tuple[Tensor | None, Tensor | None]:
        if self._v is None:
            return None, None
        if self._v.shape[0] != seq.shape[0]:
            raise ValueError(f"{self._label()}: the kept state has batch size {self._v.shape[0]} "
                             f"but the input has {seq.shape[0]}; call nwave_core.prepare_net(model) "
                             f"(or layer.reset_state()) before each new batch")
        check_state_is_live(self._label(), self._v)
        return self._v, self._s

    def _label(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return f"n_neurons={self.n_neurons}, topology={self.layer_topology!r}, reset={self.reset!r}"


class LIFNeurons(NeuronLayerBase):
    """Leaky integrate-and-fire neurons with float, optionally learnable, taus and thresholds.

    ``v = beta v + I``, ``beta = exp(-dt / tau)``; spike when ``v >= threshold``; then reset.

    Args:
        n_neurons: neurons in the layer.
        taus: membrane time constant(s) in seconds: a number or one per neuron.
        thresholds: firing threshold(s): a number or one per neuron.
        reset_mechanism: "subtraction", "zero" or "none".
        dt: simulation step in seconds.
        spike_grad: the surrogate (a module or a registry name; default fast_sigmoid).
        learn_taus: make the taus trainable (one per neuron).
        learn_thresholds: make the thresholds trainable (one per neuron).
        layer_topology: "FF" (feed-forward) or "RC" (recurrent weights ``[N, N]``).
    """

    def __init__(self, n_neurons: int, taus: float | Sequence[float] | Tensor = 20e-3,
                 thresholds: float | Sequence[float] | Tensor = 1.0,
                 reset_mechanism: str = "subtraction", dt: float = 1e-3, spike_grad: Any = None,
                 learn_taus: bool = False, learn_thresholds: bool = False,
                 layer_topology: str = "FF") -> None:
        super().__init__(n_neurons, spike_grad, layer_topology)
        owner = self._label()
        if reset_mechanism not in RESETS:
            raise ValueError(f"{owner}: reset_mechanism must be one of "
                             f"{', '.join(map(repr, RESETS))}, got {reset_mechanism!r}")
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise ValueError(f"{owner}: dt must be a number > 0 (seconds), got {dt!r}")
        self.reset = reset_mechanism
        self.dt = float(dt)
        dtype = torch.get_default_dtype()
        tau = _per_neuron(owner, "taus", taus, n_neurons, positive=True).to(dtype)
        thr = _per_neuron(owner, "thresholds", thresholds, n_neurons, positive=True).to(dtype)
        if learn_taus:
            self.taus = nn.Parameter(tau)
        else:
            self.register_buffer("taus", tau)
        if learn_thresholds:
            self.thresholds = nn.Parameter(thr)
        else:
            self.register_buffer("thresholds", thr)

    def neuron_params(self) -> tuple[Tensor, Tensor]:
        # a trained tau cannot make the decay exceed 1
        tau = self.taus.clamp(min=1e-9 * self.dt) if self.taus.requires_grad else self.taus
        return torch.exp(-self.dt / tau), self.thresholds


def prepare_net(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Once per batch: reset every layer's state and resample mismatch. Returns ``model``.

    Args:
        model: any module; each submodule with a ``prepare(generator)`` method is prepared.
        generator: a seeded ``torch.Generator`` makes the mismatch samples reproducible.
    """
    for module in model.modules():
        prepare = getattr(module, "prepare", None)
        if callable(prepare):
            prepare(generator)
    return model
