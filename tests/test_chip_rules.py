"""Chip rules as constraints: a third-party chip whose rules differ in kind from H1's, QAT on the
declared grid, SignAnnealing along either axis, frontend gains, the constraint registry."""

from __future__ import annotations

import ast
import itertools
from pathlib import Path

import pytest
import torch
from torch import nn

import nwave_core
from nwave_core import ChipSpec, prepare_net
from nwave_core.constraints import (
    ChipValidationError,
    Constraint,
    SignBlock,
    TauRange,
    Threshold,
    WeightGrid,
    WeightRange,
    incoherent_blocks,
)
from nwave_core.export import load_export
from nwave_core.hardware import ChipFrontend, ChipLayer, ChipSynapse
from nwave_core.losses import topology_loss, weight_magnitude_loss
from nwave_core.metrics import accuracy
from nwave_core.optim import SignAnnealing
from helpers import spike_task, train_annealed
from nwave_plugins.h1 import H1V2
from nwave_plugins.layers import H1v2Frontend, H1v2Layer, H1v2Synapse

ROOT = Path(__file__).parents[1]


@pytest.fixture
def tern(install_fake):
    install_fake("tern")
    return nwave_core.create("chip", "tern")


def _tern_net(chip, hidden=24):
    return nn.Sequential(ChipFrontend(chip=chip), ChipSynapse(8, hidden, chip=chip),
                         ChipLayer(hidden, taus=10e-3, learn_taus=True, learn_thresholds=True,
                                   chip=chip),
                         ChipSynapse(hidden, 2, chip=chip), ChipLayer(2, chip=chip))


# -- the third-party chip ----------------------------------------------------------------------


def test_a_third_party_chip_declares_rules_of_other_kinds(tern):
    kinds = [rule.kind for rule in tern.rules]
    assert {"sign_block", "tau_range", "threshold", "weight_grid", "frontend",
            "tern_fan_in"} <= set(kinds)
    assert "tau_set" not in kinds  # no shorthand tau rule
    assert [r.axis for r in tern.rules_of("sign_block")] == ["inputs"]
    grid = tern.rules_of("weight_grid")[0]
    assert grid.limit == 1.0 and grid.code_range() == (-4, 3) and grid.step == 0.25
    declaration = (ROOT / "tests/fixtures/dists/tern/nwave_tern.py").read_text()
    start = declaration.index("TERN = ChipSpec(")
    body = declaration[start:declaration.index("\n)\n", start) + 2]
    assert len(body.splitlines()) <= 25


def test_each_rule_of_the_third_party_chip_is_broken_before_hardening_and_met_after(tern):
    torch.manual_seed(0)
    net = _tern_net(tern)
    with torch.no_grad():
        net[0].weight.fill_(0.9)                     # frontend gains above 0.5
        net[1].weight.uniform_(-1.5, 1.5)            # out of range, off the grid, mixed signs
        net[2].taus[:3] = torch.tensor([0.5e-3, 40e-3, 27e-3])
        net[2].thresholds[:2] = torch.tensor([0.3, 1.4])
    broken = {v.rule for v in tern.validate(net).violations}
    assert {"frontend", "weight_range", "weight_grid", "sign_block", "tau_range", "threshold",
            "tern_fan_in"} <= broken
    hard = tern.harden(net)
    assert tern.validate(hard).ok, tern.validate(hard).table()
    assert torch.equal(hard[0].weight, torch.full((8,), 0.5))
    codes = hard[1].weight / 0.25
    assert torch.equal(codes, codes.round()) and codes.min() >= -4 and codes.max() <= 3
    assert not incoherent_blocks(hard[1].weight, 4, axis="inputs").any()
    assert incoherent_blocks(hard[1].weight, 4, axis="outputs").any()  # the other axis is free
    assert ((hard[1].weight != 0).sum(0) <= 12).all()
    torch.testing.assert_close(hard[2].taus[:3], torch.tensor([1e-3, 27e-3, 27e-3]))
    torch.testing.assert_close(hard[2].thresholds[:2], torch.tensor([0.5, 1.0]))
    assert torch.equal(hard[2].thresholds[2:], net[2].thresholds[2:].detach())  # per neuron


