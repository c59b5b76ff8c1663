"""docs/migration.md asserts its claims: every block that compares with a peer runs that peer
and asserts the numbers it prints; it is skipped only when the peer is not installed, and the
page names the peer versions it was measured with."""

from __future__ import annotations

import importlib.util
import re
from importlib.metadata import version

import pytest

from test_tutorials import DOCS, missing_peers, python_blocks, run_page

PAGE = DOCS / "migration.md"
PEERS = {"snntorch": "snnTorch", "spikingjelly": "SpikingJelly", "norse": "Norse",
         "nir": "nir", "nirtorch": "nirtorch"}


def test_peer_blocks_assert_what_they_print():
    peer_blocks = [b for b in python_blocks(PAGE) if b.startswith("# needs:")]
    assert len(peer_blocks) >= 7
    for block in peer_blocks:
        assert "assert " in block, block.splitlines()[0]
    needed = {n.strip() for b in peer_blocks for n in b.splitlines()[0][9:].split(",")}
    assert {"snntorch", "spikingjelly", "norse"} <= needed


def test_page_runs_every_block_whose_peer_is_installed(monkeypatch, capsys):
    monkeypatch.chdir(DOCS.parent)
    skipped: list[int] = []
    run_page(PAGE, skipped)
    blocks = python_blocks(PAGE)
    for index in skipped:                                   # skipped only for a missing peer
        assert missing_peers(blocks[index])
    printed = capsys.readouterr().out
    if importlib.util.find_spec("snntorch") is not None:
        assert "Leaky(reset_delay=False): identical spikes" in printed
    if not any(missing_peers(b) for b in blocks):
        assert not skipped


@pytest.mark.parametrize("module", sorted(PEERS))
def test_the_page_names_the_installed_peer_version(module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    text = re.sub(r"\s+", " ", PAGE.read_text())
    assert f"{PEERS[module]} {version(module)}" in text, (
        f"docs/migration.md was measured with another {PEERS[module]}; run the page with "
        f"{version(module)} and update the versions it names")
