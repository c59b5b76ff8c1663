"""Export a chip-valid model to a self-describing JSON file, check a file, and load it back.

The file (format in [`nwave_core.constraints.document`][nwave_core.constraints.document]) names the
format and its version, the chip (name, spec version, every field and its declared rules), and the
layers in data-flow
order: synapses with their weight codes and scale (``weight = code * scale``) and transfer,
neuron layers with taus, ``dt``, thresholds, reset and floor, recurrent weights and frontend
gains as codes.

The gate: [`check_export`][nwave_core.export.check_export] validates **every value the file
carries** against the chip:
the one given, else the installed chip of the file's name (a file whose declaration of that
chip differs from the installed one is reported), else the file's own declaration.
[`load_export`][nwave_core.export.load_export] refuses a file that fails (``validate=False`` skips
the check).

Export supports models whose modules, in registration order, are the data flow (an
``nn.Sequential`` of frontends, synapses and neuron layers, possibly nested); the loader returns
such an ``nn.Sequential``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .chip import ChipSpec, resolve_chip
from .constraints import ChipValidationError, ValidationReport, Violation
from .constraints.document import (
    FORMAT,
    FORMAT_VERSION,
    ExportContents,
    ExportFormatError,
    read_document,
)
from .errors import UnknownNameError

__all__ = ["FORMAT", "FORMAT_VERSION", "ExportFormatError", "export", "check_export",
           "load_export"]


def export(spec: ChipSpec, model: nn.Module, path: str | os.PathLike[str]) -> Path:
    """Write ``model`` for ``spec`` to ``path`` (atomically); refuse an invalid model.

    Raises:
        ChipValidationError: the model breaks the chip's rules (the report is attached).
    """
    return spec.export(model, path)


def _declared_chip(contents: ExportContents, source: str) -> ChipSpec:
    if "constraints" in contents.spec:
        raise ExportFormatError(source, ["rules belong in $.chip.constraints @ $.chip.spec"])
    try:
        return ChipSpec.from_dict({**contents.spec, "constraints": list(contents.constraints)})
    except UnknownNameError as exc:
        raise ExportFormatError(source, [f"{exc} @ $.chip.constraints"]) from None
    except TypeError as exc:
        raise ExportFormatError(source, [f"{exc} @ $.chip.spec"]) from None
    except (ValueError, ArithmeticError) as exc:
        raise ExportFormatError(source, [f"the chip declaration is invalid: {exc} @ $.chip"]) from None


def _reference_chip(declared: ChipSpec, chip: Any) -> tuple[ChipSpec, list[Violation]]:
    """The chip to check against, and how the file's declaration differs from it (when they
    have the same name: a file checked against another chip on purpose is not a difference)."""
    if chip is not None:
        reference = resolve_chip(chip, "load_export")
    else:
        from . import registry

        if declared.name not in registry("chip"):
            return declared, []
        reference = registry("chip").create(declared.name)
    if reference == declared or reference.name != declared.name:
        return reference, []
    import attrs

    changed = [f.name for f in attrs.fields(ChipSpec)
               if getattr(reference, f.name) != getattr(declared, f.name)]
    return reference, [Violation("declaration", "chip",
                                 f"the file declares chip {declared.name!r} differently from the "
                                 f"one it is checked against ({', '.join(changed)})")]


def check_export(path: str | os.PathLike[str], chip: Any = None
                 ) -> tuple[ValidationReport, ExportContents, ChipSpec]:
    """Validate every value of an export file against the chip; the model is not built.

    Args:
        path: the file.
        chip: the chip to check against (a spec or a name); None: the installed chip of the
            file's name, else the file's own declaration.

    Returns:
        ``(report, contents, the chip checked against)``.

    Raises:
        ExportFormatError: the file is unreadable or malformed.
    """
    source = str(path)
    _, contents = read_document(path)
    declared = _declared_chip(contents, source)
    reference, differences = _reference_chip(declared, chip)
    return reference.check(contents.deployment, differences), contents, reference


def load_export(path: str | os.PathLike[str], chip: Any = None, validate: bool = True
                ) -> tuple[nn.Sequential, ChipSpec]:
    """Read a file written by [`export`][nwave_core.export.export]; returns ``(model, chip spec)``.

    The model is an ``nn.Sequential`` of the generic chip modules (``ChipFrontend``,
    ``ChipSynapse``, ``ChipLayer``) for the chip it was checked against, whose forward equals
    the exported model's (mismatch aside: the file holds the configuration, not one chip's
    mismatch sample).

    Args:
        path: the file.
        chip: the chip to validate against (see [`check_export`][nwave_core.export.check_export]).
        validate: refuse a file that breaks the chip's rules (default).

    Raises:
        ExportFormatError: the file is unreadable or malformed.
        ChipValidationError: ``validate`` and the file breaks the chip's rules (with the report).
    """
    report, contents, reference = check_export(path, chip)
    if validate and not report.ok:
        raise ChipValidationError(f"{path}: refusing to load an export that breaks chip "
                                  f"{report.chip!r}'s rules:", report)
    try:
        return _build(contents, reference), reference
    except (ValueError, TypeError, RuntimeError) as exc:  # only without validation
        raise ExportFormatError(str(path), [f"cannot build the model: {exc}"]) from None


def _build(contents: ExportContents, spec: ChipSpec) -> nn.Sequential:
    from .hardware import ChipFrontend, ChipLayer, ChipSynapse

    def bound(transfer: str, gain: float) -> ChipSpec:
        if (transfer, gain) == (spec.synapse_nonlinearity, spec.synapse_gain):
            return spec
        return spec.with_overrides(synapse_nonlinearity=transfer, synapse_gain=gain)

    modules: list[nn.Module] = []
    dtype = torch.get_default_dtype()
    with torch.no_grad():
        for stage in contents.deployment.stages:
            sites = {site.role: site for site in stage.weights}
            if stage.kind == "synapse":
                site = sites["synapse"]
                syn = ChipSynapse(stage.n_in, stage.n_out, stddev=0.0,
                                  chip=bound(site.transfer, site.gain))
                syn.weight.copy_(site.value)
                modules.append(syn)
                continue
            neurons = stage.neurons
            recurrent = sites.get("recurrent")
            layer_chip = spec if recurrent is None else bound(recurrent.transfer, recurrent.gain)
            if stage.kind == "frontend":
                layer = ChipFrontend(neurons.n, dt=neurons.dt, chip=layer_chip)
                layer.weight.copy_(sites["frontend"].value)
            else:
                layer = ChipLayer(neurons.n, dt=neurons.dt, chip=layer_chip,
                                  layer_topology="FF" if recurrent is None else "RC")
                if recurrent is not None:
                    layer.recurrent_weights.copy_(recurrent.value)
            layer.taus.copy_(neurons.taus.to(dtype))  # exactly as exported, not moved again
            layer.thresholds.copy_(neurons.thresholds.to(dtype))
            layer.reset, layer.floor = neurons.reset, neurons.floor
            modules.append(layer)
    return nn.Sequential(*modules)