def test_a_network_trains_on_the_third_party_chip_with_sign_annealing_and_qat(tern, tmp_path):
    torch.manual_seed(0)
    net = _tern_net(tern)
    x, y = spike_task(48, 30, 8, seed=1, on=0.6)
    epochs = 14
    sa = SignAnnealing(net, epochs)  # before the optimizer
    assert all(p.axis == "inputs" and p.block == 4 for p in sa._parametrizations)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    losses = []
    for epoch in range(1, epochs + 1):
        sa.step(net, epoch)
        prepare_net(net)
        loss = nn.functional.cross_entropy(net(x).sum(1), y) + topology_loss(net)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    assert topology_loss(net).item() == 0.0  # coherent groups of inputs at alpha_end
    prepare_net(net)
    with torch.no_grad():
        trained = net(x)
    hard = tern.harden(net)
    assert tern.validate(hard).ok, tern.validate(hard).table()
    prepare_net(hard)
    with torch.no_grad():
        hardened = hard(x)
    print(f"tern: trained accuracy {accuracy(trained, y):.2f}, hardened {accuracy(hardened, y):.2f}")
    assert accuracy(trained, y) > 0.8 and accuracy(hardened, y) > 0.8
    loaded, spec = load_export(tern.export(hard, tmp_path / "tern.json"))
    assert spec == tern
    prepare_net(loaded)
    with torch.no_grad():
        assert torch.equal(loaded(x), hardened)


# -- QAT follows the declared grid, recurrent weights included ---------------------------------


@pytest.mark.parametrize("chip", [
    ChipSpec(name="grid4", weight_bits=4, membrane_floor=0.0),
    ChipSpec(name="twos3", constraints=(WeightGrid(bits=3, scheme="twos_complement"),)),
    ChipSpec(name="levels", constraints=(WeightGrid(levels=(-0.6, -0.1, 0.0, 0.2, 0.9)),)),
])
def test_a_recurrent_layer_trained_with_qat_keeps_every_spike_when_hardened(chip):
    torch.manual_seed(0)
    net = nn.Sequential(ChipSynapse(6, 12, chip=chip), ChipLayer(12, layer_topology="RC", chip=chip),
                        ChipSynapse(12, 2, chip=chip), ChipLayer(2, chip=chip))
    assert net[0].qat and net[1].qat
    x, y = spike_task(32, 40, 6, seed=2, on=0.6)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    for _ in range(6):
        prepare_net(net)
        loss = nn.functional.cross_entropy(net(x).sum(1), y) + weight_magnitude_loss(net)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert not chip.validate(net).ok  # the stored weights are off the grid
    hard = chip.harden(net)
    assert chip.validate(hard).ok
    prepare_net(net), prepare_net(hard)
    with torch.no_grad():
        assert torch.equal(hard(x), net(x))


def test_sign_annealing_and_qat_on_h1v2_keep_every_spike_of_a_recurrent_net():
    torch.manual_seed(1)
    net = nn.Sequential(H1v2Synapse(6, 20), H1v2Layer(20, layer_topology="RC"),
                        H1v2Synapse(20, 2), H1v2Layer(2))
    x, y = spike_task(32, 40, 6, seed=3, on=0.6)
    train_annealed(net, x, y, epochs=4, lr=0.05)
    prepare_net(net)
    with torch.no_grad():
        trained = net(x)
    hard = H1V2.harden(net)
    prepare_net(hard)
    with torch.no_grad():
        assert torch.equal(hard(x), trained)
    # the annealed original is untouched by hardening a copy, and trains on
    prepare_net(net)
    nn.functional.cross_entropy(net(x).sum(1), y).backward()
    assert net[0].parametrizations.weight.original1.grad is not None


# -- SignAnnealing along either axis, losses from the rules -----------------------------------


@pytest.mark.parametrize("axis, size", [("inputs", 4), ("outputs", 3), ("inputs", 7)])
def test_sign_annealing_reaches_coherent_blocks_along_either_axis(axis, size):
    chip = ChipSpec(name="signs", constraints=(SignBlock(size, axis=axis),))
    torch.manual_seed(0)
    net = nn.Sequential(ChipSynapse(10, 9, chip=chip), ChipLayer(9, layer_topology="RC", chip=chip))
    before = [w.detach().clone() for w in (net[0].weight, net[1].recurrent_weights)]
    sa = SignAnnealing(net, 3)
    after = [net[0].weight.detach(), net[1].recurrent_weights.detach()]
    for a, b in zip(before, after):  # the parametrization reproduces the initial weights
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
    assert topology_loss(net).item() > 0
    sa.step(net, 3)
    for weight in (net[0].weight, net[1].recurrent_weights):
        assert not incoherent_blocks(weight, size, axis).any()
    assert topology_loss(net).item() == 0.0
    sa.harden()
    assert chip.validate(net).ok, chip.validate(net).table()


