"""Packaging: the distribution name, ``python -m nwave_core``, ``py.typed``, and the peer
install script that keeps the pinned torch."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import nwave_core

ROOT = Path(__file__).parents[1]


def test_the_distribution_is_nwave_snn():
    dist = metadata.distribution("nwave-snn")
    assert dist.version == nwave_core.__version__
    assert "nir" in (dist.metadata.get_all("Provides-Extra") or [])


def test_python_m_nwave_core_is_the_cli():
    result = subprocess.run([sys.executable, "-m", "nwave_core", "--version"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0 and result.stdout.strip() == f"nwave {nwave_core.__version__}"
    result = subprocess.run([sys.executable, "-m", "nwave_core", "list", "nothing"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "nwave: error:" in result.stderr


def test_packages_are_typed():
    import nwave_plugins

    for package in (nwave_core, nwave_plugins):
        assert (Path(package.__file__).parent / "py.typed").is_file()
    text = (ROOT / "pyproject.toml").read_text()
    assert 'nwave_core = ["py.typed"]' in text and 'nwave_plugins = ["py.typed"]' in text


def test_no_extra_installs_a_peer_that_replaces_torch():
    """SpikingJelly and Norse require torchvision, which would pull another torch."""
    dist = metadata.distribution("nwave-snn")
    for requirement in dist.requires or []:
        assert not requirement.startswith(("spikingjelly", "norse", "torchvision")), requirement
    script = (ROOT / "benchmarks" / "install_peers.sh").read_text()
    assert "--no-deps" in script and "torch changed" in script
