"""Chips as data: ChipSpec, validation, hardening, export, SignAnnealing, losses, metrics."""

from __future__ import annotations

import json

import attrs
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import nwave_core
from nwave_core import ChipSpec, ChipTarget, prepare_net
from nwave_core.export import load_export
from nwave_core.init import fluct_init
from nwave_core.hardware import ChipFrontend, ChipLayer, ChipSynapse
from nwave_core.losses import (
    balanced_population_mse,
    firing_rate_target_mse_loss,
    topology_loss,
    weight_magnitude_loss,
)
from nwave_core.metrics import accuracy, accuracy_population, estimate_energy
from nwave_core.optim import SignAnnealing
from nwave_core.rules import ChipValidationError, harden_signs, incoherent_blocks
from nwave_plugins.h1 import H1V1, H1V2
from nwave_plugins.layers import (
    H1v1Frontend,
    H1v1Layer,
    H1v1Synapse,
    H1v2Frontend,
    H1v2Layer,
    H1v2Synapse,
    LIFLayer,
    LIFSynapse,
)

ACME = ChipSpec(name="acme", weight_limit=0.5, sign_block=4, core_sizes=(40, 40), threshold=0.5,
                frontend_channels=8, weight_bits=6, reset="zero", membrane_floor=0.0,
                energy_per_spike=2e-12, energy_per_synaptic_event=1e-13)


# -- ChipSpec --------------------------------------------------------------------------------


def test_a_third_party_chip_is_a_few_lines_and_a_chip_target():
    spec = ChipSpec(name="mine")
    assert isinstance(spec, ChipTarget)
    assert (spec.weight_limit, spec.sign_block, spec.weight_bits) == (1.0, 1, None)
    assert isinstance(nwave_core.create("chip", "h1v2"), ChipTarget)


def test_h1_declarations_carry_the_documented_numbers():
    assert (H1V1.weight_limit, H1V1.sign_block, H1V1.core_sizes, H1V1.reset) == (
        0.9, 5, (64, 64, 64, 64), "zero")
    assert (H1V2.weight_limit, H1V2.sign_block, H1V2.core_sizes, H1V2.reset) == (
        1.66, 5, (50, 50, 100), "subtraction")
    for spec in (H1V1, H1V2):
        assert (spec.frontend_channels, spec.threshold, spec.membrane_floor) == (16, 1.0, 0.0)
        assert spec.global_threshold and spec.recurrent_scope == "core"


@pytest.mark.parametrize("field, value, message", [
    ("weight_limit", 0, "ChipSpec.weight_limit must be a finite number > 0, got 0"),
    ("sign_block", 0, "ChipSpec.sign_block must be an integer >= 1, got 0"),
    ("weight_bits", 1, "ChipSpec.weight_bits must be None (no quantization) or an integer from 2 to 32, got 1"),
    ("core_sizes", (), "ChipSpec.core_sizes must be a non-empty tuple of integers >= 1, got ()"),
    ("recurrent_scope", "die", "ChipSpec.recurrent_scope must be one of 'core', 'chip', 'none', got 'die'"),
    ("reset", "hard", "ChipSpec.reset must be one of 'zero', 'subtraction', 'none', got 'hard'"),
    ("tau_profiles", (0.01, -1), "ChipSpec.tau_profiles must be None (any tau) or a non-empty tuple"),
    ("synapse_nonlinearity", "relu", "ChipSpec.synapse_nonlinearity must be a registered synapse transfer (linear, tanh), got 'relu'"),
    ("leak_mismatch", -0.1, "ChipSpec.leak_mismatch must be a finite number >= 0, got -0.1"),
    ("frontend_channels", 0, "ChipSpec.frontend_channels must be an integer >= 1, got 0"),
])
def test_every_field_is_validated(field, value, message):
    with pytest.raises(ValueError) as info:
        ChipSpec(name="x", **{field: value})
    assert str(info.value).startswith(message)


def test_every_field_is_documented():
    for f in attrs.fields(ChipSpec):
        assert f.metadata.get("doc"), f.name


# -- validation ------------------------------------------------------------------------------


