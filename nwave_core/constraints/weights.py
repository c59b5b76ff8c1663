"""Rules on weight values: a range, sign blocks along either axis, a grid of codes."""

from __future__ import annotations

import math
from typing import Any

import attrs
import torch
from torch import Tensor

from .base import (
    ROLES,
    TOLERANCE,
    Constraint,
    Deployment,
    Violation,
    WeightSite,
    doc,
    number,
    one_of,
    positive,
    positive_int,
    roles,
)

__all__ = ["WeightRange", "SignBlock", "WeightGrid", "block_view", "incoherent_blocks",
           "harden_signs", "straight_through"]

_ALL = ROLES
_NO_FRONTEND = ("synapse", "recurrent")


def straight_through(value: Tensor, target: Tensor) -> Tensor:
    """``target`` in the forward (exactly), the identity gradient to ``value``."""
    return target.detach() + (value - value.detach())


def _lines(weight: Tensor, axis: str) -> Tensor:
    """The weight with blocks running along dim 1: ``W`` for ``"outputs"``, ``W.T`` for
    ``"inputs"`` (a 1-D weight is one line)."""
    if weight.dim() == 1:
        return weight.unsqueeze(0)
    return weight if axis == "outputs" else weight.transpose(0, 1)


def block_view(weight: Tensor, block: int, axis: str = "outputs") -> Tensor:
    """``[lines, n_blocks, block]``: for ``axis="outputs"`` each input row of ``W[N_in, N_out]``
    cut into blocks of ``block`` consecutive outputs; for ``"inputs"`` each output column cut
    into blocks of consecutive inputs. The last block is zero-padded."""
    lines = _lines(weight, axis)
    n_lines, length = lines.shape
    pad = (-length) % block
    if pad:
        lines = torch.cat([lines, lines.new_zeros(n_lines, pad)], dim=1)
    return lines.reshape(n_lines, -1, block)


def incoherent_blocks(weight: Tensor, block: int, axis: str = "outputs") -> Tensor:
    """``[lines, n_blocks]`` bool: blocks holding both a positive and a negative entry."""
    blocks = block_view(weight.detach(), block, axis)
    return (blocks > 0).any(-1) & (blocks < 0).any(-1)


def harden_signs(weight: Tensor, block: int, axis: str = "outputs") -> Tensor:
    """One sign per block: the sign of the block's signed mass. Entries of the other sign become
    0 and the kept ones are scaled so that the block's sum is unchanged (the scale is <= 1, so
    a range is kept; a coherent block is returned exactly)."""
    lines = _lines(weight, axis)
    length = lines.shape[1]
    blocks = block_view(weight, block, axis)
    mass = blocks.sum(-1, keepdim=True)
    sign = torch.sign(mass)
    kept = torch.where(blocks * sign > 0, blocks, torch.zeros_like(blocks))
    kept_mass = kept.sum(-1, keepdim=True)
    safe = torch.where(kept_mass != 0, kept_mass, torch.ones_like(kept_mass))
    scale = torch.where(kept_mass != 0, mass / safe, torch.zeros_like(kept_mass))
    out = (kept * scale).reshape(lines.shape[0], -1)[:, :length]
    if weight.dim() == 1:
        return out[0]
    return out if axis == "outputs" else out.transpose(0, 1)


def _count(mask: Tensor) -> int:
    return int(mask.sum())


def _first_indices(mask: Tensor, limit: int = 5) -> str:
    found = mask.nonzero().tolist()
    shown = ", ".join(str(tuple(i)) if len(i) > 1 else f"[{i[0]}]" for i in found[:limit])
    more = f" and {len(found) - limit} more" if len(found) > limit else ""
    return f"{shown}{more}"


