"""The plugin module named by the ``nwave.plugins`` entry point."""

from __future__ import annotations

from typing import Any

import torch

from nwave_core import Entry, SurrogateBase, hookimpl
from nwave_core.policy import PolicyBase, progress


class Triangle(SurrogateBase):
    """Triangle: ``g(x) = max(alpha - alpha^2 |x|, 0)``; peak alpha, area 1.

    Args:
        alpha: height of the triangle; its half-width is 1/alpha.
        spiking: return spikes (True) or the primitive (False) when called.
        learnable: make alpha an nn.Parameter.
    """

    name = "example_triangle"
    param_name = "alpha"
    formula = "max(alpha - alpha^2 |x|, 0)"
    primitive_formula = "1/2 + alpha xc - alpha^2 xc |xc| / 2, xc = clamp(x, -1/alpha, 1/alpha)"
    peak, area = "alpha", "1"

    def __init__(self, alpha: float = 1.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.alpha - self.alpha**2 * x.abs(), min=0)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        inside = 0.5 + a * x - 0.5 * a**2 * x * x.abs()
        return torch.where(x.abs() <= 1 / a, inside, (x > 0).to(x.dtype))


class WarmupLinear(PolicyBase):
    """Hold ``start`` for the first ``warmup`` fraction of the steps, then go linearly to ``end``.

    Args:
        warmup: fraction of ``total_steps`` spent at ``start`` (option, default 0.1).
    """

    name = "warmup_linear"

    def shape(self, step: int, start: float, end: float, total_steps: int, *,
              warmup: float = 0.1, **_: Any) -> float:
        if not 0 <= warmup < 1:
            raise ValueError(f"policy 'warmup_linear': warmup must be in [0, 1), got {warmup!r}")
        p = progress(step, total_steps)
        if p <= warmup:
            return start
        return start + (end - start) * (p - warmup) / (1 - warmup)


@hookimpl
def nwave_surrogates() -> list[Entry]:
    return [Entry("example_triangle", Triangle, summary="triangle; peak alpha, area 1")]


@hookimpl
def nwave_policies() -> list[Entry]:
    return [Entry("warmup_linear", WarmupLinear, summary="hold start, then linear to end")]
