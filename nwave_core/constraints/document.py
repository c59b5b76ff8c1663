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
"""The ``format`` an export file declares."""
FORMAT_VERSION = 2
"""The version of the export format this nwave writes and reads."""
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


def _float(value: Any) -> float | None:
    """A JSON number as a float (NaN and infinities kept: the rules report them); None for
    anything else, booleans and integers too large for a float included."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value)
    except OverflowError:
        return None


#: the keys a record of each kind may hold (anything else is refused, not ignored)
_KEYS = {
    "synapse": {"name", "kind", "class", "shape", "transfer", "gain", "scale", "codes"},
    "neurons": {"name", "kind", "class", "n_neurons", "taus", "dt", "threshold", "reset",
                "floor", "recurrent"},
    "frontend": {"name", "kind", "class", "n_neurons", "taus", "dt", "threshold", "reset",
                 "floor", "gains"},
}


class _Reader:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append(f"{message} @ {path}")

    def keys(self, record: dict[str, Any], allowed: set[str], path: str) -> None:
        for key in sorted(set(record) - allowed):
            self.fail(f"{path}.{key}", "unknown key")

    def get(self, record: dict[str, Any], key: str, path: str, kind: str) -> Any:
        if key not in record:
            self.fail(f"{path}.{key}", "missing")
            return None
        value = record[key]
        if kind in ("number", "floor"):
            number = _float(value)
            if number is not None or (kind == "floor" and value is None):
                return number
        elif {"str": isinstance(value, str),
              "count": isinstance(value, int) and not isinstance(value, bool) and value >= 1,
              "dict": isinstance(value, dict), "list": isinstance(value, list)}[kind]:
            return value
        expected = {"str": "a string", "number": "a number within float range",
                    "count": "an integer >= 1", "dict": "an object", "list": "a list",
                    "floor": "a number or null"}[kind]
        self.fail(f"{path}.{key}", f"expected {expected}, got {value!r:.40}")
        return None

    def numbers(self, value: Any, shape: tuple[int, ...], path: str) -> Any:
        """A float64 tensor of ``shape`` from nested lists of numbers, or None (reported)."""
        import torch

        def flat(v: Any, dims: tuple[int, ...]) -> list[float] | None:
            if not dims:
                number = _float(v)
                return None if number is None else [number]
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
            self.fail(path, f"expected {'x'.join(map(str, shape))} numbers within float range")
            return None
        return torch.tensor(values, dtype=torch.float64).reshape(shape)

    def weights(self, record: Any, path: str, shape: tuple[int, ...], role: str,
                where: str, transfer: bool, own_record: bool = True) -> WeightSite | None:
        if not isinstance(record, dict):
            self.fail(path, "expected an object")
            return None
        if own_record:  # a synapse's weights sit in the layer record, checked with it
            self.keys(record, {"scale", "codes"} | ({"transfer", "gain"} if transfer else set()),
                      path)
        scale = self.get(record, "scale", path, "number")
        codes = self.numbers(record.get("codes"), shape, f"{path}.codes")
        name = self.get(record, "transfer", path, "str") if transfer else "linear"
        gain = self.get(record, "gain", path, "number") if transfer else 1.0
        if scale is None or codes is None or name is None or gain is None:
            return None
        return WeightSite(where, role, codes * scale, transfer=name, gain=gain, codes=codes,
                          scale=scale)


def parse_document(document: Any, source: str = "export") -> ExportContents:
    """Check the structure of an export document and read it into a deployment.

    Raises:
        ExportFormatError: every structural problem (missing, mistyped or unknown keys, unknown
            layer kinds, lists of the wrong length, numbers out of float range, another format or
            version).
    """
    r = _Reader()
    if not isinstance(document, dict):
        raise ExportFormatError(source, ["the document is not a JSON object"])
    if document.get("format") != FORMAT:
        raise ExportFormatError(source, [f"format {document.get('format')!r:.40}, expected {FORMAT!r}"])
    if document.get("format_version") != FORMAT_VERSION:
        raise ExportFormatError(source, [f"format version {document.get('format_version')!r:.40}; "
                                         f"this nwave reads version {FORMAT_VERSION} (export the "
                                         f"model again)"])
    r.keys(document, {"format", "format_version", "chip", "layers"}, "$")
    chip = r.get(document, "chip", "$", "dict")
    name = spec = constraints = None
    if chip is not None:
        r.keys(chip, {"name", "spec_version", "spec", "constraints"}, "$.chip")
        name = r.get(chip, "name", "$.chip", "str")
        r.get(chip, "spec_version", "$.chip", "str")
        spec = r.get(chip, "spec", "$.chip", "dict")
        constraints = r.get(chip, "constraints", "$.chip", "list")
        if spec is not None and name is not None and spec.get("name") != name:
            r.fail("$.chip.spec.name", f"{spec.get('name')!r:.40} differs from $.chip.name {name!r:.40}")
        if spec is not None and chip.get("spec_version") != spec.get("spec_version"):
            r.fail("$.chip.spec.spec_version", "differs from $.chip.spec_version")
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
        if kind is None:
            continue
        if kind not in KINDS:
            r.fail(f"{path}.kind", f"unknown layer kind {kind!r:.40} (known: {', '.join(KINDS)})")
            continue
        r.keys(record, _KEYS[kind], path)
        where = r.get(record, "name", path, "str") or f"layers[{i}]"
        cls = record.get("class") if isinstance(record.get("class"), str) else ""
        if kind == "synapse":
            shape = r.get(record, "shape", path, "list")
            if shape is None or len(shape) != 2 or not all(
                    isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape):
                if shape is not None:
                    r.fail(f"{path}.shape", f"expected [n_in, n_out], integers >= 1, got {shape!r:.40}")
                continue
            site = r.weights(record, path, tuple(shape), "synapse", f"{where}.weight", True,
                             own_record=False)
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
            site = r.weights(record["recurrent"], f"{path}.recurrent", (n, n), "recurrent",
                             f"{where}.recurrent_weights", True)
            sites += [site] if site is not None else []
        if kind == "frontend":
            site = r.weights(record.get("gains"), f"{path}.gains", (n,), "frontend",
                             f"{where}.weight", False)
            sites += [site] if site is not None else []
        if taus is None or thresholds is None or dt is None or reset is None:
            continue
        neurons = NeuronSite(where, n, taus, thresholds, reset, floor, dt,
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
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or digits beyond the limit
        raise ExportFormatError(source, [f"not JSON ({exc})"]) from None
    return document, parse_document(document, source)

