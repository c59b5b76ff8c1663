"""Analog synapses: pulse-train formulas, devices, PulsedSGD and forward non-idealities."""

from __future__ import annotations

import copy
import io
import math
import types

import attrs
import pytest
import torch
from torch import nn

import nwave_core
from nwave_core.analog import (
    AnalogForward,
    DeviceSpec,
    PulsedSGD,
    PulseType,
    UpdateParameters,
    attach_device,
    attach_devices,
    coincidences,
    detach_device,
    discretize,
    managed_pulse_trains,
    pulse_train,
    resolution,
    set_inference_time,
)
from nwave_core.hardware import ChipSynapse, quantize

# -- UpdateParameters ---------------------------------------------------------------------------


def test_update_parameters_have_the_seed_fields_and_defaults():
    defaults = {f.name: f.default for f in attrs.fields(UpdateParameters)}
    assert defaults == {
        "desired_bl": 31, "fixed_bl": True, "pulse_type": PulseType.STOCHASTIC_COMPRESSED,
        "res": 0.0, "x_res_implicit": 0.0, "d_res_implicit": 0.0, "d_sparsity": False,
        "sto_round": False, "update_bl_management": True, "update_management": True,
        "um_grad_scale": 1.0,
    }
    assert {m.name for m in PulseType} == {"NONE", "NONE_WITH_DEVICE", "STOCHASTIC",
                                           "STOCHASTIC_COMPRESSED", "MEAN_COUNT",
                                           "DETERMINISTIC_IMPLICIT"}


@pytest.mark.parametrize("text", ["stochastic_compressed", "STOCHASTIC_COMPRESSED",
                                  "StochasticCompressed"])
def test_pulse_type_reads_every_spelling(text):
    assert UpdateParameters(pulse_type=text).pulse_type is PulseType.STOCHASTIC_COMPRESSED


@pytest.mark.parametrize("kwargs, message", [
    ({"desired_bl": 0}, "desired_bl must be an integer >= 1"),
    ({"res": -0.5}, "res must be -1 or 0 (off)"),
    ({"um_grad_scale": 0}, "um_grad_scale must be a finite number > 0"),
    ({"fixed_bl": 1}, "fixed_bl must be true or false"),
    ({"pulse_type": "stochastik"}, "Did you mean 'stochastic'"),
])
def test_bad_update_parameters_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        UpdateParameters(**kwargs)


# -- pulse-train formulas ------------------------------------------------------------------------


def test_fixed_bl_gives_desired_bl_and_equal_a_b():
    bl, a, b = pulse_train(0.01, 0.001, UpdateParameters(update_bl_management=False))
    assert bl == 31 and a == b == math.sqrt(0.01 / (0.001 * 31))


def test_non_fixed_bl_rule():
    params = UpdateParameters(fixed_bl=False, update_bl_management=False, desired_bl=31)
    # dw_min * desired_bl = 0.031 < lr = 0.1: A = B = 1, BL = ceil(lr / dw_min)
    assert pulse_train(0.1, 0.001, params) == (100, 1.0, 1.0)
    # 0.031 >= 0.02: as for a fixed BL
    bl, a, b = pulse_train(0.02, 0.001, params)
    assert bl == 31 and a == b == math.sqrt(0.02 / (0.001 * 31))
    assert pulse_train(0.0, 0.001, params) == (0, 0.0, 0.0)


def test_bl_management_and_update_management_on_planted_inputs():
    lr, dw_min = 0.01, 0.001
    x_max = torch.tensor([1.0, 0.5, 0.0, 2.0, 10.0])
    d_max = torch.tensor([0.02, 0.5, 1.0, 1e-4, 1.0])
    bl, a, b = managed_pulse_trains(lr, dw_min, x_max, d_max, UpdateParameters())
    # ceil(lr x d / dw_min): 0.2 -> 1, 2.5 -> 3, x = 0 -> no pulses, 0.002 -> 1, 100 -> 31
    assert bl.tolist() == [1, 3, 0, 1, 31]
    for p in (0, 1, 3, 4):
        base = math.sqrt(lr / (dw_min * bl[p].item()))
        gamma = x_max[p].item() / d_max[p].item()
        assert a[p].item() == pytest.approx(base * math.sqrt(gamma), rel=1e-12)
        assert b[p].item() == pytest.approx(base / math.sqrt(gamma), rel=1e-12)
        # the largest x and d probabilities are equal; A B BL = lr / dw_min
        assert (b[p] * x_max[p]).item() == pytest.approx((a[p] * d_max[p]).item(), rel=1e-6)
        assert (a[p] * b[p] * bl[p]).item() == pytest.approx(lr / dw_min, rel=1e-12)


def test_um_grad_scale_enters_gamma_only():
    x_max, d_max = torch.tensor([1.0]), torch.tensor([0.5])
    params = UpdateParameters(um_grad_scale=2.0)
    bl, a, b = managed_pulse_trains(0.01, 0.001, x_max, d_max, params)
    base = math.sqrt(0.01 / (0.001 * 5))  # BL = ceil(0.01 * 1 * 0.5 / 0.001) = 5
    gamma = 1.0 / (2.0 * 0.5)
    assert bl.tolist() == [5]
    assert a.item() == pytest.approx(base * math.sqrt(gamma))
    assert b.item() == pytest.approx(base / math.sqrt(gamma))


