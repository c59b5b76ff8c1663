"""The documentation site builds with warnings as errors, and its runnable pages run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


def test_the_site_builds_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    # not -q: mkdocs would then not count warnings, and --strict would pass anything
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "-d", str(tmp_path / "site")], cwd=ROOT, capture_output=True,
                            text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "reference" / "chips" / "index.html").is_file()


def test_every_nav_page_exists():
    nav = (ROOT / "mkdocs.yml").read_text()
    generated = {"reference/config.md"}  # written at build time by docs/hooks/config_reference.py
    for page in re.findall(r":\s*([\w/.-]+\.md)\s*$", nav, flags=re.M):
        assert (ROOT / "docs" / page).is_file() or page in generated, page


@pytest.mark.parametrize("page", ["quickstart.md", "chips.md", "layers.md", "schedulers.md",
                                  "training.md", "plugins.md"])
def test_runnable_pages_run(page, monkeypatch):
    monkeypatch.chdir(ROOT)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / page).read_text(), flags=re.S)
    assert blocks
    namespace: dict = {"__name__": f"docs.{page}"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/{page}[python block {i}]", "exec"), namespace)
