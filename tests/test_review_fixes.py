"""Regression tests for defects found in review: each failed before its fix."""

from __future__ import annotations

import attrs
import pytest
import torch
from torch import nn

import nwave_core
from nwave_core import ChipSpec, Entry, prepare_net
from nwave_core.config import ConfigError, fill_config, parse_config
from nwave_core.experiment import build, build_model
from nwave_core.constraints import ChipValidationError
from nwave_core.export import load_export
from nwave_core.hardware import ChipSynapse
from nwave_core.optim import ParamScheduler, SignAnnealing
from nwave_plugins.h1 import H1V2
from nwave_plugins.layers import H1v2Layer, H1v2Synapse, LIFLayer, LIFSynapse
from nwave_plugins.surrogates import atan


def _config(**model):
    return {"seed": 7,
            "model": {"layers": [{"type": "H1v2Synapse", "nb_inputs": 4, "nb_outputs": 5},
                                 {"type": "H1v2Layer", "n_neurons": 5}], **model},
            "data": {"type": "poisson_patterns", "n_samples": 20, "n_channels": 4,
                     "n_steps": 5, "batch_size": 5},
            "train": {"epochs": 1, "progress": False}}


def test_the_configs_chip_with_overrides_drives_the_h1_layers():
    model, chip = build_model(parse_config(_config(chip={"type": "h1v2", "threshold": 2.0,
                                                         "synapse_gain": 1.0})))
    assert chip.threshold == 2.0
    assert model[0].chip == chip and model[1].chip == chip


def test_a_chip_with_the_same_name_but_other_numbers_is_not_trusted():
    other = H1V2.with_overrides(threshold=3.0)
    net = nn.Sequential(H1v2Synapse(4, 5), H1v2Layer(5))
    rules = {v.rule for v in other.validate(net).violations}
    assert "threshold" in rules
    hard = other.harden(net)
    assert hard[1].chip == other and hard[0].chip == other
    assert other.validate(hard).ok


def test_a_plain_recurrent_layer_exports_and_loads_with_the_same_dynamics(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(LIFSynapse(6, 10), LIFLayer(10, layer_topology="RC", taus=20e-3,
                                                     reset_mechanism="subtraction"))
    with torch.no_grad():
        net[0].weight.mul_(3)
    plain = ChipSpec(name="plain", weight_bits=8, reset="subtraction", membrane_floor=0.0,
                     tau_profiles=(10e-3, 20e-3))  # linear synapses of gain 1, like LIFSynapse
    hard = plain.harden(net)
    loaded, _ = load_export(plain.export(hard, tmp_path / "m.json"), chip=plain)
    x = (torch.rand(3, 40, 6, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    prepare_net(hard), prepare_net(loaded)
    with torch.no_grad():
        assert torch.equal(loaded(x), hard(x))


def test_a_learnable_surrogate_in_a_layer_is_a_parameter_of_the_layer():
    # trained through the engine (tests/test_engine_autograd.py), no longer refused
    layer = LIFLayer(3, spike_grad=atan(learnable=True))
    assert "spike_grad.alpha" in dict(layer.named_parameters())


def test_integer_schedules_of_an_attribute_that_starts_as_none_stay_integers():
    synapse = H1v2Synapse(3, 4)
    bits = ParamScheduler(synapse, "quantization_bits", policy="linear", start_value=8,
                          end_value=4, total_steps=5)
    for _ in range(6):
        bits.step()
        assert isinstance(synapse.quantization_bits, int)
    assert synapse.quantization_bits == 4


def test_turning_mismatch_off_clears_the_old_sample():
    synapse = ChipSynapse(3, 4, stddev=0.05, chip=H1V2)
    layer = H1v2Layer(4, ileak_mismatch=True, threshold_mismatch=True)
    net = nn.Sequential(synapse, layer)
    prepare_net(net, torch.Generator().manual_seed(0))
    assert synapse.mismatch.abs().sum() > 0 and not torch.equal(layer.tau_scale, torch.ones(4))
    synapse.stddev = 0.0
    layer.ileak_mismatch = layer.threshold_mismatch = False
    prepare_net(net)
    assert synapse.mismatch.abs().sum() == 0
    assert torch.equal(layer.tau_scale, torch.ones(4))
    assert torch.equal(layer.threshold_scale, torch.ones(4))


def test_the_filled_config_rebuilds_the_same_data():
    config = parse_config(_config())
    filled = fill_config(config)
    assert filled.data.params["seed"] == 7
    a, b = build(config), build(filled)
    assert torch.equal(a.train_data.tensors[0], b.train_data.tensors[0])


def test_a_string_where_a_number_belongs_is_a_config_error():
    raw = _config()
    raw["optimizer"] = {"type": "Adam", "lr": "1e-3"}  # what YAML reads from `lr: 1e-3`
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert info.value.errors == ["wrong type: expected a number, got str '1e-3' @ $.optimizer.lr"]


def test_taus_off_the_chips_profiles_are_reported_and_snapped():
    net = nn.Sequential(LIFSynapse(3, 4), LIFLayer(4, taus=13e-3))
    report = H1V2.validate(net)
    assert any(v.rule == "tau_set" and "4 of 4 taus are not among the profiles" in v.detail
               for v in report.violations)
    hard = ChipSpec(name="h1v2-taus", tau_profiles=H1V2.tau_profiles).harden(net)
    assert torch.allclose(hard[1].taus, torch.full((4,), 10e-3))
    with pytest.raises(ChipValidationError, match="synapse_transfer"):
        H1V2.harden(net)  # a plain LIF synapse delivers w, H1v2's synapses 0.5 * w


def test_a_single_epoch_of_sign_annealing_ends_at_alpha_end():
    net = nn.Sequential(H1v2Synapse(6, 10), H1v2Layer(10))
    sa = SignAnnealing(net, total_epochs=1, alpha_end=7.0)
    assert sa.step(net, 1) == 7.0


def test_attrs_params_with_aliases_build_with_the_alias_names():
    @attrs.frozen
    class Params:
        _scale: float = attrs.field(default=1.0, alias="scale")

    def make(scale):
        return scale * 2

    reg = nwave_core.Registry("layer")
    reg.add(Entry("thing", make, params=Params))
    assert reg.create("thing", scale=3.0) == 6.0


def test_a_surrogate_in_primitive_mode_runs_in_layers():
    # the layer outputs the primitive (tests/test_engine_autograd.py), no longer refused
    out = LIFLayer(3, spike_grad=atan(spiking=False))(torch.randn(2, 4, 3))
    assert ((out > 0) & (out < 1)).all()


def test_nn_linear_is_reported_not_checked_on_the_wrong_axis():
    net = nn.Sequential(nn.Linear(4, 5), H1v2Layer(5))
    report = H1V2.validate(net)
    assert [v.rule for v in report.violations] == ["structure"]
    assert "torch.nn.Linear (weight [out, in]) is not a chip synapse" in report.violations[0].detail
