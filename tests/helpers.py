"""Small shared pieces of the tests: a spike task and a SignAnnealing training loop."""

from __future__ import annotations

import torch
from torch import nn

from nwave_core import prepare_net
from nwave_core.optim import SignAnnealing


def spike_task(n: int, steps: int, channels: int, seed: int, classes: int = 2,
               on: float = 0.5, off: float = 0.05) -> tuple[torch.Tensor, torch.Tensor]:
    """Class ``c`` drives its own band of channels at rate ``on``, the rest at ``off``."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    rates = torch.full((n, 1, channels), off)
    width = channels // classes
    for c in range(classes):
        rates[labels == c, :, c * width:(c + 1) * width] = on
    return (torch.rand(n, steps, channels, generator=g) < rates).float(), labels


def train_annealed(net: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float,
                   extra=None, scale: float = 1.0) -> list[float]:
    """Full-batch training under SignAnnealing (created before the optimizer), cross-entropy
    on spike counts times ``scale``; returns the losses. ``extra(net)`` adds a loss term."""
    sa = SignAnnealing(net, epochs)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for epoch in range(1, epochs + 1):
        sa.step(net, epoch)
        prepare_net(net)
        loss = nn.functional.cross_entropy(net(x).sum(1) * scale, y)
        if extra is not None:
            loss = loss + extra(net)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
