"""The runner under stress: kill points, corrupt checkpoints, changed-config resume, NaN input,
clashing and broken plugins, device and overrides. Each ends with a clear message, the documented
exit status, and nothing lost."""

from __future__ import annotations

import functools
import json
import math
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
import torch

import nwave_core
from nwave_core import NwavePluginWarning
from nwave_core.cli import main
from nwave_core.config import dump_toml, load_config, parse_config
from nwave_core.data import DATASETS
from nwave_core.experiment import build
from nwave_core.runner import Diverged, train


def _raw(epochs=3, **train):
    return {
        "seed": 1,
        "model": {"surrogate": {"type": "atan"},
                  "layers": [{"type": "LIFSynapse", "nb_inputs": 6, "nb_outputs": 8},
                             {"type": "LIFLayer", "n_neurons": 8},
                             {"type": "LIFSynapse", "nb_inputs": 8, "nb_outputs": 2},
                             {"type": "LIFLayer", "n_neurons": 2}]},
        "data": {"type": "poisson_patterns", "n_samples": 40, "n_channels": 6, "n_steps": 12,
                 "rate": 0.3, "batch_size": 10},
        "train": {"epochs": epochs, "progress": False, **train},
        "optimizer": {"type": "Adam", "lr": 0.01},
        "schedulers": [{"type": "surrogate", "policy": "linear", "start_value": 1.0,
                        "end_value": 3.0}],
    }


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(dump_toml(parse_config(_raw())))
    return path


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# -- kill points ----------------------------------------------------------------------------------

_KILL = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    import nwave_core.runner as runner
    from nwave_core.config import load_config
    from nwave_core.experiment import build

    point, out = sys.argv[1], Path(sys.argv[2])
    real_replace, real_save = os.replace, runner.save_atomic

    def replace(src, dst):
        if point == "inside-checkpoint-write" and Path(dst).name == "checkpoint.pt" \\
                and (out / "metrics.json").is_file() and '"epoch": 2' in (out / "metrics.json").read_text():
            os._exit(9)  # the temporary file is written, the rename never happens
        real_replace(src, dst)

    def save_atomic(obj, path):
        if point == "after-metrics" and path.name == "checkpoint.pt" and obj["epoch"] == 2:
            os._exit(9)
        real_save(obj, path)

    def on_epoch(epoch):
        if point == "after-checkpoint" and epoch == 2:
            os._exit(9)

    os.replace = replace
    runner.save_atomic = save_atomic
    exp = build(load_config(sys.argv[3]))
    step, steps = exp.optimizer.step, []

    def counted_step(*args, **kwargs):
        steps.append(1)
        if point == "mid-epoch" and len(steps) == 6:  # epoch 2, its second batch
            os._exit(9)
        return step(*args, **kwargs)

    exp.optimizer.step = counted_step
    runner.train(exp, out, on_epoch=on_epoch)
