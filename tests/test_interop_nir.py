"""NIR interchange: nwave -> NIR -> nwave is exact; nwave -> NIR -> snnTorch / Norse gives the same
spikes; a graph snnTorch wrote runs in nwave with snnTorch's spikes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nwave_core import prepare_net
from nwave_core.errors import NwaveError
from nwave_plugins.layers import (H1v1Frontend, H1v1Layer, H1v1Synapse, H1v2Frontend, H1v2Layer,
                                  H1v2Synapse, LIFLayer, LIFSynapse)

nir = pytest.importorskip("nir")

from nwave_core.interop import (NirFidelityWarning, from_nir, read_nir, to_nir,  # noqa: E402
                                write_nir)
from nwave_core.interop.nir_graph import nir_lif_params, step_params  # noqa: E402

STEPS = 40


def reference_net(recurrent: bool = False) -> nn.Sequential:
    """The reference network: per-neuron taus, zero reset (what NIR's LIF does)."""
    torch.manual_seed(0)
    net = nn.Sequential(
        LIFSynapse(6, 10),
        LIFLayer(10, taus=[5e-3 + i * 1e-3 for i in range(10)], reset_mechanism="zero"),
        LIFSynapse(10, 8),
        LIFLayer(8, taus=15e-3, thresholds=0.8, reset_mechanism="zero",
                 layer_topology="RC" if recurrent else "FF"),
    )
    return net


def reference_input() -> torch.Tensor:
    torch.manual_seed(1)
    return (torch.rand(3, STEPS, 6) < 0.5).float() * 1.5


def run(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    prepare_net(net)
    with torch.no_grad():
        return net(x)


def run_stepwise(module, x: torch.Tensor, *, state_arg: bool) -> torch.Tensor:
    """A peer's NIR module (nirtorch GraphExecutor), one step at a time."""
    outs, state = [], None
    with torch.no_grad():
        for t in range(x.shape[1]):
            out = module(x[:, t], state) if state_arg else module(x[:, t])
            if isinstance(out, tuple):
                out, state = out[0], out[1]
            outs.append(out)
    return torch.stack(outs, 1)


# -- the mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("discretization", ["euler", "exact"])
def test_the_mapping_inverts(discretization):
    beta = np.array([0.3, 0.9, 0.999])
    tau, r = nir_lif_params(beta, 1e-3, discretization)
    back, gain, bias = step_params(tau, r, np.zeros(3), 1e-3, discretization)
    np.testing.assert_allclose(back, beta, rtol=1e-12)
    np.testing.assert_allclose(gain, 1.0, rtol=1e-12)
    assert not bias.any()


@settings(max_examples=200, deadline=None)
@given(beta=st.floats(1e-6, 1 - 1e-6), dt=st.floats(1e-6, 1.0),
       discretization=st.sampled_from(["euler", "exact"]))
def test_the_mapping_inverts_for_any_decay_and_step(beta, dt, discretization):
    tau, r = nir_lif_params(np.array([beta]), dt, discretization)
    assert tau[0] > 0 and r[0] >= 1
    back, gain, _ = step_params(tau, r, np.zeros(1), dt, discretization)
    assert back[0] == pytest.approx(beta, rel=1e-9, abs=1e-12)
    assert gain[0] == pytest.approx(1.0, rel=1e-6)


def test_the_mapping_formulas():
    beta = np.array([math.exp(-1e-3 / 20e-3)])
    tau, r = nir_lif_params(beta, 1e-3, "exact")
    assert tau[0] == pytest.approx(20e-3, rel=1e-12)          # the layer's own tau
    tau, r = nir_lif_params(beta, 1e-3, "euler")
    assert tau[0] == pytest.approx(1e-3 / (1 - beta[0]), rel=1e-12)
    assert r[0] == pytest.approx(1 / (1 - beta[0]), rel=1e-12)
    with pytest.raises(ValueError, match=r"decay beta in \(0, 1\)"):
        nir_lif_params(np.array([1.0]), 1e-3)
    with pytest.raises(ValueError, match="forward Euler with dt=0.01"):
        step_params(np.array([5e-3]), np.array([1.0]), np.array([0.0]), 1e-2)


def test_graph_nodes_edges_and_layout():
    net = reference_net(recurrent=True)
    graph = to_nir(net)
    assert set(graph.nodes) == {"input", "0", "1", "2", "3", "3.rec", "output"}
    assert ("3", "3.rec") in graph.edges and ("3.rec", "3") in graph.edges
    np.testing.assert_array_equal(graph.nodes["0"].weight, net[0].weight.detach().double().T)
    np.testing.assert_array_equal(graph.nodes["3.rec"].weight,
                                  net[3].recurrent_weights.detach().double().T)
    lif = graph.nodes["1"]
    np.testing.assert_allclose(lif.tau, 1e-3 / (1 - np.exp(-1e-3 / net[1].taus.double().numpy())),
                               rtol=1e-6)
    assert not lif.v_leak.any() and not lif.v_reset.any()
    np.testing.assert_array_equal(graph.nodes["3"].v_threshold, np.full(8, 0.8, dtype=np.float32))


# -- nwave -> NIR -> nwave -----------------------------------------------------------------------


@pytest.mark.parametrize("discretization,fold_r", [("euler", False), ("exact", False),
                                                   ("euler", True)])
def test_lif_round_trip_is_exact(discretization, fold_r, tmp_path):
    net, x = reference_net(recurrent=True), reference_input()
    path = write_nir(net, tmp_path / "net.nir", discretization=discretization, fold_r=fold_r)
    back = read_nir(path)
    assert [type(m) for m in back] == [type(m) for m in net]
    assert torch.equal(run(net, x), run(back, x))
    assert back[1].reset == "zero" and torch.equal(back[1].taus, net[1].taus)


@pytest.mark.parametrize("family", ["h1v1", "h1v2"])
def test_chip_round_trip_keeps_classes_chip_and_spikes(family, tmp_path):
    front, syn, layer = ((H1v1Frontend, H1v1Synapse, H1v1Layer) if family == "h1v1"
                         else (H1v2Frontend, H1v2Synapse, H1v2Layer))
    torch.manual_seed(0)
    net = nn.Sequential(front(), syn(16, 20, stddev=0.0, quantization_bits=6),
                        layer(20, layer_topology="RC"), syn(20, 5, stddev=0.0), layer(5))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[1].weight.mul_(4.0)
    with pytest.warns(NirFidelityWarning, match="reset|floor"):
        graph = to_nir(net)
    assert "frontend" in graph.nodes["0"].metadata["nwave"]
    assert f'"name": "{family}"' in graph.nodes["0"].metadata["nwave"]   # the chip spec
    assert np.count_nonzero(graph.nodes["0.channels"].weight - np.diag(np.diag(
        graph.nodes["0.channels"].weight))) == 0
    nir.write(str(tmp_path / "h.nir"), graph)
    back = read_nir(tmp_path / "h.nir")
    assert [type(m) for m in back] == [type(m) for m in net]
    assert back[1].quantization_bits == 6 and back[2].chip == net[2].chip
    x = torch.rand(2, STEPS, 16) * 2
    a, b = run(net, x), run(back, x)
    assert a.sum() > 0 and torch.equal(a, b)


def test_surrogate_and_detach_reset_come_back():
    from nwave_plugins.surrogates import atan

    net = nn.Sequential(LIFSynapse(3, 4), LIFLayer(4, spike_grad=atan(alpha=3.0),
                                                    reset_mechanism="zero"))
    net[1].detach_reset = True
    back = from_nir(to_nir(net))
    assert back[1].spike_grad.name == "atan" and float(back[1].spike_grad.alpha) == 3.0
    assert back[1].detach_reset is True


def test_nn_linear_with_bias_round_trips():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), LIFLayer(4, reset_mechanism="zero"))
    graph = to_nir(net)
    assert isinstance(graph.nodes["0"], nir.Affine)
    back = from_nir(graph)
    x = torch.rand(2, 20, 5)
    assert isinstance(back[0], nn.Linear) and torch.equal(run(net, x), run(back, x))


