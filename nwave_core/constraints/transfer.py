"""Synapse transfer functions: the charge a stored weight delivers is ``gain * f(w)``.

The set is open: a plugin adds a function with
[`register_transfer`][nwave_core.constraints.transfer.register_transfer] (at import, before it
declares a chip that names it). Each function takes the weight tensor and the chip's weight
limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["TRANSFERS", "register_transfer", "transfer_function", "apply_transfer"]


def _linear(weight: Any, limit: float) -> Any:
    return weight


def _tanh(weight: Any, limit: float) -> Any:
    import torch

    return limit * torch.tanh(weight / limit)


TRANSFERS: dict[str, tuple[Callable[[Any, float], Any], str]] = {
    "linear": (_linear, "f(w) = w"),
    "tanh": (_tanh, "f(w) = limit * tanh(w / limit), saturating at the weight limit"),
}
"""Name -> (function(weight, limit), one-line meaning)."""


def register_transfer(name: str, function: Callable[[Any, float], Any], summary: str = "") -> None:
    """Add a transfer function ``function(weight, limit) -> charge per unit gain``.

    Raises:
        ValueError: the name is taken by another function.
    """
    present = TRANSFERS.get(name)
    if present is not None and present[0] is not function:
        raise ValueError(f"synapse transfer {name!r} is already registered ({present[1] or 'by another plugin'})")
    TRANSFERS[name] = (function, summary)


def transfer_function(name: str) -> Callable[[Any, float], Any]:
    """The function registered as ``name``.

    Raises:
        ValueError: unknown name (the known ones are listed).
    """
    try:
        return TRANSFERS[name][0]
    except KeyError:
        from ..suggest import did_you_mean

        raise ValueError(f"unknown synapse transfer {name!r}.{did_you_mean(name, list(TRANSFERS))} "
                         f"Known: {', '.join(sorted(TRANSFERS))} (plugins add more with "
                         f"nwave_core.constraints.register_transfer)") from None


def apply_transfer(weight: Any, name: str, gain: float, limit: float) -> Any:
    """``gain * f(weight)`` for the transfer ``name``."""
    return gain * transfer_function(name)(weight, limit)
