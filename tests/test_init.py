"""Chip-aware initialisation: fluct_init reaches its xi on every built-in chip and a
third-party one, keeps the weights legal and leaves no layer dead."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import nwave_core
from nwave_core.hardware import ChipFrontend, ChipLayer, ChipSynapse
from nwave_core.init import fluct_init, frontend_firing_init, init_weights, measure_xi
from nwave_plugins.layers import LIFLayer, LIFSynapse


def _data(channels, seed=0, n=16, steps=60):
    g = torch.Generator().manual_seed(seed)
    rates = torch.rand(n, 1, channels, generator=g) * 0.4
    return (torch.rand(n, steps, channels, generator=g) < rates).float()


def _net(chip, channels, qat=None):
    frontend = [ChipFrontend(channels, chip=chip)] if chip.rules_of("frontend") else []
    return nn.Sequential(*frontend, ChipSynapse(channels, 20, stddev=0.0, chip=chip, qat=qat),
                         ChipLayer(20, chip=chip), ChipSynapse(20, 6, stddev=0.0, chip=chip, qat=qat),
                         ChipLayer(6, chip=chip))


@pytest.fixture(params=["h1v1", "h1v2", "tern"])
def chip(request, install_fake):
    if request.param == "tern":
        install_fake("tern")
    return nwave_core.create("chip", request.param)


@pytest.mark.parametrize("qat", [False, None])
def test_fluct_init_reaches_its_xi_and_no_layer_is_dead(chip, qat):
    torch.manual_seed(0)
    channels = 16 if chip.name.startswith("h1") else 8
    net, data = _net(chip, channels, qat), _data(channels)
    report = fluct_init(net, data, xi_target=1.5, generator=torch.Generator().manual_seed(1))
    measured = measure_xi(net, data)  # measured on the layers afterwards
    assert [r.layer for r in report] == list(measured)
    assert all(r.dead == 0 for r in report), report
    # with QAT on, the weights are on the chip's grid and xi moves in steps; the 3-bit grid of
    # tern (four levels per sign) is the coarsest
    tolerance = 0.01 if not net[-2].qat else 0.1 if chip.name != "tern" else 1.0
    assert all(abs(xi - 1.5) <= tolerance for xi in measured.values()), measured
    hard_rules = {v.rule for v in chip.validate(net).violations}
    assert not hard_rules & {"weight_range", "sign_block"}  # in range, one sign per block
    with torch.no_grad():
        nwave_core.prepare_net(net)
        assert net(data).sum() > 0  # the output layer fires


def test_fluct_init_on_lif_layers_is_exact_and_alpha_feeds_the_recurrent_weights():
    torch.manual_seed(0)
    data = _data(12)
    net = nn.Sequential(LIFSynapse(12, 24), LIFLayer(24, layer_topology="RC"), LIFSynapse(24, 4),
                        LIFLayer(4))
    report = fluct_init(net, data, xi_target=2.0, alpha=1.0)
    assert [round(r.xi, 3) for r in report] == [2.0, 2.0]
    assert measure_xi(net, data) == pytest.approx({"1": 2.0, "3": 2.0}, abs=1e-3)
    before = net[1].recurrent_weights.detach().clone()
    fluct_init(net, data, xi_target=2.0, alpha=0.5, generator=torch.Generator().manual_seed(0))
    assert not torch.equal(before, net[1].recurrent_weights)
    assert net[1].recurrent_weights.std() > 0
    with pytest.raises(ValueError, match=r"fluct_init: alpha must be in \(0, 1\], got 0"):
        fluct_init(net, data, alpha=0)


def test_frontend_firing_init_sets_each_channel_for_the_rate(install_fake):
    chip = nwave_core.create("chip", "h1v2")
    net = _net(chip, 16)
    data = torch.rand(8, 80, 16) * 0.3
    gains = frontend_firing_init(net, data, target_rate=0.1)["0"]
    with torch.no_grad():
        net[0].reset_state()
        rates = net[0](data).mean((0, 1))
    bounded = gains >= chip.weight_limit - 1e-6
    assert ((rates - 0.1).abs() < 0.03)[~bounded].all()
    assert gains.max() <= chip.weight_limit


def test_init_weights_draws_legal_coherent_weights():
    chip = nwave_core.create("chip", "h1v2")
    net = init_weights(_net(chip, 16), generator=torch.Generator().manual_seed(0))
    rules = {v.rule for v in chip.validate(net).violations}
    assert not rules & {"weight_range", "sign_block"}
    assert net[1].weight.abs().max() <= 1 / math.sqrt(16)


def test_a_config_initialises_the_model_and_checks_its_init_table():
    from nwave_core.config import ConfigError, parse_config
    from nwave_core.experiment import build

    raw = {
        "seed": 3,
        "model": {"chip": {"type": "h1v2"},
                  "layers": [{"type": "H1v2Synapse", "nb_inputs": 6, "nb_outputs": 10},
                             {"type": "H1v2Layer", "n_neurons": 10},
                             {"type": "H1v2Synapse", "nb_inputs": 10, "nb_outputs": 2},
                             {"type": "H1v2Layer", "n_neurons": 2}]},
        "data": {"type": "poisson_patterns", "n_samples": 40, "n_channels": 6, "n_steps": 30,
                 "rate": 0.3},
        "init": {"method": "fluct", "xi_target": 1.5, "samples": 16},
    }
    a, b = build(parse_config(raw)), build(parse_config(raw))
    assert torch.equal(a.model[0].weight, b.model[0].weight)  # seeded: a resume rebuilds it
    x = torch.stack([a.train_data[i][0] for i in range(16)]).float()
    assert measure_xi(a.model, x)["1"] == pytest.approx(1.5, abs=0.1)
    raw["init"] = {"method": "flux", "alpha": 2, "xi_target": -1}
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert "unknown init method 'flux'. Did you mean 'fluct'? Available: fluct, uniform @ " \
           "$.init.method" in info.value.errors
    assert any(e.endswith("@ $.init.alpha") for e in info.value.errors)
    assert any(e.endswith("@ $.init.xi_target") for e in info.value.errors)