def _h1v2_net(hidden=50, rc=False):
    torch.manual_seed(0)
    return nn.Sequential(H1v2Frontend(), H1v2Synapse(16, hidden),
                         H1v2Layer(hidden, layer_topology="RC" if rc else "FF"),
                         H1v2Synapse(hidden, 10), H1v2Layer(10))


def test_validate_finds_every_kind_of_violation_at_once():
    net = nn.Sequential(ChipFrontend(n_channels=12, chip=H1V2), H1v2Synapse(12, 7),
                        H1v2Layer(7), LIFSynapse(7, 150), LIFLayer(150, thresholds=0.8,
                                                                   layer_topology="RC"))
    with torch.no_grad():
        net[1].weight.fill_(0.5)
        net[1].weight[0, 0] = 3.0           # outside the range
        net[1].weight[2, 6] = -0.5          # row 2, block 1 mixes signs
    report = H1V2.validate(net)
    assert not report.ok
    rules = {v.rule: v for v in reversed(report.violations)}  # the first of each rule
    assert set(rules) == {"weight_range", "sign_block", "weight_grid", "frontend", "core_fit",
                          "threshold", "membrane_floor", "synapse_transfer"}
    assert rules["membrane_floor"].detail == "membrane floor None; the chip has 0.0"
    assert rules["weight_range"].where == "1.weight"
    assert rules["weight_range"].detail == ("1 of 84 weights outside [-1.66, 1.66] (min -0.5, "
                                            "max 3) at (0, 0)")
    assert "row 2 block 1" in rules["sign_block"].detail
    assert rules["frontend"].detail == "12 channels; the chip's frontend has 16"
    assert rules["core_fit"].detail.startswith("recurrent layer of 150 neurons cannot stay within "
                                               "one core (largest core: 100)")
    assert rules["threshold"].where == "4"
    assert rules["threshold"].detail.startswith("150 of 150 thresholds are not 1 (e.g. 0.8")
    assert rules["core_fit"].where == "4"
    assert [v.where for v in report.violations if v.rule == "synapse_transfer"] == [
        "3.weight", "4.recurrent_weights"]
    assert rules["synapse_transfer"].detail.startswith("delivers 1 * linear(w); the chip's "
                                                       "synapses deliver 0.5 * linear(w)")
    assert dict(report.mapping)["0"] == ((0, 12),)
    table = report.table()
    assert table.splitlines()[0] == f"chip 'h1v2': {len(report.violations)} violation(s)"
    assert "core mapping (layer: core x neurons):" in table
    data = json.loads(report.to_json())
    assert data["ok"] is False and data["chip"] == "h1v2"
    assert {v["rule"] for v in data["violations"]} == set(rules)


def _fits(report):
    return [v for v in report.violations if v.rule == "core_fit"]


def test_core_mapping_spans_cores_for_feed_forward_and_keeps_recurrence_in_one():
    ff = nn.Sequential(H1v2Layer(30), H1v2Layer(60), H1v2Layer(100))
    report = H1V2.validate(ff)
    assert not _fits(report), report.table()
    assert [parts for _, parts in report.mapping] == [((0, 30),), ((0, 20), (1, 40)), ((1, 10), (2, 90))]
    rc = nn.Sequential(H1v2Layer(30), H1v2Layer(60, layer_topology="RC"))
    report = H1V2.validate(rc)
    assert not _fits(report)
    assert report.mapping[1][1] == ((2, 60),)  # skips core 1, which has only 50
    too_big = nn.Sequential(H1v2Layer(120), H1v2Layer(90))
    report = H1V2.validate(too_big)
    assert [v.detail for v in _fits(report)] == ["does not fit: 210 neurons in 2 layers; cores "
                                                 "[50, 50, 100] (200 neurons)"]


