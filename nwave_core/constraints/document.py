"""The export file: a self-describing JSON document, written from a deployment and read back
into one, with every structural problem reported at once.

Format ``nwave-chip-export`` version 2::

    {"format": "nwave-chip-export", "format_version": 2,
     "chip": {"name", "spec_version", "spec": {field: value}, "constraints": [{"type", ...}]},
     "layers": [
       {"name", "kind": "synapse", "class", "shape": [n_in, n_out], "transfer", "gain",
        "scale", "codes": [[...]]},
       {"name", "kind": "neurons" | "frontend", "class", "n_neurons", "taus", "dt",
        "threshold", "reset", "floor",
        "recurrent": {"transfer", "gain", "scale", "codes"},      (recurrent layers)
        "gains": {"scale", "codes"}}                             (frontends)
     ]}

A weight is ``code * scale``: integer codes and the grid step where the chip declares a uniform
grid for that weight, else the values themselves with scale 1.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import attrs

from ..errors import NwaveError
from .base import Deployment, NeuronSite, Stage, WeightSite

__all__ = ["FORMAT", "FORMAT_VERSION", "ExportFormatError", "ExportContents", "write_document",
           "read_document", "parse_document", "write_json_atomically"]

FORMAT = "nwave-chip-export"
FORMAT_VERSION = 2
KINDS = ("synapse", "neurons", "frontend")


class ExportFormatError(NwaveError, ValueError):
    """A file that is not a readable nwave export: every structural problem, with its path in
    the document (``$.layers[2].codes``)."""

    def __init__(self, source: str, problems: list[str]) -> None:
        shown = "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else "")
        super().__init__(f"{source}: not a valid nwave export: {shown}")
        self.problems = problems


# -- writing -------------------------------------------------------------------------------


def _encode(site: WeightSite, grids: list[Any]) -> tuple[list[Any], float]:
    grid = next((g for g in grids if g.governs(site.role)), None)
    if grid is not None:
        return grid.encode(site.value)
    return site.value.detach().double().cpu().tolist(), 1.0


def _weights_record(site: WeightSite, grids: list[Any], transfer: bool) -> dict[str, Any]:
    codes, scale = _encode(site, grids)
    record: dict[str, Any] = {"scale": scale, "codes": codes}
    if transfer:
        record = {"transfer": site.transfer, "gain": site.gain, **record}
    return record


def _stage_record(stage: Stage, grids: list[Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"name": stage.where, "kind": stage.kind, "class": stage.cls}
    if stage.kind == "synapse":
        site = stage.weights[0]
        record["shape"] = [stage.n_in, stage.n_out]
        record.update(_weights_record(site, grids, transfer=True))
        return record
    neurons = stage.neurons
    record.update({
        "n_neurons": neurons.n,
        "taus": neurons.taus.detach().double().cpu().tolist(),
        "dt": float(neurons.dt),
        "threshold": neurons.thresholds.detach().double().cpu().tolist(),
        "reset": neurons.reset, "floor": neurons.floor,
    })
    for site in stage.weights:
        if site.role == "recurrent":
            record["recurrent"] = _weights_record(site, grids, transfer=True)
        elif site.role == "frontend":
            record["gains"] = _weights_record(site, grids, transfer=False)
    return record


def write_document(chip: Any, deployment: Deployment) -> dict[str, Any]:
    """The export document of ``deployment`` for ``chip`` (a ChipSpec)."""
    grids = [r for r in chip.rules if r.kind == "weight_grid"]
    spec = chip.to_dict()
    constraints = spec.pop("constraints")
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "chip": {"name": chip.name, "spec_version": chip.spec_version, "spec": spec,
                 "constraints": constraints},
        "layers": [_stage_record(stage, grids) for stage in deployment.stages],
    }


def write_json_atomically(document: Any, path: str | os.PathLike[str]) -> Path:
    """Write ``document`` as JSON to ``path`` through a temporary file in the same folder."""
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


# -- reading -------------------------------------------------------------------------------


@attrs.frozen
class ExportContents:
    """What an export file holds: the chip as declared in it, and the deployment."""

    chip_name: str
    spec: dict[str, Any]
    constraints: list[dict[str, Any]]
    deployment: Deployment


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{message} @ {path}")

    def get(self, record: dict[str, Any], key: str, path: str, kind: str) -> Any:
        if key not in record:
            self.fail(f"{path}.{key}", "missing")
            return None
        value = record[key]
        ok = {"str": isinstance(value, str),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool),
              "count": isinstance(value, int) and not isinstance(value, bool) and value >= 1,
              "dict": isinstance(value, dict), "list": isinstance(value, list),
              "floor": value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))}[kind]
        if not ok:
            expected = {"str": "a string", "number": "a number", "count": "an integer >= 1",
                        "dict": "an object", "list": "a list", "floor": "a number or null"}[kind]
            self.fail(f"{path}.{key}", f"expected {expected}, got {value!r:.40}")
            return None
        return value

    def numbers(self, value: Any, shape: tuple[int, ...], path: str) -> Any:
        """A float64 tensor of ``shape`` from nested lists of numbers, or None (reported)."""
        import torch

        def flat(v: Any, dims: tuple[int, ...]) -> list[float] | None:
            if not dims:
                ok = isinstance(v, (int, float)) and not isinstance(v, bool)
                return [float(v)] if ok else None
            if not isinstance(v, list) or len(v) != dims[0]:
                return None
            out: list[float] = []
            for item in v:
                got = flat(item, dims[1:])
                if got is None:
                    return None
                out.extend(got)
            return out

        values = flat(value, shape)
        if values is None:
            self.fail(path, f"expected {'x'.join(map(str, shape))} numbers")
            return None
        return torch.tensor(values, dtype=torch.float64).reshape(shape)

    def weights(self, record: dict[str, Any], path: str, shape: tuple[int, ...], role: str,
                where: str, transfer: bool) -> WeightSite | None:
        scale = self.get(record, "scale", path, "number")
        codes = self.numbers(record.get("codes"), shape, f"{path}.codes")
        name = self.get(record, "transfer", path, "str") if transfer else "linear"
        gain = self.get(record, "gain", path, "number") if transfer else 1.0
        if scale is None or codes is None or name is None or gain is None:
            return None
        return WeightSite(where, role, codes * scale, transfer=name, gain=float(gain),
                          codes=codes, scale=float(scale))


def parse_document(document: Any, source: str = "export") -> ExportContents:
    """Check the structure of an export document and read it into a deployment.

    Raises:
        ExportFormatError: every structural problem (missing or mistyped keys, unknown layer
            kinds, lists of the wrong length, another format or version).
    """
    r = _Reader()
    if not isinstance(document, dict):
        raise ExportFormatError(source, ["the document is not a JSON object"])
    if document.get("format") != FORMAT:
        raise ExportFormatError(source, [f"format {document.get('format')!r}, expected {FORMAT!r}"])
    if document.get("format_version") != FORMAT_VERSION:
        raise ExportFormatError(source, [f"format version {document.get('format_version')!r}; "
                                         f"this nwave reads version {FORMAT_VERSION} (export the "
                                         f"model again)"])
    chip = r.get(document, "chip", "$", "dict") or {}
    name = r.get(chip, "name", "$.chip", "str") if chip else None
    spec = r.get(chip, "spec", "$.chip", "dict") if chip else None
    constraints = r.get(chip, "constraints", "$.chip", "list") if chip else None
    for i, item in enumerate(constraints or []):
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            r.fail(f"$.chip.constraints[{i}]", "expected an object with a 'type' string")
    layers = r.get(document, "layers", "$", "list")
    deployment = Deployment(origin="file")
    for i, record in enumerate(layers or []):
        path = f"$.layers[{i}]"
        if not isinstance(record, dict):
            r.fail(path, "expected an object")
            continue
        kind = r.get(record, "kind", path, "str")
        where = record.get("name") if isinstance(record.get("name"), str) else f"layers[{i}]"
        cls = record.get("class") if isinstance(record.get("class"), str) else ""
        if kind is None:
            continue
        if kind not in KINDS:
            r.fail(f"{path}.kind", f"unknown layer kind {kind!r} (known: {', '.join(KINDS)})")
            continue
        if kind == "synapse":
            shape = r.get(record, "shape", path, "list")
            if shape is None or len(shape) != 2 or not all(
                    isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape):
                if shape is not None:
                    r.fail(f"{path}.shape", f"expected [n_in, n_out], integers >= 1, got {shape!r:.40}")
                continue
            site = r.weights(record, path, tuple(shape), "synapse", f"{where}.weight", True)
            if site is not None:
                deployment.stages.append(Stage(where, "synapse", shape[0], shape[1], cls, [site]))
            continue
        n = r.get(record, "n_neurons", path, "count")
        dt = r.get(record, "dt", path, "number")
        reset = r.get(record, "reset", path, "str")
        floor = r.get(record, "floor", path, "floor")
        if n is None:
            continue
        taus = r.numbers(record.get("taus"), (n,), f"{path}.taus")
        thresholds = r.numbers(record.get("threshold"), (n,), f"{path}.threshold")
        sites: list[WeightSite] = []
        if "recurrent" in record:
            rec = r.get(record, "recurrent", path, "dict")
            site = r.weights(rec, f"{path}.recurrent", (n, n), "recurrent",
                             f"{where}.recurrent_weights", True) if rec is not None else None
            sites += [site] if site is not None else []
        if kind == "frontend":
            gains = r.get(record, "gains", path, "dict")
            site = r.weights(gains, f"{path}.gains", (n,), "frontend", f"{where}.weight",
                             False) if gains is not None else None
            sites += [site] if site is not None else []
        if taus is None or thresholds is None or dt is None or reset is None:
            continue
        neurons = NeuronSite(where, n, taus, thresholds, reset,
                             None if floor is None else float(floor), float(dt),
                             recurrent="recurrent" in record)
        deployment.stages.append(Stage(where, kind, n, n, cls, sites, neurons))
    if r.problems:
        raise ExportFormatError(source, r.problems)
    return ExportContents(name, spec, constraints, deployment)


def read_document(path: str | os.PathLike[str]) -> tuple[Any, ExportContents]:
    """Read and parse an export file; returns ``(document, contents)``.

    Raises:
        ExportFormatError: unreadable, not JSON, or structurally broken.
    """
    source = str(path)
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ExportFormatError(source, [f"cannot read it ({exc.__class__.__name__}: {exc})"]) from None
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ExportFormatError(source, [f"not JSON ({exc})"]) from None
    return document, parse_document(document, source)

