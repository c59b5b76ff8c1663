"""Surrogate comparison: the same network, seed and data, trained once per surrogate."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from .config import Component, ExperimentConfig
from .experiment import build
from .optim import SurrogateScheduler
from .runner import train

__all__ = ["compare_surrogates"]


def compare_surrogates(config: ExperimentConfig, surrogates: Sequence[str], out: str | Path,
                       *, progress: bool = False) -> list[dict[str, Any]]:
    """Train ``config`` once per surrogate name and write ``comparison.png`` (loss curves) and
    ``comparison.md`` / ``comparison.json`` (final metrics) to ``out``. Returns the table rows.

    Each run replaces the model's surrogate (layers that name their own ``spike_grad`` keep it)
    and drops the config's surrogate schedulers, so every surrogate trains with its own default
    parameter; seed, data and everything else are the same."""
    import json

    from . import registry

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, curves = [], {}
    for name in surrogates:
        schedulers = [s for s in config.schedulers
                      if registry("scheduler").get(s.type).factory is not SurrogateScheduler]
        variant = attrs.evolve(config, model=attrs.evolve(config.model,
                                                          surrogate=Component(name, {})),
                               schedulers=schedulers, out=str(out / name))
        result = train(build(variant), out / name, progress=progress,
                       label=f"compare: surrogate {name}")
        last = result.history[-1]
        curves[name] = [row["loss"] for row in result.history]
        rows.append({"surrogate": name, "final_loss": last["loss"],
                     "train_accuracy": last["accuracy"], "test_accuracy": last["test_accuracy"],
                     "firing_rate": last["firing_rate"]})
    (out / "comparison.json").write_text(json.dumps(rows, indent=1))
    header = "| surrogate | final loss | train accuracy | test accuracy | firing rate |"
    lines = [header, "|---|---|---|---|---|"]
    lines += [f"| {r['surrogate']} | {r['final_loss']:.4f} | {r['train_accuracy']:.3f} | "
              f"{r['test_accuracy']:.3f} | {r['firing_rate']:.4f} |" for r in rows]
    (out / "comparison.md").write_text("\n".join(lines) + "\n")
    _plot(out / "comparison.png", curves)
    return rows


def _plot(path: Path, curves: dict[str, list[float]]) -> None:
    try:
        from .plots import require_matplotlib

        plt = require_matplotlib()
    except Exception:  # noqa: BLE001 - the table is written either way
        return
    fig, ax = plt.subplots(figsize=(6.5, 4), constrained_layout=True)
    for name, losses in curves.items():
        ax.plot(range(1, len(losses) + 1), losses, label=name, marker="o", ms=3)
    ax.set(xlabel="epoch", ylabel="training loss", title="surrogate comparison (same seed and data)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(path, dpi=120)
    plt.close(fig)