@attrs.frozen
class WeightRange(Constraint):
    """Weights lie in ``[low, high]``.

    Penalty: mean over the governed weights of ``relu(w - high)^2 + relu(low - w)^2``
    (``weight_magnitude_loss``).
    """

    kind = "weight_range"
    order = 10

    low: float = attrs.field(validator=number, metadata=doc("smallest allowed weight"))
    high: float = attrs.field(validator=number, metadata=doc("largest allowed weight"))
    applies_to: tuple[str, ...] = attrs.field(default=_ALL, converter=tuple, validator=roles,
                                              metadata=doc("weight roles governed: synapse, "
                                                           "recurrent, frontend"))

    def __attrs_post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"WeightRange: low must be < high, got low={self.low!r}, "
                             f"high={self.high!r}")

    @classmethod
    def symmetric(cls, limit: float, applies_to: tuple[str, ...] = _ALL) -> WeightRange:
        """``[-limit, limit]``."""
        if isinstance(limit, bool) or not isinstance(limit, (int, float)) \
                or not math.isfinite(limit) or limit <= 0:
            raise ValueError(f"WeightRange: the limit must be a finite number > 0, got {limit!r}")
        return cls(-float(limit), float(limit), applies_to)

    @property
    def magnitude(self) -> float:
        """The largest magnitude both signs may take: ``min(-low, high)`` (0 if one-sided)."""
        return max(0.0, min(-self.low, self.high))

    def check(self, deployment: Deployment) -> list[Violation]:
        found = []
        tol = TOLERANCE * max(abs(self.low), abs(self.high))
        for site in deployment.weights(self.applies_to):
            w = site.value.detach()
            outside = (w < self.low - tol) | (w > self.high + tol)
            if outside.any():
                found.append(Violation(self.kind, site.where,
                                       f"{_count(outside)} of {w.numel()} weights outside "
                                       f"[{self.low:g}, {self.high:g}] (min {float(w.min()):.4g}, "
                                       f"max {float(w.max()):.4g}) at {_first_indices(outside)}"))
        return found

    def harden(self, deployment: Deployment) -> None:
        for site in deployment.weights(self.applies_to):
            site.value.copy_(site.value.detach().clamp(self.low, self.high))

    def penalty(self, deployment: Deployment) -> Tensor:
        terms = [(torch.relu(s.value - self.high).pow(2) + torch.relu(self.low - s.value).pow(2))
                 .reshape(-1) for s in deployment.weights(self.applies_to)]
        return torch.cat(terms).mean() if terms else torch.zeros(())

    def project(self, value: Tensor, role: str) -> Tensor | None:
        if role not in self.applies_to:
            return None
        return straight_through(value, value.detach().clamp(self.low, self.high))


