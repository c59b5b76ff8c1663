"""Export a chip-valid model to a self-describing JSON file, and load it back.

The file names the format and its version, the chip (name, spec version and every spec field),
and the layers in order: synapses with integer weight codes and the scale that turns a code into
a weight (``weight = code * scale``), neuron layers with their taus, dt, threshold, reset and
floor, and recurrent weights as codes. On a chip without ``weight_bits`` the codes are the float
weights and the scale is 1. ``transfer`` says whether the chip's synapse gain and nonlinearity
apply to a weight (chip modules) or not (plain LIF synapses and recurrent weights).

Export supports models whose modules, in registration order, are the data flow (an
``nn.Sequential`` of frontends, synapses and neuron layers, possibly nested); the loader returns
such an ``nn.Sequential``.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .chip import ChipSpec
from .rules import ChipValidationError, validate

__all__ = ["FORMAT", "FORMAT_VERSION", "export", "load_export"]

FORMAT = "nwave-chip-export"
FORMAT_VERSION = 1


def _codes(weight: Tensor, spec: ChipSpec) -> tuple[list[Any], float]:
    w = weight.detach().double().cpu()
    if spec.weight_bits is None:
        return w.tolist(), 1.0
    from .hardware import weight_levels

    scale = spec.weight_limit / weight_levels(spec.weight_bits)
    return torch.round(w / scale).to(torch.int64).tolist(), scale


def _layer_record(name: str, module: nn.Module, spec: ChipSpec) -> dict[str, Any] | None:
    from .hardware import ChipFrontend, ChipLayer, ChipSynapse
    from .neurons import NeuronLayerBase

    if isinstance(module, ChipSynapse) or (
            isinstance(getattr(module, "weight", None), Tensor) and module.weight.dim() == 2
            and not isinstance(module, NeuronLayerBase)):
        codes, scale = _codes(module.weight, spec)
        return {"name": name, "kind": "synapse", "class": type(module).__name__,
                "transfer": isinstance(module, ChipSynapse),
                "shape": list(module.weight.shape), "scale": scale, "codes": codes}
    if isinstance(module, NeuronLayerBase):
        n = module.n_neurons
        thresholds = getattr(module, "thresholds", None)
        if not isinstance(thresholds, Tensor):  # a chip layer: the chip's global threshold
            thresholds = torch.full((n,), spec.threshold)
        record: dict[str, Any] = {
            "name": name, "kind": "frontend" if isinstance(module, ChipFrontend) else "neurons",
            "class": type(module).__name__, "n_neurons": n,
            "taus": module.taus.detach().double().expand(n).tolist(),
            "dt": float(module.dt),
            "threshold": thresholds.detach().double().expand(n).tolist(),
            "reset": module.reset, "floor": module.floor,
        }
        if isinstance(module, ChipFrontend):
            record["channel_weights"] = module.weight.detach().double().tolist()
        if module.recurrent_weights is not None:
            codes, scale = _codes(module.recurrent_weights, spec)
            record["recurrent"] = {"scale": scale, "codes": codes,
                                   "transfer": isinstance(module, ChipLayer)}
        return record
    return None


def export(spec: ChipSpec, model: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` for ``spec`` to ``path`` (atomically); refuse an invalid model.

    Raises:
        ChipValidationError: the model breaks the chip's rules (the report is attached).
    """
    report = validate(spec, model)
    if not report.ok:
        raise ChipValidationError(f"refusing to export a model that breaks chip {spec.name!r}'s "
                                  "rules; harden it first (chip.harden(model)):", report)
    layers = []
    for name, module in model.named_modules():
        record = _layer_record(name, module, spec)
        if record is not None:
            layers.append(record)
    document = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "chip": {"name": spec.name, "spec_version": spec.spec_version,
                 "spec": _spec_dict(spec)},
        "layers": layers,
    }
    target = Path(path)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(document, stream, indent=1)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _spec_dict(spec: ChipSpec) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in attrs.asdict(spec).items()}


def load_export(path: str | os.PathLike[str]) -> tuple[nn.Sequential, ChipSpec]:
    """Read a file written by :func:`export`; returns ``(model, chip spec)``.

    The model is an ``nn.Sequential`` of the generic chip modules (``ChipFrontend``,
    ``ChipSynapse``, ``ChipLayer``) whose forward equals the exported model's.
    """
    from .hardware import ChipFrontend, ChipLayer, ChipSynapse

    document = json.loads(Path(path).read_text())
    if document.get("format") != FORMAT:
        raise ValueError(f"{path}: not an nwave chip export (format {document.get('format')!r})")
    if document.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: export format version {document.get('format_version')!r}; "
                         f"this nwave reads version {FORMAT_VERSION}")
    fields = {f.name for f in attrs.fields(ChipSpec)}
    spec = ChipSpec(**{k: v for k, v in document["chip"]["spec"].items() if k in fields})
    plain = spec.with_overrides(synapse_gain=1.0, synapse_nonlinearity="linear")
    modules: list[nn.Module] = []
    with torch.no_grad():
        for record in document["layers"]:
            kind = record["kind"]
            if kind == "synapse":
                n_in, n_out = record["shape"]
                syn = ChipSynapse(n_in, n_out, stddev=0.0, chip=spec if record["transfer"] else plain)
                syn.weight.copy_(torch.tensor(record["codes"], dtype=torch.float64) * record["scale"])
                modules.append(syn)
                continue
            n = record["n_neurons"]
            if kind == "frontend":
                layer = ChipFrontend(n, taus=record["taus"], dt=record["dt"], chip=spec)
                layer.weight.copy_(torch.tensor(record["channel_weights"]))
            else:
                recurrent = "recurrent" in record
                transfer = recurrent and record["recurrent"].get("transfer", True)
                layer = ChipLayer(n, taus=record["taus"], dt=record["dt"],
                                  layer_topology="RC" if recurrent else "FF",
                                  chip=spec if transfer or not recurrent else plain)
                if recurrent:
                    rec = record["recurrent"]
                    layer.recurrent_weights.copy_(
                        torch.tensor(rec["codes"], dtype=torch.float64) * rec["scale"])
            layer.taus.copy_(torch.tensor(record["taus"]))  # exact, not re-snapped
            layer.threshold_scale.copy_(torch.tensor(record["threshold"]) / layer.chip.threshold)
            layer.reset, layer.floor = record["reset"], record["floor"]
            modules.append(layer)
    return nn.Sequential(*modules), spec