def test_update_management_without_bl_management_keeps_the_fixed_bl():
    params = UpdateParameters(update_bl_management=False, update_management=True)
    bl, a, b = managed_pulse_trains(0.01, 0.001, torch.tensor([4.0]), torch.tensor([1.0]), params)
    base = math.sqrt(0.01 / (0.001 * 31))
    assert bl.tolist() == [31]
    assert a.item() == pytest.approx(base * 2) and b.item() == pytest.approx(base / 2)


def test_res_discretises_and_sto_round_is_unbiased():
    assert resolution(0) == 0 and resolution(-1) == 0 and resolution(4) == 0.25
    assert resolution(0.1) == 0.1
    p = torch.tensor([0.12, 0.26, 0.5, 0.9])
    assert torch.equal(discretize(p, 0), p)
    assert torch.allclose(discretize(p, 0.25), torch.tensor([0.0, 0.25, 0.5, 1.0]))
    assert torch.allclose(discretize(p, 4), discretize(p, 0.25))
    generator = torch.Generator().manual_seed(0)
    many = discretize(torch.full((200_000,), 0.3), 0.25, sto_round=True, generator=generator)
    assert set(many.unique().tolist()) == {0.25, 0.5}
    # mean of a two-point variable with p = 0.2 for the upper value: std 0.25 * 0.4 / sqrt(n)
    assert abs(many.mean().item() - 0.3) < 5 * 0.25 * 0.4 / math.sqrt(200_000)


def test_res_applies_to_the_pulse_probabilities():
    # one pair, BL fixed at 1: with res = 0.5 the probability 0.3 becomes 0.5
    params = UpdateParameters(desired_bl=1, update_bl_management=False,
                              update_management=False, res=0.5,
                              pulse_type="mean_count")
    lr, dw_min = 0.09, 0.1  # A = B = sqrt(0.9)
    x, d = torch.tensor([[0.3 / math.sqrt(0.9)]]), torch.tensor([[1.0]])
    counts = coincidences(x, d, lr, dw_min, params)
    # p_x = 0.3 -> 0.5 -> round(1 * 0.5) = 0 (half to even); p_d = 0.949 -> 1.0 -> 1
    assert counts.down.item() == 0.0
    params = attrs.evolve(params, res=0.0)
    assert coincidences(x, d, lr, dw_min, params).down.item() == 0.0  # round(0.3) = 0


def test_mean_count_and_deterministic_implicit_follow_their_formulas():
    lr, dw_min = 0.05, 0.01
    x = torch.tensor([[1.0, -0.5, 0.0], [0.25, 1.0, -1.0]])
    d = torch.tensor([[0.2, -0.1], [-0.3, 0.3]])
    params = UpdateParameters(desired_bl=10, pulse_type="mean_count")
    bl, a, b = managed_pulse_trains(lr, dw_min, x.abs().amax(1), d.abs().amax(1), params)
    px = (b[:, None] * x.abs()).clamp(0, 1)
    pd = (a[:, None] * d.abs()).clamp(0, 1)
    xc = torch.sign(x) * torch.round(bl[:, None] * px)
    dc = torch.sign(d) * torch.round(bl[:, None] * pd) / bl[:, None]
    signed = (xc.double().t() @ dc.double()).float()  # > 0: down
    counts = coincidences(x, d, lr, dw_min, params)
    assert torch.allclose(counts.down - counts.up, signed, atol=1e-5)
    params = attrs.evolve(params, pulse_type="deterministic_implicit", x_res_implicit=0.1,
                          d_res_implicit=0.2)
    xq = torch.sign(x) * (torch.round(b[:, None] * x.abs() / 0.1) * 0.1).clamp(0, 1)
    dq = torch.sign(d) * (torch.round(a[:, None] * d.abs() / 0.2) * 0.2).clamp(0, 1)
    expected = (xq.double().t() @ (dq * bl[:, None]).double()).float()
    counts = coincidences(x, d, lr, dw_min, params)
    assert torch.allclose(counts.down - counts.up, expected, atol=1e-5)


# -- the expected update -------------------------------------------------------------------------


@pytest.mark.parametrize("pulse_type", ["stochastic_compressed", "stochastic"])
@pytest.mark.parametrize("signed_x", [False, True])
def test_mean_stochastic_update_is_minus_lr_x_d(pulse_type, signed_x):
    """Over many draws, dw_min * (down - up) averages to lr * sum_p x_p d_p^T.

    Probabilities stay below 1 (nothing clips); the tolerance is 5 standard errors of the
    sample mean, per cross point.
    """
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 5, generator=g)
    if signed_x:
        x = x - 0.5
    else:
        x = (x < 0.5).float()  # spikes
    d = 0.05 * torch.randn(6, 4, generator=g)
    lr, dw_min = 0.1, 0.001
    params = UpdateParameters(desired_bl=31, pulse_type=pulse_type)
    draws = 2000
    generator = torch.Generator().manual_seed(2)
    samples = torch.stack([(lambda c: (c.down - c.up) * dw_min)(
        coincidences(x, d, lr, dw_min, params, generator)) for _ in range(draws)]).double()
    expected = lr * (x.double().t() @ d.double())
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(draws)
    assert torch.all((mean - expected).abs() <= 5 * se + 1e-12), (mean - expected) / se


@pytest.mark.parametrize("rows, m, n", [(1, 1, 1), (300, 1, 5), (300, 5, 1), (257, 3, 17),
                                         (8192, 64, 512)])
