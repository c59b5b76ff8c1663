"""Config-driven assembly: every error at once with its path, round trips, the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import nwave_core
from nwave_core.cli import main
from nwave_core.config import ConfigError, dump_toml, fill_config, load_config, parse_config
from nwave_core.experiment import build, build_model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIGS = sorted((Path(__file__).parents[1] / "docs" / "examples" / "configs").glob("*.*"))


def minimal(**changes):
    raw = {
        "model": {"layers": [{"type": "LIFSynapse", "nb_inputs": 6, "nb_outputs": 8},
                             {"type": "LIFLayer", "n_neurons": 8},
                             {"type": "LIFSynapse", "nb_inputs": 8, "nb_outputs": 2},
                             {"type": "LIFLayer", "n_neurons": 2}]},
        "data": {"type": "poisson_patterns", "n_samples": 40, "n_channels": 6, "n_steps": 12,
                 "batch_size": 10},
        "train": {"epochs": 2, "progress": False},
        "optimizer": {"type": "Adam", "lr": 0.01},
    }
    raw.update(changes)
    return raw


def test_a_minimal_config_parses_and_builds():
    config = parse_config(minimal())
    exp = build(config)
    assert isinstance(exp.model, torch.nn.Sequential) and len(exp.model) == 4
    assert isinstance(exp.optimizer, torch.optim.Adam) and exp.chip is None
    assert len(exp.train_data) == 32 and len(exp.test_data) == 8


def test_ten_planted_mistakes_are_all_reported_with_their_paths():
    raw = minimal(
        trian={"epochs": 3},                                                     # 1
        requires=["nwave-not-installed>=1.0"],                                   # 2
        schedulers=[{"type": "surrogate", "policy": "linaer"}],                  # 3
    )
    raw["model"]["surrogate"] = {"type": "atna"}                                 # 4
    raw["model"]["layers"][1] = {"type": "LIFLayer", "n_neuron": 8}              # 5, 6
    raw["model"]["layers"][2]["type"] = "LIFSynapce"                             # 7
    raw["data"]["batch_size"] = 0                                                # 8
    raw["optimizer"] = {"type": "Adamm", "lr": 0.01}                             # 9
    raw["train"]["epochs"] = "ten"                                               # 10
    with pytest.raises(ConfigError) as info:
        parse_config(raw, source="planted.toml")
    errors = info.value.errors
    expected = [
        "unknown key 'trian'. Did you mean 'train'? Allowed keys: model, data, train, optimizer, "
        "lr_schedule, schedulers, sign_annealing, init, seed, out, requires @ $.trian",
        "the config needs 'nwave-not-installed>=1.0', which is not installed: pip install "
        "'nwave-not-installed>=1.0' @ $.requires[0]",
        "unknown policy 'linaer'. Did you mean 'linear'? Available: ",
        ". @ $.schedulers[0].policy",
        "@ $.model.surrogate.type",
        "layer 'LIFLayer' has no parameter 'n_neuron'. Did you mean 'n_neurons'?",
        "layer 'LIFLayer' needs parameter 'n_neurons' @ $.model.layers[1]",
        "unknown layer 'LIFSynapce'. Did you mean 'LIFSynapse'",
        "out of range: must be >= 1, got 0 @ $.data.batch_size",
        "unknown optimizer 'Adamm'. Did you mean 'Adam'",
        "wrong type: expected int, got str 'ten' @ $.train.epochs",
    ]
    for text in expected:
        assert any(text in e for e in errors), f"{text!r} not in {errors}"
    assert len(errors) == 10, errors
    message = str(info.value)
    assert message.startswith("planted.toml: 10 problems:\n  - ")


def test_unknown_keys_in_sections_get_suggestions():
    raw = minimal()
    raw["train"]["epoch"] = 3
    raw["data"]["batch_sise"] = 3
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    errors = info.value.errors
    assert any(e.startswith("unknown key 'epoch'. Did you mean 'epochs'?") and e.endswith("@ $.train.epoch")
               for e in errors), errors
    assert any("dataset 'poisson_patterns' has no parameter 'batch_sise'. Did you mean 'batch_size'"
               in e or "'batch_sise'" in e for e in errors), errors


def test_a_type_error_does_not_hide_other_sections_problems():
    raw = minimal(seed="zero")
    raw["optimizer"] = {"type": "SGDD", "lr": 0.1}
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert len(info.value.errors) == 2
    assert any("@ $.seed" in e for e in info.value.errors)
    assert any("unknown optimizer 'SGDD'" in e for e in info.value.errors)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_example_configs_round_trip_to_an_identical_model(path, tmp_path):
    config = load_config(path)
    filled = tmp_path / "filled.toml"
    filled.write_text(dump_toml(fill_config(config)))
    again = load_config(filled)
    assert fill_config(again) == fill_config(config)
    model_a, chip_a = build_model(config)
    model_b, chip_b = build_model(again)
    assert chip_a == chip_b and repr(model_a) == repr(model_b)
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def test_cli_config_check_and_fill(tmp_path, capsys):
    good = next(p for p in CONFIGS if p.name == "lif_poisson.toml")
    assert main(["config", "check", str(good)]) == 0
    assert capsys.readouterr().out == f"{good}: OK\n"
    bad = tmp_path / "bad.toml"
    bad.write_text('seed = "x"\n[model]\nlayers = [{type = "LIFLayr", n_neurons = 3}]\n')
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nwave: error: {bad}: 2 problems:\n")
    assert "Did you mean 'LIFLayer'" in err and "Traceback" not in err
    out = tmp_path / "filled.toml"
    assert main(["config", "fill", str(good), "-o", str(out)]) == 0
    filled = tomllib.loads(out.read_text())
    assert filled["model"]["layers"][1]["dt"] == 0.001  # a default, written out
    (tmp_path / "broken.toml").write_text("[model\n")
    assert main(["config", "check", str(tmp_path / "broken.toml")]) == 2
    assert "not valid TOML" in capsys.readouterr().err


def _small(raw):
    """A tiny budget for the example configs."""
    raw["train"]["epochs"] = 2
    raw["train"]["progress"] = False
    raw["train"]["mismatch_draws"] = 1
    if raw["data"]["type"] == "spoken_words":
        pytest.importorskip("espeakng_loader")
        raw["data"]["n_per_class"] = 8
    elif raw["data"]["type"] == "rate_pattern":
        raw["data"].update(n_train=16, n_test=8)
    else:
        raw["data"]["n_samples"] = 32
    return raw


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_example_config_trains_from_the_cli(path, tmp_path, capsys):
    if path.suffix == ".toml":
        raw = tomllib.loads(path.read_text())
    else:
        yaml = pytest.importorskip("yaml")
        raw = yaml.safe_load(path.read_text())
    small = tmp_path / "small.toml"
    small.write_text(dump_toml(parse_config(_small(raw))))
    out = tmp_path / "run"
    assert main(["train", str(small), "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"trained 2 epochs; outputs in {out}")
    for name in ("config.toml", "checkpoint.pt", "metrics.csv", "metrics.json", "results.json"):
        assert (out / name).is_file(), name
    if "chip" in raw["model"]:
        what = "rate correlation" if raw["train"].get("loss") == "rate_mse" else "accuracy"
        assert f"test {what}: float" in printed and list(out.glob("model.*.json"))
        assert (out / "validation.txt").is_file()


def test_resume_gives_the_losses_of_an_uninterrupted_run(tmp_path):
    from nwave_core.runner import Interrupted, train

    raw = minimal(train={"epochs": 4, "progress": False},
                  schedulers=[{"type": "surrogate", "policy": "linear", "start_value": 1.0,
                               "end_value": 3.0, "total_steps": 4}],
                  lr_schedule={"type": "StepLR", "step_size": 1, "gamma": 0.5})
    whole = train(build(parse_config(raw)), tmp_path / "whole")

    def stop_after_two(epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted) as info:
        train(build(parse_config(raw)), tmp_path / "cut", on_epoch=stop_after_two)
    assert info.value.epoch == 2
    resumed = train(build(parse_config(raw)), tmp_path / "cut", resume=True)
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in whole.history]
    assert resumed.history == whole.history


def test_checkpoints_load_with_weights_only(tmp_path):
    from nwave_core.runner import train

    train(build(parse_config(minimal())), tmp_path)
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 2 and state["config"]["train"]["epochs"] == 2


def test_compare_surrogates_writes_a_plot_and_a_table(tmp_path, capsys):
    config = tmp_path / "c.toml"
    config.write_text(dump_toml(parse_config(minimal())))
    assert main(["compare", str(config), "--surrogates", "atan", "fast_sigmoid",
                 "--out", str(tmp_path / "cmp"), "--no-progress"]) == 0
    table = (tmp_path / "cmp" / "comparison.md").read_text().splitlines()
    assert table[0] == "| surrogate | final loss | train accuracy | test accuracy | firing rate |"
    assert [row.split("|")[1].strip() for row in table[2:]] == ["atan", "fast_sigmoid"]
    pytest.importorskip("matplotlib")
    assert (tmp_path / "cmp" / "comparison.png").is_file()


def test_build_is_exported_at_the_top_level():
    assert nwave_core.build is build


PLANTED = """
seed = 0
out = "{out}"