def test_core_mapping_places_a_recurrent_layer_in_any_core_with_room():
    # the network: the recurrent layer takes core 2, the rest fits cores 0-1
    net = nn.Sequential(H1v2Frontend(), H1v2Synapse(16, 100), H1v2Layer(100, layer_topology="RC"),
                        H1v2Synapse(100, 10), H1v2Layer(10))
    report = H1V2.validate(H1V2.harden(net))
    assert report.ok, report.table()
    assert dict(report.mapping) == {"0": ((0, 16),), "2": ((2, 100),), "4": ((0, 10),)}
    # two recurrent layers that fit only one way round (exact search, not first fit)
    spec = ChipSpec(name="two-cores", core_sizes=(60, 40))
    net = nn.Sequential(LIFLayer(40, layer_topology="RC"), LIFSynapse(40, 60),
                        LIFLayer(60, layer_topology="RC"))
    assert dict(spec.validate(net).mapping) == {"0": ((1, 40),), "2": ((0, 60),)}
    assert not _fits(spec.validate(net))


def test_a_chip_without_recurrence_rejects_recurrent_layers():
    spec = ChipSpec(name="ff-only", recurrent_scope="none")
    net = nn.Sequential(LIFLayer(4, layer_topology="RC"))
    assert [v.detail for v in spec.validate(net).violations] == [
        "recurrent layer: the chip has no recurrent connections"]


def test_a_valid_h1v2_model_after_harden():
    net = _h1v2_net()
    assert not H1V2.validate(net).ok  # off the nominal 8-bit grid, mixed signs
    hard = H1V2.harden(net)
    assert H1V2.validate(hard).ok
    assert H1V2.validate(net).violations  # the original is untouched


# -- hardening properties ---------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(n_in=st.integers(1, 9), n_out=st.integers(1, 23), block=st.integers(1, 7),
       limit=st.floats(0.1, 3.0), bits=st.one_of(st.none(), st.integers(2, 9)),
       scale=st.floats(0.1, 10.0), seed=st.integers(0, 2**16))
def test_harden_then_validate_is_always_ok(n_in, n_out, block, limit, bits, scale, seed):
    spec = ChipSpec(name="any", weight_limit=limit, sign_block=block, weight_bits=bits,
                    core_sizes=(64,))
    torch.manual_seed(seed)
    net = nn.Sequential(ChipSynapse(n_in, n_out, stddev=0.0, chip=spec), ChipLayer(n_out, chip=spec))
    with torch.no_grad():
        net[0].weight.mul_(scale * limit * 4)
    hard = spec.harden(net)
    assert spec.validate(hard).ok
    w = hard[0].weight.detach()
    assert w.abs().max() <= limit * (1 + 1e-6)
    assert not incoherent_blocks(w, block).any()


@given(rows=st.integers(1, 6), cols=st.integers(1, 17), block=st.integers(1, 6), seed=st.integers(0, 999))
def test_harden_signs_keeps_each_blocks_signed_mass(rows, cols, block, seed):
    w = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    hard = harden_signs(w, block)
    assert not incoherent_blocks(hard, block).any()
    for b in range(0, cols, block):
        torch.testing.assert_close(hard[:, b:b + block].sum(1), w[:, b:b + block].sum(1))


# -- export -----------------------------------------------------------------------------------


def test_export_and_load_round_trip_exactly(tmp_path):
    net = H1V2.harden(_h1v2_net(hidden=20, rc=True))
    path = H1V2.export(net, tmp_path / "model.json")
    document = json.loads(path.read_text())
    assert document["format"] == "nwave-chip-export" and document["format_version"] == 2
    assert document["chip"]["name"] == "h1v2" and document["chip"]["spec"]["weight_limit"] == 1.66
    synapse = next(layer for layer in document["layers"] if layer["kind"] == "synapse")
    assert all(isinstance(c, int) for row in synapse["codes"] for c in row)
    assert synapse["scale"] == pytest.approx(1.66 / 127)
    loaded, spec = load_export(path)
    assert spec == H1V2
    x = (torch.rand(3, 25, 16, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    prepare_net(net), prepare_net(loaded)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x), rtol=0, atol=0)
    for a, b in zip([m.weight for m in net if isinstance(m, ChipSynapse)],
                    [m.weight for m in loaded if isinstance(m, ChipSynapse)]):
        torch.testing.assert_close(a, b)


def test_export_refuses_an_invalid_model_with_the_report(tmp_path):
    with pytest.raises(ChipValidationError) as info:
        H1V2.export(_h1v2_net(), tmp_path / "model.json")
    assert str(info.value).startswith("refusing to export a model that breaks chip 'h1v2''s rules; "
                                      "harden it first (chip.harden(model)):\nchip 'h1v2': ")
    assert not info.value.report.ok
    assert not (tmp_path / "model.json").exists()


