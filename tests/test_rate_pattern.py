"""The rate_pattern dataset, the rate_mse read-out and its metric (rate_correlation), and a
recurrent chip run that learns to follow a target rate pattern from a config."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nwave_core
from nwave_core import build
from nwave_core.config import ConfigError, parse_config
from nwave_core.data import DataError, DataSplits, make_dataset, rate_pattern, smooth_curves
from nwave_core.losses import readout_loss, readout_metric, readout_scores
from nwave_core.metrics import rate_correlation, window_rates


# -- the dataset --------------------------------------------------------------------------------


def test_rate_pattern_is_registered_and_shaped():
    assert nwave_core.registry("dataset").get("rate_pattern").provider.plugin == "nwave.datasets"
    data = make_dataset("rate_pattern", n_train=6, n_test=3, n_channels=4, n_outputs=2,
                        duration=0.2, bin_s=0.01, window=5, seed=1)
    assert isinstance(data, DataSplits) and data.classes is None
    x, y = data.train.tensors
    assert x.shape == (6, 20, 4) and y.shape == (6, 4, 2)
    assert data.test.tensors[0].shape == (3, 20, 4)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    # the target is the target curves averaged over windows, the same for every sample
    curves = data.train.target_rates
    assert torch.allclose(y[0], curves.reshape(4, 5, 2).mean(1))
    assert torch.equal(y[0], y[5]) and torch.equal(y[0], data.test.tensors[1][2])


def test_rate_pattern_inputs_follow_their_rates_and_new_draws_differ():
    data = rate_pattern(n_train=400, n_test=400, n_channels=3, duration=0.5, seed=2)
    x_train, x_test = data.train.tensors[0], data.test.tensors[0]
    assert not torch.equal(x_train, x_test)  # test samples are new draws
    # mean over samples ~ the input rate curve (Bernoulli, 800 draws: std < 0.018)
    both = torch.cat([x_train, x_test]).mean(0)
    assert (both - data.train.input_rates).abs().max() < 0.09
    again = rate_pattern(n_train=400, n_test=400, n_channels=3, duration=0.5, seed=2)
    assert torch.equal(again.train.tensors[0], x_train)  # deterministic from the seed


@given(st.integers(0, 2**31), st.floats(0.0, 0.5), st.floats(0.01, 0.5))
@settings(max_examples=30, deadline=None)
def test_smooth_curves_span_exactly_the_range(seed, low, width):
    curves = smooth_curves(np.random.default_rng(seed), 4, 50, 0.01, low, low + width)
    assert curves.shape == (50, 4)
    assert np.allclose(curves.min(0), low) and np.allclose(curves.max(0), low + width)


@pytest.mark.parametrize("change, message", [
    ({"window": 7}, r"window \(7 steps\) must divide the 100 steps"),
    ({"target_rate": [0.5, 0.2]}, r"target_rate must be \[low, high\] with 0 <= low < high"),
    ({"input_rate": "fast"}, r"input_rate must be \[low, high\] spike probabilities"),
    ({"n_outputs": 0}, r"n_outputs must be an integer >= 1"),
    ({"bin_s": 0}, r"bin_s must be a number > 0"),
])
def test_rate_pattern_rejects_bad_arguments(change, message):
    with pytest.raises(DataError, match=message):
        rate_pattern(**change)


# -- the read-out and its metric ----------------------------------------------------------------


def test_window_rates_and_the_rate_mse_loss():
    spikes = torch.zeros(1, 4, 2)
    spikes[0, 0, 0] = spikes[0, 1, 0] = spikes[0, 3, 1] = 1
    assert window_rates(spikes, 2).tolist() == [[[1.0, 0.0], [0.0, 0.5]]]
    target = torch.tensor([[[0.5, 0.0], [0.0, 0.0]]])
    # errors 0.5, 0, 0, 0.5 -> mean of squares 0.125, times the scale
    assert readout_loss("rate_mse", spikes, target, scale=2.0).item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"4 time steps cannot be split into 3 equal windows"):
        window_rates(spikes, 3)
    with pytest.raises(ValueError, match=r"needs target rates \[B, W, 2\]"):
        readout_loss("rate_mse", spikes, torch.tensor([0]))
    with pytest.raises(ValueError, match="has no class scores"):
        readout_scores("rate_mse", spikes)


def test_rate_correlation_is_pearson_over_windows_outputs_and_samples():
    generator = torch.Generator().manual_seed(0)
    spikes = (torch.rand(3, 20, 4, generator=generator) < 0.3).float()
    rates = window_rates(spikes, 5)
    target = torch.rand(3, 5, 4, generator=generator)
    expected = np.corrcoef(rates.flatten().numpy(), target.flatten().numpy())[0, 1]
    assert rate_correlation(spikes, target) == pytest.approx(expected, abs=1e-9)
    # invariant to an offset and a positive scale of the target; a perfect follower scores 1
    assert rate_correlation(spikes, 3 * rates + 0.1) == pytest.approx(1.0)
    assert rate_correlation(spikes, -rates) == pytest.approx(-1.0)
    assert rate_correlation(torch.zeros(3, 20, 4), target) == 0.0  # silent outputs: no credit
    assert readout_metric("rate_mse", spikes, target) == rate_correlation(spikes, target)
    with pytest.raises(ValueError, match=r"targets must be \[B, W, O\] = \[3, W, 4\]"):
        rate_correlation(spikes, torch.zeros(3, 5))


def test_readout_metric_of_a_classification_readout_is_strict_accuracy():
    spikes = torch.zeros(3, 2, 2)
    spikes[0, :, 1] = 1  # class 1, right
    spikes[1, 0, :] = 1  # a tie: wrong
    # sample 2 silent: wrong, not class 0
    assert readout_metric("spike_count", spikes, torch.tensor([1, 0, 0])) == pytest.approx(1 / 3)


# -- from a config ------------------------------------------------------------------------------


def _pattern_config(**train):
    return {
        "seed": 0,
        "model": {"chip": {"type": "h1v2"}, "surrogate": {"type": "atan", "alpha": 2.0},
                  "layers": [{"type": "H1v2Frontend", "taus": 0.02},
                             {"type": "H1v2Synapse", "nb_inputs": 16, "nb_outputs": 20},
                             {"type": "H1v2Layer", "n_neurons": 20, "taus": 0.04,
                              "layer_topology": "RC"},
                             {"type": "H1v2Synapse", "nb_inputs": 20, "nb_outputs": 5},
                             {"type": "H1v2Layer", "n_neurons": 5, "taus": 0.02}]},
        "data": {"type": "rate_pattern", "n_train": 16, "n_test": 8, "n_outputs": 5,
                 "duration": 0.3, "batch_size": 8},
        "train": {"epochs": 10, "loss": "rate_mse", "progress": False, "mismatch_draws": 2,
                  **train},
        "init": {"method": "fluct", "xi_target": 1.5, "frontend_rate": 0.1},
        "optimizer": {"type": "Adam", "lr": 0.03},
    }


def test_a_recurrent_chip_run_learns_to_follow_the_pattern(tmp_path):
    from nwave_core.runner import train

    result = train(build(parse_config(_pattern_config())), tmp_path)
    first, last = result.history[0], result.history[-1]
    # measured: test loss 0.049 -> 0.015, correlation -0.06 -> 0.67
    assert last["test_loss"] < 0.6 * first["test_loss"]
    assert last["test_accuracy"] > first["test_accuracy"] + 0.4
    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["metric"] == "rate_correlation"
    for key in ("qat_test_accuracy", "hardened_test_accuracy", "exported_test_accuracy",
                "mismatch_test_accuracy_mean"):
        assert math.isfinite(summary[key]) and -1.0 <= summary[key] <= 1.0, key


def test_a_classification_run_reports_its_metric_as_accuracy(tmp_path):
    from nwave_core.runner import train

    raw = {"model": {"layers": [{"type": "LIFSynapse", "nb_inputs": 4, "nb_outputs": 2},
                                {"type": "LIFLayer", "n_neurons": 2}]},
           "data": {"type": "poisson_patterns", "n_samples": 8, "n_channels": 4, "n_steps": 5},
           "train": {"epochs": 1, "progress": False}}
    train(build(parse_config(raw)), tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["metric"] == "accuracy"


def test_the_rate_mse_loss_is_a_config_choice():
    with pytest.raises(ConfigError, match=r"unknown loss 'rate_mes'\.\s+Did you mean 'rate_mse'"):
        parse_config(_pattern_config(loss="rate_mes"))


def test_the_test_correlation_is_one_over_the_test_set_whatever_the_batch_size():
    from nwave_core.runner import evaluate

    scores = []
    for batch_size in (8, 3):
        raw = _pattern_config()
        raw["data"] = {**raw["data"], "batch_size": batch_size, "n_test": 7}
        exp = build(parse_config(raw))
        _, score = evaluate(exp)
        scores.append(score)
    assert scores[0] == pytest.approx(scores[1], abs=1e-12)


@pytest.mark.parametrize("loss, data, message", [
    ("cross_entropy", {}, r"the cross_entropy read-out needs a class index per sample, but "
                          r"dataset 'rate_pattern' gives targets of shape \[6, 5\]"),
    ("rate_mse", {"n_outputs": 3}, r"the rate_mse read-out compares 5 output neurons with 3 "
                                   r"target rates"),
])
def test_targets_that_do_not_fit_the_read_out_are_a_config_error(loss, data, message):
    raw = _pattern_config(loss=loss)
    raw["data"] = {**raw["data"], **data}
    with pytest.raises(ConfigError, match=message + r".*@ \$\.train\.loss"):
        build(parse_config(raw))


def test_a_class_dataset_under_the_rate_read_out_is_a_config_error():
    raw = {"model": {"layers": [{"type": "LIFSynapse", "nb_inputs": 4, "nb_outputs": 2},
                                {"type": "LIFLayer", "n_neurons": 2}]},
           "data": {"type": "poisson_patterns", "n_samples": 8, "n_channels": 4, "n_steps": 5},
           "train": {"epochs": 1, "progress": False, "loss": "rate_mse"}}
    with pytest.raises(ConfigError, match=r"the rate_mse read-out needs target rates \[windows, "
                                          r"outputs\] per sample, but dataset 'poisson_patterns'"):
        build(parse_config(raw))


def test_the_cli_names_the_file_when_the_targets_do_not_fit(tmp_path, capsys):
    from nwave_core.cli import main

    config = tmp_path / "bad.toml"
    config.write_text('[[model.layers]]\ntype = "LIFSynapse"\nnb_inputs = 16\nnb_outputs = 5\n'
                      '[[model.layers]]\ntype = "LIFLayer"\nn_neurons = 5\n'
                      '[data]\ntype = "rate_pattern"\nn_outputs = 5\n[train]\nepochs = 1\n')
    assert main(["train", str(config), "--set", f"out={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert f"{config}: 1 problem" in err and "@ $.train.loss" in err
    assert "Traceback" not in err and not (tmp_path / "run").exists()