def test_the_hardware_losses_are_the_penalties_of_the_rules():
    chip = ChipSpec(name="asym", constraints=(WeightRange(-0.5, 1.0),))
    net = nn.Sequential(ChipSynapse(2, 2, chip=chip))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.5, -1.0], [0.2, 0.0]]))
    assert float(weight_magnitude_loss(net)) == pytest.approx((0.5 ** 2 + 0.5 ** 2) / 4)
    assert float(weight_magnitude_loss(net, limit=1.0)) == pytest.approx(0.5 ** 2 / 4)
    assert topology_loss(net).item() == 0.0  # the chip declares no sign blocks
    inputs = ChipSpec(name="in", constraints=(SignBlock(2, axis="inputs"),))
    outputs = ChipSpec(name="out", constraints=(SignBlock(2, axis="outputs"),))
    assert float(topology_loss(net, inputs)) == 0.0  # columns [1.5, 0.2] and [-1, 0] agree
    assert float(topology_loss(net, outputs)) == pytest.approx(1.5 * 1.0 / 2)  # row [1.5, -1]


# -- the frontend, the neuron model -----------------------------------------------------------


def test_frontend_gains_are_governed_like_any_other_weight(tmp_path):
    net = nn.Sequential(H1v2Frontend(), H1v2Synapse(16, 10), H1v2Layer(10))
    net = H1V2.harden(net)
    with torch.no_grad():
        net[0].weight.fill_(-7.3)
    report = H1V2.validate(net)
    assert [(v.rule, v.where) for v in report.violations] == [("weight_range", "0.weight"),
                                                             ("weight_grid", "0.weight")]
    with pytest.raises(ChipValidationError):
        H1V2.export(net, tmp_path / "m.json")
    assert torch.equal(H1V2.harden(net)[0].weight, torch.full((16,), -1.66))


def test_ileak_mismatch_draws_leak_and_threshold_variation():
    layer = H1v2Layer(200, ileak_mismatch=True)
    layer.prepare(torch.Generator().manual_seed(0))
    assert layer.tau_scale.std() > 0.05 and layer.threshold_scale.std() > 0.01
    _, threshold = layer.neuron_params()
    assert threshold.std() / threshold.mean() == pytest.approx(H1V2.threshold_mismatch, rel=0.3)
    plain = H1v2Layer(200)
    plain.prepare(torch.Generator().manual_seed(0))
    assert torch.equal(plain.threshold_scale, torch.ones(200))


def test_chip_layers_start_from_legal_taus_and_thresholds():
    chip = ChipSpec(name="ranged", constraints=(TauRange(2e-3, 8e-3),
                                                Threshold(low=0.5, high=2.0, scope="layer")))
    layer = ChipLayer(3, taus=[1e-3, 5e-3, 20e-3], thresholds=1.5, chip=chip)
    torch.testing.assert_close(layer.taus, torch.tensor([2e-3, 5e-3, 8e-3]))
    with torch.no_grad():
        layer.thresholds[0] = 1.0
    assert [v.rule for v in chip.validate(nn.Sequential(layer)).violations] == ["threshold"]
    hard = chip.harden(nn.Sequential(layer))
    torch.testing.assert_close(hard[0].thresholds, torch.full((3,), 4.0 / 3))


# -- the registry, the config, the CLI --------------------------------------------------------


def test_the_built_in_rules_are_registered_and_buildable_from_config_tables():
    names = set(nwave_core.registry("constraint").names())
    assert {"weight_range", "sign_block", "weight_grid", "tau_set", "tau_range", "threshold",
            "reset", "membrane_floor", "core_fit", "frontend", "synapse_transfer", "structure",
            "finite"} <= names
    chip = nwave_core.create("chip", "h1v2", constraints=[
        {"type": "tau_range", "low": 1e-3, "high": 0.2},
        {"type": "sign_block", "size": 4, "axis": "inputs"}])
    assert chip.rules_of("sign_block") == [SignBlock(4, axis="inputs")]
    assert chip.rules_of("tau_set") == chip.rules_of("tau_set")  # shorthand kept: another kind
    with pytest.raises(ValueError, match="SignBlock.axis must be one of 'outputs', 'inputs', "
                                         "got 'rows'"):
        nwave_core.create("chip", "h1v2", constraints=[{"type": "sign_block", "size": 4,
                                                        "axis": "rows"}])
    with pytest.raises(nwave_core.UnknownNameError, match="unknown constraint 'sign_blok'. Did "
                                                          "you mean 'sign_block'"):
        ChipSpec(name="x", constraints=[{"type": "sign_blok", "size": 2}])