# -- SignAnnealing ----------------------------------------------------------------------------


def test_sign_annealing_preserves_the_function_at_construction_and_bounds_weights():
    net = _h1v2_net(hidden=13, rc=True)
    with torch.no_grad():
        net[1].weight[0, 0] = 5.0  # outside: preserved clipped
        before = [net[1].weight.clone(), net[2].recurrent_weights.clone(), net[3].weight.clone()]
    sa = SignAnnealing(net, total_epochs=6)
    after = [net[1].weight, net[2].recurrent_weights, net[3].weight]
    for b, a in zip(before, after):
        torch.testing.assert_close(a, b.clamp(-1.66, 1.66), atol=1e-5, rtol=1e-5)
    assert isinstance(net[0].weight, nn.Parameter)  # the frontend is skipped
    alphas = [sa.step(net, epoch) for epoch in range(1, 7)]
    assert alphas[0] == 0.5 and alphas[-1] == pytest.approx(10.0)
    assert all(b > a for a, b in zip(alphas, alphas[1:]))
    for w in [net[1].weight, net[2].recurrent_weights, net[3].weight]:
        assert w.abs().max() < 1.66
        assert not incoherent_blocks(w, 5).any()  # at alpha_end every block has one sign


@settings(max_examples=25, deadline=None)
@given(n_in=st.integers(1, 8), n_out=st.integers(1, 19), block=st.integers(1, 6),
       limit=st.floats(0.2, 2.0), seed=st.integers(0, 999))
def test_after_annealing_and_harden_every_block_is_coherent_and_in_range(n_in, n_out, block, limit, seed):
    spec = ChipSpec(name="t", weight_limit=limit, sign_block=block, core_sizes=(64,))
    torch.manual_seed(seed)
    net = nn.Sequential(ChipSynapse(n_in, n_out, chip=spec), ChipLayer(n_out, chip=spec))
    sa = SignAnnealing(net, total_epochs=3, alpha_start=0.5, alpha_end=50.0)
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for epoch in range(1, 4):
        sa.step(net, epoch)
        assert net[0].weight.abs().max() <= limit
        prepare_net(net)
        loss = net(torch.rand(2, 5, n_in)).sum() + net[0].weight.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    sa.harden()
    w = net[0].weight.detach()
    assert isinstance(net[0].weight, nn.Parameter)
    assert not incoherent_blocks(w, block).any() and w.abs().max() <= limit


def test_sign_annealing_created_after_the_optimizer_fails_loudly():
    net = _h1v2_net()
    opt = torch.optim.Adam(net.parameters())
    with pytest.raises(RuntimeError) as info:
        SignAnnealing(net, 5)
    assert str(info.value).startswith("SignAnnealing was created after the optimizer: the optimizer "
                                      "holds 1.weight, 3.weight")
    assert isinstance(net[1].weight, nn.Parameter)  # nothing was changed
    del opt


def test_an_optimizer_built_before_is_caught_at_its_first_step():
    net = _h1v2_net()
    params = list(net.parameters())
    sa = SignAnnealing(net, 5)
    opt = torch.optim.SGD(params, lr=0.1)  # built from the stale list
    with pytest.raises(RuntimeError, match="SignAnnealing was created after the optimizer"):
        opt.step()
    del sa


def test_sign_annealing_infers_the_chip_or_says_why_not():
    assert SignAnnealing(_h1v2_net(), 3).chip is H1V2
    with pytest.raises(ValueError, match="cannot infer the chip: the model has no hardware layers; "
                                         "pass chip='h1v2'"):
        SignAnnealing(nn.Sequential(LIFSynapse(3, 4), LIFLayer(4)), 3)
    with pytest.raises(ValueError, match=r"layers of several chips \(h1v1, h1v2\)"):
        SignAnnealing(nn.Sequential(H1v1Synapse(3, 4), H1v2Layer(4)), 3)
    lif = nn.Sequential(LIFSynapse(3, 12), LIFLayer(12))
    assert SignAnnealing(lif, 3, chip="h1v1").chip is H1V1


