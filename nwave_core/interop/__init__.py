"""Interchange with other SNN libraries through NIR, the Neuromorphic Intermediate Representation.

``to_nir(model, dt=...)`` turns an ``nn.Sequential`` of nwave layers into a ``nir.NIRGraph``;
``from_nir(graph)`` builds an nwave model from a graph (one nwave wrote, or one snnTorch,
Norse, Rockpool, ... wrote); ``write_nir`` / ``read_nir`` go through a ``.nir`` file. The
mapping and its discretisation conventions are in
[`nwave_core.interop.nir_graph`][nwave_core.interop.nir_graph] and on the migration page
(docs/migration.md).

Needs the ``nir`` package (``pip install "nwave-snn[nir]"``); importing this module does not.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["to_nir", "from_nir", "write_nir", "read_nir", "NirFidelityWarning", "DISCRETIZATIONS"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'nwave_core.interop' has no attribute {name!r}")
    value = getattr(importlib.import_module(".nir_graph", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
