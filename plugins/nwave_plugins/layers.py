"""Built-in layers with the original SDK's names: LIF and the H1v1 / H1v2 hardware layers.

The H1 classes are the generic chip layers of ``nwave_core.hardware`` with the H1 specs as their
default chip; a third-party chip gets the same layers with ``ChipLayer(..., chip=spec)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from nwave_core import Entry, hookimpl
from nwave_core.engine import synaptic_current
from nwave_core.hardware import ChipFrontend, ChipLayer, ChipSynapse
from nwave_core.neurons import LIFNeurons, _check_count

from .h1 import H1V1, H1V2

__all__ = ["LIFSynapse", "LIFLayer", "H1v1Frontend", "H1v1Synapse", "H1v1Layer",
           "H1v2Frontend", "H1v2Synapse", "H1v2Layer"]


class LIFSynapse(nn.Module):
    """Dense synapses with weight ``[nb_inputs, nb_outputs]``: ``current = x @ weight``
    (event-driven for spike inputs: [`synaptic_current`][nwave_core.engine.events.synaptic_current]).

    Args:
        nb_inputs: presynaptic neurons (or input channels).
        nb_outputs: postsynaptic neurons.
    """

    def __init__(self, nb_inputs: int, nb_outputs: int) -> None:
        super().__init__()
        self.nb_inputs = _check_count("LIFSynapse", "nb_inputs", nb_inputs)
        self.nb_outputs = _check_count("LIFSynapse", "nb_outputs", nb_outputs)
        bound = 1.0 / math.sqrt(nb_inputs)
        self.weight = nn.Parameter(torch.empty(nb_inputs, nb_outputs).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.nb_inputs:
            raise ValueError(f"LIFSynapse: input must end in {self.nb_inputs} features "
                             f"([B, T, {self.nb_inputs}] or [B, {self.nb_inputs}]), got {list(x.shape)}")
        return synaptic_current(x, self.weight.to(x.dtype))

    def extra_repr(self) -> str:
        return f"nb_inputs={self.nb_inputs}, nb_outputs={self.nb_outputs}"


class LIFLayer(LIFNeurons):
    """Leaky integrate-and-fire neurons under the original SDK's name, with float (optionally
    learnable) time constants and thresholds.

    One step, for input current ``I`` (and, with ``layer_topology="RC"``, the previous step's
    spikes through ``recurrent_weights [N, N]``): ``v = beta v + I (+ s_prev @ W_rec)`` with
    ``beta = exp(-dt / tau)``; a spike where ``v >= threshold``, its gradient the surrogate's;
    then the reset (``"subtraction"``: ``v -= threshold``; ``"zero"``: ``v = 0``; ``"none"``).
    The formulas are written out in the docs' layers page; the arguments are those of
    [`LIFNeurons`][nwave_core.neurons.LIFNeurons] (``n_neurons``, ``taus``, ``thresholds``,
    ``reset_mechanism``, ``dt``, ``spike_grad``, ``learn_taus``, ``learn_thresholds``,
    ``layer_topology``).
    """


class H1v1Frontend(ChipFrontend):
    """H1v1's 16 fixed analog filters, each driving one first-stage neuron."""

    default_chip = H1V1


class H1v1Synapse(ChipSynapse):
    """H1v1 synapses: weights in [-0.9, 0.9], nonlinear, additive mismatch (stddev)."""

    default_chip = H1V1


class H1v1Layer(ChipLayer):
    """H1v1 neurons: global threshold, reset to zero, membrane clamped at 0."""

    default_chip = H1V1


class H1v2Frontend(ChipFrontend):
    """H1v2's 16 fixed analog filters, each driving one first-stage neuron."""

    default_chip = H1V2


class H1v2Synapse(ChipSynapse):
    """H1v2 synapses: weights in [-1.66, 1.66], linear, weaker gain."""

    default_chip = H1V2


class H1v2Layer(ChipLayer):
    """H1v2 neurons: global threshold, subtract then clamp at 0, taus from hardware profiles."""

    default_chip = H1V2


_LAYERS = (
    (LIFSynapse, "lif_synapse", "dense synapses x @ W, W [N_in, N_out]"),
    (LIFLayer, "lif", "LIF neurons; float, optionally learnable taus and thresholds"),
    (ChipSynapse, "chip_synapse", "synapses of any chip (chip=...)"),
    (ChipLayer, "chip_layer", "neurons of any chip (chip=...)"),
    (ChipFrontend, "chip_frontend", "frontend of any chip (chip=...)"),
    (H1v1Frontend, "h1v1_frontend", "H1v1 frontend: 16 channels -> 16 neurons"),
    (H1v1Synapse, "h1v1_synapse", "H1v1 synapses"),
    (H1v1Layer, "h1v1_layer", "H1v1 neurons"),
    (H1v2Frontend, "h1v2_frontend", "H1v2 frontend: 16 channels -> 16 neurons"),
    (H1v2Synapse, "h1v2_synapse", "H1v2 synapses"),
    (H1v2Layer, "h1v2_layer", "H1v2 neurons"),
)


@hookimpl
def nwave_layers() -> list[Entry]:
    return [Entry(cls.__name__, cls, summary=summary, aliases=(alias,))
            for cls, alias, summary in _LAYERS]