@attrs.frozen
class SignBlock(Constraint):
    """Weights in one block share one sign (zeros allowed; a last partial block allowed).

    For ``W[N_in, N_out]``: ``axis="outputs"`` groups, in each input row, ``size`` consecutive
    post-synaptic neurons (each neuron block's incoming weights from one input share a sign);
    ``axis="inputs"`` groups, in each output column, ``size`` consecutive inputs (the weights
    of each group of inputs into one neuron share a sign). Recurrent weights ``[N, N]`` read the
    same way.

    Penalty (``topology_loss``): mean over blocks of (positive mass) x (negative mass).
    """

    kind = "sign_block"
    order = 20

    size: int = attrs.field(validator=positive_int, metadata=doc("weights per block"))
    axis: str = attrs.field(default="outputs", validator=one_of(("outputs", "inputs")),
                            metadata=doc("'outputs': blocks of consecutive post-synaptic "
                                         "neurons per input row; 'inputs': blocks of "
                                         "consecutive inputs per output column"))
    applies_to: tuple[str, ...] = attrs.field(default=_NO_FRONTEND, converter=tuple,
                                              validator=roles,
                                              metadata=doc("weight roles governed: synapse, "
                                                           "recurrent (frontend gains are 1-D: "
                                                           "no blocks)"))

    @applies_to.validator
    def _two_dimensional(self, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
        if "frontend" in value:
            raise ValueError("SignBlock.applies_to: frontend gains are one per channel and have "
                             "no sign blocks; use 'synapse' and/or 'recurrent'")

    def _sites(self, deployment: Deployment) -> list[WeightSite]:
        return [s for s in deployment.weights(self.applies_to) if s.value.dim() == 2]

    def check(self, deployment: Deployment) -> list[Violation]:
        found = []
        if self.size == 1:
            return found
        line = "row" if self.axis == "outputs" else "column"
        for site in self._sites(deployment):
            bad = incoherent_blocks(site.value, self.size, self.axis)
            if bad.any():
                pairs = bad.nonzero().tolist()
                shown = ", ".join(f"{line} {a} block {b}" for a, b in pairs[:5])
                more = f" and {len(pairs) - 5} more" if len(pairs) > 5 else ""
                found.append(Violation(self.kind, site.where,
                                       f"{len(pairs)} of {bad.numel()} ({line}, block) pairs mix "
                                       f"signs (blocks of {self.size} {self.axis}): "
                                       f"{shown}{more}"))
        return found

    def harden(self, deployment: Deployment) -> None:
        if self.size == 1:
            return
        for site in self._sites(deployment):
            site.value.copy_(harden_signs(site.value.detach(), self.size, self.axis))

    def penalty(self, deployment: Deployment) -> Tensor:
        terms = []
        for site in self._sites(deployment):
            blocks = block_view(site.value, self.size, self.axis)
            terms.append((torch.relu(blocks).sum(-1) * torch.relu(-blocks).sum(-1)).reshape(-1))
        return torch.cat(terms).mean() if terms else torch.zeros(())


def _levels(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if len(value) < 2 or any(isinstance(v, bool) or not isinstance(v, (int, float))
                             or not math.isfinite(v) for v in value) \
            or len(set(value)) != len(value):
        raise ValueError(f"WeightGrid.levels must be None or at least 2 distinct finite numbers, "
                         f"got {value!r}")


def _bits(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 32:
        raise ValueError(f"WeightGrid.bits must be an integer from 2 to 32, got {value!r}")


def _sorted_or_none(value: Any) -> tuple[float, ...] | None:
    return None if value is None else tuple(sorted(float(v) for v in value))


@attrs.frozen
class WeightGrid(Constraint):
    """Weights take one of a grid of values: integer codes times a step, or explicit levels.

    * ``scheme="symmetric"``: codes ``-(2^(bits-1) - 1) .. 2^(bits-1) - 1``, step
      ``limit / (2^(bits-1) - 1)`` (so ``bits=8`` gives 255 levels over ``[-limit, limit]``);
    * ``scheme="twos_complement"``: codes ``-2^(bits-1) .. 2^(bits-1) - 1``, step
      ``limit / 2^(bits-1)`` (all ``2^bits`` codes; ``-limit`` is a level, ``+limit`` is not);
    * ``levels=(...)``: exactly these values (``bits`` and ``scheme`` unused).

    Hardening and the training-time projection (QAT) snap to the nearest level, clamping at the
    ends; the projection passes the gradient straight through. Exported files hold the integer
    codes and the step (``weight = code * scale``), or the values for explicit levels.
    """

    kind = "weight_grid"
    order = 30

    bits: int | None = attrs.field(default=None, validator=_bits, metadata=doc(
        "bits per code (with scheme); None with explicit levels"))
    scheme: str = attrs.field(default="symmetric",
                              validator=one_of(("symmetric", "twos_complement")),
                              metadata=doc("'symmetric' (2^bits - 1 levels, zero in the middle) "
                                           "or 'twos_complement' (2^bits levels)"))
    limit: float | None = attrs.field(default=None, validator=positive, metadata=doc(
        "the grid spans [-limit, limit]; None: the chip's weight_limit"))
    levels: tuple[float, ...] | None = attrs.field(default=None, converter=_sorted_or_none,
                                                   validator=_levels, metadata=doc(
        "explicit allowed values instead of a uniform code grid"))
    applies_to: tuple[str, ...] = attrs.field(default=_ALL, converter=tuple, validator=roles,
                                              metadata=doc("weight roles governed"))
    #: (low, high) per role from the chip's ranges, set by the chip (see ``within``)
    ranges: Any = attrs.field(default=None, init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.bits is None) == (self.levels is None):
            raise ValueError("WeightGrid needs exactly one of bits= (a uniform code grid) or "
                             f"levels= (explicit values), got bits={self.bits!r}, "
                             f"levels={self.levels!r}")

    def bind(self, chip: Any) -> WeightGrid:
        if self.levels is None and self.limit is None:
            return attrs.evolve(self, limit=float(chip.weight_limit))
        return self

    def within(self, ranges: dict[str, tuple[float, float]]) -> WeightGrid:
        """The grid restricted, per role, to the levels inside ``ranges[role]`` (the chip's
        weight ranges and gain bounds), so that snapping never leaves the range."""
        bound = attrs.evolve(self)
        object.__setattr__(bound, "ranges", dict(ranges))
        return bound

    def allowed(self, role: str) -> Tensor:
        """The grid's values a weight of ``role`` may take (inside the chip's range), float64."""
        if self.uniform:
            low, high = self.code_range()
            values = torch.arange(low, high + 1, dtype=torch.float64) * self.step
        else:
            values = torch.tensor(self.levels, dtype=torch.float64)
        bounds = (self.ranges or {}).get(role)
        if bounds is not None:
            span = TOLERANCE * max(1.0, abs(bounds[0]), abs(bounds[1]))
            values = values[(values >= bounds[0] - span) & (values <= bounds[1] + span)]
        return values

    # -- the code grid ---------------------------------------------------------------------

    @property
    def uniform(self) -> bool:
        return self.levels is None

    def code_range(self) -> tuple[int, int]:
        """Smallest and largest integer code of a uniform grid."""
        half = 2 ** (self.bits - 1)
        return (-(half - 1), half - 1) if self.scheme == "symmetric" else (-half, half - 1)

    @property
    def step(self) -> float:
        """Weight per code unit of a uniform grid."""
        if self.limit is None:
            raise ValueError("WeightGrid: no limit (declare it, or use the grid in a ChipSpec, "
                             "which binds the chip's weight_limit)")
        half = 2 ** (self.bits - 1)
        return self.limit / ((half - 1) if self.scheme == "symmetric" else half)

    def snap(self, value: Tensor, role: str | None = None) -> Tensor:
        """The nearest grid value of each entry, among those inside the chip's range for
        ``role`` (float64 arithmetic, returned in the input's dtype, so a code turned back into
        a weight rounds the same way everywhere). NaN stays NaN."""
        w = value.detach().double()
        if self.uniform:
            low, high = self.code_range()
            bounds = (self.ranges or {}).get(role)
            if bounds is not None:
                inside = torch.round(self.allowed(role) / self.step)
                if inside.numel():
                    low, high = int(inside.min()), int(inside.max())
            codes = torch.clamp(torch.round(w / self.step), low, high)
            return (codes * self.step).to(value.dtype)
        levels = self.allowed(role) if role is not None else torch.tensor(self.levels,
                                                                        dtype=torch.float64)
        if not levels.numel():
            levels = torch.tensor(self.levels, dtype=torch.float64)
        levels = levels.to(w.device)
        index = torch.bucketize(w, (levels[1:] + levels[:-1]) / 2)
        snapped = levels[index]
        return torch.where(torch.isnan(w), w, snapped).to(value.dtype)

    def encode(self, value: Tensor) -> tuple[list[Any], float]:
        """``(codes, scale)`` of an on-grid weight for an export file."""
        w = value.detach().double().cpu()
        if not self.uniform:
            return w.tolist(), 1.0
        return torch.round(w / self.step).to(torch.int64).tolist(), self.step

    # -- Constraint ------------------------------------------------------------------------

    def _off(self, w: Tensor) -> Tensor:
        w = w.detach().double()
        if self.uniform:
            low, high = self.code_range()
            codes = w / self.step
            return ((codes - codes.round()).abs() > 1e-4) | (codes.round() < low) \
                | (codes.round() > high) | ~torch.isfinite(codes)
        levels = torch.tensor(self.levels, dtype=torch.float64)
        distance = (w.reshape(-1, 1) - levels).abs().min(dim=1).values.reshape(w.shape)
        span = max(abs(v) for v in self.levels)
        return ~(distance <= TOLERANCE * span)

    def _describe(self) -> str:
        if self.uniform:
            low, high = self.code_range()
            return f"{self.bits}-bit {self.scheme} grid (step {self.step:.4g}, codes {low}..{high})"
        return f"levels {list(self.levels)}"

    def check(self, deployment: Deployment) -> list[Violation]:
        found = []
        for site in deployment.weights(self.applies_to):
            off = self._off(site.value)
            if off.any():
                found.append(Violation(self.kind, site.where,
                                       f"{_count(off)} of {off.numel()} weights off the "
                                       f"{self._describe()} at {_first_indices(off)}"))
            if site.codes is not None:
                found.extend(self._check_file_codes(site))
        return found

    def _check_file_codes(self, site: WeightSite) -> list[Violation]:
        codes = site.codes.double()
        if not self.uniform:
            if site.scale != 1.0:
                return [Violation(self.kind, site.where, f"scale {site.scale!r}: values on "
                                                         f"explicit levels are stored with scale 1")]
            return []
        found = []
        whole = torch.isfinite(codes) & (codes == codes.round())
        if not whole.all():
            found.append(Violation(self.kind, site.where,
                                   f"{_count(~whole)} codes are not integers at "
                                   f"{_first_indices(~whole)}"))
        low, high = self.code_range()
        outside = whole & ((codes < low) | (codes > high))
        if outside.any():
            found.append(Violation(self.kind, site.where,
                                   f"{_count(outside)} codes outside {low}..{high} at "
                                   f"{_first_indices(outside)}"))
        if site.scale is None or not math.isclose(site.scale, self.step, rel_tol=1e-9):
            found.append(Violation(self.kind, site.where,
                                   f"scale {site.scale!r} is not the grid step {self.step!r}"))
        return found

    def harden(self, deployment: Deployment) -> None:
        for site in deployment.weights(self.applies_to):
            site.value.copy_(self.snap(site.value, site.role))

    def project(self, value: Tensor, role: str) -> Tensor | None:
        if role not in self.applies_to:
            return None
        return straight_through(value, self.snap(value, role))