def test_the_counting_product_is_exact(rows, m, n):
    """The 0/1 product that counts coincidences equals the float64 one (torch's int8 product
    is wrong for a single left row, so that case must take the float path)."""
    from nwave_core.analog.pulses import _count_product

    g = torch.Generator().manual_seed(rows + m + n)
    for density in (0.3, 1.0):
        left = torch.rand(rows, m, generator=g) < density
        right = torch.rand(rows, n, generator=g) < density
        expected = (left.double().t() @ right.double()).to(torch.int32)
        assert torch.equal(_count_product(left, right), expected)


@pytest.mark.parametrize("pulse_type, shared", [("stochastic_compressed", True),
                                                ("stochastic", False)])
def test_coincidences_share_the_input_bits_as_the_crossbar_does(pulse_type, shared):
    """Not only the mean: per pair, the counts of cross points ``(j, 1)`` and ``(j, 2)`` are
    Binomial(BL, p_x p_d) and, in one compressed pass, share input line ``j``'s bits, so their
    covariance is ``BL p_x (1 - p_x) p_d1 p_d2``; with ``stochastic`` the up and down counts
    come from independent passes (covariance 0). 1000 pairs, each driving its own input line,
    give 1000 independent samples in one call; tolerance 5 standard errors."""
    pairs, bl = 1000, 16
    params = UpdateParameters(desired_bl=bl, update_bl_management=False,
                              update_management=False, pulse_type=pulse_type)
    lr, dw_min = 0.016, 0.001  # A = B = sqrt(lr / (dw_min BL)) = 1: p = |value|
    x = torch.eye(pairs) * 0.5
    d = torch.tensor([[0.75, -0.75]]).expand(pairs, 2)  # column 0 down, column 1 up
    counts = coincidences(x, d, lr, dw_min, params, torch.Generator().manual_seed(3))
    down, up = counts.down[:, 0].double(), counts.up[:, 1].double()
    assert counts.down[:, 1].sum() == 0 and counts.up[:, 0].sum() == 0
    p = 0.5 * 0.75
    mean, var = bl * p, bl * p * (1 - p)
    for sample in (down, up):
        assert abs(sample.mean() - mean) <= 5 * math.sqrt(var / pairs)
        assert abs(sample.var() - var) <= 5 * var * math.sqrt(2 / pairs)
    covariance = ((down - down.mean()) * (up - up.mean())).mean()
    expected = bl * 0.5 * 0.5 * 0.75 * 0.75 if shared else 0.0  # 2.25, 19 standard errors
    se = var / math.sqrt(pairs)
    assert abs(covariance - expected) <= 5 * se, (covariance, expected, se)


def test_int16_thresholds_fire_exactly_as_the_float_ones():
    from nwave_core.analog.pulses import _bits, _int16_thresholds

    g = torch.Generator().manual_seed(4)
    p = torch.rand(40, 1, 2, 64, generator=g)
    p[:, :, 0, :8] = 0.0  # never fires
    p[:, :, 1, :8] = (torch.arange(8) + 0.5) / 2**16  # halfway between two levels
    thresholds = p * 2**16 - (2**15 + 0.5)
    as_int = _int16_thresholds(thresholds)
    assert as_int is not None and as_int.dtype == torch.int16
    floats = _bits(40, 7, thresholds, "x", torch.Generator().manual_seed(5)).clone()
    ints = _bits(40, 7, as_int, "x", torch.Generator().manual_seed(5))
    assert torch.equal(floats, ints)
    assert _int16_thresholds(torch.tensor([2**15 - 0.5])) is None  # p = 1 needs the floats


def test_pulsed_sgd_moves_a_constant_step_device_by_minus_lr_x_d_on_average():
    torch.manual_seed(0)
    syn = ChipSynapse(5, 3, chip="h1v2", stddev=0.0)
    device = nwave_core.create("device", "constant_step", dw_min=0.002, dw_min_dtod=0.0,
                               dw_min_std=0.2, up_down_dtod=0.0, w_min_dtod=0.0,
                               w_max_dtod=0.0, w_min=-1.0, w_max=1.0)
    attach_device(syn, device)
    with torch.no_grad():
        syn.weight.uniform_(-0.3, 0.3)
    start = syn.weight.detach().clone()
    x = (torch.rand(4, 3, 5) < 0.4).float()
    target = torch.randn(4, 3, 3)
    optimizer = PulsedSGD(syn.parameters(), lr=0.05, update={"desired_bl": 31}, seed=0)
    deltas = []
    for _ in range(800):
        with torch.no_grad():
            syn.weight.copy_(start)
        optimizer.zero_grad()
        out = syn(x)
        ((out - target) ** 2).sum().mul(0.01).backward()
        optimizer.step()
        deltas.append(syn.weight.detach() - start)
    with torch.no_grad():
        out = x @ syn.effective_weight()
    d = 0.02 * (out - target)  # gradient at the output current
    expected = -0.05 * (x.reshape(-1, 5).double().t() @ d.reshape(-1, 3).double())
    samples = torch.stack(deltas).double()
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(deltas))
    assert torch.all((mean - expected).abs() <= 5 * se + 1e-9), (mean - expected) / se


# -- devices -------------------------------------------------------------------------------------

_NO_SPREAD = {"dw_min_dtod": 0.0, "dw_min_std": 0.0, "w_min_dtod": 0.0, "w_max_dtod": 0.0,
              "up_down_dtod": 0.0}


def _devices(name, shape=(3, 4), seed=0, **params):
    return nwave_core.create("device", name, **params).build(shape, seed)


