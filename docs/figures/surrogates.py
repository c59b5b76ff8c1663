"""Six surrogates side by side (docs/surrogates.md): what
``nwave plot surrogate atan fast_sigmoid sigmoid spikingjelly_sigmoid triangle erf`` draws."""

from __future__ import annotations

from pathlib import Path

import nwave_core
from nwave_core.plots import plot_surrogates

NAMES = ("atan", "fast_sigmoid", "sigmoid", "spikingjelly_sigmoid", "triangle", "erf")


def draw(out: Path) -> None:
    plot_surrogates([nwave_core.create("surrogate", n) for n in NAMES],
                    out / "surrogates.png", labels=list(NAMES))
