"""Hardware-aware losses. Limits and block sizes come from the chip, never from constants.

``chip`` arguments take a ChipSpec, a chip name, or None (the chip of the model's hardware
layers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .constraints import deployment_of
from .rules import chip_of, weight_sites

__all__ = ["weight_magnitude_loss", "topology_loss", "firing_rate_target_mse_loss",
           "balanced_population_mse", "READOUTS", "REGRESSION_READOUTS", "readout_scores",
           "readout_loss", "readout_metric"]

READOUTS: tuple[str, ...] = ("cross_entropy", "spike_count", "membrane_max", "membrane_mean",
                             "population_mse", "rate_mse")
"""The read-outs a config's ``train.loss`` names: what the outputs' class scores are, and the loss
on them (see [`readout_loss`][nwave_core.losses.readout_loss])."""
REGRESSION_READOUTS: tuple[str, ...] = ("rate_mse",)
"""The read-outs whose targets are not classes but values (target rates); their metric is
[`rate_correlation`][nwave_core.metrics.rate_correlation] instead of strict accuracy."""


def _penalty(model: nn.Module, chip: Any, kind: str, owner: str) -> Tensor:
    spec = chip_of(model, chip, owner)
    rules = spec.rules_of(kind)
    if not rules:
        return torch.zeros(())
    deployment = deployment_of(model)
    return sum((rule.penalty(deployment) for rule in rules), torch.zeros(()))


def weight_magnitude_loss(model: nn.Module, limit: Any = None) -> Tensor:
    """The penalty of the chip's weight range rules: mean over the governed weights of
    ``relu(w - high)^2 + relu(low - w)^2`` (for ``[-limit, limit]``:
    ``max(abs(w) - limit, 0)^2``).

    Args:
        model: the model.
        limit: a number (then ``[-limit, limit]`` on every synapse and recurrent weight), a chip
            (spec or name), or None: the chip of the model's hardware layers.
    """
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        penalties = [torch.relu(s.value.abs() - float(limit)).pow(2).reshape(-1)
                     for s in weight_sites(model)]
        return torch.cat(penalties).mean() if penalties else torch.zeros(())
    return _penalty(model, limit, "weight_range", "weight_magnitude_loss")


def topology_loss(model: nn.Module, chip: Any = None) -> Tensor:
    """The penalty of the chip's sign-block rules: zero iff every block of every governed weight
    is sign-coherent, positive otherwise.

    For each block the penalty is ``P * N`` with ``P`` the sum of the positive entries and ``N``
    the sum of the magnitudes of the negative ones; the loss is the mean over all blocks (of
    outputs or of inputs, as the rule declares). Its gradient shrinks the minority sign of each
    block.
    """
    return _penalty(model, chip, "sign_block", "topology_loss")


def firing_rate_target_mse_loss(spikes_list: Sequence[Tensor], offsets: Sequence[float],
                                multipliers: Sequence[float]) -> Tensor:
    """``sum_i ((mean rate_i - offset_i) * multiplier_i)^2`` over layers ``i``.

    Args:
        spikes_list: each layer's spikes (any shape; the rate is the mean over all entries).
        offsets: target firing rate (spikes per step) of each layer.
        multipliers: weight of each layer's term.
    """
    if not len(spikes_list) == len(offsets) == len(multipliers):
        raise ValueError(f"firing_rate_target_mse_loss: spikes_list, offsets and multipliers "
                         f"must have the same length, got {len(spikes_list)}, {len(offsets)}, "
                         f"{len(multipliers)}")
    total = torch.zeros(())
    for spikes, offset, multiplier in zip(spikes_list, offsets, multipliers):
        total = total + ((spikes.float().mean() - offset) * multiplier) ** 2
    return total


def balanced_population_mse(spikes: Tensor, targets: Tensor, num_classes: int,
                            on_rate: float = 1.0, off_rate: float = 0.0) -> Tensor:
    """MSE of each class population's firing rate to a target, classes balanced.

    The outputs ``[B, T, O]`` are ``num_classes`` consecutive populations of ``O / num_classes``
    neurons. The labelled class's population should fire at ``on_rate`` (spikes per step), the
    others at ``off_rate``; the error of the labelled population and the mean error of the others
    weigh equally, so the many "off" classes do not drown the one "on" class.
    """
    batch, _, outputs = spikes.shape
    if outputs % num_classes:
        raise ValueError(f"balanced_population_mse: {outputs} outputs cannot be split into "
                         f"{num_classes} equal class populations")
    rates = spikes.float().mean(1).reshape(batch, num_classes, -1).mean(-1)  # [B, C]
    on = torch.nn.functional.one_hot(targets.long(), num_classes).bool()
    on_error = (rates[on] - on_rate).pow(2).mean()
    off_error = (rates[~on] - off_rate).pow(2).mean() if num_classes > 1 else torch.zeros(())
    return (on_error + off_error) / 2


def _check_readout(kind: str) -> None:
    if kind not in READOUTS:
        from .suggest import did_you_mean

        raise ValueError(f"unknown read-out {kind!r}.{did_you_mean(kind, READOUTS)} "
                         f"Available: {', '.join(READOUTS)}")


def readout_scores(kind: str, spikes: Tensor, mem: Tensor | None = None,
                   num_classes: int | None = None) -> Tensor:
    """Class scores ``[B, C]`` of the output layer under a read-out.

    - ``"cross_entropy"`` / ``"spike_count"``: spike counts over time, ``spikes.sum(1)``;
    - ``"membrane_max"`` / ``"membrane_mean"``: the output membrane's maximum or mean over time;
    - ``"population_mse"``: counts summed over each class's population of ``O / num_classes``
      consecutive outputs.

    With ``num_classes`` set, spike-count scores are population sums as well.

    Args:
        kind: one of [`READOUTS`][nwave_core.losses.READOUTS].
        spikes: output spikes ``[B, T, O]``.
        mem: output membrane ``[B, T, O]`` (needed by the membrane read-outs).
        num_classes: classes, for population read-out; None: one output per class.

    Raises:
        ValueError: an unknown read-out, a membrane read-out without ``mem``, or outputs that do
            not split into ``num_classes`` populations.
    """
    _check_readout(kind)
    if kind in REGRESSION_READOUTS:
        raise ValueError(f"the {kind} read-out has no class scores (its targets are rates); "
                         f"readout_metric scores it")
    if kind.startswith("membrane"):
        if mem is None:
            raise ValueError(f"the {kind} read-out needs the output layer's membrane "
                             f"(a neuron layer last in the model)")
        return mem.amax(1) if kind == "membrane_max" else mem.mean(1)
    counts = spikes.sum(1)
    if kind == "population_mse" and num_classes is None:
        raise ValueError("the population_mse read-out needs num_classes")
    if num_classes is not None:
        batch, outputs = counts.shape
        if outputs % num_classes:
            raise ValueError(f"readout_scores: {outputs} outputs cannot be split into "
                             f"{num_classes} equal class populations")
        counts = counts.reshape(batch, num_classes, -1).sum(-1)
    return counts


def readout_loss(kind: str, spikes: Tensor, targets: Tensor, mem: Tensor | None = None, *,
                 scale: float = 1.0, num_classes: int | None = None) -> Tensor:
    """The training loss of a read-out (see [`readout_scores`][nwave_core.losses.readout_scores] for
    the scores).

    - spike counts (``"cross_entropy"``, ``"spike_count"``) and membranes (``"membrane_max"``,
      ``"membrane_mean"``): ``cross_entropy(scores * scale, targets)``; a small ``scale``
      keeps large counts from saturating the softmax;
    - ``"population_mse"``: [`balanced_population_mse`][nwave_core.losses.balanced_population_mse]
      (``scale`` unused);
    - ``"rate_mse"``: mean squared error between the output rates over the target's windows
      ([`window_rates`][nwave_core.metrics.window_rates]) and the target rates ``[B, W, O]``,
      times ``scale``.

    Args:
        kind: one of [`READOUTS`][nwave_core.losses.READOUTS].
        spikes: output spikes ``[B, T, O]``.
        targets: class indices ``[B]``; for ``"rate_mse"`` target rates ``[B, W, O]``.
        mem: output membrane ``[B, T, O]`` (membrane read-outs).
        scale: logit scale of the cross-entropy read-outs; factor of the ``"rate_mse"`` loss.
        num_classes: classes, for population read-out.
    """
    if kind == "rate_mse":
        from .metrics import window_rates

        if targets.dim() != 3 or targets.shape[2] != spikes.shape[2]:
            raise ValueError(f"the rate_mse read-out needs target rates [B, W, {spikes.shape[2]}] "
                             f"(one per output and time window), got {list(targets.shape)}")
        rates = window_rates(spikes, targets.shape[1])
        return scale * torch.nn.functional.mse_loss(rates, targets.to(rates.dtype))
    if kind == "population_mse":
        if num_classes is None:
            raise ValueError("the population_mse read-out needs num_classes")
        return balanced_population_mse(spikes, targets, num_classes)
    scores = readout_scores(kind, spikes, mem, num_classes)
    return torch.nn.functional.cross_entropy(scores * scale, targets)


def readout_metric(kind: str, spikes: Tensor, targets: Tensor, mem: Tensor | None = None,
                   num_classes: int | None = None) -> float:
    """The score a run reports for a read-out (higher is better): strict accuracy of
    [`readout_scores`][nwave_core.losses.readout_scores] (ties and silent outputs wrong; a silent
    output is a zero score
    except for the membrane read-outs), or for ``"rate_mse"`` the
    [`rate_correlation`][nwave_core.metrics.rate_correlation] of the output rates to the target rates.
    """
    from .metrics import decisions, rate_correlation

    _check_readout(kind)
    if kind in REGRESSION_READOUTS:
        return rate_correlation(spikes, targets)
    scores = readout_scores(kind, spikes, mem, num_classes)
    return decisions(scores, targets, silent_if_zero=not kind.startswith("membrane")).accuracy
