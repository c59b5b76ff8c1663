"""Analog synapses: pulse-train formulas, devices, PulsedSGD and forward non-idealities."""

from __future__ import annotations

import copy
import math
import sys
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