def test_a_config_declares_a_chip_with_rules(tmp_path):
    from nwave_core.config import load_config
    from nwave_core.experiment import build_model

    path = tmp_path / "c.toml"
    path.write_text("""
[model]
layers = [{type = "chip_synapse", nb_inputs = 4, nb_outputs = 8},
          {type = "chip_layer", n_neurons = 8}]
[model.chip]
type = "h1v2"
constraints = [{type = "sign_block", size = 4, axis = "inputs"}]
[data]
type = "poisson_patterns"
n_channels = 4
""")
    model, chip = build_model(load_config(path))
    assert chip.rules_of("sign_block") == [SignBlock(4, axis="inputs")]
    assert model[0].chip is chip


def test_nwave_lists_and_shows_the_constraint_kinds(capsys):
    from nwave_core.cli import main

    assert main(["list", "constraint"]) == 0
    out = capsys.readouterr().out
    assert "sign_block" in out and "weight_grid" in out
    assert main(["show", "constraint", "sign_block"]) == 0
    out = capsys.readouterr().out
    assert "axis" in out and "'outputs': blocks of consecutive post-synaptic neurons" in out


def test_a_rule_must_be_a_constraint():
    with pytest.raises(ValueError, match="ChipSpec.constraints must hold nwave_core.constraints"):
        ChipSpec(name="x", constraints=("sign_block",))
    assert isinstance(SignBlock(2), Constraint)


# -- no import cycle among the chip machinery -------------------------------------------------


def _imports(module: Path) -> set[str]:
    """Every nwave_core module ``module`` imports, at the top or inside a function."""
    package = module.relative_to(ROOT).with_suffix("").parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[: len(package) - node.level + 1])
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_import_cycle_among_chip_rules_export_hardware_neurons_and_engine():
    core = ["chip", "rules", "export", "hardware", "neurons", "engine"]

    def files(name):  # a module, or every module of a package
        single = ROOT / f"nwave_core/{name}.py"
        return [single] if single.exists() else sorted((ROOT / f"nwave_core/{name}").glob("*.py"))

    def imports(name):
        return {i for path in files(name) for i in _imports(path)}

    edges = {a: {b for b in core if b != a and any(i == f"nwave_core.{b}"
                                                   or i.startswith(f"nwave_core.{b}.")
                                                   for i in imports(a))}
             for a in core}
    for a, b in itertools.permutations(core, 2):
        assert not (b in edges[a] and a in edges[b]), f"{a} <-> {b}"
    # and no longer cycle: a topological order exists
    order, left = [], dict(edges)
    while left:
        free = [a for a, deps in left.items() if not deps & set(left)]
        assert free, f"import cycle among {sorted(left)}"
        order += free
        for a in free:
            del left[a]
    assert order.index("chip") < order.index("hardware") < order.index("export")


def test_the_plugin_authors_check_passes_for_every_built_in_and_the_third_party_chip(tern):
    from nwave_core.testing import check_chip

    for name in ("h1v1", "h1v2"):
        check_chip(nwave_core.create("chip", name))
    check_chip(tern)


def test_a_chip_whose_neuron_model_breaks_its_own_rules_is_refused():
    from nwave_core.constraints import MembraneFloor, ResetRule

    with pytest.raises(ValueError, match=r"ChipSpec 'odd': the declaration contradicts its own "
                                         r"rules: reset 'subtraction' is not among the reset "
                                         r"rule's \['zero'\]; threshold 1.0 is outside the "
                                         r"threshold rule's \[0.2, 0.5\]"):
        ChipSpec(name="odd", constraints=(ResetRule(("zero",)),
                                          Threshold(low=0.2, high=0.5)))
    with pytest.raises(ValueError, match="membrane_floor None differs from the membrane_floor "
                                         "rule's 0.0"):
        ChipSpec(name="odd", constraints=(MembraneFloor(0.0),))
    ChipSpec(name="fine", reset="zero", threshold=0.4,
             constraints=(ResetRule(("zero", "none")), Threshold(low=0.2, high=0.5)))