""")


@pytest.mark.parametrize("point", ["inside-checkpoint-write", "after-metrics", "after-checkpoint",
                                   "mid-epoch"])
def test_a_kill_at_any_point_loses_nothing_and_resumes_exactly(point, tmp_path, config_file):
    whole = train(build(load_config(config_file)), tmp_path / "whole")
    out = tmp_path / "killed"
    killed = subprocess.run([sys.executable, "-c", _KILL, point, str(out), str(config_file)],
                            capture_output=True, text=True)
    assert killed.returncode == 9, killed.stderr
    saved = torch.load(out / "checkpoint.pt", weights_only=True)["epoch"]
    rows = json.loads((out / "metrics.json").read_text())
    assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) >= saved  # the metrics cover at least the checkpoint's epochs
    resumed = train(build(load_config(config_file)), out, resume=True)
    assert resumed.history == whole.history
    assert json.loads((out / "metrics.json").read_text()) == whole.history
    assert len((out / "metrics.csv").read_text().splitlines()) == 1 + 3
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))


# -- corrupt and foreign checkpoints ------------------------------------------------------------------


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


CORRUPTIONS = {
    "truncated": (_truncated, "is not a readable checkpoint"),
    "empty": (lambda p: p.write_bytes(b""), "is not a readable checkpoint"),
    "garbage": (lambda p: p.write_bytes(b"\x00not a checkpoint" * 50), "is not a readable checkpoint"),
    "foreign dict": (lambda p: torch.save({"state_dict": {"w": torch.zeros(2)}}, p),
                     "is not an nwave training checkpoint (missing version, epoch, model,"),
    "plain tensor": (lambda p: torch.save(torch.zeros(3), p), "is not an nwave training checkpoint"),
    "newer format": (lambda p: torch.save({**torch.load(p, weights_only=True), "version": 99}, p),
                     "has checkpoint format 99, this nwave reads format 1"),
    "other model": (lambda p: torch.save({**torch.load(p, weights_only=True), "model": {}}, p),
                    "does not fit the model and optimizer built from the config (Error(s) in loading "
                    "state_dict for Sequential: Missing key(s) in state_dict: "),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corrupt_or_foreign_checkpoint_is_one_line_and_exit_2(name, capsys, tmp_path,
                                                                  config_file):
    out = tmp_path / "run"
    assert run(capsys, "train", config_file, "--out", out, "--no-progress")[0] == 0
    corrupt, expected = CORRUPTIONS[name]
    corrupt(out / "checkpoint.pt")
    before = _snapshot(out)
    status, stdout, err = run(capsys, "train", config_file, "--out", out, "--resume")
    assert status == 2 and stdout == ""
    assert err.startswith(f"nwave: error: cannot resume: {out / 'checkpoint.pt'} ")
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err
    assert _snapshot(out) == before  # nothing written, nothing lost


def test_resume_without_a_checkpoint_is_exit_2(capsys, tmp_path, config_file):
    status, _, err = run(capsys, "train", config_file, "--out", tmp_path / "none", "--resume")
    assert status == 2
    assert err == f"nwave: error: nothing to resume: no {tmp_path / 'none' / 'checkpoint.pt'}\n"


# -- changed-config resume ----------------------------------------------------------------------------


def test_a_changed_config_is_refused_with_the_diff_unless_forced(capsys, tmp_path, config_file):
    out = tmp_path / "run"
    assert run(capsys, "train", config_file, "--out", out, "--epochs", 2)[0] == 0
    before = _snapshot(out)
    status, _, err = run(capsys, "train", config_file, "--out", out, "--resume",
                         "--set", "optimizer.lr=0.02", "--epochs", 2)
    assert status == 2 and "Traceback" not in err
    assert err == (f"nwave: error: cannot resume: the config differs from the one "
                   f"{out / 'checkpoint.pt'} was trained with:\n"
                   f"  optimizer.lr: 0.01 -> 0.02\n"
                   f"resume with --force to continue with the new config anyway, or train into "
                   f"another --out\n")
    assert _snapshot(out) == before
    status, _, err = run(capsys, "train", config_file, "--out", out, "--resume", "--force",
                         "--set", "optimizer.lr=0.02", "--epochs", 3)
    assert status == 0
    assert "nwave: warning: resuming with a changed config (--force): optimizer.lr: 0.01 -> " \
           "0.02" in err
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 3 and state["optimizer"]["param_groups"][0]["lr"] == 0.02
    assert 'lr = 0.02' in (out / "config.toml").read_text()
    assert [r["lr"] for r in json.loads((out / "metrics.json").read_text())] == [0.01, 0.01, 0.02]


def test_a_forced_resume_onto_another_model_is_refused_and_writes_nothing(capsys, tmp_path,
                                                                          config_file):
    out = tmp_path / "run"
    assert run(capsys, "train", config_file, "--out", out, "--epochs", 1)[0] == 0
    before = _snapshot(out)
    status, _, err = run(capsys, "train", config_file, "--out", out, "--resume", "--force",
                         "--epochs", 1, "--set", "model.layers[0].nb_outputs=9",
                         "--set", "model.layers[1].n_neurons=9",
                         "--set", "model.layers[2].nb_inputs=9")
    assert status == 2 and err.count("\n") == 1
    assert err.startswith(f"nwave: error: cannot resume: {out / 'checkpoint.pt'} does not fit "
                          f"the model and optimizer built from the config (Error(s) in loading "
                          f"state_dict for Sequential: size mismatch for 0.weight")
    assert _snapshot(out) == before


# -- NaN guard, best checkpoint, early stopping, clipping ---------------------------------------------


def test_nan_input_stops_with_exit_3_and_keeps_the_last_good_checkpoint(capsys, tmp_path,
                                                                        config_file, monkeypatch):
    real = DATASETS["poisson_patterns"]

    @functools.wraps(real)
    def poisoned(**kw):
        data = real(**kw)
        data.tensors[0][-1, 0, 0] = math.nan  # one value of one sample
        return data

    plugin = types.SimpleNamespace(nwave_datasets=nwave_core.hookimpl(
        lambda: [nwave_core.Entry("poisoned_patterns", poisoned)]))
    nwave_core.register_plugin(plugin, "poisoner")
    out = tmp_path / "run"
    status, _, err = run(capsys, "train", config_file, "--out", out, "--no-progress",
                         "--set", "data.type=poisoned_patterns")
    assert status == 3 and "Traceback" not in err
    assert err.startswith("nwave: error: training stopped at epoch 1, batch ")
    assert (f"the input has NaN or inf values; the weights were not updated with it; the "
            f"checkpoint of epoch 0 is kept at {out / 'checkpoint.pt'}") in err
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["epoch"] == 0
    assert all(torch.isfinite(v).all() for v in state["model"].values())


def test_a_non_finite_gradient_stops_before_the_step(tmp_path):
    exp = build(parse_config(_raw(epochs=2)))
    weight = exp.model[0].weight
    weight.register_hook(lambda grad: grad * math.inf)
    before = weight.detach().clone()
    with pytest.raises(Diverged, match=r"^training stopped at epoch 1, batch 0: the gradient is "
                                       r"not finite; .*clip the gradients \(train\.clip_grad_norm\)$"):
        train(exp, tmp_path)
    assert torch.equal(weight.detach(), before)


def test_best_checkpoint_and_early_stopping(tmp_path):
    raw = _raw(epochs=6, early_stopping=2)
    raw["optimizer"] = {"type": "SGD", "lr": 1e-9}  # nothing improves after epoch 1
    result = train(build(parse_config(raw)), tmp_path)
    assert [r["epoch"] for r in result.history] == [1, 2, 3]
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    assert best["epoch"] == 1 and best["metrics"] == result.history[0]
    assert json.loads((tmp_path / "results.json").read_text())["stopped_early_after_epoch"] == 3


def test_gradient_clipping_bounds_each_sgd_step(tmp_path):
    raw = _raw(epochs=1, clip_grad_norm=1e-6)
    raw["optimizer"] = {"type": "SGD", "lr": 1.0}
    raw["schedulers"] = []
    exp = build(parse_config(raw))
    before = [p.detach().clone() for p in exp.model.parameters()]
    train(exp, tmp_path)
    moved = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in
                            zip(exp.model.parameters(), before)))
    steps = math.ceil(len(exp.train_data) / raw["data"]["batch_size"])
    assert 0 < float(moved) <= steps * 1e-6 * 1.0001


# -- plugins -----------------------------------------------------------------------------------------


def test_a_clashing_and_a_broken_plugin_leave_training_working(capsys, tmp_path, install_fake):
    install_fake("clash", "broken")
    raw = _raw(epochs=1)
    raw["model"]["surrogate"] = {"type": "sigmoid"}
    path = tmp_path / "ok.toml"
    with pytest.warns(NwavePluginWarning):
        path.write_text(dump_toml(parse_config(raw)))
    nwave_core.reload_plugins()  # main() loads them again and shows the warnings
    status, _, err = run(capsys, "train", path, "--out", tmp_path / "ok", "--no-progress")
    assert status == 0
    assert "nwave: warning: nwave plugin 'broken' (nwave-broken 0.3.0) failed to load" in err
    assert "nwave: warning: surrogate name 'atan' is provided twice" in err
    path.write_text(path.read_text().replace('type = "sigmoid"', 'type = "atan"'))
    status, _, err = run(capsys, "train", path, "--out", tmp_path / "clash", "--no-progress")
    assert status == 2 and "Traceback" not in err
    assert "surrogate name 'atan' is provided twice: by nwave" in err
    assert "@ $.model.surrogate.type" in err and not (tmp_path / "clash").exists()


# -- CLI: device, overrides, output ---------------------------------------------------------------------


def test_device_and_overrides_reach_the_run(capsys, tmp_path, config_file):
    out = tmp_path / "run"
    status, stdout, _ = run(capsys, "train", config_file, "--out", out, "--device", "cpu",
                            "--seed", 5, "--epochs", 1, "--set", "data.batch_size=20",
                            "--no-progress")
    assert status == 0 and stdout.startswith(f"trained 1 epochs; outputs in {out}")
    written = load_config(out / "config.toml")
    assert (written.train.device, written.seed, written.train.epochs,
            written.data.batch_size) == ("cpu", 5, 1, 20)


def test_overrides_are_type_checked_like_the_file(capsys, tmp_path, config_file):
    status, _, err = run(capsys, "train", config_file, "--out", tmp_path / "x",
                         "--set", "train.epochs=two", "--set", "model.layers[1].n_neurons=0",
                         "--set", "model.layers[9].n_neurons=3", "--set", "nonsense")
    assert status == 2 and not (tmp_path / "x").exists()
    assert "cannot set 'model.layers[9].n_neurons'" in err
    assert "an override must look like key.path=value (e.g. train.epochs=3), got 'nonsense'" in err
    status, _, err = run(capsys, "config", "check", config_file, "--set", "train.epochs=two",
                         "--set", "model.layers[1].n_neurons=0")
    assert status == 2
    assert "wrong type: expected int, got str 'two' @ $.train.epochs" in err
    assert "@ $.model.layers[1].n_neurons" in err


def test_an_unavailable_device_is_exit_2(capsys, tmp_path, config_file):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    status, _, err = run(capsys, "train", config_file, "--out", tmp_path / "x", "--device", "cuda")
    assert status == 2
    assert err.startswith("nwave: error: device 'cuda' is not available here (torch ")
    status, _, err = run(capsys, "train", config_file, "--out", tmp_path / "x", "--device", "tpu")
    assert status == 2 and "unknown device 'tpu': use auto, cpu, cuda, cuda:N (N a GPU index) " \
                           "or mps @ $.train.device" in err


def test_surrogate_buffers_follow_the_model_dtype(tmp_path):
    exp = build(parse_config(_raw(epochs=1)))
    train(exp, tmp_path)
    surrogate = exp.model[1].spike_grad
    assert surrogate.alpha.dtype == exp.model[0].weight.dtype == torch.float32


def test_progress_is_one_line_per_epoch_naming_the_run_when_not_a_tty(capsys, tmp_path,
                                                                      config_file):
    status, _, err = run(capsys, "train", config_file, "--out", tmp_path / "myrun", "--epochs", 2,
                         "--set", "train.progress=true")
    assert status == 0 and "\r" not in err
    lines = err.splitlines()
    assert [line.split(" loss=")[0] for line in lines] == ["myrun: epoch 1/2", "myrun: epoch 2/2"]


def test_config_fill_writes_yaml_for_a_yaml_file(capsys, tmp_path, config_file):
    yaml = pytest.importorskip("yaml")
    target = tmp_path / "filled.yaml"
    assert run(capsys, "config", "fill", config_file, "-o", target)[0] == 0
    data = yaml.safe_load(target.read_text())
    assert data["model"]["layers"][1]["dt"] == 0.001
    assert load_config(target) == load_config(tmp_path / "filled.yaml")
    assert parse_config(data).schedulers[0].params["total_steps"] == 3


def test_broken_pipe_is_quiet(capsys, monkeypatch):
    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(sys, "stdout", Closed())
    assert main(["list", "surrogate"]) == 141
    assert capsys.readouterr().err == ""


def test_ctrl_c_anywhere_is_exit_130_without_a_traceback(capsys, monkeypatch, config_file):
    import nwave_core.config

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(nwave_core.config, "load_config", interrupted)
    status, _, err = run(capsys, "train", config_file)
    assert status == 130 and err == "nwave: interrupted\n"


def test_warnings_appear_when_they_happen(capsys, tmp_path, install_fake):
    install_fake("broken")
    seen = []

    def command(args):
        import nwave_core

        nwave_core.registry("surrogate")
        seen.append(capsys.readouterr().err)  # before the command ends
        return 0

    import nwave_core.cli as cli

    parser = cli.build_parser
    try:
        cli.build_parser = lambda: _with(parser(), command)
        assert cli.main(["plugins"]) == 0
    finally:
        cli.build_parser = parser
    assert seen and seen[0].startswith("nwave: warning: nwave plugin 'broken'")


def _with(parser, command):
    parser.set_defaults(run=command)
    for action in parser._subparsers._group_actions:
        for sub in action.choices.values():
            sub.set_defaults(run=command)
    return parser


def test_tensorboard_logging_or_a_clear_warning_without_the_package(tmp_path):
    exp = build(parse_config(_raw(epochs=1, tensorboard=True)))
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.warns(nwave_core.errors.ConfigWarning, match="pip install tensorboard"):
            result = train(exp, tmp_path)
        assert len(result.history) == 1 and not (tmp_path / "tensorboard").exists()
    else:
        train(exp, tmp_path)
        assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_compare_progress_names_each_surrogate(capsys, tmp_path, config_file):
    status, _, err = run(capsys, "compare", config_file, "--surrogates", "atan", "sigmoid",
                         "--epochs", 1, "--set", "train.progress=true", "--out", tmp_path / "cmp")
    assert status == 0
    assert [line.split(" loss=")[0] for line in err.splitlines()] == [
        "compare: surrogate atan: epoch 1/1", "compare: surrogate sigmoid: epoch 1/1"]


def test_bf16_autocast_trains_with_the_model_in_float32(tmp_path):
    exp = build(parse_config(_raw(epochs=1, bf16=True)))
    seen = []
    exp.model[0].register_forward_hook(lambda m, args, out: seen.append(out.dtype))
    result = train(exp, tmp_path)
    assert torch.bfloat16 in seen and exp.model[0].weight.dtype == torch.float32
    assert all(math.isfinite(v) for v in result.history[0].values())


def test_device_names_resolve_with_local_rank(monkeypatch):
    from nwave_core.runner import resolve_device

    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert resolve_device("auto") == torch.device("cuda", 2)
    assert resolve_device("cuda") == torch.device("cuda", 2)
    assert resolve_device("CUDA:1") == torch.device("cuda", 1)
    with pytest.raises(nwave_core.NwaveError, match=r"^device cuda:7 does not exist: this "
                                                     r"machine has 4 GPU\(s\)$"):
        resolve_device("cuda:7")


def test_a_schedule_longer_than_the_run_is_a_one_line_warning(capsys, config_file):
    status, out, err = run(capsys, "config", "check", config_file,
                           "--set", "schedulers[0].total_steps=10")
    assert status == 0 and out == f"{config_file}: OK\n"
    assert err == ("nwave: warning: total_steps 10 is longer than the run (3 epochs, one "
                   "scheduler step each), so the schedule stops 30% of the way; set total_steps "
                   "<= train.epochs or leave it out (default: the run's length) @ "
                   "$.schedulers[0].total_steps\n")
