"""Metrics: accuracy from spike counts, and the chip energy estimate."""

from __future__ import annotations

from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .rules import chip_of

__all__ = ["accuracy", "accuracy_population", "predict", "Decisions", "decisions",
           "window_rates", "rate_correlation", "EnergyEstimate", "estimate_energy"]

#: the prediction of a sample whose read-out decides nothing (a tie or silent outputs)
UNDECIDED = -1


def predict(scores: Tensor, *, silent_if_zero: bool = False) -> Tensor:
    """Class of each sample's unique highest score, or ``-1`` (undecided).

    A sample is undecided when its highest score is shared by two or more classes (a tie; rows
    of equal scores included), or, with ``silent_if_zero``, when every score is zero (silent
    outputs). An undecided sample is never credited to a class, in particular not to class 0
    (``argmax`` would pick the first of the tied classes).

    Args:
        scores: ``[B, C]`` class scores (spike counts, membrane read-outs, logits).
        silent_if_zero: treat an all-zero row as undecided even with one class (spike counts).

    Returns:
        int64 ``[B]``: class indices, ``-1`` where undecided.
    """
    if scores.dim() != 2:
        raise ValueError(f"predict takes scores [B, C], got shape {list(scores.shape)}")
    best, index = scores.max(-1)
    ties = (scores == best[:, None]).sum(-1) > 1
    undecided = ties
    if silent_if_zero:
        undecided = undecided | (scores == 0).all(-1)
    return torch.where(undecided, torch.full_like(index, UNDECIDED), index)


@attrs.frozen
class Decisions:
    """How the samples of a batch were classified; the three counts add up to ``total``."""

    correct: int = attrs.field(metadata={"doc": "samples whose unique top class is the target"})
    wrong: int = attrs.field(metadata={"doc": "samples whose unique top class is another class"})
    undecided: int = attrs.field(metadata={"doc": "ties and silent outputs (counted as wrong "
                                                  "by accuracy)"})

    @property
    def total(self) -> int:
        return self.correct + self.wrong + self.undecided

    @property
    def accuracy(self) -> float:
        """Strict accuracy: ``correct / total`` (undecided samples are wrong); nan when empty."""
        return self.correct / self.total if self.total else float("nan")


def decisions(scores: Tensor, targets: Tensor, *, silent_if_zero: bool = False) -> Decisions:
    """Count correct, wrong and undecided samples of ``scores`` ``[B, C]`` (see
    [`predict`][nwave_core.metrics.predict])."""
    if targets.shape != scores.shape[:1]:
        raise ValueError(f"targets must be [B] = [{scores.shape[0]}], got {list(targets.shape)}")
    predicted = predict(scores, silent_if_zero=silent_if_zero)
    undecided = int((predicted == UNDECIDED).sum())
    correct = int((predicted == targets.to(predicted.device)).sum())
    return Decisions(correct, len(targets) - correct - undecided, undecided)


def _population_counts(spikes: Tensor, num_classes: int, owner: str) -> Tensor:
    batch, _, outputs = spikes.shape
    if outputs % num_classes:
        raise ValueError(f"{owner}: {outputs} outputs cannot be split into "
                         f"{num_classes} equal class populations")
    return spikes.sum(1).reshape(batch, num_classes, -1).sum(-1)


def accuracy(spikes: Tensor, targets: Tensor) -> float:
    """Strict accuracy: the share of samples whose single most active output is the target.

    The score of output ``c`` is its spike count over time. A sample whose highest count is
    shared by several outputs (a tie) or whose outputs are all silent counts as wrong, never as
    class 0: ``accuracy(torch.zeros(4, 10, 2), torch.tensor([0, 0, 1, 1]))`` is 0.
    [`decisions`][nwave_core.metrics.decisions] reports the undecided samples separately.

    Args:
        spikes: ``[B, T, C]`` output spikes.
        targets: ``[B]`` class indices.
    """
    return decisions(spikes.sum(1), targets, silent_if_zero=True).accuracy


def accuracy_population(spikes: Tensor, targets: Tensor, num_classes: int) -> float:
    """Strict accuracy with population read-out: counts summed over each class's population of
    ``O / num_classes`` consecutive outputs; ties and silent outputs count as wrong."""
    counts = _population_counts(spikes, num_classes, "accuracy_population")
    return decisions(counts, targets, silent_if_zero=True).accuracy


def window_rates(spikes: Tensor, windows: int) -> Tensor:
    """Firing rates (spikes per step) of ``spikes [B, T, O]`` over ``windows`` equal windows of
    time: ``[B, windows, O]``.

    Raises:
        ValueError: ``T`` is not a multiple of ``windows``.
    """
    batch, steps, outputs = spikes.shape
    if windows < 1 or steps % windows:
        raise ValueError(f"window_rates: {steps} time steps cannot be split into {windows} "
                         f"equal windows (the target's time axis must divide the output's)")
    return spikes.float().reshape(batch, windows, steps // windows, outputs).mean(2)


def rate_correlation(spikes: Tensor, targets: Tensor) -> float:
    """Pearson correlation between output rates and target rates, over every window, output
    and sample: 1 when the rates follow the targets up to an offset and a positive scale.

    Args:
        spikes: output spikes ``[B, T, O]``.
        targets: target rates ``[B, W, O]`` (``W`` windows dividing ``T``).

    Returns:
        The correlation; 0 when the rates or the targets do not vary (silent outputs score 0).

    Raises:
        ValueError: shapes that do not match.
    """
    if targets.dim() != 3 or targets.shape[0] != spikes.shape[0] or \
            targets.shape[2] != spikes.shape[2]:
        raise ValueError(f"rate_correlation: targets must be [B, W, O] = [{spikes.shape[0]}, W, "
                         f"{spikes.shape[2]}], got {list(targets.shape)}")
    rates = window_rates(spikes, targets.shape[1]).double().flatten()
    wanted = targets.double().flatten().to(rates.device)
    rates, wanted = rates - rates.mean(), wanted - wanted.mean()
    norm = float(rates.norm() * wanted.norm())
    return float((rates * wanted).sum()) / norm if norm > 0 else 0.0


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
