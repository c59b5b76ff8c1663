"""The deployment gate: every value an export carries is checked against the chip.

Each tampering case edits one field of a valid export. ``load_export`` must refuse it (a
``ChipValidationError`` with the report for a file that breaks the chip's rules, an
``ExportFormatError`` for one that cannot be read as an export) and ``nwave check`` must exit 1
or 2 accordingly, with a one-line reason and no traceback for exit 2.
"""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch
from torch import nn

from nwave_core import ChipSpec, prepare_net
from nwave_core.cli import main
from nwave_core.constraints import ChipValidationError
from nwave_core.export import ExportFormatError, check_export, load_export
from nwave_core.hardware import ChipLayer, ChipSynapse
from nwave_plugins.h1 import H1V1, H1V2
from nwave_plugins.layers import (
    H1v1Frontend,
    H1v1Layer,
    H1v1Synapse,
    H1v2Frontend,
    H1v2Layer,
    H1v2Synapse,
    LIFLayer,
)

FAMILY = {"h1v1": (H1V1, H1v1Frontend, H1v1Synapse, H1v1Layer),
          "h1v2": (H1V2, H1v2Frontend, H1v2Synapse, H1v2Layer)}


def _valid_document(chip_name: str, tmp_path_factory) -> dict:
    chip, frontend, synapse, layer = FAMILY[chip_name]
    torch.manual_seed(0)
    net = nn.Sequential(frontend(), synapse(16, 20), layer(20, layer_topology="RC"),
                        synapse(20, 10), layer(10))
    path = chip.export(chip.harden(net), tmp_path_factory.mktemp(chip_name) / "valid.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    return {name: _valid_document(name, tmp_path_factory) for name in FAMILY}


def _layer(doc, kind, index=0):
    return [layer for layer in doc["layers"] if layer["kind"] == kind][index]


def _set(path):
    """An edit that sets a value at ``path`` (keys and indices; a callable computes it)."""
    *head, last = path

    def edit(doc, value):
        target = doc
        for key in head:
            target = target[key] if not callable(key) else key(target)
        target[last] = value(target[last]) if callable(value) else value
    return edit


def _chain_break(doc):
    # a 50-neuron layer fed by a synapse with 10 outputs
    layer = _layer(doc, "neurons", 1)
    n = 50
    layer.update(n_neurons=n, taus=[layer["taus"][0]] * n, threshold=[layer["threshold"][0]] * n)


def _too_many_neurons(doc):
    synapse, layer = _layer(doc, "synapse", 1), _layer(doc, "neurons", 1)
    n = 300
    synapse["shape"] = [20, n]
    synapse["codes"] = [row[:1] * n for row in synapse["codes"]]
    layer.update(n_neurons=n, taus=[layer["taus"][0]] * n, threshold=[layer["threshold"][0]] * n)


def _mix_block_signs(record):
    codes = record["codes"]
    codes[0][0], codes[0][1] = 3, -3
    return record


def _frontend_second(doc):
    doc["layers"][0], doc["layers"][1] = doc["layers"][1], doc["layers"][0]


def _loosen(doc):
    doc["chip"]["constraints"].append({"type": "weight_range", "low": -100.0, "high": 100.0})


VIOLATIONS = [
    # (id, chip, edit(doc), rule expected in the report)
    ("thresholds-2", "h1v1", lambda d: _layer(d, "neurons").update(threshold=[2.0] * 20), "threshold"),
    ("reset-subtraction", "h1v1", lambda d: _layer(d, "neurons").update(reset="subtraction"), "reset"),
    ("reset-unknown", "h1v2", lambda d: _layer(d, "neurons").update(reset="subtract"), "reset"),
    ("one-threshold-differs", "h1v2", lambda d: _layer(d, "neurons", 1)["threshold"].__setitem__(3, 0.99), "threshold"),
    ("threshold-nan", "h1v2", lambda d: _layer(d, "neurons")["threshold"].__setitem__(0, math.nan), "finite"),
    ("taus-off-profiles", "h1v2", lambda d: _layer(d, "neurons").update(taus=[13e-3] * 20), "tau_set"),
    ("taus-negative", "h1v2", lambda d: _layer(d, "neurons")["taus"].__setitem__(0, -0.01), "structure"),
    ("taus-nan", "h1v1", lambda d: _layer(d, "neurons")["taus"].__setitem__(0, math.nan), "finite"),
    ("floor-negative", "h1v2", lambda d: _layer(d, "neurons").update(floor=-1.0), "membrane_floor"),
    ("floor-removed", "h1v1", lambda d: _layer(d, "neurons").update(floor=None), "membrane_floor"),
    ("dt-zero", "h1v2", lambda d: _layer(d, "neurons").update(dt=0.0), "structure"),
    ("dt-negative", "h1v1", lambda d: _layer(d, "frontend").update(dt=-1e-3), "structure"),
    ("code-nan", "h1v1", lambda d: _layer(d, "synapse")["codes"][0].__setitem__(0, math.nan), "finite"),
    ("code-fraction", "h1v2", lambda d: _layer(d, "synapse")["codes"][0].__setitem__(0, 0.5), "weight_grid"),
    ("code-out-of-range", "h1v2", lambda d: _layer(d, "synapse")["codes"][1].__setitem__(0, 400), "weight_range"),
    ("scale-negative", "h1v2", lambda d: _layer(d, "synapse").update(scale=-_layer(d, "synapse")["scale"]), "structure"),
    ("scale-zero", "h1v1", lambda d: _layer(d, "synapse").update(scale=0.0), "structure"),
    ("scale-not-the-step", "h1v2", lambda d: _layer(d, "synapse").update(scale=_layer(d, "synapse")["scale"] / 2), "weight_grid"),
    ("synapse-signs-mixed", "h1v2", lambda d: _mix_block_signs(_layer(d, "synapse")), "sign_block"),
    ("recurrent-signs-mixed", "h1v1", lambda d: _mix_block_signs(_layer(d, "neurons")["recurrent"]), "sign_block"),
    ("recurrent-code-out-of-range", "h1v1", lambda d: _layer(d, "neurons")["recurrent"]["codes"][0].__setitem__(0, 99), "weight_grid"),
    ("synapse-transfer", "h1v1", lambda d: _layer(d, "synapse").update(transfer="linear"), "synapse_transfer"),
    ("synapse-gain", "h1v2", lambda d: _layer(d, "synapse", 1).update(gain=1.0), "synapse_transfer"),
    ("recurrent-transfer", "h1v1", lambda d: _layer(d, "neurons")["recurrent"].update(transfer="linear"), "synapse_transfer"),
    ("frontend-gain-range", "h1v2", lambda d: _layer(d, "frontend")["gains"].update(codes=[-700] * 16), "weight_range"),
    ("frontend-gain-nan", "h1v1", lambda d: _layer(d, "frontend")["gains"]["codes"].__setitem__(2, math.nan), "finite"),
    ("frontend-width", "h1v2", lambda d: _layer(d, "frontend").update(
        n_neurons=8, taus=_layer(d, "frontend")["taus"][:8], threshold=[1.0] * 8,
        gains={**_layer(d, "frontend")["gains"], "codes": _layer(d, "frontend")["gains"]["codes"][:8]}), "frontend"),
    ("frontend-second", "h1v2", _frontend_second, "structure"),
    ("empty-model", "h1v2", lambda d: d.update(layers=[]), "structure"),
    ("sizes-do-not-chain", "h1v1", _chain_break, "structure"),
    ("too-many-neurons", "h1v2", _too_many_neurons, "core_fit"),
    ("declared-limit-loosened", "h1v2", lambda d: d["chip"]["spec"].update(weight_limit=100.0), "declaration"),
    ("declared-sign-blocks-removed", "h1v1", lambda d: d["chip"]["spec"].update(sign_block=1), "declaration"),
    ("declared-rule-added", "h1v2", _loosen, "declaration"),
]

MALFORMED = [
    # (id, chip, edit(doc) or raw text, expected words in the one-line reason)
    ("format-name", "h1v2", lambda d: d.update(format="onnx"), "format 'onnx'"),
    ("format-version-old", "h1v2", lambda d: d.update(format_version=1), "format version 1"),
    ("format-version-new", "h1v1", lambda d: d.update(format_version=99), "format version 99"),
    ("no-layers", "h1v2", lambda d: d.pop("layers"), "missing @ $.layers"),
    ("layers-not-a-list", "h1v1", lambda d: d.update(layers={"0": 1}), "expected a list"),
    ("unknown-kind", "h1v2", lambda d: _layer(d, "synapse").update(kind="conv"), "unknown layer kind 'conv'"),
    ("codes-short-row", "h1v2", lambda d: _layer(d, "synapse")["codes"][3].pop(), "$.layers[1].codes"),
    ("codes-string", "h1v1", lambda d: _layer(d, "synapse")["codes"][0].__setitem__(0, "7"), "$.layers[1].codes"),
    ("shape-not-ints", "h1v2", lambda d: _layer(d, "synapse").update(shape=[16.0, "20"]), "expected [n_in, n_out]"),
    ("n-neurons-text", "h1v2", lambda d: _layer(d, "neurons").update(n_neurons="ten"), "expected an integer >= 1"),
    ("taus-length", "h1v1", lambda d: _layer(d, "neurons")["taus"].pop(), "$.layers[2].taus"),
    ("reset-not-text", "h1v2", lambda d: _layer(d, "neurons").update(reset=5), "$.layers[2].reset"),
    ("no-chip", "h1v1", lambda d: d.pop("chip"), "missing @ $.chip"),
    ("unknown-chip-field", "h1v2", lambda d: d["chip"]["spec"].update(voltage=3.3), "ChipSpec has no field 'voltage'"),
    ("invalid-chip-field", "h1v2", lambda d: d["chip"]["spec"].update(weight_limit=-1), "ChipSpec.weight_limit"),
    ("unknown-constraint", "h1v1", lambda d: d["chip"]["constraints"].append({"type": "warp_drive"}), "unknown constraint 'warp_drive'"),
    ("frontend-with-recurrent-weights", "h1v2", lambda d: _layer(d, "frontend").update(
        recurrent=_layer(d, "neurons")["recurrent"]), "unknown key @ $.layers[0].recurrent"),
    ("extra-layer-key", "h1v1", lambda d: _layer(d, "neurons").update(bias=[0.1] * 20), "unknown key @ $.layers[2].bias"),
    ("code-beyond-float", "h1v2", lambda d: _layer(d, "synapse")["codes"][0].__setitem__(0, 10 ** 400), "$.layers[1].codes"),
    ("scale-beyond-float", "h1v2", lambda d: _layer(d, "synapse").update(scale=10 ** 400), "$.layers[1].scale"),
    ("dt-beyond-float", "h1v1", lambda d: _layer(d, "neurons").update(dt=10 ** 400), "$.layers[2].dt"),
    ("chip-empty", "h1v2", lambda d: d.update(chip={}), "missing @ $.chip.name"),
    ("chip-names-differ", "h1v2", lambda d: d["chip"]["spec"].update(name="acme"), "differs from $.chip.name"),
    ("huge-grid", "h1v1", lambda d: d["chip"]["spec"].update(weight_bits=2000), "ChipSpec.weight_bits"),
    ("too-many-digits", "h1v2", "HUGE", "not JSON"),
    ("document-is-a-list", "h1v2", "[1, 2, 3]", "not a JSON object"),
    ("truncated", "h1v2", "TRUNCATE", "not JSON"),
    ("empty-file", "h1v1", "", "not JSON"),
    ("binary", "h1v1", "\x00\x01garbage", "not JSON"),
]


def _write(tmp_path, documents, chip, edit):
    path = tmp_path / "tampered.json"
    if isinstance(edit, str):
        text = {"TRUNCATE": json.dumps(documents[chip])[:500],
                "HUGE": json.dumps(documents[chip]).replace('"dt": 0.001', '"dt": 1' + "0" * 5000, 1),
                }.get(edit, edit)
        path.write_text(text)
    else:
        doc = copy.deepcopy(documents[chip])
        edit(doc)
        path.write_text(json.dumps(doc))
    return path


def test_the_untouched_exports_pass_the_gate(documents, tmp_path, capsys):
    for chip in FAMILY:
        path = _write(tmp_path, documents, chip, lambda d: None)
        load_export(path)
        assert main(["check", str(path)]) == 0
    assert len(VIOLATIONS) + len(MALFORMED) >= 30


@pytest.mark.parametrize("chip, edit, rule", [c[1:] for c in VIOLATIONS], ids=[c[0] for c in VIOLATIONS])
def test_a_file_that_breaks_the_chips_rules_is_refused(documents, tmp_path, capsys, chip, edit, rule):
    path = _write(tmp_path, documents, chip, edit)
    with pytest.raises(ChipValidationError) as info:
        load_export(path)
    assert rule in info.value.report.rules(), info.value.report.table()
    assert str(info.value).startswith(f"{path}: refusing to load an export that breaks chip ")
    assert main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    assert " violation(s)" in out.splitlines()[0] and rule in out


@pytest.mark.parametrize("chip, edit, words", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_a_file_that_is_no_valid_export_is_refused_with_one_line(documents, tmp_path, capsys, chip, edit, words):
    path = _write(tmp_path, documents, chip, edit)
    with pytest.raises(ExportFormatError) as info:
        load_export(path)
    assert words in str(info.value)
    assert main(["check", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"nwave: error: {path}: not a valid nwave export: ")
    assert words in captured.err and len(captured.err.strip().splitlines()) == 1
    assert "Traceback" not in captured.err


def test_validate_false_loads_a_file_that_breaks_the_rules(documents, tmp_path):
    path = _write(tmp_path, documents, "h1v1",
                  lambda d: _layer(d, "neurons").update(threshold=[2.0] * 20))
    model, spec = load_export(path, validate=False)
    assert spec == H1V1 and torch.equal(model[2].thresholds, torch.full((20,), 2.0))
    report, _, _ = check_export(path)
    assert report.rules() == ["threshold"]


def test_a_file_is_checked_against_the_installed_chip_or_the_one_given(documents, tmp_path, capsys):
    path = _write(tmp_path, documents, "h1v2", lambda d: d["chip"]["spec"].update(weight_bits=6))
    report, _, reference = check_export(path)
    assert reference == H1V2
    assert report.rules() == ["declaration"]  # the 8-bit codes suit the installed h1v2
    assert "(weight_bits)" in report.violations[0].detail
    # given the chip it declares, the 8-bit codes are off its 6-bit grid
    six = H1V2.with_overrides(weight_bits=6)
    assert check_export(path, chip=six)[0].rules() == ["weight_grid"]
    # naming the installed chip does not wave the different declaration through
    assert check_export(path, chip="h1v2")[0].rules() == ["declaration"]
    with pytest.raises(ChipValidationError):
        load_export(path, chip="h1v2")
    assert main(["check", str(path), "--chip", "h1v1"]) == 1


def test_a_value_changed_on_a_live_layer_after_hardening_is_caught(tmp_path):
    torch.manual_seed(0)
    hard = H1V2.harden(nn.Sequential(H1v2Frontend(), H1v2Synapse(16, 10), H1v2Layer(10)))
    assert H1V2.validate(hard).ok
    changes = [
        (lambda m: setattr(m[2], "reset", "zero"), "reset"),
        (lambda m: setattr(m[2], "floor", None), "membrane_floor"),
        (lambda m: m[2].taus.fill_(13e-3), "tau_set"),
        (lambda m: m[2].thresholds.fill_(1.2), "threshold"),
        (lambda m: m[1].weight.data.__setitem__((0, 0), 0.123), "weight_grid"),
        (lambda m: m[0].weight.data.fill_(9.0), "weight_range"),
    ]
    for change, rule in changes:
        live = copy.deepcopy(hard)
        with torch.no_grad():
            change(live)
        report = H1V2.validate(live)
        assert rule in report.rules(), (rule, report.table())
        with pytest.raises(ChipValidationError):
            H1V2.export(live, tmp_path / "m.json")


def test_the_loaded_model_computes_what_was_exported(documents, tmp_path):
    for chip in FAMILY:
        path = _write(tmp_path, documents, chip, lambda d: None)
        model, spec = load_export(path)
        again = spec.export(model, tmp_path / "again.json")
        def plain(layers):  # the loader builds the generic chip classes
            return [{k: v for k, v in layer.items() if k != "class"} for layer in layers]

        assert plain(json.loads(again.read_text())["layers"]) == plain(documents[chip]["layers"])
        prepare_net(model)
        x = (torch.rand(2, 15, 16, generator=torch.Generator().manual_seed(0)) < 0.3).float()
        with torch.no_grad():
            assert model(x).shape == (2, 15, 10)


# -- found by a red-team review ----------------------------------------------------------------


@pytest.mark.parametrize("middle", [nn.ReLU(), nn.BatchNorm1d(10, affine=False), nn.Tanh()],
                         ids=["relu", "batchnorm", "tanh"])
def test_a_module_the_chip_cannot_run_is_reported_not_dropped(middle):
    net = nn.Sequential(H1v2Synapse(16, 10), middle, H1v2Layer(10))
    report = H1V2.validate(net)
    assert "structure" in report.rules()
    assert any("is no chip module" in v.detail for v in report.violations)
    with pytest.raises(ChipValidationError):
        H1V2.harden(net)


def test_a_custom_forward_and_a_bias_are_reported_and_dropout_passes():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer, self.syn = H1v2Layer(10), H1v2Synapse(10, 10)

        def forward(self, x):  # registration order is not the data flow
            return self.layer(self.syn(x))

    details = [v.detail for v in H1V2.validate(Net()).violations]
    assert any("has a forward of its own" in d for d in details)

    class Biased(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.zeros(4, 5))
            self.bias = nn.Parameter(torch.zeros(5))

    plain = ChipSpec(name="plain")
    assert any("holds bias besides its weight" in v.detail
               for v in plain.validate(nn.Sequential(Biased(), LIFLayer(5))).violations)
    hard = H1V2.harden(nn.Sequential(H1v2Synapse(4, 10), nn.Dropout(0.3), H1v2Layer(10)))
    assert H1V2.validate(hard).ok


def test_a_module_used_twice_is_two_stages(tmp_path):
    syn, layer = H1v2Synapse(10, 10), H1v2Layer(10)
    hard = H1V2.harden(nn.Sequential(H1v2Synapse(16, 10), H1v2Layer(10), syn, layer, syn, layer))
    document = json.loads(H1V2.export(hard, tmp_path / "m.json").read_text())
    assert [r["kind"] for r in document["layers"]] == ["synapse", "neurons"] * 3


def test_synapses_feed_neurons_and_neurons_meet_through_synapses():
    for net, words in [
        (nn.Sequential(H1v2Synapse(4, 5)), "a synapse must feed a neuron layer, not end the model"),
        (nn.Sequential(H1v2Synapse(4, 5), H1v2Synapse(5, 5), H1v2Layer(5)),
         "a synapse must feed a neuron layer, not a synapse"),
        (nn.Sequential(H1v2Synapse(4, 5), H1v2Layer(5), H1v2Layer(5)),
         "neuron layers connect through a synapse, not directly"),
    ]:
        assert words in [v.detail for v in H1V2.validate(net).violations]


def test_a_nan_tau_is_not_hardened_away():
    layer = H1v2Layer(10, learn_taus=True)
    with torch.no_grad():
        layer.taus[3] = float("nan")
    with pytest.raises(ChipValidationError, match="finite"):
        H1V2.harden(nn.Sequential(H1v2Synapse(10, 10), layer))


def test_training_on_quantization_bits_is_reported_and_folded(tmp_path):
    chip = ChipSpec(name="float-chip")
    torch.manual_seed(0)
    net = nn.Sequential(ChipSynapse(6, 5, quantization_bits=3, chip=chip), ChipLayer(5, chip=chip))
    assert "structure" in chip.validate(net).rules()
    x = torch.rand(2, 10, 6) * 3
    prepare_net(net)
    with torch.no_grad():
        trained = net(x)
    loaded, _ = load_export(chip.export(chip.harden(net), tmp_path / "m.json"))
    prepare_net(loaded)
    with torch.no_grad():
        assert torch.equal(loaded(x), trained)

