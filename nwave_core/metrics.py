"""Metrics: accuracy from spike counts, and the chip energy estimate."""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .rules import chip_of

__all__ = ["accuracy", "accuracy_population", "EnergyEstimate", "estimate_energy"]


def accuracy(spikes: Tensor, targets: Tensor) -> float:
    """Fraction of samples whose most active output (spike count over time) is the target.

    Args:
        spikes: ``[B, T, C]`` output spikes.
        targets: ``[B]`` class indices.
    """
    return int((spikes.sum(1).argmax(-1) == targets).sum()) / len(targets)


def accuracy_population(spikes: Tensor, targets: Tensor, num_classes: int) -> float:
    """Accuracy with population read-out: counts summed over each class's population of
    ``O / num_classes`` consecutive outputs."""
    batch, _, outputs = spikes.shape
    if outputs % num_classes:
        raise ValueError(f"accuracy_population: {outputs} outputs cannot be split into "
                         f"{num_classes} equal class populations")
    counts = spikes.sum(1).reshape(batch, num_classes, -1).sum(-1)
    return int((counts.argmax(-1) == targets).sum()) / len(targets)


@attrs.frozen
class EnergyEstimate:
    """Energy of one forward pass from event counts and the chip's figures (per sample)."""

    chip: str
    spikes: float = attrs.field(metadata={"doc": "spikes per sample, all layers"})
    synaptic_events: float = attrs.field(metadata={"doc": "spike deliveries per sample"})
    joules: float = attrs.field(metadata={"doc": "estimated energy per sample"})


def estimate_energy(model: nn.Module, inputs: Tensor, chip: Any = None) -> EnergyEstimate:
    """Run ``model`` on ``inputs`` ``[B, T, ...]`` and estimate the chip energy per sample.

    Counts every neuron layer's output spikes and, for every synapse (a module with a 2-D
    ``weight`` ``[N_in, N_out]``), the spikes it receives times its fan-out ``N_out``; recurrent
    weights add each layer's spikes times ``N``. Energy = spikes * ``energy_per_spike`` +
    events * ``energy_per_synaptic_event`` from the chip spec.
    """
    from .neurons import NeuronLayerBase, prepare_net

    spec = chip_of(model, chip, "estimate_energy")
    counts = {"spikes": 0.0, "events": 0.0}

    def on_neurons(module: nn.Module, args: Any, output: Any) -> None:
        spikes = output[0] if isinstance(output, tuple) else output
        n = float(spikes.detach().sum())
        counts["spikes"] += n
        if getattr(module, "recurrent_weights", None) is not None:
            counts["events"] += n * module.n_neurons

    def on_synapse(module: nn.Module, args: Any) -> None:
        counts["events"] += float(args[0].detach().sum()) * module.weight.shape[1]

    hooks = []
    for module in model.modules():
        if isinstance(module, NeuronLayerBase):
            hooks.append(module.register_forward_hook(on_neurons))
        elif isinstance(getattr(module, "weight", None), Tensor) and module.weight.dim() == 2:
            hooks.append(module.register_forward_pre_hook(on_synapse))
    try:
        with torch.no_grad():
            prepare_net(model)
            model(inputs)
    finally:
        for hook in hooks:
            hook.remove()
    batch = inputs.shape[0]
    spikes, events = counts["spikes"] / batch, counts["events"] / batch
    joules = spikes * spec.energy_per_spike + events * spec.energy_per_synaptic_event
    return EnergyEstimate(spec.name, spikes, events, joules)