def test_the_built_in_devices_are_registered_with_docs():
    reg = nwave_core.registry("device")
    for name in ("constant_step", "soft_bounds", "exp_step"):
        assert name in reg
        assert "Step response" in reg.get(name).factory.__doc__
        params = {p.name: p for p in reg.describe(name).params}
        assert params["dw_min"].default == 0.001 and params["dw_min"].doc
    assert reg.get("linear_step") is reg.get("soft_bounds")


@pytest.mark.parametrize("params, message", [
    ({"dw_min": 0}, "dw_min must be > 0"),
    ({"w_min": 0.1}, "w_min must be < 0"),
    ({"w_max": -1.0}, "w_max must be > 0"),
    ({"dw_min_std": -0.1}, "dw_min_std must be >= 0"),
    ({"up_down": 1.0}, r"up_down must be in \(-1, 1\)"),
    ({"dw_min": 2.0}, "dw_min .* must be smaller than the range"),
])
def test_bad_device_parameters_are_named(params, message):
    with pytest.raises(ValueError, match=message):
        nwave_core.create("device", "soft_bounds", **params)


def test_per_device_draws_are_reproducible_and_in_state_dict():
    a = _devices("soft_bounds", seed=4)
    b = _devices("soft_bounds", seed=4)
    c = _devices("soft_bounds", seed=5)
    assert set(a.state_dict()) == {"dw_up", "dw_down", "w_lo", "w_hi"}
    for key, value in a.state_dict().items():
        assert torch.equal(value, b.state_dict()[key])
        assert not torch.equal(value, c.state_dict()[key])
    c.load_state_dict(a.state_dict())
    assert torch.equal(c.w_hi, a.w_hi)
    # spreads: relative std of the bounds and steps near the parameters (4096 devices)
    big = _devices("constant_step", shape=(64, 64), w_max_dtod=0.1, dw_min_dtod=0.2)
    assert (big.w_hi / 0.6).std().item() == pytest.approx(0.1, rel=0.1)
    assert (big.dw_up / 0.001).std().item() == pytest.approx(0.2, rel=0.1)
    assert torch.all(big.w_lo < 0) and torch.all(big.w_hi > 0)


@pytest.mark.parametrize("name", ["constant_step", "soft_bounds", "exp_step"])
def test_bounds_hold_per_device(name):
    devices = _devices(name, shape=(8, 8), dw_min=0.05, dw_min_std=0.5, dw_min_dtod=0.1,
                       w_max_dtod=0.3, w_min_dtod=0.3)
    generator = torch.Generator().manual_seed(0)
    w = torch.zeros(8, 8)
    many = torch.full((8, 8), 400.0)
    none = torch.zeros(8, 8)
    up = devices.apply_pulses(w, many, none, generator)
    down = devices.apply_pulses(w, none, many, generator)
    assert torch.all(up <= devices.w_hi) and torch.all(down >= devices.w_lo)
    # 400 pulses of 0.05 drive every device into its own bounds
    assert torch.allclose(up, devices.w_hi, atol=1e-3)
    assert torch.allclose(down, devices.w_lo, atol=1e-3)


@pytest.mark.parametrize("name", ["constant_step", "soft_bounds", "exp_step"])
def test_up_down_asymmetry_per_device(name):
    devices = _devices(name, shape=(1, 1), up_down=0.2, dw_min=0.01, **_NO_SPREAD)
    assert devices.dw_up.item() == pytest.approx(0.012)
    assert devices.dw_down.item() == pytest.approx(0.008)
    w = torch.zeros(1, 1)
    one, zero = torch.ones(1, 1), torch.zeros(1, 1)
    up = devices.apply_pulses(w, one, zero).item()
    down = devices.apply_pulses(w, zero, one).item()
    assert up == pytest.approx(devices.step_up(w).item(), rel=1e-6)
    assert -down == pytest.approx(devices.step_down(w).item(), rel=1e-6)
    if name != "exp_step":
        assert up / -down == pytest.approx(1.5, rel=1e-5)


@pytest.mark.parametrize("name", ["constant_step", "soft_bounds", "exp_step"])
def test_asymmetry_is_drawn_and_applied_per_device(name):
    """With a device-to-device spread of beta, every device has its own up/down asymmetry:
    ``(dw_up - dw_down) / (2 dw_min)`` is its beta (mean ``up_down``, spread ``up_down_dtod``),
    and one pulse moves each device by its own step response at ``w``."""
    devices = _devices(name, shape=(40, 40), up_down=0.2, up_down_dtod=0.05, dw_min=0.01,
                       dw_min_dtod=0.1, dw_min_std=0.0, w_min_dtod=0.0, w_max_dtod=0.0)
    beta = (devices.dw_up - devices.dw_down) / (2 * 0.01)
    assert abs(beta.mean().item() - 0.2) <= 5 * 0.05 / 40
    assert beta.std().item() == pytest.approx(0.05, rel=0.15)
    w = torch.rand(40, 40, generator=torch.Generator().manual_seed(1)) * 0.4 - 0.2
    one, zero = torch.ones(40, 40), torch.zeros(40, 40)
    up = devices.apply_pulses(w, one, zero) - w
    down = w - devices.apply_pulses(w, zero, one)
    assert torch.allclose(up, devices.step_up(w), rtol=1e-4, atol=1e-7)
    assert torch.allclose(down, devices.step_down(w), rtol=1e-4, atol=1e-7)
    if name != "exp_step":  # at w = 0 the steps are the drawn dw_up and dw_down themselves
        zero_w = torch.zeros(40, 40)
        assert torch.allclose(devices.apply_pulses(zero_w, one, zero), devices.dw_up, rtol=1e-5)
        assert torch.allclose(-devices.apply_pulses(zero_w, zero, one), devices.dw_down,
                              rtol=1e-5)


