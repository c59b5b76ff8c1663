"""The five built-in schedule policies over 40 steps (docs/schedulers.md)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

import nwave_core

START, END, TOTAL = 2.0, 20.0, 40
OPTIONS = {"step_size": 10, "gamma": 1.5}


def draw(out: Path) -> None:
    steps = list(range(TOTAL + 1))
    fig, ax = plt.subplots(figsize=(7.5, 3.8), constrained_layout=True)
    for name in ("constant", "linear", "exp", "cosine", "step"):
        policy = nwave_core.create("policy", name)
        values = [policy.value(s, START, END, TOTAL, **OPTIONS) for s in steps]
        ax.plot(steps, values, marker=".", ms=3, label=name)
    ax.axvline(TOTAL - 1, color="grey", lw=0.8, ls="--")
    ax.annotate("last step of range(total_steps)", (TOTAL - 1, START), xytext=(-6, 4),
                textcoords="offset points", ha="right", fontsize=8, color="grey")
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    ax.set_title(f"policies from start={START:g} to end={END:g} over total_steps={TOTAL} "
                 f"(step: step_size={OPTIONS['step_size']}, gamma={OPTIONS['gamma']:g})",
                 fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(out / "scheduler_policies.png", dpi=110)
