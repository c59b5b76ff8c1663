"""Shared fixtures: fake installed distributions, a clean plugin host per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

import nwave_core

FIXTURES = Path(__file__).parent / "fixtures"
DISTS = FIXTURES / "dists"

settings.register_profile("ci", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def built_site(tmp_path_factory):
    """``(site folder, mkdocs output)`` of one strict docs build, shared by every docs test of
    the session; fails every test that uses it when the build fails."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    pytest.importorskip("nbclient")
    site = tmp_path_factory.mktemp("docs") / "site"
    # not -q: mkdocs would then not count warnings, and --strict would pass anything
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "-d", str(site)], cwd=Path(__file__).parent.parent,
                            capture_output=True, text=True,
                            env={**os.environ, "NO_MKDOCS_2_WARNING": "1",
                                 "NWAVE_DOCS_FAST": "1"})
    if result.returncode != 0:
        pytest.fail("mkdocs build --strict failed:\n" + result.stdout + result.stderr)
    return site, result.stdout + result.stderr


@pytest.fixture(autouse=True)
def clean_plugin_env(monkeypatch):
    """Each test starts with no blocked plugins, lenient loading and freshly loaded registries."""
    monkeypatch.delenv("NWAVE_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("NWAVE_STRICT_PLUGINS", raising=False)
    host = nwave_core.plugin_host()
    blocked, local = set(host._blocked), list(host._local)
    host.reload()
    yield
    host._blocked, host._local = blocked, local
    host.reload()


@pytest.fixture
def install_fake(monkeypatch):
    """``install_fake("acme", "broken")`` puts fake distributions from tests/fixtures/dists on
    ``sys.path``, so entry-point discovery finds them as if pip had installed them."""
    added_modules: list[str] = []

    def install(*names: str) -> None:
        for name in names:
            folder = DISTS / name
            monkeypatch.syspath_prepend(str(folder))
            added_modules.extend(p.stem for p in folder.glob("*.py"))
        nwave_core.reload_plugins()

    yield install
    for module in added_modules:
        sys.modules.pop(module, None)
