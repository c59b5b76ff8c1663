"""The three NWAVE surrogates: exact formulas, spike function, parameter handling."""

from __future__ import annotations

import math

import pytest
import torch

import nwave_core
from nwave_plugins.surrogates import ATan, FastSigmoid, Sigmoid, atan, fast_sigmoid, sigmoid

POINTS = [-3.0, -0.5, -0.04, -1e-3, 0.0, 1e-3, 0.02, 0.3, 2.0, 50.0]


def _expected_atan(x, alpha):
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


def _expected_fast_sigmoid(x, slope):
    return 1 / (slope * abs(x) + 1) ** 2


def _expected_sigmoid(x, k):
    # k e^{-kx} / (e^{-kx} + 1)^2, the original's form, evaluated where it does not overflow
    e = math.exp(-k * x) if -k * x < 700 else math.inf
    return 0.0 if math.isinf(e) else k * e / (e + 1) ** 2


@pytest.mark.parametrize("make, expected, param", [
    (atan, _expected_atan, 2.0),
    (lambda: atan(alpha=3.5), _expected_atan, 3.5),
    (fast_sigmoid, _expected_fast_sigmoid, 25.0),
    (lambda: fast_sigmoid(slope=4.0), _expected_fast_sigmoid, 4.0),
    (sigmoid, _expected_sigmoid, 25.0),
    (lambda: sigmoid(slope=7.0), _expected_sigmoid, 7.0),
])
def test_grad_matches_the_documented_formula(make, expected, param):
    surrogate = make()
    x = torch.tensor(POINTS, dtype=torch.float64)
    want = torch.tensor([expected(v, param) for v in POINTS], dtype=torch.float64)
    torch.testing.assert_close(surrogate.grad(x), want, rtol=1e-12, atol=1e-300)


def test_defaults_are_the_original_sdks():
    assert atan().param_value == 2.0 and atan().param_name == "alpha"
    assert fast_sigmoid().param_value == 25.0 and fast_sigmoid().param_name == "slope"
    assert sigmoid().param_value == 25.0 and sigmoid().param_name == "slope"


@pytest.mark.parametrize("cls", [ATan, FastSigmoid, Sigmoid])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_is_heaviside_and_backward_is_grad(cls, dtype):
    surrogate = cls()
    x = torch.linspace(-2, 2, 401, dtype=dtype).requires_grad_()
    out = surrogate(x)
    assert out.dtype == dtype
    assert torch.equal(out, (x >= 0).to(dtype))
    upstream = torch.randn_like(x)
    out.backward(upstream)
    torch.testing.assert_close(x.grad, upstream * surrogate.grad(x.detach()))


@pytest.mark.parametrize("cls", [ATan, FastSigmoid, Sigmoid])
def test_autograd_of_primitive_equals_grad(cls):
    surrogate = cls(spiking=False)
    x = torch.linspace(-3, 3, 2001, dtype=torch.float64).requires_grad_()
    surrogate(x).sum().backward()
    torch.testing.assert_close(x.grad, surrogate.grad(x.detach()), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("cls", [ATan, FastSigmoid, Sigmoid])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grad_never_overflows(cls, dtype):
    x = torch.tensor([-1e4, -1e3, -88.0, -40.0, 0.0, 40.0, 88.0, 1e3, 1e4], dtype=dtype)
    g = cls().grad(x)
    assert torch.isfinite(g).all() and (g >= 0).all()


def test_parameter_is_writable_checked_and_kept_in_state_dict():
    s = atan()
    s.alpha = 5.0
    assert s.param_value == 5.0 and isinstance(s.alpha, torch.Tensor)
    with pytest.raises(ValueError, match=r"^surrogate 'atan': alpha must be > 0, got -1.0$"):
        s.alpha = -1.0
    assert s.param_value == 5.0
    fresh = atan()
    fresh.load_state_dict(s.state_dict())
    assert fresh.param_value == 5.0


def test_non_positive_parameter_at_construction():
    with pytest.raises(ValueError, match=r"^surrogate 'fast_sigmoid': slope must be > 0, got 0$"):
        fast_sigmoid(slope=0)
    with pytest.raises(TypeError, match="slope must be a number"):
        sigmoid(slope="steep")


def test_learnable_parameter_gets_the_primitive_gradient():
    s = atan(alpha=2.0, learnable=True)
    assert isinstance(s.alpha, torch.nn.Parameter)
    x = torch.linspace(-1, 1, 11, dtype=torch.float64)
    out = s(x)
    assert torch.equal(out, (x >= 0).to(x.dtype))
    out.sum().backward()
    alpha = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    (torch.atan(math.pi / 2 * alpha * x) / math.pi + 0.5).sum().backward()
    torch.testing.assert_close(s.alpha.grad, alpha.grad)


def test_spiking_mode_switch_and_repr():
    s = sigmoid(slope=4.0)
    assert repr(s) == "Sigmoid(slope=4)"
    s.set_spiking_mode(False)
    x = torch.tensor([0.5])
    torch.testing.assert_close(s(x), torch.sigmoid(4.0 * x))
    assert repr(s) == "Sigmoid(slope=4, spiking=False)"


def test_registry_builds_the_same_classes():
    assert type(nwave_core.create("surrogate", "atan")) is ATan
    assert isinstance(nwave_core.create("surrogate", "sigmoid"), nwave_core.Surrogate)