def test_subtraction_reset_warns_and_comes_back():
    net = nn.Sequential(LIFSynapse(3, 4), LIFLayer(4))      # subtraction: the LIF default
    with pytest.warns(NirFidelityWarning, match="reset 'subtraction'"):
        graph = to_nir(net)
    assert from_nir(graph)[1].reset == "subtraction"


def test_bad_models_and_graphs_are_refused():
    with pytest.raises(TypeError, match=r"\(ReLU\) is neither a synapse"):
        to_nir(nn.Sequential(LIFSynapse(2, 2), nn.ReLU()))
    with pytest.raises(TypeError, match="wrap the layers"):
        to_nir(nn.ModuleList([LIFLayer(2)]))
    with pytest.raises(ValueError, match="fold_r=True.*no weight node"):
        to_nir(nn.Sequential(LIFLayer(2, reset_mechanism="zero")), fold_r=True)
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                                "lif": nir.LIF(tau=np.ones(2) * 0.02, r=np.ones(2),
                                               v_leak=np.zeros(2), v_threshold=np.ones(2)),
                                "output": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("input", "lif"), ("lif", "output")])
    with pytest.raises(NwaveError, match="pass dt="):
        from_nir(graph)
    with pytest.raises(NwaveError, match="no weight node precedes"):
        from_nir(graph, dt=1e-3)
    with pytest.raises(NwaveError, match="no such file"):
        read_nir("missing.nir")


