"""The nwave command line: output, exit codes, and messages without tracebacks."""

from __future__ import annotations

import subprocess
import sys

import pytest

import nwave_core
from nwave_core.cli import main


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_plugins_lists_the_builtins(capsys):
    status, out, err = run(capsys, "plugins")
    assert status == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "PROVIDES"]
    row = next(line for line in lines if line.startswith("nwave.policies"))
    assert row.split(None, 4) == ["nwave.policies", "nwave-snn", nwave_core.__version__, "loaded",
                                  "policy: constant, linear, exp, cosine, step"]
    row = next(line for line in lines if line.startswith("nwave.surrogates"))
    assert row.split(None, 4)[4].startswith("surrogate: atan, fast_sigmoid, sigmoid, ")


def test_plugins_shows_failed_and_blocked_and_warns_on_stderr(capsys, install_fake, monkeypatch):
    install_fake("broken", "acme", "typo")
    monkeypatch.setenv("NWAVE_DISABLE_PLUGINS", "acme")
    status, out, err = run(capsys, "plugins")
    assert status == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip() and not line.startswith(" ")}
    assert rows["acme"].split()[:4] == ["acme", "nwave-acme", "1.2.0", "blocked"]
    assert rows["broken"].split(None, 4)[3:] == [
        "failed", "ModuleNotFoundError: No module named 'nwave_missing_dependency'"]
    assert "warning: function 'nwave_surrogate' is marked as an nwave hook" in out
    assert err.splitlines() == [
        "nwave: warning: nwave plugin 'broken' (nwave-broken 0.3.0) failed to load and was "
        "skipped: ModuleNotFoundError: No module named 'nwave_missing_dependency'",
        "nwave: warning: nwave plugin 'typo' (nwave-typo 0.1.0): function 'nwave_surrogate' is "
        "marked as an nwave hook but no hook is named 'nwave_surrogate'. Did you mean "
        "'nwave_surrogates' or 'nwave_datasets'? It is ignored. Known hooks: nwave_surrogates, nwave_policies, "
        "nwave_layers, nwave_schedulers, nwave_chips, nwave_constraints, nwave_datasets, nwave_devices.",
    ]


def test_list_prints_names_with_summaries(capsys):
    status, out, _ = run(capsys, "list", "surrogate")
    assert status == 0
    assert [line.split()[0] for line in out.splitlines()] == nwave_core.registry("surrogate").names()
    row = next(line for line in out.splitlines() if line.startswith("fast_sigmoid "))
    assert row.split(None, 1)[1] == "g = 1 / (slope * |x| + 1)^2"


def test_list_sees_a_third_party_plugin(capsys, install_fake):
    install_fake("acme")
    _, out, _ = run(capsys, "list", "chip")
    rows = {line.split(None, 1)[0]: line.split(None, 1)[1] for line in out.splitlines()}
    assert rows["acme"] == "Acme A1 (fake)"


def test_show_prints_provider_and_parameters(capsys):
    status, out, _ = run(capsys, "show", "surrogate", "ArcTan")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == "surrogate 'atan'"
    assert "aliases: arctan" in lines
    assert f"provider: nwave-snn {nwave_core.__version__} (plugin 'nwave.surrogates')" in lines
    alpha = next(line for line in lines if line.strip().startswith("alpha"))
    assert alpha.split()[:3] == ["alpha", "=", "2.0"]


def test_unknown_name_is_exit_2_with_a_message_and_no_traceback(capsys):
    status, out, err = run(capsys, "show", "policy", "cosin")
    assert status == 2 and out == ""
    available = ", ".join(nwave_core.registry("policy").names())  # third-party ones included
    assert err == ("nwave: error: unknown policy 'cosin'. Did you mean 'cosine'? "
                   f"Available: {available}.\n")
    assert {"constant", "cosine", "exp", "linear", "step"} <= set(available.split(", "))


def test_unknown_kind_is_exit_2(capsys):
    status, _, err = run(capsys, "list", "chips")
    assert status == 2
    assert err.startswith("nwave: error: unknown kind 'chips'. Did you mean 'chip'?")