def test_derived_device_quantities_follow_loaded_draws():
    """Soft bounds reuse their per-device slopes between steps; loading other draws (or
    editing them in place) must not leave stale slopes behind."""
    ones, zeros = torch.full((3, 4), 5.0), torch.zeros(3, 4)
    w = torch.full((3, 4), 0.1)
    a, b = _devices("soft_bounds", seed=0, dw_min_std=0.0), _devices("soft_bounds", seed=1,
                                                                     dw_min_std=0.0)
    first = a.apply_pulses(w, ones, zeros)
    assert not torch.equal(first, b.apply_pulses(w, ones, zeros))
    a.load_state_dict(b.state_dict())
    assert torch.equal(a.apply_pulses(w, ones, zeros), b.apply_pulses(w, ones, zeros))
    with torch.no_grad():
        a.dw_up.mul_(2.0)  # in place: same storage, new version
    fresh = _devices("soft_bounds", seed=2, dw_min_std=0.0)
    fresh.load_state_dict(a.state_dict())
    assert torch.equal(a.apply_pulses(w, ones, zeros), fresh.apply_pulses(w, ones, zeros))
    assert not torch.equal(a.apply_pulses(w, ones, zeros), b.apply_pulses(w, ones, zeros))
    # an edit through .data escapes torch's version counter: invalidate() says so
    a.dw_up.data.mul_(10.0)
    fresh.load_state_dict(a.state_dict())
    a.invalidate()
    assert torch.equal(a.apply_pulses(w, ones, zeros), fresh.apply_pulses(w, ones, zeros))
    # a buffer replaced by another tensor, and a move to another dtype, are seen too
    a.dw_up = b.dw_up.clone()
    fresh.load_state_dict(a.state_dict())
    assert torch.equal(a.apply_pulses(w, ones, zeros), fresh.apply_pulses(w, ones, zeros))
    a.double()
    assert torch.equal(a.apply_pulses(w.double(), ones, zeros),
                       fresh.double().apply_pulses(w.double(), ones, zeros))


def test_step_responses_follow_their_formulas():
    w = torch.linspace(-0.5, 0.5, 11)[:, None]
    soft = _devices("soft_bounds", shape=(11, 1), dw_min=0.01, gamma_up=1.0, gamma_down=0.5,
                    **_NO_SPREAD)
    assert torch.allclose(soft.step_up(w), 0.01 * (1 - w / 0.6))
    assert torch.allclose(soft.step_down(w), 0.01 * (1 - 0.5 * w / -0.6))
    exp = _devices("exp_step", shape=(11, 1), dw_min=0.01, **_NO_SPREAD)
    z = 2 * 0.244 * w / 1.2 + 0.2425
    assert torch.allclose(exp.step_up(w),
                          0.01 * (1 - 0.00081 * torch.exp(12.44625 * z)).clamp(min=0))
    assert torch.allclose(exp.step_down(w),
                          0.01 * (1 - 0.36833 * torch.exp(-12.78785 * z)).clamp(min=0))


def test_soft_bounds_n_pulses_equal_n_single_pulses():
    devices = _devices("soft_bounds", shape=(5, 1), dw_min=0.02, **_NO_SPREAD)
    w0 = torch.linspace(-0.4, 0.4, 5)[:, None].double()
    n = torch.full((5, 1), 30.0, dtype=torch.float64)
    zero = torch.zeros_like(n)
    at_once = devices.apply_pulses(w0, n, zero)
    w = w0.clone()
    for _ in range(30):
        w = devices.apply_pulses(w, torch.ones_like(n), zero)
    assert torch.allclose(at_once, w, rtol=0, atol=1e-12)
    closed = 0.6 - (0.6 - w0) * (1 - 0.02 / 0.6) ** 30
    assert torch.allclose(at_once, closed, atol=1e-12)


# -- PulsedSGD -----------------------------------------------------------------------------------


def _small_net(seed=0):
    from nwave_plugins.layers import LIFLayer, LIFSynapse

    torch.manual_seed(seed)
    return nn.Sequential(LIFSynapse(10, 6), LIFLayer(6), ChipSynapse(6, 3, chip="h1v2"))


@pytest.mark.parametrize("foreach", [False, True])
def test_pulse_type_none_equals_sgd_bit_for_bit(foreach):
    net = _small_net()
    attach_devices(net, "soft_bounds", seed=3)
    twin = copy.deepcopy(net)
    pulsed = PulsedSGD(net.parameters(), lr=0.05, update={"pulse_type": "none"})
    plain = torch.optim.SGD(twin.parameters(), lr=0.05, foreach=foreach)
    x = (torch.rand(4, 12, 10) < 0.3).float()
    for step in range(3):
        for model, opt in ((net, pulsed), (twin, plain)):
            opt.zero_grad()
            nwave_core.prepare_net(model, torch.Generator().manual_seed(step))
            model(x).pow(2).sum().backward()
            opt.step()
    for a, b in zip(net.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b)


