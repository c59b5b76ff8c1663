"""Every registered surrogate passes the conformance check; the check itself catches defects."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import nwave_core
from nwave_core.host import BUILTIN_DISTRIBUTION
from nwave_core import SurrogateBase
from nwave_core.testing import check_surrogate
from nwave_plugins import surrogates as S

REGISTERED = nwave_core.registry("surrogate").names()
#: the built-in surrogates (installed third-party plugins may add others)
BUILTIN = [e.name for e in nwave_core.registry("surrogate") if e.provider.distribution == BUILTIN_DISTRIBUTION]


def test_the_whole_catalogue_is_registered():
    catalogue = {
        "atan", "fast_sigmoid", "sigmoid", "piecewise_quadratic", "piecewise_exp", "soft_sign",
        "super_spike", "nonzero_sign_log_abs", "erf", "piecewise_leaky_relu",
        "squarewave_fourier", "s2nn", "q_pseudo_spike", "leaky_k_relu", "fake_numerical",
        "log_tailed_relu", "rect", "triangle", "gaussian", "multi_gaussian", "inv_square",
        "single_exp", "slayer", "heavi_tanh", "heavi_circ", "straight_through",
    }
    assert catalogue <= set(REGISTERED)
    assert {cls.name for cls in S.CATALOGUE} == catalogue


@pytest.mark.parametrize("name", REGISTERED)
def test_every_registered_surrogate_passes_the_conformance_check(name):
    check_surrogate(nwave_core.create("surrogate", name))


@pytest.mark.parametrize("cls", S.CATALOGUE, ids=lambda c: c.name)
@given(scale=st.floats(0.3, 3.0))
def test_conformance_holds_at_other_parameter_values(cls, scale):
    default = cls()
    value = default.param_value * scale
    if cls.name == "q_pseudo_spike":
        value = 1.0 + (default.param_value - 1.0) * scale  # alpha must stay > 1
    if cls.name == "log_tailed_relu":
        value = 0.5 * scale
    check_surrogate(cls(**{cls.param_name: value}))


# -- the check finds what is wrong ---------------------------------------------------------


class _Sloppy(SurrogateBase):
    """A deliberately defective surrogate; subclasses break one rule each."""

    name, param_name = "sloppy", "alpha"
    peak, area = "alpha / 2", "1"

    def __init__(self, alpha: float = 2.0):
        super().__init__(alpha)

    def grad(self, x):
        return (self.alpha / 2) / (1 + (math.pi / 2 * self.alpha * x) ** 2)

    def primitive(self, x):
        return torch.atan(math.pi / 2 * self.alpha * x) / math.pi + 0.5


def _failures(surrogate):
    with pytest.raises(AssertionError) as info:
        check_surrogate(surrogate)
    return str(info.value)


def test_check_passes_the_correct_base_case():
    check_surrogate(_Sloppy())


def test_check_catches_a_primitive_that_is_not_the_antiderivative():
    class Drifted(_Sloppy):  # the SpikingJelly Triton SoftSign kind of defect
        def primitive(self, x):
            return torch.atan(math.pi * self.alpha * x) / math.pi + 0.5

    message = _failures(Drifted())
    assert message.startswith("surrogate Drifted (sloppy) failed 1 check(s):\n  (b) autograd of "
                              "primitive(x) vs grad(x):")


def test_check_catches_sigmoid_overflow():
    class Overflowing(_Sloppy):  # snnTorch #427: exp(-kx) overflows for large negative x
        peak, area = "alpha / 4", "1"

        def grad(self, x):
            e = torch.exp(-self.alpha * x)
            return self.alpha * e / (e + 1) ** 2

        def primitive(self, x):
            return torch.sigmoid(self.alpha * x)

    message = _failures(Overflowing())
    assert "(c) grad(x) is not finite in torch.float32 at x = -1e+04" in message


def test_check_catches_negative_gradients_and_wrong_peak_and_area():
    class Negative(_Sloppy):
        peak, area = "alpha", "2"

        def grad(self, x):
            return torch.cos(x)

        def primitive(self, x):
            return torch.sin(x)

    message = _failures(Negative())
    assert "(c) grad(x) is negative in torch.float64" in message
    assert "(f) declared peak alpha = 2, but max grad(x) = 1" in message


def test_check_catches_a_parameter_missing_from_state_dict():
    class Forgetful(_Sloppy):
        def __init__(self, alpha: float = 2.0):
            super().__init__(alpha)
            self._buffers[self.param_name] = self._buffers.pop(self.param_name)
            self._non_persistent_buffers_set.add(self.param_name)

    assert "(d) alpha is not in state_dict" in _failures(Forgetful())


def test_check_catches_an_inexact_forward():
    class Soft(_Sloppy):
        def forward(self, x):
            return torch.sigmoid(100 * x)

    assert "(e) forward of a torch.float32 input is not exactly (x >= 0)" in _failures(Soft())


def test_check_rejects_non_surrogates():
    with pytest.raises(AssertionError, match="does not have the Surrogate members"):
        check_surrogate(torch.nn.ReLU())


# -- learnable parameters, dtypes, bad input -------------------------------------------------


@pytest.mark.parametrize("cls", S.CATALOGUE, ids=lambda c: c.name)
def test_learnable_parameter_receives_d_primitive_d_param(cls):
    s = cls(learnable=True)
    x = torch.linspace(-2, 2, 41, dtype=torch.float64) + 1e-3
    upstream = torch.linspace(0.5, 1.5, 41, dtype=torch.float64)
    out = s(x)
    assert torch.equal(out, (x >= 0).to(x.dtype))
    (out * upstream).sum().backward()
    reference = cls(learnable=True, spiking=False)
    (reference(x) * upstream).sum().backward()
    param = getattr(s, s.param_name)
    assert isinstance(param, torch.nn.Parameter)
    torch.testing.assert_close(param.grad, getattr(reference, s.param_name).grad)


def test_learnable_parameter_trains_with_an_optimizer():
    s = S.atan(alpha=2.0, learnable=True)
    opt = torch.optim.SGD(s.parameters(), lr=0.1)
    x = torch.tensor([0.3, -0.2, 0.05])
    s(x).sum().backward()
    assert s.alpha.grad is not None and s.alpha.grad != 0
    opt.step()
    assert s.param_value != 2.0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["atan", "fast_sigmoid", "sigmoid", "erf", "multi_gaussian"])
def test_half_precision_inputs_work_on_cpu(name, dtype):
    s = nwave_core.create("surrogate", name)
    x = torch.linspace(-1, 1, 11, dtype=dtype, requires_grad=True)
    out = s(x)
    out.sum().backward()
    assert out.dtype == dtype and x.grad.dtype == dtype
    expected = s.grad(x.detach().double()).to(dtype)
    torch.testing.assert_close(x.grad, expected, rtol=2e-2, atol=1e-2)
    s.set_spiking_mode(False)
    assert s(x).dtype == dtype


@pytest.mark.parametrize("cls, keyword, bad, message", [
    (S.Triangle, "width", 0.0, "surrogate 'triangle': width must be > 0, got 0.0"),
    (S.PiecewiseLeakyReLU, "c", -0.1, "surrogate 'piecewise_leaky_relu': c must be >= 0, got -0.1"),
    (S.QPseudoSpike, "alpha", 1.0, "surrogate 'q_pseudo_spike': alpha must be > 1, got 1.0"),
    (S.SquarewaveFourier, "n", 1.5, "surrogate 'squarewave_fourier': n must be a whole number, got 1.5"),
    (S.SquarewaveFourier, "n", 0, "surrogate 'squarewave_fourier': n must be >= 1, got 0"),
    (S.Gaussian, "sigma", -1.0, "surrogate 'gaussian': sigma must be > 0, got -1.0"),
    (S.ATan, "alpha", float("inf"), "surrogate 'atan': alpha must be finite, got inf"),
])
def test_bad_parameter_values_name_the_surrogate_and_parameter(cls, keyword, bad, message):
    with pytest.raises(ValueError) as info:
        cls(**{keyword: bad})
    assert str(info.value) == message
    s = cls()
    with pytest.raises(ValueError):  # also when a scheduler writes it
        setattr(s, keyword, bad)


def test_unknown_keyword_lists_accepted_parameters():
    with pytest.raises(TypeError) as info:
        nwave_core.create("surrogate", "triangle", widht=2.0)
    assert str(info.value) == (
        "surrogate 'triangle' got unexpected parameter 'widht'. Did you mean 'width'? "
        "Accepted parameters: alpha, width, spiking, learnable."
    )


# -- peer choices and presets ----------------------------------------------------------------


def test_q_pseudo_spike_follows_spikingjelly_and_maps_to_braintools():
    x = torch.linspace(-3, 3, 61, dtype=torch.float64)
    alpha = 3.0
    ours = S.QPseudoSpike(alpha).grad(x)
    torch.testing.assert_close(ours, (1 + 2 * x.abs() / (alpha - 1)) ** (-alpha))
    braintools_alpha = alpha - 1  # braintools: (1 + 2|x|/a)^(-(a+1))
    torch.testing.assert_close(ours, (1 + 2 * x.abs() / braintools_alpha) ** (-(braintools_alpha + 1)))


def test_squarewave_fourier_counts_terms_and_the_spikingjelly_preset_sums_one_fewer():
    x = torch.linspace(-1, 1, 21, dtype=torch.float64)
    T = 8.0
    two_terms = 4 / T * (torch.cos(2 * math.pi * x / T) + torch.cos(3 * 2 * math.pi * x / T))
    torch.testing.assert_close(S.SquarewaveFourier(T, n=2).grad(x), two_terms)
    sj = nwave_core.create("surrogate", "spikingjelly_squarewave_fourier")  # SJ n=2 -> 1 term
    torch.testing.assert_close(sj.grad(x), 4 / T * torch.cos(2 * math.pi * x / T))


def test_presets_give_the_peers_defaults_and_stay_overridable():
    sj = nwave_core.create("surrogate", "spikingjelly_sigmoid")
    assert type(sj) is S.Sigmoid and sj.param_value == 4.0
    assert nwave_core.create("surrogate", "braintools_arctan").param_value == 1.0
    assert nwave_core.create("surrogate", "norse_super").param_value == 100.0
    assert nwave_core.create("surrogate", "spikingjelly_sigmoid", slope=8.0).param_value == 8.0
    defaults = {p.name: p.default for p in
                nwave_core.registry("surrogate").describe("spikingjelly_sigmoid").params}
    assert defaults["slope"] == 4.0


def test_shared_shapes_agree():
    x = torch.linspace(-2, 2, 101, dtype=torch.float64)
    torch.testing.assert_close(S.InvSquare(7.0).grad(x), S.FastSigmoid(7.0).grad(x))
    torch.testing.assert_close(S.SingleExp(width=0.5, scale=0.5).grad(x), S.PiecewiseExp(2.0).grad(x))
    torch.testing.assert_close(S.Slayer(2.0).grad(x), S.PiecewiseExp(2.0).grad(x))  # alpha/2 = 1


def test_multi_gaussian_dips_below_zero_as_published():
    g = S.MultiGaussian().grad(torch.tensor([2.0], dtype=torch.float64))
    assert float(g) < 0


def test_repr_shows_every_parameter():
    assert repr(S.Triangle(alpha=0.5, width=2.0)) == "Triangle(alpha=0.5, width=2)"
    assert repr(S.MultiGaussian()) == "MultiGaussian(sigma=0.5, h=0.15, s=6, scale=0.5)"
    assert repr(S.atan(learnable=True)) == "ATan(alpha=2, learnable=True)"


def test_docs_list_every_registered_surrogate():
    from pathlib import Path

    page = (Path(__file__).parents[1] / "docs" / "surrogates.md").read_text()
    missing = [name for name in BUILTIN if f"`{name}`" not in page]
    assert not missing, f"docs/surrogates.md does not mention {missing}"
    # the page's typeset formulas are held equal to grad and primitive by test_surrogate_math.py
