"""Built-in surrogate gradients with the NWAVE names, defaults and factories.

Each class writes its formula once, as ``grad`` and its antiderivative ``primitive``.
``atan``, ``fast_sigmoid`` and ``sigmoid`` are factories with the original SDK's signatures.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from nwave_core import Entry, SurrogateBase, hookimpl

__all__ = ["ATan", "FastSigmoid", "Sigmoid", "atan", "fast_sigmoid", "sigmoid"]


class ATan(SurrogateBase):
    """Arctangent: ``g(x) = (alpha/2) / (1 + (pi/2 * alpha * x)^2)``; peak alpha/2, area 1.

    Args:
        alpha: sharpness; the peak of the gradient is alpha/2.
        spiking: return spikes (True) or the primitive (False) when called.
        learnable: make alpha an nn.Parameter.
    """

    name = "atan"
    param_name = "alpha"

    def __init__(self, alpha: float = 2.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * x) ** 2)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.atan(math.pi / 2 * self.alpha * x) / math.pi + 0.5


class FastSigmoid(SurrogateBase):
    """Fast sigmoid: ``g(x) = 1 / (slope * |x| + 1)^2``; peak 1, area 2/slope.

    Args:
        slope: steepness around the threshold.
        spiking: return spikes (True) or the primitive (False) when called.
        learnable: make slope an nn.Parameter.
    """

    name = "fast_sigmoid"
    param_name = "slope"

    def __init__(self, slope: float = 25.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(slope, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return 1 / (self.slope * x.abs() + 1) ** 2

    def primitive(self, x: Tensor) -> Tensor:
        k = self.slope
        return (1 + k * x / (1 + k * x.abs())) / k


class Sigmoid(SurrogateBase):
    """Logistic: ``g(x) = k s(kx) (1 - s(kx))``, ``s`` the logistic, ``k = slope``; peak k/4, area 1.

    Computed as ``k s(kx) s(-kx)`` through ``torch.sigmoid``: no ``exp`` overflows for large
    ``|x|`` and the tails keep their relative precision.

    Args:
        slope: steepness ``k`` around the threshold.
        spiking: return spikes (True) or the primitive (False) when called.
        learnable: make slope an nn.Parameter.
    """

    name = "sigmoid"
    param_name = "slope"

    def __init__(self, slope: float = 25.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(slope, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        kx = self.slope * x
        # s(kx) * s(-kx) == s(1 - s) without the cancellation of 1 - s in the tails
        return self.slope * torch.sigmoid(kx) * torch.sigmoid(-kx)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.slope * x)


def atan(alpha: float = 2.0, *, spiking: bool = True, learnable: bool = False) -> ATan:
    """The arctangent surrogate (NWAVE ``atan``)."""
    return ATan(alpha, spiking=spiking, learnable=learnable)


def fast_sigmoid(slope: float = 25.0, *, spiking: bool = True, learnable: bool = False) -> FastSigmoid:
    """The fast-sigmoid surrogate (NWAVE ``fast_sigmoid``)."""
    return FastSigmoid(slope, spiking=spiking, learnable=learnable)


def sigmoid(slope: float = 25.0, *, spiking: bool = True, learnable: bool = False) -> Sigmoid:
    """The logistic surrogate (NWAVE ``sigmoid``)."""
    return Sigmoid(slope, spiking=spiking, learnable=learnable)


@hookimpl
def nwave_surrogates() -> list[Entry]:
    return [
        Entry("atan", ATan, summary="arctangent; peak alpha/2, area 1", aliases=("arctan",)),
        Entry("fast_sigmoid", FastSigmoid, summary="1/(slope|x|+1)^2; peak 1, area 2/slope"),
        Entry("sigmoid", Sigmoid, summary="logistic derivative; peak slope/4, area 1"),
    ]