def test_other_parameters_keep_float_sgd_and_pulses_are_counted():
    net = _small_net()
    attach_device(net[0], "constant_step", seed=1)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    optimizer = PulsedSGD(net.parameters(), lr=0.1, seed=0,
                          update={"d_sparsity": True})
    x = (torch.rand(4, 12, 10) < 0.3).float()
    nwave_core.prepare_net(net)
    net(x).pow(2).sum().backward()
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    optimizer.step()
    for name, p in net.named_parameters():
        if name == "0.weight":
            state = optimizer.state[p]
            assert state["pulses"] > 0 and 0 <= state["d_sparsity"] <= 1
            moved = (p.detach() - before[name]).abs()
            dw = net[0].analog.device.dw_up
            assert moved.max() > 0 and moved.max() <= 3 * dw.max() * state["pulses"]
        else:
            assert torch.equal(p.detach(), before[name] - 0.1 * grads[name]), name


def test_a_weight_whose_synapse_was_bypassed_is_an_error():
    syn = ChipSynapse(4, 2, chip="h1v2")
    attach_device(syn, "constant_step")
    optimizer = PulsedSGD(syn.parameters(), lr=0.1)
    (torch.ones(3, 4) @ syn.effective_weight()).sum().backward()
    with pytest.raises(RuntimeError, match="recorded no \\(x, d\\) pairs"):
        optimizer.step()


def test_zero_grad_forgets_recorded_pairs_and_state_dict_round_trips():
    syn = ChipSynapse(4, 2, chip="h1v2")
    tile = attach_device(syn, "constant_step")
    optimizer = PulsedSGD(syn.parameters(), lr=0.1, seed=3)
    syn(torch.ones(2, 5, 4)).sum().backward()
    assert len(tile._pairs) == 1
    optimizer.zero_grad()
    assert tile._pairs == []
    buffer = io.BytesIO()
    torch.save(optimizer.state_dict(), buffer)  # as the runner's checkpoints
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    other = PulsedSGD(syn.parameters(), lr=0.1, seed=9)
    other.load_state_dict(state)
    assert torch.equal(other.generator.get_state(), optimizer.generator.get_state())
    assert other.param_groups[0]["update"] == UpdateParameters()


def test_none_with_device_applies_the_float_update_through_the_device():
    syn = ChipSynapse(3, 2, chip="h1v2", stddev=0.0)
    attach_device(syn, nwave_core.create("device", "constant_step", w_min=-0.05, w_max=0.05,
                                         dw_min=0.001, **_NO_SPREAD))
    with torch.no_grad():
        syn.weight.zero_()
    optimizer = PulsedSGD(syn.parameters(), lr=1.0, update={"pulse_type": "none_with_device"})
    x = torch.tensor([[[1.0, 0.0, 2.0]]])
    syn(x).mul(torch.tensor([[[0.01, -1.0]]])).sum().backward()
    optimizer.step()
    # float update -lr x d^T = [[-0.01, 1], [0, 0], [-0.02, 2]]: clipped to the bounds +-0.05
    expected = torch.tensor([[-0.01, 0.05], [0.0, 0.0], [-0.02, 0.05]])
    assert torch.allclose(syn.weight.detach(), expected, atol=1e-6)


# -- forward non-idealities ----------------------------------------------------------------------


def test_forward_parameters_are_validated():
    with pytest.raises(ValueError, match="dac_bits must be None"):
        AnalogForward(dac_bits=1)
    with pytest.raises(ValueError, match="out_noise must be a finite number >= 0"):
        AnalogForward(out_noise=-1.0)
    with pytest.raises(ValueError, match="Did you mean 'w_noise'"):
        attach_device(ChipSynapse(2, 2, chip="h1v2"), forward={"w_nois": 0.1})
    with pytest.raises(ValueError, match="give a device, forward non-idealities, or both"):
        attach_device(ChipSynapse(2, 2, chip="h1v2"))
    with pytest.raises(TypeError, match="is not a synapse"):
        attach_device(nn.ReLU(), "soft_bounds")
    syn = ChipSynapse(2, 2, chip="h1v2")
    attach_device(syn, "soft_bounds")
    with pytest.raises(ValueError, match="already carries an analog tile"):
        attach_device(syn, "soft_bounds")


def test_dac_and_adc_quantize_and_ideal_forward_changes_nothing():
    torch.manual_seed(0)
    syn = ChipSynapse(6, 3, chip="h1v2", stddev=0.0)
    x = torch.randn(2, 5, 6)
    ideal = syn(x)
    attach_device(syn, forward=AnalogForward())
    assert torch.equal(syn(x), ideal)
    detach_device(syn)
    attach_device(syn, forward={"dac_bits": 4, "dac_range": 1.0, "adc_bits": 5, "adc_range": 2.0})
    out = syn(x)
    expected = quantize(quantize(x, 1.0, 4) @ syn.effective_weight(), 2.0, 5)
    assert torch.equal(out, expected)
    levels = out / (2.0 / 15)
    assert torch.allclose(levels, levels.round(), atol=1e-5) and out.abs().max() <= 2.0


def test_read_and_output_noise_are_resampled_by_prepare_net_reproducibly():
    syn = ChipSynapse(8, 4, chip="h1v2", stddev=0.0)
    x = torch.ones(1, 8)
    clean = syn(x).detach()
    attach_device(syn, forward={"w_noise": 0.05, "out_noise": 0.1})
    outs = []
    for seed in (1, 1, 2):
        nwave_core.prepare_net(syn, torch.Generator().manual_seed(seed))
        outs.append(syn(x).detach())
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])
    # read noise: x @ noise has std 0.05 * sqrt(8); output noise std 0.1
    draws = []
    for seed in range(400):
        nwave_core.prepare_net(syn, torch.Generator().manual_seed(seed))
        draws.append(syn(x).detach() - clean)
    std = torch.cat(draws).std().item()
    assert std == pytest.approx(math.sqrt(0.05**2 * 8 + 0.1**2), rel=0.1)
    detach_device(syn)
    attach_device(syn, forward={"out_noise": 0.0, "w_noise": 0.0, "dac_bits": 8})
    nwave_core.prepare_net(syn)
    assert syn.analog.read_noise.abs().max() == 0


