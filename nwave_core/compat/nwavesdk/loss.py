"""``nwavesdk.loss``: the hardware losses, and the SDK's per-neuron population loss.

``topology_loss`` and ``firing_rate_target_mse_loss`` are nwave's. Two differ from
``nwave_core.losses``:

- [`weight_magnitude_loss`][nwave_core.compat.nwavesdk.loss.weight_magnitude_loss] takes the limit
  of the model's chip, like nwave's, and falls back to the current chip's limit (H1v2's, read from
  the chip registry) for a model without hardware layers, where nwave's asks for ``limit=``;
- [`balanced_population_mse`][nwave_core.compat.nwavesdk.loss.balanced_population_mse] is the SDK's
  per-neuron spike-count MSE.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from nwave_core import losses as _nwave
from nwave_core.losses import firing_rate_target_mse_loss, topology_loss

__all__ = ["weight_magnitude_loss", "topology_loss", "firing_rate_target_mse_loss",
           "balanced_population_mse", "DEFAULT_CHIP"]

DEFAULT_CHIP = "h1v2"
"""The chip whose weight limit applies to a model without hardware layers (the SDK's current
one)."""


def weight_magnitude_loss(model: nn.Module, limit: Any = None) -> Tensor:
    """Mean over every weight and recurrent weight of ``max(|w| - limit, 0)^2``.

    Args:
        model: the model.
        limit: a number or a chip (spec or name); None: the chip of the model's hardware
            layers, or [`DEFAULT_CHIP`][nwave_core.compat.nwavesdk.loss.DEFAULT_CHIP]'s weight limit
            when it has none.
    """
    if limit is None and not any(hasattr(m, "chip") for m in model.modules()):
        limit = DEFAULT_CHIP
    return _nwave.weight_magnitude_loss(model, limit)


def balanced_population_mse(spk: Tensor, targets: Tensor, num_classes: int,
                            on_rate: float = 1.0, off_rate: float = 0.0) -> Tensor:
    """Per-neuron spike-count MSE with the two kinds of neurons weighed equally.

    The outputs ``spk [B, T, O]`` are ``num_classes`` consecutive populations of
    ``O / num_classes`` neurons. Each neuron's spike count over the ``T`` steps is compared with
    its target count: ``on_rate * T`` for the neurons of the labelled class, ``off_rate * T``
    for the others. The loss is the mean of (mean squared error over the labelled class's
    neurons) and (mean squared error over the other neurons), so that the many "off" neurons
    do not drown the few "on" ones.

    Args:
        spk: output spikes ``[B, T, O]``.
        targets: class indices ``[B]``.
        num_classes: classes; ``O`` must be a multiple.
        on_rate: target spikes per step of the labelled class's neurons.
        off_rate: target spikes per step of the other neurons.

    Raises:
        ValueError: ``O`` not a multiple of ``num_classes``, or a label out of range.
    """
    batch, steps, outputs = spk.shape
    if outputs % num_classes:
        raise ValueError(f"balanced_population_mse: {outputs} outputs cannot be split into "
                         f"{num_classes} equal class populations")
    if targets.min() < 0 or targets.max() >= num_classes:
        raise ValueError(f"balanced_population_mse: labels must be in [0, {num_classes}), got "
                         f"{int(targets.min())}..{int(targets.max())}")
    counts = spk.float().sum(1)                                        # [B, O]
    population = torch.arange(outputs, device=spk.device) // (outputs // num_classes)
    on = population[None, :] == targets.long()[:, None]                # [B, O]
    target = torch.where(on, on_rate * steps, off_rate * steps)
    error = (counts - target).pow(2)
    on_error = error[on].mean()
    off_error = error[~on].mean() if num_classes > 1 else torch.zeros((), device=spk.device)
    return (on_error + off_error) / 2
