"""Shared machinery of schedule policies: progress, clipping and argument checks.

A policy maps a step to a value between ``start`` and ``end``. Subclass
[`PolicyBase`][nwave_core.policy.PolicyBase] and write only the shape; the base checks the arguments
and applies ``min_value`` / ``max_value``. The formulas of the built-ins
(``p = min(max(step, 0), total_steps) /
total_steps``):

* ``constant``: ``start``
* ``linear``: ``start + (end - start) * p``
* ``exp``: ``start * (end / start) ** p`` (start and end must be > 0)
* ``cosine``: ``end + (start - end) * (1 + cos(pi * p)) / 2``
* ``step``: ``start * gamma ** floor(max(step, 0) / step_size)``
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

__all__ = ["PolicyBase", "progress", "clip"]


def progress(step: int, total_steps: int) -> float:
    """``p`` in ``[0, 1]``: the fraction of the schedule done at ``step``."""
    return min(max(step, 0), total_steps) / total_steps


def clip(value: float, min_value: float | None = None, max_value: float | None = None) -> float:
    """``value`` limited to ``[min_value, max_value]``; a ``None`` bound is open."""
    if min_value is not None and value < min_value:
        value = float(min_value)
    if max_value is not None and value > max_value:
        value = float(max_value)
    return value


class PolicyBase:
    """Base of schedule policies: implement [`shape`][nwave_core.policy.PolicyBase.shape], call
    [`value`][nwave_core.policy.PolicyBase.value]."""

    #: the registry name, used in error messages
    name: ClassVar[str] = ""
    #: whether [`shape`][nwave_core.policy.PolicyBase.shape] reads ``end``; a policy that does not
    #: (constant, step) accepts ``end=None`` and its [`shape`][nwave_core.policy.PolicyBase.shape]
    #: then receives ``None``
    uses_end: ClassVar[bool] = True

    def value(self, step: int, start: float, end: float | None, total_steps: int, *,
              min_value: float | None = None, max_value: float | None = None,
              **options: Any) -> float:
        """The scheduled value at ``step``, clipped to ``[min_value, max_value]``.

        Raises:
            ValueError: ``total_steps < 1``, ``min_value > max_value``, ``end=None`` for a
                policy that uses ``end``, or arguments the policy cannot use (such as a
                non-positive ``start`` for ``exp``).
        """
        if end is None and self.uses_end:
            raise ValueError(f"policy {self.name!r} goes from start to end, so end cannot be "
                             f"None; give an end value, or use a policy that ignores it "
                             f"(constant, step)")
        if isinstance(total_steps, bool) or int(total_steps) != total_steps or total_steps < 1:
            raise ValueError(f"policy {self.name!r}: total_steps must be a positive integer, "
                             f"got {total_steps!r}")
        if min_value is not None and max_value is not None and min_value > max_value:
            raise ValueError(f"policy {self.name!r}: min_value ({min_value}) is greater than "
                             f"max_value ({max_value})")
        for label, number in (("start", start), ("end", end)):
            if number is not None and not math.isfinite(number):
                raise ValueError(f"policy {self.name!r}: {label} must be finite, got {number!r}")
        shaped = self.shape(int(step), float(start), None if end is None else float(end),
                            int(total_steps), **options)
        return clip(float(shaped), min_value, max_value)

    def shape(self, step: int, start: float, end: float, total_steps: int,
              **options: Any) -> float:
        """The unclipped value; ``options`` may hold keys this policy does not use."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))