def test_drift_decays_conductance_as_a_power_law():
    syn = ChipSynapse(5, 3, chip="h1v2", stddev=0.0)
    attach_device(syn, forward={"drift_nu": 0.05, "drift_t0": 20.0})
    x = torch.randn(4, 5)
    fresh = syn(x)
    set_inference_time(syn, 10.0)  # before t0: no drift
    assert torch.allclose(syn(x), fresh)
    set_inference_time(syn, 3600.0)
    assert torch.allclose(syn(x), fresh * (3600.0 / 20.0) ** -0.05, atol=1e-6)
    set_inference_time(syn, None)
    assert torch.allclose(syn(x), fresh)
    with pytest.raises(ValueError, match="seconds must be a number >= 0"):
        set_inference_time(syn, -1.0)
    spread = ChipSynapse(50, 50, chip="h1v2")
    tile = attach_device(spread, forward={"drift_nu": 0.05, "drift_nu_dtod": 0.01}, seed=7)
    assert tile.drift_nu.std().item() == pytest.approx(0.01, rel=0.1)
    assert "analog.drift_nu" in spread.state_dict()


# -- plugins and config --------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class _HalfStep(DeviceSpec):
    """A third party's device: half a step up, a full step down."""

    def step_up(self, w, state):
        return 0.5 * state.dw_up.to(w.dtype).expand_as(w)

    def step_down(self, w, state):
        return state.dw_down.to(w.dtype).expand_as(w)


def test_a_third_party_device_plugs_in():
    plugin = types.ModuleType("nwave_halfstep")

    @nwave_core.hookimpl
    def nwave_devices():
        return [nwave_core.Entry(name="half_step", factory=_HalfStep, params=_HalfStep,
                                 summary="half steps up")]

    plugin.nwave_devices = nwave_devices
    name = nwave_core.register_plugin(plugin, "halfstep")
    try:
        reg = nwave_core.registry("device")
        assert "half_step" in reg and reg.get("half_step").provider.plugin == "halfstep"
        syn = ChipSynapse(1, 1, chip="h1v2", stddev=0.0)
        attach_device(syn, {"type": "half_step", "dw_min": 0.01, **_NO_SPREAD})
        with torch.no_grad():
            syn.weight.zero_()
        optimizer = PulsedSGD(syn.parameters(), lr=0.01,
                              update={"pulse_type": "mean_count", "desired_bl": 1})
        syn(torch.ones(1, 1)).mul(-1.0).sum().backward()  # d = -1, x = 1: one up pulse
        optimizer.step()
        assert syn.weight.item() == pytest.approx(0.005)
    finally:
        nwave_core.plugin_host().unregister(name)
    assert "half_step" not in nwave_core.registry("device")


def _config(optimizer, epochs=8):
    return {
        "seed": 0,
        "model": {"surrogate": {"type": "fast_sigmoid", "slope": 5.0}, "layers": [
            {"type": "H1v2Synapse", "nb_inputs": 32, "nb_outputs": 24},
            {"type": "H1v2Layer", "n_neurons": 24},
            {"type": "H1v2Synapse", "nb_inputs": 24, "nb_outputs": 4},
            {"type": "H1v2Layer", "n_neurons": 4}]},
        "data": {"type": "poisson_patterns", "n_samples": 256, "n_channels": 32, "n_steps": 30,
                 "n_classes": 4, "rate": 0.2, "batch_size": 32},
        "optimizer": optimizer,
        "train": {"epochs": epochs, "progress": False},
    }


def test_config_selects_pulsed_sgd_with_an_update_table_and_reports_bad_ones():
    from nwave_core.config import ConfigError, dump_toml, parse_config

    config = _config({"type": "pulsed_sgd", "lr": 0.2, "seed": 1,
                      "device": {"type": "soft_bounds", "dw_min": 0.002},
                      "update": {"desired_bl": 15, "pulse_type": "stochastic"}})
    exp = nwave_core.build(config)
    assert isinstance(exp.optimizer, PulsedSGD)
    update = exp.optimizer.param_groups[0]["update"]
    assert update.desired_bl == 15 and update.pulse_type is PulseType.STOCHASTIC
    synapses = [m for m in exp.model if isinstance(m, ChipSynapse)]
    assert all(m.analog.device.spec.dw_min == 0.002 for m in synapses)
    assert "pulse_type" in dump_toml(parse_config(config))
    bad = _config({"type": "pulsed_sgd", "update": {"desired_bll": 3},
                   "device": {"type": "soft_bound"}})
    with pytest.raises(ConfigError) as info:
        parse_config(bad)
    assert any("Did you mean 'desired_bl'" in e and e.endswith("@ $.optimizer.update")
               for e in info.value.errors)
    assert any("Did you mean 'soft_bounds'" in e and e.endswith("@ $.optimizer.device")
               for e in info.value.errors)


def test_an_h1_network_trains_with_pulsed_sgd(tmp_path):
    from nwave_core.runner import train

    config = _config({"type": "pulsed_sgd", "lr": 0.2, "seed": 0,
                      "device": {"type": "soft_bounds", "dw_min": 0.002}})
    config["out"] = str(tmp_path / "run")
    result = train(nwave_core.build(config))
    # four classes: chance is 0.25
    assert result.history[-1]["test_accuracy"] >= 0.75