def test_a_clash_disables_one_name_and_every_command_still_works(capsys, install_fake):
    install_fake("clash")
    status, out, err = run(capsys, "list", "surrogate")
    assert status == 0 and "sigmoid" in out.split() and "atan" not in out.split()
    assert err.startswith("nwave: warning: surrogate name 'atan' is provided twice: by nwave-snn ")
    assert "and by nwave-clash 2.0.0 (plugin 'clash')" in err and err.count("\n") == 1
    status, out, _ = run(capsys, "plugins")
    assert status == 0 and "warning: surrogate name 'atan' is provided twice" in out
    status, _, err = run(capsys, "show", "surrogate", "atan")
    assert status == 2 and "nwave: error: surrogate name 'atan' is provided twice" in err
    assert "Traceback" not in err


def test_disable_plugin_flag_resolves_a_clash_for_one_command(capsys, install_fake):
    install_fake("clash")
    status, out, err = run(capsys, "--disable-plugin", "clash", "show", "surrogate", "atan")
    assert status == 0 and err == ""
    assert f"provider: nwave-snn {nwave_core.__version__} (plugin 'nwave.surrogates')" in out
    assert "clash" not in nwave_core.plugin_host().blocked()  # only for that command


def test_clash_is_exit_2_in_strict_mode(capsys, install_fake, monkeypatch):
    install_fake("clash")
    monkeypatch.setenv("NWAVE_STRICT_PLUGINS", "1")
    status, _, err = run(capsys, "list", "policy")
    assert status == 2 and "provided twice" in err and "Traceback" not in err


def test_console_script_runs_as_a_module():
    result = subprocess.run([sys.executable, "-m", "nwave_core.cli", "show", "chip", "h0"],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.startswith("nwave: error: unknown chip 'h0'.")
    assert "Traceback" not in result.stderr


def test_show_surrogate_prints_formula_parameter_peak_and_area(capsys):
    status, out, _ = run(capsys, "show", "surrogate", "fast_sigmoid")
    assert status == 0
    lines = out.splitlines()
    assert "gradient: g(x) = 1 / (slope * |x| + 1)^2" in lines
    assert "primitive: P(x) = (1 + slope*x / (1 + slope*|x|)) / slope" in lines
    assert "scheduled parameter: slope = 25" in lines
    assert "peak: 1" in lines
    assert "area: 2 / slope = 0.08" in lines
    spiking = next(line for line in lines if line.strip().startswith("spiking"))
    assert "primitive" in spiking  # documented through SurrogateBase's Args


def test_plot_surrogates_writes_an_image(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    target = tmp_path / "s.png"
    status, out, err = run(capsys, "plot", "surrogate", "atan", "spikingjelly_sigmoid", "-o", str(target))
    assert status == 0, err
    assert out == f"wrote {target}\n"
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_says_how_to_install_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, _, err = run(capsys, "plot", "surrogate", "atan", "-o", str(tmp_path / "s.png"))
    assert status == 2
    assert err == ("nwave: error: plotting needs matplotlib, which is not installed: "
                   "pip install 'nwave-snn[plot]'\n")


def test_plot_unknown_surrogate_is_exit_2(capsys, tmp_path):
    status, _, err = run(capsys, "plot", "surrogate", "atann", "-o", str(tmp_path / "s.png"))
    assert status == 2 and "Did you mean 'atan'?" in err


def test_a_path_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, capsys):
    from nwave_core.cli import main

    config = tmp_path / "c.toml"
    config.write_text('[[model.layers]]\ntype = "LIFSynapse"\nnb_inputs = 4\nnb_outputs = 2\n'
                      '[[model.layers]]\ntype = "LIFLayer"\nn_neurons = 2\n'
                      '[data]\ntype = "poisson_patterns"\nn_channels = 4\n')
    target = tmp_path / "missing" / "filled.toml"
    assert main(["config", "fill", str(config), "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nwave: error: {target}: ") and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert main(["check", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"nwave: error: {tmp_path} is a folder; expected a file "
                                       f"written by chip.export\n")
