"""The fidelity report and the model-level mismatch switch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nwave_core import prepare_net
from nwave_core.fidelity import fidelity_report, qat_off
from nwave_core.hardware import set_mismatch
from nwave_core.init import fluct_init
from helpers import spike_task, train_annealed
from nwave_plugins.layers import H1v2Frontend, H1v2Layer, H1v2Synapse


def _trained():
    torch.manual_seed(0)
    net = nn.Sequential(H1v2Frontend(), H1v2Synapse(16, 20), H1v2Layer(20, ileak_mismatch=True),
                        H1v2Synapse(20, 2), H1v2Layer(2))
    x, y = spike_task(40, 30, 16, seed=1)
    fluct_init(net, x, xi_target=1.5, generator=torch.Generator().manual_seed(0))
    train_annealed(net, x, y, epochs=30, lr=0.05, scale=0.3)
    return net, x, y


def test_the_fidelity_report_evaluates_one_model_five_ways():
    net, x, y = _trained()
    report = fidelity_report(net, x, y, draws=4)
    assert report.valid and report.chip == "h1v2" and report.mismatch_draws == 4
    # QAT and SignAnnealing to its end: hardening keeps every spike; the export is exact
    assert report.hardened_accuracy == report.qat_accuracy
    assert report.exported_accuracy == report.hardened_accuracy
    assert report.qat_accuracy > 0.8
    assert 0 <= report.mismatch_accuracy_std <= 0.5
    assert abs(report.mismatch_accuracy_mean - report.hardened_accuracy) < 0.3
    data = report.to_dict()
    assert {"float_test_accuracy", "hardened_test_accuracy", "exported_test_accuracy",
            "mismatch_test_accuracy_mean", "mismatch_test_accuracy_std",
            "mismatch_draws"} <= set(data)
    assert report.table().splitlines()[0] == "fidelity on chip 'h1v2' (strict test accuracy):"
    assert fidelity_report(net, x, y, draws=4) == report  # seeded, and the model is unchanged


def test_set_mismatch_switches_one_model_between_nominal_and_chip_draws():
    torch.manual_seed(0)
    net = nn.Sequential(H1v2Synapse(4, 30), H1v2Layer(30))  # built without mismatch
    x = torch.rand(2, 20, 4) * 3
    g = torch.Generator().manual_seed(0)

    def run():
        prepare_net(net, g)
        with torch.no_grad():
            return net[1](net[0](x), return_mem=True)[1]

    assert torch.equal(run(), run())  # as built: no mismatch
    assert set_mismatch(net, "chip") == "as_built"
    assert not torch.equal(run(), run())  # every variation H1v2 declares
    assert net[1].tau_scale.std() > 0 and net[1].threshold_scale.std() > 0
    set_mismatch(net, "nominal")
    first = run()
    assert torch.equal(net[1].tau_scale, torch.ones(30)) and torch.equal(first, run())
    with pytest.raises(ValueError, match="set_mismatch: mode must be one of 'as_built', "
                                         "'nominal', 'chip', got 'off'"):
        set_mismatch(net, "off")


def test_qat_off_runs_the_float_weights_and_restores():
    syn = H1v2Synapse(3, 4)
    assert syn.qat
    with qat_off(nn.Sequential(syn)):
        assert not syn.qat
        torch.testing.assert_close(syn.effective_weight(), 0.5 * syn.weight)
    assert syn.qat