def test_foreign_lif_folds_gain_and_leak_into_weights():
    n, dt = 3, 1e-3
    tau, r, leak = np.array([0.01, 0.02, 0.04]), np.array([2.0, 1.0, 3.0]), np.array([0.0, 0.5, 0.0])
    weight = np.arange(6, dtype=float).reshape(n, 2) / 10
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                                "w": nir.Linear(weight=weight),
                                "lif": nir.LIF(tau=tau, r=r, v_leak=leak, v_threshold=np.ones(n)),
                                "output": nir.Output(output_type={"output": np.array([n])})},
                         edges=[("input", "w"), ("w", "lif"), ("lif", "output")])
    model = from_nir(graph, dt=dt)
    beta = 1 - dt / tau
    np.testing.assert_allclose(model[1].neuron_params()[0].double().numpy(), beta, rtol=1e-6)
    x = torch.rand(1, 5, 2, dtype=torch.float64)
    current = model[0](x.float()).double()
    expected = x @ torch.as_tensor(weight.T * (r * dt / tau)) + torch.as_tensor((dt / tau) * leak)
    torch.testing.assert_close(current, expected, rtol=1e-5, atol=1e-6)


# -- against the peers ---------------------------------------------------------------------------


def _snntorch():
    pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.import_nir import import_from_nir

    return import_from_nir


RC_IN_SNNTORCH = pytest.mark.xfail(
    raises=AttributeError, strict=True,
    reason="snnTorch 1.0.0's import_from_nir wraps a recurrent loop in a subgraph that nirtorch "
           "2.6 cannot build ('GraphModule' object has no attribute 'items')")


@pytest.mark.parametrize("recurrent", [False, pytest.param(True, marks=RC_IN_SNNTORCH)],
                         ids=["ff", "rc"])
def test_snntorch_runs_the_graph_with_identical_spikes(recurrent, capsys):
    import_from_nir = _snntorch()
    net, x = reference_net(recurrent), reference_input()
    ours = run(net, x)
    assert ours.sum() > 20
    # snnTorch's importer steps by a fixed dt of 1e-4 s: write the graph for that step
    theirs = run_stepwise(import_from_nir(to_nir(net, dt=1e-4)), x, state_arg=False)
    assert torch.equal(ours, theirs)


def test_norse_runs_the_graph_with_identical_spikes():
    pytest.importorskip("norse")
    from norse.torch import from_nir as norse_from_nir

    net, x = reference_net(), reference_input()
    ours = run(net, x)
    # Norse 1.1.0 ignores r (it scales the input by dt / tau), so r goes into the weights
    theirs = run_stepwise(norse_from_nir(to_nir(net, dt=1e-3, fold_r=True), dt=1e-3), x,
                          state_arg=True)
    assert ours.sum() > 20 and torch.equal(ours, theirs)
    # the default graph keeps r: Norse then under-drives every neuron by (1 - beta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        unfolded = run_stepwise(norse_from_nir(to_nir(net), dt=1e-3, ignore_warnings=True), x,
                                state_arg=True)
    assert unfolded.sum() < ours.sum()


def test_a_graph_snntorch_wrote_runs_in_nwave_with_its_spikes(capsys):
    pytest.importorskip("snntorch")
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    # per-neuron beta and threshold: snnTorch 1.0.0 writes a scalar beta as a 0-d tau, which
    # NIR's own type check then refuses
    peer = nn.Sequential(
        nn.Linear(6, 10),
        snn.Leaky(beta=torch.linspace(0.8, 0.95, 10), threshold=torch.ones(10), init_hidden=True,
                  reset_delay=False, reset_mechanism="zero"),
        nn.Linear(10, 4),
        snn.Leaky(beta=torch.full((4,), 0.8), threshold=torch.full((4,), 0.5), init_hidden=True,
                  output=True, reset_delay=False, reset_mechanism="zero"))
    graph = export_to_nir(peer, torch.zeros(6))
    model = from_nir(graph, dt=1e-4)                        # snnTorch writes for 1e-4 s
    assert [type(m).__name__ for m in model] == ["Linear", "LIFLayer", "Linear", "LIFLayer"]
    x = reference_input()
    for m in peer.modules():
        if isinstance(m, snn.Leaky):
            m.reset_hidden()
    with torch.no_grad():
        theirs = torch.stack([peer(x[:, t])[0] for t in range(STEPS)], 1)
    ours = run(model, x)
    assert theirs.sum() > 10 and torch.equal(ours, theirs)


