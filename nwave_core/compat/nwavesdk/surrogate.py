"""``nwavesdk.surrogate``: the surrogate factories ``atan``, ``fast_sigmoid`` and ``sigmoid``
(the same objects as ``nwave_plugins.surrogates``; same formulas and defaults)."""

from nwave_plugins.surrogates import atan, fast_sigmoid, sigmoid

__all__ = ["atan", "fast_sigmoid", "sigmoid"]
