"""Built-in surrogate gradients: the NWAVE three and the catalogue of the peers.

Each class writes its formula once, as ``grad`` (``g``) and its antiderivative ``primitive``
(``P``, with ``P' = g``); the spike function, primitive mode and the multi-step engine all call
these. Where several surrogates share a shape (inverse square, Laplace), the shape is one
private function used by each of them.

``atan``, ``fast_sigmoid`` and ``sigmoid`` are also factories with the original SDK's
signatures. Presets give the defaults of peer libraries (``spikingjelly_sigmoid``, ...).

Choices where the peers disagree:

* ``q_pseudo_spike``: SpikingJelly's ``(1 + 2|x|/(alpha-1))^(-alpha)``, whose peak and area are
  both 1 for every ``alpha > 1``. braintools' variant with ``alpha`` equals ours with
  ``alpha + 1``.
* ``squarewave_fourier``: ``n`` is the number of Fourier terms (braintools' reading).
  SpikingJelly sums ``n - 1`` terms, so its ``n`` equals ours plus one; the preset
  ``spikingjelly_squarewave_fourier`` has ``n=1``. Its gradient is a truncated Fourier series
  and dips below zero by design (as does ``multi_gaussian``'s).
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from nwave_core import Entry, SurrogateBase, hookimpl

__all__ = [
    "ATan", "FastSigmoid", "Sigmoid", "PiecewiseQuadratic", "PiecewiseExp", "SoftSign",
    "SuperSpike", "NonzeroSignLogAbs", "Erf", "PiecewiseLeakyReLU", "SquarewaveFourier", "S2NN",
    "QPseudoSpike", "LeakyKReLU", "FakeNumerical", "LogTailedReLU", "Rect", "Triangle",
    "Gaussian", "MultiGaussian", "InvSquare", "SingleExp", "Slayer", "HeaviTanh", "HeaviCirc",
    "StraightThrough", "atan", "fast_sigmoid", "sigmoid", "CATALOGUE", "PRESETS",
]

_SQRT2 = math.sqrt(2.0)
_SQRT_PI = math.sqrt(math.pi)


def _where(cond: Tensor, a: Tensor, b: Tensor) -> Tensor:
    return torch.where(cond, a, b)


# -- shapes shared by several surrogates ------------------------------------------------------


def _inv_square_grad(x: Tensor, k: Tensor) -> Tensor:
    """``1 / (k|x| + 1)^2``."""
    return 1 / (k * x.abs() + 1) ** 2


def _inv_square_primitive(x: Tensor, k: Tensor) -> Tensor:
    """``(1 + kx / (1 + k|x|)) / k``: 0 at -inf, 2/k at +inf."""
    return (1 + k * x / (1 + k * x.abs())) / k


def _laplace_grad(x: Tensor, rate: Tensor | float) -> Tensor:
    """``exp(-rate |x|)``."""
    return torch.exp(-rate * x.abs())


def _laplace_primitive(x: Tensor, rate: Tensor | float) -> Tensor:
    """Antiderivative of ``exp(-rate |x|)``: 0 at -inf, 2/rate at +inf."""
    e = torch.exp(-rate * x.abs())  # never overflows
    return _where(x < 0, e, 2 - e) / rate


def _normal_pdf(x: Tensor, mean: float, sigma: Tensor | float) -> Tensor:
    return torch.exp(-0.5 * ((x - mean) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def _normal_cdf(x: Tensor, mean: float, sigma: Tensor | float) -> Tensor:
    return 0.5 * (1 + torch.erf((x - mean) / (sigma * _SQRT2)))


# -- the NWAVE three ---------------------------------------------------------------------------


class ATan(SurrogateBase):
    """Arctangent.

    Args:
        alpha: sharpness; the gradient's peak is alpha/2.
        spiking: return spikes (True) or the primitive (False) when called.
        learnable: make alpha an nn.Parameter.
    """

    name, param_name = "atan", "alpha"
    kernel = "atan"  # evaluated in place by the compiled backward
    formula = "(alpha/2) / (1 + (pi/2 * alpha * x)^2)"
    primitive_formula = "atan(pi/2 * alpha * x) / pi + 1/2"
    peak, area = "alpha / 2", "1"

    def __init__(self, alpha: float = 2.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * x) ** 2)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.atan(math.pi / 2 * self.alpha * x) / math.pi + 0.5


class FastSigmoid(SurrogateBase):
    """Fast sigmoid (SuperSpike's shape with slope as the sharpness).

    Args:
        slope: steepness around the threshold.
        spiking: return spikes (True) or the primitive (False) when called.
        learnable: make slope an nn.Parameter.
    """

    name, param_name = "fast_sigmoid", "slope"
    kernel = "fast_sigmoid"  # evaluated in place by the compiled backward
    formula = "1 / (slope * |x| + 1)^2"
    primitive_formula = "(1 + slope*x / (1 + slope*|x|)) / slope"
    peak, area = "1", "2 / slope"

    def __init__(self, slope: float = 25.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(slope, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return _inv_square_grad(x, self.slope)

    def primitive(self, x: Tensor) -> Tensor:
        return _inv_square_primitive(x, self.slope)


class Sigmoid(SurrogateBase):
    """Logistic, computed as ``k s(kx) s(-kx)``: no ``exp`` overflows for large ``|x|`` and
    the tails keep their relative precision.

    Args:
        slope: steepness k around the threshold.
        spiking: return spikes (True) or the primitive (False) when called.
        learnable: make slope an nn.Parameter.
    """

    name, param_name = "sigmoid", "slope"
    kernel = "sigmoid"  # evaluated in place by the compiled backward
    formula = "k s(kx) (1 - s(kx)),  s = logistic, k = slope"
    primitive_formula = "s(slope * x)"
    peak, area = "slope / 4", "1"

    def __init__(self, slope: float = 25.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(slope, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        kx = self.slope * x
        return self.slope * torch.sigmoid(kx) * torch.sigmoid(-kx)

    def primitive(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.slope * x)


# -- the catalogue of the peers ----------------------------------------------------------------


class PiecewiseQuadratic(SurrogateBase):
    """Piecewise quadratic (SpikingJelly ``PiecewiseQuadratic``).

    Args:
        alpha: height; the support is |x| <= 1/alpha.
    """

    name, param_name = "piecewise_quadratic", "alpha"
    formula = "alpha - alpha^2 |x| for |x| <= 1/alpha, else 0"
    primitive_formula = "0 | 1/2 + alpha x - alpha^2 x|x|/2 | 1"
    peak, area = "alpha", "1"

    def __init__(self, alpha: float = 1.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return torch.clamp(self.alpha - self.alpha**2 * x.abs(), min=0)

    def primitive(self, x: Tensor) -> Tensor:
        a = self.alpha
        xc = torch.clamp(x, -1 / a, 1 / a)  # flat (0 or 1) outside the support
        return 0.5 + a * xc - 0.5 * a**2 * xc * xc.abs()


class PiecewiseExp(SurrogateBase):
    """Laplace-shaped (SpikingJelly ``PiecewiseExp``).

    Args:
        alpha: sharpness.
    """

    name, param_name = "piecewise_exp", "alpha"
    formula = "(alpha/2) exp(-alpha |x|)"
    primitive_formula = "exp(alpha x)/2 for x < 0, 1 - exp(-alpha x)/2 for x >= 0"
    peak, area = "alpha / 2", "1"

    def __init__(self, alpha: float = 1.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return self.alpha / 2 * _laplace_grad(x, self.alpha)

    def primitive(self, x: Tensor) -> Tensor:
        return self.alpha / 2 * _laplace_primitive(x, self.alpha)


class SoftSign(SurrogateBase):
    """Soft sign (SpikingJelly ``SoftSign``).

    Args:
        alpha: sharpness; the gradient's peak is alpha/2.
    """

    name, param_name = "soft_sign", "alpha"
    formula = "1 / (2 alpha (1/alpha + |x|)^2)"
    primitive_formula = "(alpha x / (1 + alpha |x|) + 1) / 2"
    peak, area = "alpha / 2", "1"

    def __init__(self, alpha: float = 2.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return self.alpha / 2 * _inv_square_grad(x, self.alpha)

    def primitive(self, x: Tensor) -> Tensor:
        return self.alpha / 2 * _inv_square_primitive(x, self.alpha)


class SuperSpike(SurrogateBase):
    """SuperSpike (SpikingJelly ``SuperSpike``): a scaled unit-slope inverse square.

    Args:
        alpha: scale of the gradient.
    """

    name, param_name = "super_spike", "alpha"
    formula = "alpha / (|x| + 1)^2"
    primitive_formula = "alpha (1 + x / (1 + |x|))"
    peak, area = "alpha", "2 * alpha"

    def __init__(self, alpha: float = 1.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return self.alpha * _inv_square_grad(x, 1.0)

    def primitive(self, x: Tensor) -> Tensor:
        return self.alpha * _inv_square_primitive(x, 1.0)


class NonzeroSignLogAbs(SurrogateBase):
    """Nonzero sign log-abs (SpikingJelly ``NonzeroSignLogAbs``); heavy tails, unbounded area.

    Args:
        alpha: sharpness; the gradient's peak is alpha.
    """

    name, param_name = "nonzero_sign_log_abs", "alpha"
    formula = "1 / (1/alpha + |x|)"
    primitive_formula = "sign(x) log(1 + alpha |x|)"
    peak, area = "alpha", "inf"

    def __init__(self, alpha: float = 1.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return 1 / (1 / self.alpha + x.abs())

    def primitive(self, x: Tensor) -> Tensor:
        return torch.sign(x) * torch.log1p(self.alpha * x.abs())


class Erf(SurrogateBase):
    """Gaussian-shaped, primitive erf (SpikingJelly ``Erf``, braintools ``ERF``).

    Args:
        alpha: sharpness; the gradient's peak is alpha/sqrt(pi).
    """

    name, param_name = "erf", "alpha"
    formula = "(alpha / sqrt(pi)) exp(-alpha^2 x^2)"
    primitive_formula = "(1 + erf(alpha x)) / 2"
    peak, area = "alpha / sqrt(pi)", "1"

    def __init__(self, alpha: float = 2.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return self.alpha / _SQRT_PI * torch.exp(-((self.alpha * x) ** 2))

    def primitive(self, x: Tensor) -> Tensor:
        return 0.5 * torch.erfc(-self.alpha * x)


class PiecewiseLeakyReLU(SurrogateBase):
    """Piecewise leaky ReLU (SpikingJelly, braintools).

    Args:
        w: half-width of the central plateau of height 1/(2w).
        c: gradient outside the plateau (>= 0).
    """

    name, param_name = "piecewise_leaky_relu", "w"
    extra_params = ("c",)
    bounds = {"c": (0.0, True)}
    formula = "1/(2w) for |x| < w, else c"
    primitive_formula = "c(x + w) | x/(2w) + 1/2 | c(x - w) + 1"
    peak, area = "max(1 / (2 * w), c)", "1 if c == 0 else inf"

    def __init__(self, w: float = 1.0, c: float = 0.01, *, spiking: bool = True,
                 learnable: bool = False):
        super().__init__(w, spiking=spiking, learnable=learnable)
        self.c = c

    def grad(self, x: Tensor) -> Tensor:
        inside = torch.zeros_like(x) + 1 / (2 * self.w)
        return _where(x.abs() < self.w, inside, torch.full_like(x, self.c))

    def primitive(self, x: Tensor) -> Tensor:
        w, c = self.w, self.c
        xc = torch.clamp(x, -w, w)
        return xc / (2 * w) + 0.5 + c * (x - xc)


class SquarewaveFourier(SurrogateBase):
    """Truncated Fourier series of a square wave (SpikingJelly, braintools).

    ``n`` counts the terms summed (braintools' reading; SpikingJelly's ``n`` is ours + 1). The
    gradient oscillates and is negative in places, as the peers' is.

    Args:
        t_period: period T of the square wave; the threshold sits at the middle of a rising edge.
        n: number of Fourier terms (whole number >= 1).
    """

    name, param_name = "squarewave_fourier", "t_period"
    extra_params = ("n",)
    integer_params = ("n",)
    bounds = {"n": (1, True)}
    may_be_negative = True
    formula = "(4/T) sum_{i=1..n} cos((2i-1) 2 pi x / T)"
    primitive_formula = "1/2 + (2/pi) sum_{i=1..n} sin((2i-1) 2 pi x / T) / (2i-1)"
    peak, area = "4 * n / t_period", "nan"  # periodic: no finite area

    def __init__(self, t_period: float = 8.0, n: int = 2, *, spiking: bool = True,
                 learnable: bool = False):
        super().__init__(t_period, spiking=spiking, learnable=learnable)
        self.n = n

    def grad(self, x: Tensor) -> Tensor:
        w = 2 * math.pi / self.t_period
        total = torch.zeros_like(x)
        for i in range(1, self.n + 1):
            total = total + torch.cos((2 * i - 1) * w * x)
        return 4 / self.t_period * total

    def primitive(self, x: Tensor) -> Tensor:
        w = 2 * math.pi / self.t_period
        total = torch.zeros_like(x)
        for i in range(1, self.n + 1):
            total = total + torch.sin((2 * i - 1) * w * x) / (2 * i - 1)
        return 0.5 + 2 / math.pi * total


class S2NN(SurrogateBase):
    """S2NN (SpikingJelly ``S2NN``): logistic below threshold, logarithmic above.

    Args:
        alpha: logistic sharpness for x < 0.
        beta: scale of the 1/(x+1) branch for x >= 0.
    """

    name, param_name = "s2nn", "alpha"
    extra_params = ("beta",)
    formula = "alpha s(alpha x)(1 - s(alpha x)) for x < 0, beta / (x + 1) for x >= 0"
    primitive_formula = "s(alpha x) for x < 0, beta log(x + 1) + 1/2 for x >= 0"
    peak, area = "max(alpha / 4, beta)", "inf"

    def __init__(self, alpha: float = 4.0, beta: float = 1.0, *, spiking: bool = True,
                 learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)
        self.beta = beta

    def grad(self, x: Tensor) -> Tensor:
        ax = self.alpha * x
        below = self.alpha * torch.sigmoid(ax) * torch.sigmoid(-ax)
        above = self.beta / (x.clamp(min=0) + 1)
        return _where(x < 0, below, above)

    def primitive(self, x: Tensor) -> Tensor:
        below = torch.sigmoid(self.alpha * x.clamp(max=0))
        above = self.beta * torch.log1p(x.clamp(min=0)) + 0.5
        return _where(x < 0, below, above)


class QPseudoSpike(SurrogateBase):
    """q-PseudoSpike (SpikingJelly ``QPseudoSpike``): tail fatness set by alpha; peak 1, area 1.

    Args:
        alpha: tail exponent, > 1 (smaller: fatter tails). braintools' alpha is ours - 1.
    """

    name, param_name = "q_pseudo_spike", "alpha"
    bounds = {"alpha": (1.0, False)}
    formula = "(1 + 2|x| / (alpha - 1))^(-alpha)"
    primitive_formula = "(1 - 2x/(alpha-1))^(1-alpha) / 2 | 1 - (1 + 2x/(alpha-1))^(1-alpha) / 2"
    peak, area = "1", "1"

    def __init__(self, alpha: float = 2.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return (1 + 2 * x.abs() / (self.alpha - 1)) ** (-self.alpha)

    def primitive(self, x: Tensor) -> Tensor:
        half_tail = 0.5 * (1 + 2 * x.abs() / (self.alpha - 1)) ** (1 - self.alpha)
        return _where(x < 0, half_tail, 1 - half_tail)


class LeakyKReLU(SurrogateBase):
    """Leaky k-ReLU (SpikingJelly ``LeakyKReLU``).

    Args:
        k: gradient for x >= 0.
        leak: gradient for x < 0 (>= 0).
    """

    name, param_name = "leaky_k_relu", "k"
    extra_params = ("leak",)
    bounds = {"leak": (0.0, True)}
    formula = "k for x >= 0, leak for x < 0"
    primitive_formula = "k x for x >= 0, leak x for x < 0"
    peak, area = "max(k, leak)", "inf"

    def __init__(self, k: float = 1.0, leak: float = 0.0, *, spiking: bool = True,
                 learnable: bool = False):
        super().__init__(k, spiking=spiking, learnable=learnable)
        self.leak = leak

    def grad(self, x: Tensor) -> Tensor:
        return _where(x >= 0, torch.zeros_like(x) + self.k, torch.full_like(x, self.leak))

    def primitive(self, x: Tensor) -> Tensor:
        return self.k * x.clamp(min=0) + self.leak * x.clamp(max=0)


class FakeNumerical(SurrogateBase):
    """Fake numerical gradient (SpikingJelly ``FakeNumericalGradient``): ``min(1/|x|, alpha)``.

    Args:
        alpha: cap of the gradient near the threshold.
    """

    name, param_name = "fake_numerical", "alpha"
    formula = "min(1/|x|, alpha)"
    primitive_formula = "alpha x for |x| <= 1/alpha, sign(x)(1 + log(alpha |x|)) beyond"
    peak, area = "alpha", "inf"

    def __init__(self, alpha: float = 0.3, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return torch.minimum(1 / x.abs(), torch.zeros_like(x) + self.alpha)

    def primitive(self, x: Tensor) -> Tensor:
        a = self.alpha
        ax = x.abs().clamp(min=1 / a)
        return _where(x.abs() <= 1 / a, a * x, torch.sign(x) * (1 + torch.log(a * ax)))


class LogTailedReLU(SurrogateBase):
    """Log-tailed ReLU (SpikingJelly, braintools).

    Args:
        alpha: gradient for x <= 0 (>= 0).
    """

    name, param_name = "log_tailed_relu", "alpha"
    bounds = {"alpha": (0.0, True)}
    formula = "alpha for x <= 0, 1 for 0 < x <= 1, 1/x for x > 1"
    primitive_formula = "alpha x | x | 1 + log(x)"
    peak, area = "max(alpha, 1)", "inf"

    def __init__(self, alpha: float = 0.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        positive = 1 / x.clamp(min=1)
        return _where(x <= 0, torch.zeros_like(x) + self.alpha, positive)

    def primitive(self, x: Tensor) -> Tensor:
        positive = torch.minimum(x, torch.ones_like(x)) + torch.log(x.clamp(min=1))
        return _where(x <= 0, self.alpha * x, positive)


class Rect(SurrogateBase):
    """Rectangle (SpikingJelly ``Rect``).

    Args:
        alpha: height; the support is |x| < 0.5/alpha.
    """

    name, param_name = "rect", "alpha"
    formula = "alpha for |x| < 0.5/alpha, else 0"
    primitive_formula = "clamp(alpha x + 1/2, 0, 1)"
    peak, area = "alpha", "1"

    def __init__(self, alpha: float = 1.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        inside = (x.abs() < 0.5 / self.alpha).to(x.dtype)
        return self.alpha * inside

    def primitive(self, x: Tensor) -> Tensor:
        return torch.clamp(self.alpha * x + 0.5, 0, 1)


class Triangle(SurrogateBase):
    """Triangle (braintools ``ReluGrad``, Norse triangle).

    Args:
        alpha: slope of the triangle's sides; its peak is alpha * width.
        width: half-width of the support.
    """

    name, param_name = "triangle", "alpha"
    extra_params = ("width",)
    formula = "max(alpha width - alpha |x|, 0)"
    primitive_formula = "alpha (width xc - xc|xc|/2) + alpha width^2 / 2, xc = clamp(x, -width, width)"
    peak, area = "alpha * width", "alpha * width**2"

    def __init__(self, alpha: float = 0.3, width: float = 1.0, *, spiking: bool = True,
                 learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)
        self.width = width

    def grad(self, x: Tensor) -> Tensor:
        return torch.clamp(self.alpha * self.width - self.alpha * x.abs(), min=0)

    def primitive(self, x: Tensor) -> Tensor:
        w = self.width
        xc = torch.clamp(x, -w, w)
        return self.alpha * (w * xc - 0.5 * xc * xc.abs() + 0.5 * w * w)


class Gaussian(SurrogateBase):
    """Gaussian (braintools ``GaussianGrad``, sinabs ``Gaussian``).

    Args:
        sigma: standard deviation.
        alpha: scale (the area).
    """

    name, param_name = "gaussian", "sigma"
    extra_params = ("alpha",)
    formula = "alpha N(x; 0, sigma)"
    primitive_formula = "alpha (1 + erf(x / (sigma sqrt 2))) / 2"
    peak, area = "alpha / (sigma * sqrt(2 * pi))", "alpha"

    def __init__(self, sigma: float = 0.5, alpha: float = 0.5, *, spiking: bool = True,
                 learnable: bool = False):
        super().__init__(sigma, spiking=spiking, learnable=learnable)
        self.alpha = alpha

    def grad(self, x: Tensor) -> Tensor:
        return self.alpha * _normal_pdf(x, 0.0, self.sigma)

    def primitive(self, x: Tensor) -> Tensor:
        return self.alpha * _normal_cdf(x, 0.0, self.sigma)


class MultiGaussian(SurrogateBase):
    """Multi-Gaussian (braintools, sinabs; Yin et al. 2021): negative side lobes by design.

    Args:
        sigma: width of the central Gaussian.
        h: weight of the two negative side Gaussians (>= 0).
        s: width of the side Gaussians relative to sigma.
        scale: overall scale.
    """

    name, param_name = "multi_gaussian", "sigma"
    extra_params = ("h", "s", "scale")
    bounds = {"h": (0.0, True)}
    may_be_negative = True
    formula = "scale[(1+h) N(x;0,sigma) - h N(x;sigma,s sigma) - h N(x;-sigma,s sigma)]"
    primitive_formula = "scale[(1+h) Phi(x;0,sigma) - h Phi(x;sigma,s sigma) - h Phi(x;-sigma,s sigma)]"
    peak = "scale * ((1 + h) - 2 * h / s * exp(-1 / (2 * s**2))) / (sigma * sqrt(2 * pi))"
    area = "scale * (1 - h)"

    def __init__(self, sigma: float = 0.5, h: float = 0.15, s: float = 6.0, scale: float = 0.5,
                 *, spiking: bool = True, learnable: bool = False):
        super().__init__(sigma, spiking=spiking, learnable=learnable)
        self.h, self.s, self.scale = h, s, scale

    def grad(self, x: Tensor) -> Tensor:
        sig, h = self.sigma, self.h
        side = self.s * sig
        return self.scale * ((1 + h) * _normal_pdf(x, 0.0, sig) - h * _normal_pdf(x - sig, 0.0, side)
                             - h * _normal_pdf(x + sig, 0.0, side))

    def primitive(self, x: Tensor) -> Tensor:
        sig, h = self.sigma, self.h
        side = self.s * sig
        return self.scale * ((1 + h) * _normal_cdf(x, 0.0, sig) - h * _normal_cdf(x - sig, 0.0, side)
                             - h * _normal_cdf(x + sig, 0.0, side))


class InvSquare(SurrogateBase):
    """Inverse square (braintools ``InvSquareGrad``, Norse ``super``): fast_sigmoid's shape
    with the peers' parameter name and default.

    Args:
        alpha: steepness.
    """

    name, param_name = "inv_square", "alpha"
    formula = FastSigmoid.formula.replace("slope", "alpha")
    primitive_formula = FastSigmoid.primitive_formula.replace("slope", "alpha")
    peak, area = "1", "2 / alpha"

    def __init__(self, alpha: float = 100.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return _inv_square_grad(x, self.alpha)

    def primitive(self, x: Tensor) -> Tensor:
        return _inv_square_primitive(x, self.alpha)


class SingleExp(SurrogateBase):
    """Single exponential (sinabs ``SingleExponential``, with threshold 1).

    Args:
        width: decay length of the exponential.
        scale: scale (the area is 2 scale).
    """

    name, param_name = "single_exp", "width"
    extra_params = ("scale",)
    formula = "(scale/width) exp(-|x| / width)"
    primitive_formula = "scale exp(x/width) for x < 0, scale (2 - exp(-x/width)) for x >= 0"
    peak, area = "scale / width", "2 * scale"

    def __init__(self, width: float = 0.5, scale: float = 1.0, *, spiking: bool = True,
                 learnable: bool = False):
        super().__init__(width, spiking=spiking, learnable=learnable)
        self.scale = scale

    def grad(self, x: Tensor) -> Tensor:
        return self.scale / self.width * _laplace_grad(x, 1 / self.width)

    def primitive(self, x: Tensor) -> Tensor:
        return self.scale / self.width * _laplace_primitive(x, 1 / self.width)


class Slayer(SurrogateBase):
    """SLAYER's exponential (braintools ``SlayerGrad``, lava-dl).

    Args:
        alpha: decay rate.
    """

    name, param_name = "slayer", "alpha"
    formula = "exp(-alpha |x|)"
    primitive_formula = "exp(alpha x)/alpha for x < 0, (2 - exp(-alpha x))/alpha for x >= 0"
    peak, area = "1", "2 / alpha"

    def __init__(self, alpha: float = 1.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return _laplace_grad(x, self.alpha)

    def primitive(self, x: Tensor) -> Tensor:
        return _laplace_primitive(x, self.alpha)


class HeaviTanh(SurrogateBase):
    """Hyperbolic tangent, normalized to area 1 (Norse ``tanh`` omits the 1/2).

    Args:
        alpha: sharpness; the gradient's peak is alpha/2.
    """

    name, param_name = "heavi_tanh", "alpha"
    formula = "alpha (1 - tanh(alpha x)^2) / 2"
    primitive_formula = "(1 + tanh(alpha x)) / 2"
    peak, area = "alpha / 2", "1"

    def __init__(self, alpha: float = 2.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return self.alpha / 2 * (1 - torch.tanh(self.alpha * x) ** 2)

    def primitive(self, x: Tensor) -> Tensor:
        return 0.5 * (1 + torch.tanh(self.alpha * x))


class HeaviCirc(SurrogateBase):
    """Circle-based (Norse ``circ``): primitive ``1/2 + x / (2 sqrt(x^2 + alpha^2))``.

    Args:
        alpha: width; the gradient's peak is 1/(2 alpha).
    """

    name, param_name = "heavi_circ", "alpha"
    formula = "alpha^2 / (2 (x^2 + alpha^2)^(3/2))"
    primitive_formula = "1/2 + x / (2 sqrt(x^2 + alpha^2))"
    peak, area = "1 / (2 * alpha)", "1"

    def __init__(self, alpha: float = 0.5, *, spiking: bool = True, learnable: bool = False):
        super().__init__(alpha, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        a2 = self.alpha**2
        return a2 / (2 * (x * x + a2) ** 1.5)

    def primitive(self, x: Tensor) -> Tensor:
        return 0.5 + x / (2 * torch.sqrt(x * x + self.alpha**2))


class StraightThrough(SurrogateBase):
    """Straight-through estimator (snnTorch STE, SpikingJelly ``DeterministicPass``).

    Args:
        scale: the constant gradient.
    """

    name, param_name = "straight_through", "scale"
    formula = "scale"
    primitive_formula = "scale x"
    peak, area = "scale", "inf"

    def __init__(self, scale: float = 1.0, *, spiking: bool = True, learnable: bool = False):
        super().__init__(scale, spiking=spiking, learnable=learnable)

    def grad(self, x: Tensor) -> Tensor:
        return torch.zeros_like(x) + self.scale

    def primitive(self, x: Tensor) -> Tensor:
        return self.scale * x


# -- NWAVE-style factories -----------------------------------------------------------------------


def atan(alpha: float = 2.0, *, spiking: bool = True, learnable: bool = False) -> ATan:
    """The arctangent surrogate (NWAVE ``atan``): ``(alpha/2) / (1 + (pi/2 alpha x)^2)``."""
    return ATan(alpha, spiking=spiking, learnable=learnable)


def fast_sigmoid(slope: float = 25.0, *, spiking: bool = True,
                 learnable: bool = False) -> FastSigmoid:
    """The fast-sigmoid surrogate (NWAVE ``fast_sigmoid``): ``1 / (slope |x| + 1)^2``."""
    return FastSigmoid(slope, spiking=spiking, learnable=learnable)


def sigmoid(slope: float = 25.0, *, spiking: bool = True, learnable: bool = False) -> Sigmoid:
    """The logistic surrogate (NWAVE ``sigmoid``): ``k s(kx)(1 - s(kx))``, ``k = slope``."""
    return Sigmoid(slope, spiking=spiking, learnable=learnable)


# -- registration --------------------------------------------------------------------------------

CATALOGUE: tuple[type[SurrogateBase], ...] = (
    ATan, FastSigmoid, Sigmoid, PiecewiseQuadratic, PiecewiseExp, SoftSign, SuperSpike,
    NonzeroSignLogAbs, Erf, PiecewiseLeakyReLU, SquarewaveFourier, S2NN, QPseudoSpike,
    LeakyKReLU, FakeNumerical, LogTailedReLU, Rect, Triangle, Gaussian, MultiGaussian,
    InvSquare, SingleExp, Slayer, HeaviTanh, HeaviCirc, StraightThrough,
)
"""Every surrogate class, in the order ``nwave list`` groups them."""

_ALIASES: dict[str, tuple[str, ...]] = {
    "atan": ("arctan",),
    "straight_through": ("ste",),
    "fake_numerical": ("fake_numerical_gradient",),
}


def _preset(cls: type[SurrogateBase], **defaults: Any) -> Callable[..., SurrogateBase]:
    """A factory building ``cls`` with other defaults (still overridable by keyword)."""
    signature = inspect.signature(cls)
    params = [p.replace(default=defaults[p.name]) if p.name in defaults else p
              for p in signature.parameters.values()]

    @functools.wraps(cls, assigned=("__doc__",), updated=())
    def build(*args: Any, **kwargs: Any) -> SurrogateBase:
        bound = build.__signature__.bind(*args, **kwargs)  # type: ignore[attr-defined]
        bound.apply_defaults()
        return cls(*bound.args, **bound.kwargs)

    build.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    return build


PRESETS: dict[str, tuple[type[SurrogateBase], dict[str, Any], str]] = {
    "spikingjelly_sigmoid": (Sigmoid, {"slope": 4.0}, "SpikingJelly Sigmoid(alpha=4)"),
    "spikingjelly_atan": (ATan, {"alpha": 2.0}, "SpikingJelly ATan(alpha=2)"),
    "spikingjelly_squarewave_fourier": (SquarewaveFourier, {"n": 1, "t_period": 8.0},
                                        "SpikingJelly SquarewaveFourierSeries(n=2, T_period=8)"),
    "snntorch_atan": (ATan, {"alpha": 2.0}, "snnTorch atan(alpha=2)"),
    "snntorch_fast_sigmoid": (FastSigmoid, {"slope": 25.0}, "snnTorch fast_sigmoid(slope=25)"),
    "snntorch_sigmoid": (Sigmoid, {"slope": 25.0}, "snnTorch sigmoid(slope=25)"),
    "braintools_arctan": (ATan, {"alpha": 1.0}, "braintools Arctan(alpha=1)"),
    "norse_super": (InvSquare, {"alpha": 100.0}, "Norse SuperSpike (alpha=100)"),
}
"""Presets: name -> (class, defaults, which peer's default it reproduces)."""


@hookimpl
def nwave_surrogates() -> list[Entry]:
    entries = [
        Entry(cls.name, cls, summary=f"g = {cls.formula}",
              aliases=_ALIASES.get(cls.name, ()))
        for cls in CATALOGUE
    ]
    for name, (cls, defaults, peer) in PRESETS.items():
        shown = ", ".join(f"{k}={v:g}" for k, v in defaults.items())
        entries.append(Entry(name, _preset(cls, **defaults),
                             summary=f"preset: {cls.name}({shown}), as {peer}"))
    return entries