def test_res_discretises_the_stochastic_bits_probability():
    # p_x = 0.3 snaps to 0.5 with res = 0.5; p_d = 1: the mean count is 0.5, not 0.3
    params = UpdateParameters(desired_bl=1, update_bl_management=False,
                              update_management=False, res=0.5)
    lr, dw_min = 0.09, 0.1  # A = B = sqrt(lr / dw_min) = sqrt(0.9)
    x = torch.full((4000, 1), 0.3 / math.sqrt(0.9))
    d = torch.full((4000, 1), 1.0 / math.sqrt(0.9))
    counts = coincidences(x, d, lr, dw_min, params, torch.Generator().manual_seed(0))
    assert counts.down.item() / 4000 == pytest.approx(0.5, abs=5 * 0.5 / math.sqrt(4000))
    counts = coincidences(x, d, lr, dw_min, attrs.evolve(params, res=0.0),
                          torch.Generator().manual_seed(0))
    assert counts.down.item() / 4000 == pytest.approx(0.3, abs=5 * 0.46 / math.sqrt(4000))


def test_for_model_takes_the_chips_synapse_device():
    net = _small_net()
    chip = types.SimpleNamespace(synapse_device={"type": "exp_step", "dw_min": 0.003})
    optimizer = PulsedSGD.for_model(net, lr=0.1, chip=chip)
    assert net[0].analog.device.spec.dw_min == 0.003
    assert net[2].analog.device.spec.dw_min == 0.003
    assert net[0].analog.seed == 0 and net[2].analog.seed == 1
    assert isinstance(optimizer, PulsedSGD)


def test_a_resumed_pulsed_run_equals_an_uninterrupted_one(tmp_path):
    from nwave_core.runner import Interrupted, train

    config = _config({"type": "pulsed_sgd", "lr": 0.2, "seed": 3,
                      "device": {"type": "soft_bounds", "dw_min": 0.002},
                      "forward": {"out_noise": 0.01}}, epochs=3)
    config["data"]["n_samples"] = 96
    whole = train(nwave_core.build(config), tmp_path / "whole")

    def stop_after_one(epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted):
        train(nwave_core.build(config), tmp_path / "cut", on_epoch=stop_after_one)
    resumed = train(nwave_core.build(config), tmp_path / "cut", resume=True)
    assert resumed.history == whole.history


def test_mixed_pulses_compose_as_the_formulas_say():
    # constant step, no noise, far from the bounds: w + n_up dw_up - n_down dw_down in any order
    const = _devices("constant_step", shape=(4, 1), dw_min=0.01, up_down=0.1, **_NO_SPREAD)
    w = torch.zeros(4, 1, dtype=torch.float64)
    n_up = torch.tensor([[3.0], [0.0], [5.0], [2.0]], dtype=torch.float64)
    n_down = torch.tensor([[1.0], [4.0], [5.0], [0.0]], dtype=torch.float64)
    assert torch.allclose(const.apply_pulses(w, n_up, n_down),
                          n_up * 0.011 - n_down * 0.009, atol=1e-12)
    # soft bounds, one up and one down pulse: the composed slope is exact and the result lies
    # between the two orders
    soft = _devices("soft_bounds", shape=(1, 1), dw_min=0.05, **_NO_SPREAD)
    w = torch.full((1, 1), 0.3, dtype=torch.float64)
    one, zero = torch.ones_like(w), torch.zeros_like(w)
    both = soft.apply_pulses(w, one, one)
    up_first = soft.apply_pulses(soft.apply_pulses(w, one, zero), zero, one)
    down_first = soft.apply_pulses(soft.apply_pulses(w, zero, one), one, zero)
    low, high = sorted((up_first.item(), down_first.item()))
    assert low - 1e-12 <= both.item() <= high + 1e-12
    # the generic rounds (exp_step): one pulse is exactly one step
    exp = _devices("exp_step", shape=(3, 1), dw_min=0.02, **_NO_SPREAD)
    w = torch.tensor([[-0.3], [0.0], [0.4]], dtype=torch.float64)
    assert torch.allclose(exp.apply_pulses(w, torch.ones_like(w), torch.zeros_like(w)),
                          w + exp.step_up(w), atol=1e-12)


def test_a_chip_declares_its_synapse_device_for_pulsed_sgd(tmp_path):
    import torch
    from torch import nn

    import nwave_core
    from nwave_core import ChipSpec
    from nwave_core.analog import DeviceSpec, PulsedSGD
    from nwave_core.hardware import ChipLayer, ChipSynapse

    chip = ChipSpec(name="analog-chip", synapse_device={"type": "soft_bounds", "dw_min": 0.01})
    assert isinstance(chip.synapse_device, DeviceSpec) and chip.synapse_device.dw_min == 0.01
    assert ChipSpec.from_dict(chip.to_dict()) == chip  # written and read back, as exports do
    assert ChipSpec(name="named", synapse_device="constant_step").synapse_device is not None
    with pytest.raises(nwave_core.UnknownNameError, match="unknown device 'soft_bound'"):
        ChipSpec(name="bad", synapse_device="soft_bound")
    net = nn.Sequential(ChipSynapse(4, 6, chip=chip), ChipLayer(6, chip=chip))
    PulsedSGD.for_model(net, lr=0.1, chip=chip)
    assert hasattr(net[0], "analog")  # the chip's device was attached to its synapse
    hard = chip.harden(net)
    chip.export(hard, tmp_path / "m.json")
