"""Figures drawn by the docs build (docs/hooks/nwave_docs.py runs this file).

Each module here (except ``_``-prefixed ones) defines ``draw(out: Path) -> None`` and writes its
PNGs into ``out``; the build serves them as ``img/<name>.png``. Run by hand:
``python docs/figures/__init__.py OUT_DIR [MODULE ...]``.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def modules(names: list[str] | None = None) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if not p.name.startswith("_"))
    if names:
        found = [p for p in found if p.stem in names]
    return found


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    import matplotlib

    matplotlib.use("Agg", force=True)
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for path in modules(argv[1:]):
        started = time.monotonic()
        spec = importlib.util.spec_from_file_location(f"nwave_docs_figures.{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.draw(out)
        print(f"docs/figures/{path.name}: {time.monotonic() - started:.1f} s")
        import matplotlib.pyplot as plt

        plt.close("all")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
