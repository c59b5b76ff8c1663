"""A real ``pip install`` of the example plugin package kept in docs/examples.

It is installed into a temporary folder (``pip install --target``) rather than into the test
environment, and the ``nwave`` CLI is run with that folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "nwave-example-plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
               "--target", str(target), str(EXAMPLE)]
    if importlib.util.find_spec("setuptools") is not None:
        command.insert(5, "--no-build-isolation")  # build offline with the setuptools we have
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), *sys.path]))
    return env


def nwave(env, *args):
    return subprocess.run([sys.executable, "-m", "nwave_core.cli", *args],
                          capture_output=True, text=True, env=env)


def test_installed_plugin_appears_in_nwave_plugins(installed):
    result = nwave(installed, "plugins")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("example "))
    assert row.split(None, 4) == ["example", "nwave-example-plugin", "0.1.0", "loaded",
                                  "surrogate: example_triangle; policy: warmup_linear"]


def test_installed_plugin_entries_appear_in_nwave_list(installed):
    surrogates = nwave(installed, "list", "surrogate").stdout.split()
    policies = nwave(installed, "list", "policy").stdout.split()
    assert "example_triangle" in surrogates and "atan" in surrogates
    assert "warmup_linear" in policies


def test_example_plugin_passes_its_own_tests(installed):
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             str(EXAMPLE / "tests")], capture_output=True, text=True,
                            env=installed, cwd=EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