def test_snntorch_synaptic_with_instantaneous_synapse_maps_and_others_are_refused():
    pytest.importorskip("snntorch")
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    def peer(alpha: float) -> nn.Sequential:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(6, 5), snn.Synaptic(
            alpha=torch.full((5,), alpha), beta=torch.full((5,), 0.9), threshold=torch.ones(5),
            init_hidden=True, output=True, reset_delay=False, reset_mechanism="zero"))

    net = peer(0.0)
    model = from_nir(export_to_nir(net, torch.zeros(6)), dt=1e-4)
    assert [type(m).__name__ for m in model] == ["Linear", "LIFLayer"]
    x = reference_input()
    with torch.no_grad():
        theirs = torch.stack([net(x[:, t])[0] for t in range(STEPS)], 1)
    assert theirs.sum() > 10 and torch.equal(run(model, x), theirs)
    with pytest.raises(NwaveError, match="CubaLIF .* has a synaptic current"):
        from_nir(export_to_nir(peer(0.5), torch.zeros(6)), dt=1e-4)


# -- the command line ----------------------------------------------------------------------------


def test_cli_exports_a_run_and_imports_the_file(tmp_path, capsys):
    from nwave_core.cli import main
    from nwave_core.config import dump_toml, parse_config

    config = {"seed": 0, "model": {"layers": [
        {"type": "LIFSynapse", "nb_inputs": 8, "nb_outputs": 6},
        {"type": "LIFLayer", "n_neurons": 6, "reset_mechanism": "zero"},
        {"type": "LIFSynapse", "nb_inputs": 6, "nb_outputs": 3},
        {"type": "LIFLayer", "n_neurons": 3}]},                   # subtraction: a warning
        "data": {"type": "poisson_patterns", "n_samples": 16, "n_channels": 8, "n_steps": 10,
                 "n_classes": 3, "batch_size": 8},
        "train": {"epochs": 1, "progress": False}}
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(parse_config(config)))
    run_dir = tmp_path / "run"
    assert main(["train", str(path), "--out", str(run_dir), "--no-progress"]) == 0
    out = tmp_path / "net.nir"
    assert main(["export", str(run_dir), "--format", "nir", "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert f"wrote {out}" in printed.out
    assert printed.err.startswith("nwave: warning: to_nir: layer 3 (LIFLayer) has reset "
                                  "'subtraction'") and printed.err.count("\n") == 1
    assert main(["import", str(out), "-o", str(tmp_path / "m.pt")]) == 0
    printed = capsys.readouterr().out
    assert "0: LIFSynapse(nb_inputs=8, nb_outputs=6)" in printed and "3: LIFLayer(" in printed
    model = torch.load(tmp_path / "m.pt", weights_only=False)
    trained = torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]
    assert torch.equal(model[0].weight, trained["0.weight"])


def test_cli_errors_are_one_line(tmp_path, capsys):
    from nwave_core.cli import main

    assert main(["export", str(tmp_path), "-o", str(tmp_path / "x.nir")]) == 2
    assert "is not a run folder: no config.toml" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "none.nir")]) == 2
    assert "no such file" in capsys.readouterr().err
    foreign = tmp_path / "foreign.nir"
    nir.write(str(foreign), nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([2])}),
               "w": nir.Linear(weight=np.eye(2)),
               "lif": nir.LIF(tau=np.full(2, 0.01), r=np.full(2, 10.0), v_leak=np.zeros(2),
                              v_threshold=np.ones(2)),
               "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "w"), ("w", "lif"), ("lif", "output")]))
    assert main(["import", str(foreign)]) == 2
    assert "pass dt= (nwave import --dt)" in capsys.readouterr().err
    assert main(["import", str(foreign), "--dt", "1e-3"]) == 0
    assert "1: LIFLayer(n_neurons=2" in capsys.readouterr().out
    (tmp_path / "bad.nir").write_text("not hdf5")
    assert main(["import", str(tmp_path / "bad.nir")]) == 2
    assert "is not a NIR file" in capsys.readouterr().err


def test_a_chip_network_in_snntorch_differs_only_by_the_floor(capsys):
    """H1v1 (zero reset, membrane clamped at 0) through NIR: snnTorch runs the effective
    weights and thresholds; without the floor, nwave's spikes are snnTorch's."""
    import_from_nir = _snntorch()
    torch.manual_seed(0)
    net = nn.Sequential(H1v1Synapse(6, 12, stddev=0.0), H1v1Layer(12))
    with torch.no_grad():
        net[0].weight.copy_(torch.randn(6, 12) * 0.8)        # mixed signs: the floor acts
    x = reference_input() * 2
    ours = run(net, x)
    with pytest.warns(NirFidelityWarning, match="floor"):
        graph = to_nir(net, dt=1e-4)
    theirs = run_stepwise(import_from_nir(graph), x, state_arg=False)
    assert not torch.equal(ours, theirs)                     # the floor is not in NIR
    net[1].floor = None
    assert torch.equal(run(net, x), theirs)                  # ... and it is the only difference
