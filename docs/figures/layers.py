"""Membrane traces of one LIF neuron per reset rule, without and with the chips' floor at 0
(docs/layers.md). The engine's own function draws them: ``lif_sequence``."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from nwave_core.engine import lif_sequence
from nwave_plugins.surrogates import atan

T, DT, TAU, THRESHOLD = 120, 1e-3, 20e-3, 1.0


def current() -> torch.Tensor:
    """A drive that pushes the membrane over the threshold, then below zero, then up again."""
    t = torch.arange(T, dtype=torch.float32)
    drive = torch.full((T,), 0.09)
    drive[40:70] = -0.12
    drive[70:] = 0.15 * (t[70:] < 100)
    return drive.view(1, T, 1)


def draw(out: Path) -> None:
    beta = math.exp(-DT / TAU)
    x = current()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), sharey=True, constrained_layout=True)
    for ax, reset in zip(axes, ("subtraction", "zero", "none"), strict=True):
        for floor, style in ((None, "-"), (0.0, "--")):
            with torch.no_grad():
                spikes, mem = lif_sequence(x, beta, THRESHOLD, atan(), reset=reset, floor=floor)
            label = "no floor" if floor is None else f"floor = {floor:g}"
            line, = ax.plot(mem[0, :, 0], ls=style, label=label)
            times = spikes[0, :, 0].nonzero().flatten()
            ax.plot(times, [THRESHOLD + (0.15 if floor is None else 0.35)] * len(times), "|",
                    color=line.get_color(), ms=8)
        ax.axhline(THRESHOLD, color="grey", lw=0.8, ls=":")
        ax.axhline(0, color="black", lw=0.5)
        ax.set_title(f'reset="{reset}"')
        ax.set_xlabel(f"step (dt = {DT * 1e3:g} ms, tau = {TAU * 1e3:g} ms)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("membrane after reset and floor")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle("one LIF neuron, same input current; ticks: spikes; dotted: threshold",
                 fontsize=10)
    fig.savefig(out / "layers_membranes.png", dpi=100)
