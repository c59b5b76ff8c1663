"""Hardware-aware losses. Limits and block sizes come from the chip, never from constants.

``chip`` arguments take a ChipSpec, a chip name, or None (the chip of the model's hardware
layers).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .rules import block_view, chip_of, constrained_weights

__all__ = ["weight_magnitude_loss", "topology_loss", "firing_rate_target_mse_loss",
           "balanced_population_mse"]


def _limit(model: nn.Module, limit: Any) -> float:
    if isinstance(limit, (int, float)) and not isinstance(limit, bool):
        return float(limit)
    return chip_of(model, limit, "weight_magnitude_loss").weight_limit


def weight_magnitude_loss(model: nn.Module, limit: Any = None) -> Tensor:
    """Mean over every weight and recurrent weight of ``max(abs(w) - limit, 0)^2``.

    Args:
        model: the model.
        limit: a number, a chip (spec or name), or None: the chip of the model's hardware layers.
    """
    bound = _limit(model, limit)
    penalties = [torch.relu(w.abs() - bound).pow(2).reshape(-1)
                 for _, _, _, w in constrained_weights(model)]
    if not penalties:
        return torch.zeros(())
    return torch.cat(penalties).mean()


def topology_loss(model: nn.Module, chip: Any = None) -> Tensor:
    """Zero iff every sign block of every weight is sign-coherent, positive otherwise.

    For each (input row, block) the penalty is ``P * N`` with ``P`` the sum of the positive
    entries and ``N`` the sum of the magnitudes of the negative ones; the loss is the mean over
    all (row, block) pairs. Its gradient shrinks the minority sign of each block.
    """
    spec = chip_of(model, chip, "topology_loss")
    terms = []
    for _, _, _, w in constrained_weights(model):
        blocks = block_view(w, min(spec.sign_block, w.shape[1]))
        positive = torch.relu(blocks).sum(-1)
        negative = torch.relu(-blocks).sum(-1)
        terms.append((positive * negative).reshape(-1))
    if not terms:
        return torch.zeros(())
    return torch.cat(terms).mean()


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