# -- rules that meet: ranges and grids, tau sets and ranges, roles -----------------------------


def test_a_grid_snaps_inside_an_asymmetric_range_in_training_and_hardening():
    chip = ChipSpec(name="asym", weight_bits=4, constraints=(WeightRange(-0.5, 0.95),))
    w = torch.tensor([-0.9, 0.95, 0.3], requires_grad=True)
    projected = chip.project(w, "synapse")
    step = 1 / 7
    assert torch.allclose(projected.detach(), torch.tensor([-3 * step, 6 * step, 2 * step]))
    projected.sum().backward()
    assert torch.equal(w.grad, torch.ones(3))  # straight through
    net = nn.Sequential(ChipSynapse(3, 1, chip=chip), ChipLayer(1, chip=chip))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[0.95], [-0.9], [0.3]]))
    assert chip.validate(chip.harden(net)).ok


def test_rules_that_cannot_hold_together_are_refused_at_declaration():
    from nwave_core.constraints import TauSet

    with pytest.raises(ValueError, match="sign blocks need 0 on the weight grid"):
        ChipSpec(name="bin", sign_block=2, constraints=(WeightGrid(levels=(-0.5, 0.5)),))
    with pytest.raises(ValueError, match="no level of the weight grid lies in the synapse"):
        ChipSpec(name="gap", constraints=(WeightGrid(levels=(-0.9, 0.9)), WeightRange(-0.5, 0.5)))
    with pytest.raises(ValueError, match=r"no tau profile of \[0.04, 0.08\] lies in the tau range"):
        ChipSpec(name="taus", constraints=(TauSet((40e-3, 80e-3)), TauRange(1e-3, 27e-3)))
    chip = ChipSpec(name="taus", constraints=(TauSet((5e-3, 20e-3, 40e-3)), TauRange(1e-3, 27e-3)))
    layer = ChipLayer(2, taus=[30e-3, 4e-3], chip=chip)
    torch.testing.assert_close(layer.taus, torch.tensor([20e-3, 5e-3]))
    assert chip.validate(nn.Sequential(layer)).ok


def test_a_declared_weight_rule_replaces_the_shorthand_only_for_its_roles():
    chip = ChipSpec(name="roles", weight_limit=1.0,
                    constraints=(WeightRange(0.0, 2.0, applies_to=("frontend",)),))
    ranges = {(r.low, r.high, r.applies_to) for r in chip.rules_of("weight_range")}
    assert ranges == {(0.0, 2.0, ("frontend",)), (-1.0, 1.0, ("synapse", "recurrent"))}
    with pytest.raises(ValueError, match="frontend gains are one per channel"):
        SignBlock(2, applies_to=("frontend",))


def test_a_positive_only_recurrent_range_still_builds_and_exports(tmp_path):
    chip = ChipSpec(name="exc", constraints=(
        WeightRange(-1, 1, applies_to=("synapse", "frontend")),
        WeightRange(0.1, 0.5, applies_to=("recurrent",))))
    layer = ChipLayer(5, layer_topology="RC", chip=chip)
    assert layer.recurrent_weights.min() >= 0.1 and layer.recurrent_weights.max() <= 0.5
    net = chip.harden(nn.Sequential(ChipSynapse(4, 5, chip=chip), layer))
    loaded, _ = load_export(chip.export(net, tmp_path / "m.json"), chip=chip)
    assert torch.equal(loaded[1].recurrent_weights, net[1].recurrent_weights)


def test_the_core_search_has_a_budget_and_falls_back_to_first_fit():
    from nwave_core.constraints import map_to_cores
    from nwave_core.constraints.topology import _pack

    sizes, cores = [30, 30, 20, 20], [50, 50]
    assert _pack(sizes, list(cores)) is not None  # 30 + 20 twice: found by the search
    assert _pack(sizes, list(cores), budget=2) is None  # gave up
    layers = [(str(i), 10 + i, True) for i in range(14)]  # too many to search exhaustively
    mapping, unplaced = map_to_cores(layers, tuple(range(20, 40, 2)), "core")
    placed = [name for name, parts in mapping if parts]
    assert sorted(placed + unplaced, key=int) == [str(i) for i in range(14)]