[model]
surrogate = {{ type = "atan", alpha = -2.0 }}

[[model.layers]]
type = "LIFSynapse"
nb_inputs = 6
nb_outputs = 64

[[model.layers]]
type = "LIFLayer"
n_neurons = 64
taus = -0.02
reset_mechanism = "subtract"

[[model.layers]]
type = "LIFSynapse"
nb_inputs = 32
nb_outputs = 2

[[model.layers]]
type = "LIFLayer"
n_neurons = "ten"

[[model.layers]]
type = "LIFLayer"
n_neurons = 0

[[model.layers]]
type = "LIFLayer"
n_neurons = 2
dt = -1.0
learn_taus = "yes"
thresholds = [1.0, 2.0, 3.0]
layer_topology = "XX"
spike_grad = {{ type = "fast_sigmoid", slope = "steep" }}

[data]
type = "poisson_patterns"
n_samples = 40
n_channels = 7
n_classes = 3
rate = 2.0
batch_size = 10

[train]
epochs = 2
progress = "no"
epoc = 3

[optimizer]
type = "Adam"
lr = 0.01
betas = 5
eps = -1.0
amsgrad = "maybe"

[[schedulers]]
type = "surrogate"
policy = "linear"
start_value = 1.0
end_value = 4.0
gamma = "two"
"""

PLANTED_PATHS = [
    "$.model.surrogate.alpha",
    "$.model.layers[0].nb_inputs",            # 6 inputs, the data has 7 channels
    "$.model.layers[1].taus",
    "$.model.layers[1].reset_mechanism",
    "$.model.layers[2].nb_inputs",            # 32 after a 64-wide layer
    "$.model.layers[3].n_neurons",            # "ten"
    "$.model.layers[4].n_neurons",            # 0
    "$.model.layers[5].dt",
    "$.model.layers[5].learn_taus",
    "$.model.layers[5].thresholds",
    "$.model.layers[5].layer_topology",
    "$.model.layers[5].spike_grad.slope",
    "$.data.n_classes",                       # 3 classes, 2 outputs
    "$.data.rate",
    "$.train.progress",
    "$.train.epoc",
    "$.optimizer.betas",
    "$.optimizer.eps",
    "$.optimizer.amsgrad",
    "$.schedulers[0].gamma",
]


def test_twenty_planted_mistakes_inside_parameters_are_all_reported_at_once(tmp_path, capsys):
    config = tmp_path / "planted.toml"
    out = tmp_path / "run"
    config.write_text(PLANTED.format(out=out))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    paths = [e.rsplit(" @ ", 1)[1] for e in info.value.errors]
    assert sorted(paths) == sorted(PLANTED_PATHS), info.value.errors
    errors = dict(zip(paths, info.value.errors))
    assert errors["$.model.surrogate.alpha"] == (
        "invalid value: surrogate 'atan': alpha must be > 0, got -2.0 @ $.model.surrogate.alpha")
    assert errors["$.model.layers[3].n_neurons"] == (
        "wrong type: expected an integer, got str 'ten' @ $.model.layers[3].n_neurons")
    assert errors["$.model.layers[2].nb_inputs"].startswith(
        "size mismatch: LIFSynapse takes 32 inputs (nb_inputs), but the output of "
        "$.model.layers[1] (LIFLayer) is 64")
    assert errors["$.optimizer.betas"] == (
        "wrong type: expected a list of 2 items, got int 5 @ $.optimizer.betas")
    assert "reset_mechanism must be one of 'zero', 'subtraction', 'none', got 'subtract'" in \
        errors["$.model.layers[1].reset_mechanism"]
    assert errors["$.train.epoc"].startswith("unknown key 'epoc'. Did you mean 'epochs'?")
    # the CLI: every problem in one run, exit 2, no traceback, and train writes nothing
    assert main(["config", "check", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nwave: error: {config}: {len(PLANTED_PATHS)} problems:\n")
    assert all(f"@ {path}\n" in err for path in PLANTED_PATHS) and "Traceback" not in err
    assert main(["train", str(config), "--out", str(out)]) == 2
    assert capsys.readouterr().err == err
    assert not out.exists()


def test_a_scheduler_spans_the_run_unless_told_otherwise(tmp_path):
    raw = minimal(schedulers=[{"type": "surrogate", "policy": "linear", "start_value": 1.0,
                               "end_value": 3.0}])
    config = parse_config(raw)
    exp = build(config)
    assert exp.schedulers[0].total_steps == raw["train"]["epochs"] == 2
    assert fill_config(config).schedulers[0].params["total_steps"] == 2
    raw["schedulers"][0]["total_steps"] = 10
    with pytest.warns(nwave_core.errors.ConfigWarning, match=r"^total_steps 10 is longer than "
                      r"the run \(2 epochs, one scheduler step each\), so the schedule stops 20% "
                      r"of the way; .* @ \$\.schedulers\[0\]\.total_steps$"):
        parse_config(raw)


@pytest.mark.parametrize("change, path, text", [
    (lambda r: r["model"]["layers"].insert(0, {"type": "H1v2Frontend"}), "$.model.layers[0]",
     "size mismatch: H1v2Frontend takes 16 inputs (by default), but the data's "
     "channels ($.data) are 6"),
    (lambda r: r.update(train={"epochs": 2, "loss": "population_mse", "num_classes": 3}),
     "$.train.num_classes", "size mismatch: 3 classes need at least 3 outputs, but the last "
     "layer has 2"),
    (lambda r: r["data"].update(n_classes=4), "$.data.n_classes",
     "size mismatch: the data has 4 classes, more than the 2 outputs of the last layer"),
])
def test_cross_checks(change, path, text):
    raw = minimal()
    change(raw)
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert any(e.startswith(text) and e.endswith(f"@ {path}") for e in info.value.errors), \
        info.value.errors


def test_a_bad_width_is_reported_once_not_again_as_a_mismatch():
    raw = minimal()
    raw["model"]["layers"].insert(0, {"type": "H1v2Frontend", "n_channels": 0})
    raw["data"]["n_channels"] = -6
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert info.value.errors == [
        "invalid value: H1v2Frontend: n_neurons must be an integer >= 1, got 0 "
        "@ $.model.layers[0].n_channels",
        "invalid value: n_channels must be an integer >= 1, got -6 @ $.data.n_channels",
    ]
