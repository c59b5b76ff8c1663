"""What a chip's rules say about a model: validation reports and hardening.

Every rule reads its numbers from the :class:`~nwave_core.ChipSpec`. The checks:

* ``weight_range``: ``abs(w) <= weight_limit`` for every 2-D ``weight`` and
  ``recurrent_weights`` (a frontend's 1-D per-channel gains are not constrained: the chip
  declares no rule for them);
* ``sign_block``: for ``W[N_in, N_out]``, columns in consecutive blocks of ``sign_block``
  post-synaptic neurons; in each row, a block's entries share one sign (zeros allowed, a last
  partial block allowed);
* ``quantization``: weights on the ``weight_bits``-bit grid over the range;
* ``cores``: neuron layers mapped in order onto the cores; a layer may span cores unless it is
  recurrent and the chip keeps recurrence within a core;
* ``recurrence``: recurrent layers on a chip without recurrence, or larger than any core;
* ``frontend``: a frontend whose width is not the chip's ``frontend_channels``;
* ``threshold`` / ``neuron_model``: a neuron layer whose threshold, reset rule, membrane floor
  or taus (when the chip has tau profiles) differ from the chip's (per-layer thresholds on a chip
  with one global threshold); chip layers declared for another ``ChipSpec`` are compared too.

Decision: a frontend's first-stage neurons occupy core neurons like any other layer.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .chip import ChipSpec
from .errors import NwaveError

__all__ = ["Violation", "ValidationReport", "ChipValidationError", "constrained_weights",
           "neuron_layers", "validate", "harden", "block_view", "incoherent_blocks",
           "harden_signs", "map_to_cores", "chip_of"]

#: weights off by less than this (relative to the range) count as inside / on the grid
TOLERANCE = 1e-6


@attrs.frozen
class Violation:
    """One broken rule."""

    rule: str = attrs.field(metadata={"doc": "which rule: weight_range, sign_block, ..."})
    where: str = attrs.field(metadata={"doc": "the module or parameter, by qualified name"})
    detail: str = attrs.field(metadata={"doc": "what is wrong, with numbers"})


@attrs.frozen
class ValidationReport:
    """Every violation of one chip's rules by one model, and the core mapping tried."""

    chip: str
    violations: tuple[Violation, ...]
    mapping: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    def table(self) -> str:
        """A readable table: the violations, then the core mapping."""
        lines = [f"chip {self.chip!r}: " + ("OK, no violations" if self.ok else
                                            f"{len(self.violations)} violation(s)")]
        if self.violations:
            width_rule = max(len(v.rule) for v in self.violations)
            width_where = max(len(v.where) for v in self.violations)
            for v in self.violations:
                lines.append(f"  {v.rule.ljust(width_rule)}  {v.where.ljust(width_where)}  {v.detail}")
        if self.mapping:
            lines.append("core mapping (layer: core x neurons):")
            for layer, parts in self.mapping:
                shown = ", ".join(f"core {c} x {n}" for c, n in parts) or "(does not fit)"
                lines.append(f"  {layer}: {shown}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"chip": self.chip, "ok": self.ok,
                "violations": [attrs.asdict(v) for v in self.violations],
                "mapping": [{"layer": layer, "cores": [list(p) for p in parts]}
                            for layer, parts in self.mapping]}

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def __str__(self) -> str:
        return self.table()


