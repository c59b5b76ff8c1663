"""The tutorials in docs/tutorials run top to bottom, as one script per page, and draw their
figures; the migration page's nwave code runs; the
relative links of these pages resolve. The docs build runs the same pages as notebooks and
draws the figures they link to (docs/hooks/nwave_docs.py).

The pages read ``NWAVE_TUTORIAL_FAST=1`` (smaller data and fewer epochs) and
``NWAVE_TUTORIAL_OUT`` (where figures go), so a test run writes nothing into docs/img. Only
blocks fenced as ```python run; other libraries' code is fenced as ```py and is not run.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
TUTORIALS = sorted((DOCS / "tutorials").glob("[0-9][0-9]_*.md"))
LINKED_PAGES = [*TUTORIALS, DOCS / "migration.md"]

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)
FIGURE = re.compile(r"!\[[^\]]*\]\(\.\./img/(tutorial_[\w-]+\.png)\)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def python_blocks(page: Path) -> list[str]:
    return PYTHON_BLOCK.findall(page.read_text())


NEEDS = re.compile(r"\A# needs: ([\w, -]+)\n")


def missing_peers(block: str) -> list[str]:
    """The modules a ``# needs: a, b`` first line names that are not installed."""
    match = NEEDS.match(block)
    names = [n.strip() for n in match.group(1).split(",")] if match else []
    return [n for n in names if importlib.util.find_spec(n) is None]


def run_page(page: Path, skipped: list[int] | None = None) -> dict:
    """Execute the page's python blocks in order, in one namespace, on one thread (the pages'
    networks are small; one thread is as fast and does not stall when other tests run beside).
    A block whose first line is ``# needs: PEER, ...`` is skipped (its index appended to
    ``skipped``) when one of them is not installed."""
    blocks = python_blocks(page)
    assert blocks, f"{page.name} has no python blocks"
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for i, block in enumerate(blocks):
            if missing_peers(block):
                if skipped is not None:
                    skipped.append(i)
                continue
            code = compile(block, f"{page.relative_to(ROOT)}[python block {i}]", "exec")
            exec(code, namespace)
    finally:
        torch.set_num_threads(threads)
    return namespace


def test_the_four_tutorials_are_there():
    assert [p.stem[:2] for p in TUTORIALS] == ["01", "02", "03", "04"]


@pytest.mark.parametrize("page", TUTORIALS, ids=lambda p: p.stem)
def test_tutorial_runs_and_draws_its_figures(page, tmp_path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    monkeypatch.chdir(ROOT)                      # pages use paths relative to the repository
    monkeypatch.setenv("NWAVE_TUTORIAL_FAST", "1")
    monkeypatch.setenv("NWAVE_TUTORIAL_OUT", str(tmp_path))
    try:
        run_page(page)
    finally:
        plt.close("all")
    figures = FIGURE.findall(page.read_text())
    assert figures, f"{page.name} shows no figure"
    for name in figures:
        drawn = tmp_path / name
        assert drawn.is_file() and drawn.stat().st_size > 1000, f"{page.name} did not draw {name}"


def test_migration_page_code_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace = run_page(DOCS / "migration.md")
    assert "LIFLayer" in namespace and "StaleStateError" in namespace


@pytest.mark.parametrize("page", TUTORIALS, ids=lambda p: p.stem)
def test_figures_are_drawn_by_the_docs_build_not_committed(page):
    """The docs build executes the page and serves what it draws as img/NAME (the built-site
    checks of test_docs.py find every image); a committed copy would only go stale."""
    tracked = subprocess.run(["git", "ls-files", "docs/img"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    for name in FIGURE.findall(page.read_text()):
        assert re.fullmatch(rf"tutorial_{int(page.stem[:2])}_[\w-]+\.png", name), name
        assert f"docs/img/{name}" not in tracked, f"docs/img/{name} is committed"


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: p.stem)
def test_relative_links_resolve(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+://|#|mailto:", target):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name}: broken link {target}"
