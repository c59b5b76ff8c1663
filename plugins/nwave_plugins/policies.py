"""Built-in schedule policies: constant, linear, exp, cosine, step.

With ``p = min(max(step, 0), total_steps) / total_steps``, ``a = start`` and ``b = end``:
``constant: a``; ``linear: a + (b - a) p``; ``exp: a (b / a)^p``;
``cosine: b + (a - b)(1 + cos(pi p)) / 2``; ``step: a * gamma^floor(max(step, 0) / step_size)``.
"""

from __future__ import annotations

import math
from typing import Any

from nwave_core import Entry, hookimpl
from nwave_core.policy import PolicyBase, progress

__all__ = ["Constant", "Linear", "Exp", "Cosine", "Step"]


class Constant(PolicyBase):
    """Stays at ``start`` (``end`` is not used and may be ``None``)."""

    name = "constant"
    uses_end = False

    def shape(self, step: int, start: float, end: float | None, total_steps: int,
              **_: Any) -> float:
        return start


class Linear(PolicyBase):
    """Straight line from ``start`` at step 0 to ``end`` at ``total_steps``."""

    name = "linear"

    def shape(self, step: int, start: float, end: float, total_steps: int, **_: Any) -> float:
        return start + (end - start) * progress(step, total_steps)


class Exp(PolicyBase):
    """Geometric from ``start`` to ``end``: equal ratios per step; both must be > 0."""

    name = "exp"

    def shape(self, step: int, start: float, end: float, total_steps: int, **_: Any) -> float:
        if start <= 0 or end <= 0:
            raise ValueError(
                f"policy 'exp' needs start > 0 and end > 0, got start={start:g}, end={end:g}: "
                f"a geometric schedule cannot reach or cross zero; use 'linear' or 'cosine'"
            )
        p = progress(step, total_steps)
        if p == 1.0:
            return end  # exact at the boundary, free of rounding in (end/start)**1
        return start * (end / start) ** p


class Cosine(PolicyBase):
    """Half a cosine from ``start`` to ``end``: flat at both ends."""

    name = "cosine"

    def shape(self, step: int, start: float, end: float, total_steps: int, **_: Any) -> float:
        p = progress(step, total_steps)
        return end + (start - end) * (1.0 + math.cos(math.pi * p)) / 2.0


class Step(PolicyBase):
    """Multiply ``start`` by ``gamma`` every ``step_size`` steps (``end`` is not used and may
    be ``None``).

    Options (keywords of ``value``; a scheduler passes its own ``step_size`` and ``gamma``):

    - ``step_size``: steps between two multiplications (default 10).
    - ``gamma``: factor applied at each multiplication (default 2.0).
    """

    name = "step"
    uses_end = False

    def shape(self, step: int, start: float, end: float | None, total_steps: int, *,
              step_size: int = 10, gamma: float = 2.0, **_: Any) -> float:
        if isinstance(step_size, bool) or int(step_size) != step_size or step_size < 1:
            raise ValueError(f"policy 'step': step_size must be a positive integer, got {step_size!r}")
        if not gamma > 0 or not math.isfinite(gamma):
            raise ValueError(f"policy 'step': gamma must be a finite number > 0, got {gamma!r}")
        return start * gamma ** (max(step, 0) // int(step_size))


@hookimpl
def nwave_policies() -> list[Entry]:
    return [
        Entry("constant", Constant, summary="stay at the start value"),
        Entry("linear", Linear, summary="straight line from start to end"),
        Entry("exp", Exp, summary="geometric from start to end (both > 0)",
              aliases=("exponential", "geometric")),
        Entry("cosine", Cosine, summary="half cosine from start to end, flat at both ends"),
        Entry("step", Step, summary="start * gamma^floor(step / step_size)"),
    ]