class ChipValidationError(NwaveError, ValueError):
    """A model that breaks a chip's rules where a valid one is required (export, harden)."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(f"{message}\n{report.table()}")
        self.report = report


def _is_frontend(module: nn.Module) -> bool:
    from .hardware import ChipFrontend

    return isinstance(module, ChipFrontend)


def constrained_weights(model: nn.Module) -> Iterator[tuple[str, nn.Module, str, Tensor]]:
    """``(qualified name, module, attribute, tensor)`` for every 2-D ``weight`` and
    ``recurrent_weights`` of the model (frontends' per-channel weights are 1-D and excluded)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            continue  # weight [out, in]: reported by validate as not a chip synapse
        for attribute in ("weight", "recurrent_weights"):
            value = getattr(module, attribute, None)
            if isinstance(value, Tensor) and value.dim() == 2 and not _is_frontend(module):
                yield (f"{name}.{attribute}" if name else attribute), module, attribute, value


def neuron_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``(qualified name, layer)`` for every spiking neuron layer, in registration order."""
    from .neurons import NeuronLayerBase

    for name, module in model.named_modules():
        if isinstance(module, NeuronLayerBase):
            yield name or type(module).__name__, module


def block_view(weight: Tensor, block: int) -> Tensor:
    """``weight [N_in, N_out]`` as ``[N_in, n_blocks, block]``, the last block zero-padded."""
    n_in, n_out = weight.shape
    pad = (-n_out) % block
    if pad:
        weight = torch.cat([weight, weight.new_zeros(n_in, pad)], dim=1)
    return weight.reshape(n_in, -1, block)


def incoherent_blocks(weight: Tensor, block: int) -> Tensor:
    """``[N_in, n_blocks]`` bool: blocks holding both a positive and a negative entry."""
    blocks = block_view(weight.detach(), block)
    return (blocks > 0).any(-1) & (blocks < 0).any(-1)


def map_to_cores(sizes: list[tuple[str, int, bool]], spec: ChipSpec
                 ) -> tuple[list[tuple[str, tuple[tuple[int, int], ...]]], list[str]]:
    """Place layers ``(name, neurons, recurrent)`` in order onto the cores, first fit.

    A layer fills the current core and spills into the next ones, unless it is recurrent on a
    chip whose recurrence stays in one core: then it goes whole into the first core (from the
    current one on) with room. Returns the mapping and the names of layers that did not fit.
    """
    free = list(spec.core_sizes)
    core = 0
    mapping: list[tuple[str, tuple[tuple[int, int], ...]]] = []
    unplaced: list[str] = []
    for name, size, recurrent in sizes:
        parts: list[tuple[int, int]] = []
        if recurrent and spec.recurrent_scope == "core":
            target = next((c for c in range(core, len(free)) if free[c] >= size), None)
            if target is None:
                unplaced.append(name)
            else:
                free[target] -= size
                parts.append((target, size))
                core = target
        else:
            left = size
            c = core
            while left and c < len(free):
                take = min(left, free[c])
                if take:
                    free[c] -= take
                    parts.append((c, take))
                    left -= take
                if left:
                    c += 1
            if left:
                unplaced.append(name)
                for c, n in parts:  # give the partial placement back
                    free[c] += n
                parts = []
            else:
                core = c
        mapping.append((name, tuple(parts)))
    return mapping, unplaced


def validate(spec: ChipSpec, model: nn.Module) -> ValidationReport:
    """Every violation of ``spec``'s rules by ``model`` (the model is not changed)."""
    violations: list[Violation] = []
    limit = spec.weight_limit
    tol = TOLERANCE * limit
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            violations.append(Violation("synapse", name or "model",
                                        "torch.nn.Linear (weight [out, in]) is not a chip "
                                        "synapse; use LIFSynapse or the chip's synapse "
                                        "(weight [in, out])"))
    for name, _module, _attribute, weight in constrained_weights(model):
        w = weight.detach()
        outside = w.abs() > limit + tol
        if outside.any():
            violations.append(Violation("weight_range", name,
                                        f"{int(outside.sum())} of {w.numel()} weights outside "
                                        f"[-{limit:g}, {limit:g}] (max abs {float(w.abs().max()):.4g})"))
        if spec.sign_block > 1:
            bad = incoherent_blocks(w, spec.sign_block)
            if bad.any():
                rows, blocks = bad.nonzero(as_tuple=True)
                first = ", ".join(f"row {int(r)} block {int(b)}" for r, b in
                                  list(zip(rows, blocks))[:5])
                more = f" and {int(bad.sum()) - 5} more" if int(bad.sum()) > 5 else ""
                violations.append(Violation("sign_block", name,
                                            f"{int(bad.sum())} of {bad.numel()} (row, block) "
                                            f"pairs mix signs (blocks of {spec.sign_block} "
                                            f"outputs): {first}{more}"))
        if spec.weight_bits is not None:
            from .hardware import weight_levels

            step = limit / weight_levels(spec.weight_bits)
            off = ((w / step) - (w / step).round()).abs() > 1e-4
            if off.any():
                violations.append(Violation("quantization", name,
                                            f"{int(off.sum())} of {w.numel()} weights off the "
                                            f"{spec.weight_bits}-bit grid (step {step:.4g})"))

    layers = list(neuron_layers(model))
    sizes = []
    for name, layer in layers:
        recurrent = getattr(layer, "recurrent_weights", None) is not None
        sizes.append((name, layer.n_neurons, recurrent))
        if recurrent and spec.recurrent_scope == "none":
            violations.append(Violation("recurrence", name, f"chip {spec.name!r} has no "
                                                            "recurrent connections"))
        elif recurrent and spec.recurrent_scope == "core" and layer.n_neurons > max(spec.core_sizes):
            violations.append(Violation("recurrence", name,
                                        f"recurrent layer of {layer.n_neurons} neurons cannot "
                                        f"stay within one core (largest core: "
                                        f"{max(spec.core_sizes)}); recurrence across cores is "
                                        f"not allowed"))
        if _is_frontend(layer) and spec.frontend_channels is not None \
                and layer.n_neurons != spec.frontend_channels:
            violations.append(Violation("frontend", name,
                                        f"{layer.n_neurons} channels; chip {spec.name!r} has "
                                        f"{spec.frontend_channels}"))
        violations.extend(_neuron_rules(spec, name, layer))
    mapping, unplaced = map_to_cores(sizes, spec)
    if unplaced:
        total = sum(n for _, n, _ in sizes)
        violations.append(Violation("cores", ", ".join(unplaced),
                                    f"does not fit: {total} neurons in {len(sizes)} layers; "
                                    f"cores {list(spec.core_sizes)} ({spec.total_neurons} neurons)"))
    return ValidationReport(spec.name, tuple(violations), tuple(mapping))


def _neuron_rules(spec: ChipSpec, name: str, layer: nn.Module) -> list[Violation]:
    found = []
    chip = getattr(layer, "chip", None)
    if isinstance(chip, ChipSpec) and chip == spec:
        return found  # the chip's own layers follow its threshold, reset and floor
    if isinstance(chip, ChipSpec) and chip.threshold != spec.threshold:
        found.append(Violation("threshold", name, f"threshold {chip.threshold:g} (chip "
                                                  f"{chip.name!r} as declared for the layer); "
                                                  f"chip {spec.name!r} has {spec.threshold:g}"))
    thresholds = getattr(layer, "thresholds", None)
    if spec.global_threshold and isinstance(thresholds, Tensor):
        off = (thresholds.detach() - spec.threshold).abs() > TOLERANCE * spec.threshold
        if off.any() or thresholds.requires_grad:
            found.append(Violation("threshold", name,
                                   f"per-layer/per-neuron thresholds ({int(off.sum())} differ "
                                   f"from the chip's global {spec.threshold:g}"
                                   f"{', trainable' if thresholds.requires_grad else ''})"))
    if getattr(layer, "reset", spec.reset) != spec.reset:
        found.append(Violation("neuron_model", name,
                               f"reset {layer.reset!r}; chip {spec.name!r} resets by {spec.reset!r}"))
    if getattr(layer, "floor", spec.membrane_floor) != spec.membrane_floor:
        found.append(Violation("neuron_model", name, f"membrane floor {layer.floor!r}; chip "
                                                     f"{spec.name!r} has {spec.membrane_floor!r}"))
    taus = getattr(layer, "taus", None)
    if spec.tau_profiles is not None and isinstance(taus, Tensor):
        off = [float(t) for t in taus.detach().reshape(-1)
               if abs(spec.snap_tau(float(t)) - float(t)) > TOLERANCE * float(t)]
        if off:
            found.append(Violation("neuron_model", name,
                                   f"{len(off)} taus are not among chip {spec.name!r}'s tau "
                                   f"profiles (e.g. {off[0]:.4g} s)"))
    return found


def harden_signs(weight: Tensor, block: int) -> Tensor:
    """One sign per (row, block): the sign of the block's signed mass. Entries of the other sign
    become 0 and the kept ones are scaled so that the block's sum is unchanged."""
    n_out = weight.shape[1]
    blocks = block_view(weight, block)
    mass = blocks.sum(-1, keepdim=True)
    sign = torch.sign(mass)
    kept = torch.where(blocks * sign > 0, blocks, torch.zeros_like(blocks))
    kept_mass = kept.sum(-1, keepdim=True)
    scale = torch.where(kept_mass != 0, mass / torch.where(kept_mass != 0, kept_mass,
                                                           torch.ones_like(kept_mass)),
                        torch.zeros_like(kept_mass))
    return (kept * scale).reshape(weight.shape[0], -1)[:, :n_out]


def harden(spec: ChipSpec, model: nn.Module) -> nn.Module:
    """A deployable copy of ``model``: weights clipped to the range, one sign per block
    (preserving the block's signed mass), snapped to the quantization grid; neuron layers that
    are not the chip's get its threshold, reset and floor. Sign-annealing parametrizations are
    folded into plain weights.

    Raises:
        ChipValidationError: what hardening cannot fix (layers that do not fit the cores, ...).
    """
    from torch.nn.utils import parametrize

    hardened = copy.deepcopy(model)
    for module in list(hardened.modules()):
        if parametrize.is_parametrized(module):
            for attribute in list(module.parametrizations.keys()):
                parametrize.remove_parametrizations(module, attribute, leave_parametrized=True)
    limit = spec.weight_limit
    with torch.no_grad():
        for _name, _module, _attribute, weight in constrained_weights(hardened):
            w = weight.detach().clamp(-limit, limit)
            if spec.sign_block > 1:
                w = harden_signs(w, spec.sign_block)
            if spec.weight_bits is not None:
                from .hardware import quantize

                w = quantize(w, limit, spec.weight_bits)
            weight.copy_(w)
        for module in hardened.modules():  # chip modules of another declaration follow this one
            if isinstance(getattr(module, "chip", None), ChipSpec) and module.chip != spec:
                module.chip = spec
        for _name, layer in neuron_layers(hardened):
            thresholds = getattr(layer, "thresholds", None)
            if spec.global_threshold and isinstance(thresholds, Tensor):
                thresholds.fill_(spec.threshold)
                thresholds.requires_grad_(False)
            taus = getattr(layer, "taus", None)
            if spec.tau_profiles is not None and isinstance(taus, Tensor):
                snapped = [spec.snap_tau(float(t)) for t in taus.detach().reshape(-1)]
                taus.copy_(torch.tensor(snapped, dtype=taus.dtype).reshape(taus.shape))
            layer.reset, layer.floor = spec.reset, spec.membrane_floor
    report = validate(spec, hardened)
    if not report.ok:
        raise ChipValidationError(f"hardening for chip {spec.name!r} cannot fix every violation:",
                                  report)
    return hardened


def chip_of(model: nn.Module, chip: Any = None, owner: str = "nwave") -> ChipSpec:
    """The chip to use for ``model``: ``chip`` (a spec or name) when given, else the one chip
    its hardware layers follow.

    Raises:
        ValueError: no hardware layer, or layers of several chips, and no ``chip`` given.
    """
    if chip is not None:
        from .hardware import resolve_chip

        return resolve_chip(chip, owner)
    found: dict[str, ChipSpec] = {}
    for module in model.modules():
        spec = getattr(module, "chip", None)
        if isinstance(spec, ChipSpec):
            found.setdefault(spec.name, spec)
    if len(found) == 1:
        return next(iter(found.values()))
    if not found:
        raise ValueError(f"{owner}: cannot infer the chip: the model has no hardware layers; "
                         f"pass chip='h1v2' (a chip name) or a nwave_core.ChipSpec")
    raise ValueError(f"{owner}: cannot infer the chip: the model has layers of several chips "
                     f"({', '.join(sorted(found))}); pass chip=")
