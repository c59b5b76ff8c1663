"""Plots people would rather look at than read. Needs matplotlib (``pip install 'nwave-snn[plot]'``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import NwaveError

__all__ = ["plot_surrogates", "require_matplotlib"]


def require_matplotlib() -> Any:
    """Import matplotlib with a non-interactive backend, or raise a clear
    [`NwaveError`][nwave_core.errors.NwaveError]."""
    try:
        import matplotlib
    except ImportError:
        raise NwaveError("plotting needs matplotlib, which is not installed: "
                         "pip install 'nwave-snn[plot]'") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_surrogates(surrogates: Sequence[Any], path: str | Path | None = None, *,
                    labels: Sequence[str] | None = None, xlim: float = 2.0,
                    points: int = 2001) -> Any:
    """Draw the step, the primitive and the gradient of each surrogate side by side.

    Args:
        surrogates: surrogate modules (``SurrogateBase`` or anything with ``grad`` and
            ``primitive``).
        labels: legend labels, one per surrogate; their reprs by default.
        path: where to save the figure (PNG, SVG, PDF by suffix); ``None`` only returns it.
        xlim: the x axis spans ``[-xlim, xlim]`` (x is membrane minus threshold).
        points: samples along x.

    Returns:
        The matplotlib figure.
    """
    plt = require_matplotlib()
    import torch

    x = torch.linspace(-xlim, xlim, points, dtype=torch.float64)
    fig, (ax_step, ax_prim, ax_grad) = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    ax_step.plot(x, (x >= 0).double(), color="black", lw=2)
    ax_step.set_title("forward: spike H(x)")
    labels = list(labels) if labels is not None else [repr(s) for s in surrogates]
    for s, label in zip(surrogates, labels, strict=True):
        with torch.no_grad():
            ax_prim.plot(x, s.primitive(x), label=label)
            ax_grad.plot(x, s.grad(x), label=label)
    ax_prim.set_title("primitive P(x) (spiking=False)")
    ax_grad.set_title("backward: surrogate gradient g(x) = P'(x)")
    for ax in (ax_step, ax_prim, ax_grad):
        ax.set_xlabel("x = membrane - threshold")
        ax.axvline(0, color="grey", lw=0.5)
        ax.grid(alpha=0.3)
    ax_grad.legend(fontsize=8, loc="upper right")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
