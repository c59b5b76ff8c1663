"""`nwave evaluate RUN` and `nwave plot run RUN`: a run folder read back."""

from __future__ import annotations

import json

import pytest

from nwave_core.cli import main
from nwave_core.config import dump_toml, parse_config
from nwave_core.runs import evaluate_run


def _chip_config():
    return {
        "seed": 2,
        "model": {"chip": {"type": "h1v2"}, "surrogate": {"type": "atan"},
                  "layers": [{"type": "H1v2Synapse", "nb_inputs": 6, "nb_outputs": 10},
                             {"type": "H1v2Layer", "n_neurons": 10},
                             {"type": "H1v2Synapse", "nb_inputs": 10, "nb_outputs": 2},
                             {"type": "H1v2Layer", "n_neurons": 2}]},
        "data": {"type": "poisson_patterns", "n_samples": 40, "n_channels": 6, "n_steps": 15,
                 "rate": 0.3, "batch_size": 10},
        "train": {"epochs": 2, "progress": False},
        "optimizer": {"type": "Adam", "lr": 0.02},
        "sign_annealing": {"alpha_start": 0.5, "alpha_end": 5.0},
    }


@pytest.fixture
def chip_run(tmp_path, capsys):
    config = tmp_path / "chip.toml"
    config.write_text(dump_toml(parse_config(_chip_config())))
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    capsys.readouterr()
    return out


def test_evaluate_reproduces_the_runs_own_report(chip_run, capsys):
    results = json.loads((chip_run / "results.json").read_text())
    report = evaluate_run(chip_run)
    assert report["epoch"] == 2 and report["test_samples"] == 8
    assert report["float_test_accuracy"] == results["float_test_accuracy"]
    fidelity = ("qat_test_accuracy", "hardened_test_accuracy", "exported_test_accuracy",
                "mismatch_test_accuracy_mean", "mismatch_test_accuracy_std", "mismatch_draws")
    for key in fidelity:  # the end-of-run fidelity report, reproduced
        assert report[key] == results[key], key
    assert results["mismatch_draws"] == 5
    assert results["exported_test_accuracy"] == results["hardened_test_accuracy"]
    assert main(["evaluate", str(chip_run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{chip_run}: epoch 2 (last checkpoint), 8 test samples"
    assert lines[1].startswith("float: test loss ")
    assert lines[2] == f"QAT: test accuracy {results['qat_test_accuracy']:.3f}"
    assert lines[3] == f"hardened: test accuracy {results['hardened_test_accuracy']:.3f}"
    assert lines[5].startswith("mismatch (5 draws): test accuracy ")
    assert main(["evaluate", str(chip_run), "--checkpoint", "best", "--json"]) == 0
    best = json.loads(capsys.readouterr().out)
    assert best["checkpoint"] == "best" and best["epoch"] in (1, 2)


def test_evaluate_on_other_data_and_clear_errors(chip_run, capsys, tmp_path):
    other = evaluate_run(chip_run, overrides=["data.seed=11", "data.n_samples=80"])
    assert other["test_samples"] == 16
    assert main(["evaluate", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == (f"nwave: error: {tmp_path / 'nowhere'} is not a run folder: "
                                       f"no config.toml (give the --out folder of nwave train)\n")
    (chip_run / "checkpoint.pt").write_bytes(b"broken")
    assert main(["evaluate", str(chip_run)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nwave: error: cannot evaluate: {chip_run / 'checkpoint.pt'} is not a "
                          f"readable checkpoint") and err.count("\n") == 1


def test_plot_run_draws_curves_raster_and_membrane(chip_run, capsys):
    pytest.importorskip("matplotlib")
    status = main(["plot", "run", str(chip_run), "--sample", "3"])
    assert status == 0 and capsys.readouterr().out == f"wrote {chip_run / 'run.png'}\n"
    assert (chip_run / "run.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["plot", "run", str(chip_run), "--sample", "99", "-o",
                 str(chip_run / "x.png")]) == 2
    assert capsys.readouterr().err == "nwave: error: sample 99 is outside the test set (0..7)\n"