def test_sign_annealing_resumes_from_its_state_dict():
    def build():
        net = _h1v2_net(hidden=10)
        return net, SignAnnealing(net, 8, policy="linear", alpha_end=4.0)

    net, sa = build()
    for epoch in range(1, 4):
        sa.step(net, epoch)
    state = {"model": net.state_dict(), "sa": sa.state_dict()}
    net2, sa2 = build()
    net2.load_state_dict(state["model"])
    sa2.load_state_dict(state["sa"])
    torch.testing.assert_close(net2[1].weight, net[1].weight)
    assert sa2.step(net2) == sa.step(net) == pytest.approx(0.5 + 3.5 * 3 / 7)


# -- losses and metrics -----------------------------------------------------------------------


def test_weight_magnitude_loss_reads_the_limit_from_the_chip():
    net = nn.Sequential(H1v1Synapse(2, 2), H1v1Layer(2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, -0.5], [0.0, -1.9]]))
    expected = (0.1**2 + 1.0**2) / 4
    assert weight_magnitude_loss(net).item() == pytest.approx(expected)
    assert weight_magnitude_loss(net, 1.0).item() == pytest.approx(0.9**2 / 4)
    assert weight_magnitude_loss(net, "h1v2").item() == pytest.approx(0.24**2 / 4)


def test_topology_loss_is_zero_iff_coherent():
    net = nn.Sequential(ChipSynapse(2, 8, chip=ACME), ChipLayer(8, chip=ACME))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1, 2, 0, 3, -1, -1, -2, 0],
                                          [0, 0, 0, 0, 5, 0, 1, 1.]]))
    assert topology_loss(net).item() == 0
    with torch.no_grad():
        net[0].weight[1, 0] = -2.0
    assert topology_loss(net).item() == pytest.approx(0.0)  # row 1 block 0: only a negative
    with torch.no_grad():
        net[0].weight[1, 1] = 0.5
    assert topology_loss(net).item() == pytest.approx(2.0 * 0.5 / 4)
    topology_loss(net).backward()


def test_firing_rate_and_population_losses_and_accuracies():
    a = torch.zeros(2, 10, 4); a[..., 0] = 1  # rate 0.25
    b = torch.ones(3, 5)  # rate 1
    assert firing_rate_target_mse_loss([a, b], [0.05, 0.5], [2.0, 1.0]).item() == pytest.approx(
        ((0.25 - 0.05) * 2) ** 2 + (0.5) ** 2)
    spikes = torch.zeros(2, 4, 6)
    spikes[0, :, 0:2] = 1  # sample 0: class 0 population fires
    spikes[1, :2, 4] = 1   # sample 1: class 2 population, half the time, one of two neurons
    targets = torch.tensor([0, 2])
    assert accuracy_population(spikes, targets, 3) == 1.0
    assert accuracy(spikes[..., ::2], targets) == 1.0
    loss = balanced_population_mse(spikes, targets, 3)
    on = ((1.0 - 1.0) ** 2 + (0.25 - 1.0) ** 2) / 2
    assert loss.item() == pytest.approx((on + 0.0) / 2)
    with pytest.raises(ValueError, match="7 outputs cannot be split into 3 equal class populations"):
        accuracy_population(torch.zeros(1, 2, 7), torch.tensor([0]), 3)


def test_energy_estimate_counts_spikes_and_synaptic_events():
    net = nn.Sequential(ChipSynapse(3, 4, chip=ACME), ChipLayer(4, chip=ACME))
    with torch.no_grad():
        net[0].weight.fill_(0.5)
    x = torch.zeros(2, 6, 3)
    x[:, :, 0] = 1.0  # 6 input spikes per sample, each to 4 synapses
    estimate = estimate_energy(net, x)
    prepare_net(net)
    with torch.no_grad():
        spikes = float(net(x).sum()) / 2
    assert estimate.spikes == spikes
    assert estimate.synaptic_events == 24.0
    assert estimate.joules == pytest.approx(spikes * 2e-12 + 24.0 * 1e-13)
    assert estimate.chip == "acme" and spikes > 0


# -- the whole path, for both H1 chips and a third-party chip ----------------------------------


