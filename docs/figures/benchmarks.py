"""Bar chart of the forward+backward ratios to the proxy, read from the tables of
docs/benchmarks.md (so the chart cannot drift from the table it shows)."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

PAGE = Path(__file__).resolve().parents[1] / "benchmarks.md"
CELL = re.compile(r"([\d.]+) \(([\d.]+)\)(\*?)")


def tables(text: str) -> dict[str, list[tuple[str, dict[str, tuple[float, bool]]]]]:
    """``{section title: [(implementation, {column: (ratio, disturbed)})]}`` of every results
    table under a ``### `` heading."""
    found: dict = {}
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        title = section.splitlines()[0].strip()
        rows = [line for line in section.splitlines() if line.startswith("|")]
        if len(rows) < 3:
            continue
        header = [c.strip() for c in rows[0].strip("|").split("|")]
        parsed = []
        for line in rows[2:]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            ratios = {}
            for name, cell in zip(header[1:], cells[1:], strict=False):
                match = CELL.fullmatch(cell)
                if match:
                    ratios[name] = (float(match.group(2)), bool(match.group(3)))
            parsed.append((cells[0], ratios))
        found[title] = parsed
    return found


def draw(out: Path) -> None:
    found = tables(PAGE.read_text(encoding="utf-8"))
    columns = ["T=100 fwd+bwd ms (x proxy)", "T=500 fwd+bwd ms (x proxy)"]
    fig, axes = plt.subplots(len(found), 1, figsize=(8, 3 * len(found) + 0.6),
                             constrained_layout=True)
    for ax, (title, rows) in zip(np.atleast_1d(axes), found.items(), strict=True):
        rows = [r for r in rows if not r[0].startswith("proxy")]
        y = np.arange(len(rows))
        for k, column in enumerate(columns):
            values = [r[1][column][0] for r in rows]
            disturbed = [r[1][column][1] for r in rows]
            bars = ax.barh(y + (k - 0.5) * 0.38, values, height=0.38,
                           label=column.split(" ms")[0].replace("fwd+bwd", "forward+backward"))
            for bar, flag in zip(bars, disturbed, strict=True):
                if flag:
                    bar.set_hatch("///")
                    bar.set_alpha(0.6)
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_yticks(y, [r[0] for r in rows], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel("time / proxy time (log scale; 1 = the floor)")
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="upper right")
    fig.suptitle("forward+backward ratio to the proxy, from the tables below\n"
                 "(hatched: a disturbed cell, marked * in the table)", fontsize=10)
    fig.savefig(out / "benchmarks_ratios.png", dpi=100)
