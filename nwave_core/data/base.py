"""What every data module shares: the error type, chunking, label and count helpers."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from ..errors import NwaveError

__all__ = ["DataError"]

# Signals per chunk in the filter bank and in synthesis (bounds memory; fixed, so results do not
# depend on it).
_CHUNK = 128


class DataError(NwaveError, ValueError):
    """Bad data or data arguments: an unreadable file, an empty folder, an impossible setting."""


def _balanced_labels(n_samples: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``n_samples`` labels in shuffled order, class counts differing by at most one."""
    return rng.permutation(np.arange(n_samples) % n_classes).astype(np.int64)


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}, got {value!r}")