def _task(n, T, channels, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    rates = torch.full((n, 1, channels), 0.05)
    half = channels // 2
    rates[labels == 0, :, :half] = 0.5
    rates[labels == 1, :, half:] = 0.5
    return (torch.rand(n, T, channels, generator=g) < rates).float(), labels


@pytest.mark.parametrize("chip, frontend, synapse, layer", [
    (H1V1, H1v1Frontend, H1v1Synapse, H1v1Layer),
    (H1V2, H1v2Frontend, H1v2Synapse, H1v2Layer),
    (ACME, lambda: ChipFrontend(chip=ACME), lambda i, o: ChipSynapse(i, o, chip=ACME),
     lambda n: ChipLayer(n, chip=ACME)),
])
def test_hardware_aware_training_end_to_end(chip, frontend, synapse, layer, tmp_path):
    # chip-aware init makes every output fire: with strict accuracy (a silent output is wrong)
    # the H1 chips' class-0 output stayed silent under the default init
    torch.manual_seed(0)
    channels = chip.frontend_channels
    net = nn.Sequential(frontend(), synapse(channels, 20), layer(20), synapse(20, 2), layer(2))
    x, y = _task(48, 30, channels, seed=1)
    fluct_init(net, x, xi_target=1.5, generator=torch.Generator().manual_seed(0))
    epochs = 30
    sa = SignAnnealing(net, epochs)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for epoch in range(1, epochs + 1):
        sa.step(net, epoch)
        prepare_net(net)
        out = net(x)
        loss = (nn.functional.cross_entropy(out.sum(1) * 0.3, y) + weight_magnitude_loss(net)
                + topology_loss(net))
        opt.zero_grad()
        loss.backward()
        opt.step()
    prepare_net(net)
    with torch.no_grad():
        float_acc = accuracy(net(x), y)
    sa.harden()
    hard = chip.harden(net)
    report = chip.validate(hard)
    assert report.ok, report.table()
    prepare_net(hard)
    with torch.no_grad():
        hard_acc = accuracy(hard(x), y)
    print(f"{chip.name}: float accuracy {float_acc:.2f}, hardened {hard_acc:.2f}")
    assert float_acc > 0.8 and hard_acc > 0.8
    loaded, _ = load_export(chip.export(hard, tmp_path / "m.json"))
    for synapse in hard.modules():  # the export holds the configuration, not one chip's mismatch
        if isinstance(synapse, ChipSynapse):
            synapse.stddev = 0.0
            synapse.mismatch.zero_()
    prepare_net(loaded), prepare_net(hard)
    with torch.no_grad():
        assert torch.equal(loaded(x), hard(x))


def test_nwave_check_prints_the_report_of_an_exported_model(tmp_path, capsys):
    from nwave_core.cli import main

    path = H1V2.export(H1V2.harden(_h1v2_net(hidden=60)), tmp_path / "m.json")
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chip 'h1v2': OK, no violations\ncore mapping (layer: core x neurons):")
    assert main(["check", str(path), "--chip", "h1v1", "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["chip"] == "h1v1" and not report["ok"]
    assert {"reset", "weight_grid", "synapse_transfer"} <= {v["rule"] for v in report["violations"]}
    (tmp_path / "bad.json").write_text("{}")
    assert main(["check", str(tmp_path / "bad.json")]) == 2
    assert capsys.readouterr().err.startswith("nwave: error: ")


def test_nwave_show_chip_lists_every_field(capsys):
    from nwave_core.cli import main

    assert main(["show", "chip", "h1v2"]) == 0
    out = capsys.readouterr().out
    assert "weight_limit: 1.66  (the weight scale: weights in [-weight_limit, weight_limit]" in out
    for f in attrs.fields(ChipSpec):
        if f.name not in ("name", "summary", "constraints"):
            assert f"\n{f.name}: " in out, f.name
    # then every rule with its parameters
    assert "weight_range(low=-1.66, high=1.66, applies_to=['synapse', 'recurrent', 'frontend'])" in out
    assert "sign_block(size=5, axis='outputs', applies_to=['synapse', 'recurrent'])" in out
    assert "tau_set(values=[0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16])" in out
