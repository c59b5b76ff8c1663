"""Validation reports: every violation of a chip's rules at once, and the core mapping tried."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import attrs

from ..errors import NwaveError
from .base import Constraint, Deployment, Violation

__all__ = ["ValidationReport", "ChipValidationError", "check_rules", "harden_rules"]


@attrs.frozen
class ValidationReport:
    """Every violation of one chip's rules by one model or file, and the core mapping tried."""

    chip: str
    violations: tuple[Violation, ...]
    mapping: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.violations

    def rules(self) -> list[str]:
        """The kinds of rule broken, in report order, once each."""
        return list(dict.fromkeys(v.rule for v in self.violations))

    def table(self) -> str:
        """A readable table: the violations, then the core mapping."""
        lines = [f"chip {self.chip!r}: " + ("OK, no violations" if self.ok else
                                            f"{len(self.violations)} violation(s)")]
        if self.violations:
            width_rule = max(len(v.rule) for v in self.violations)
            width_where = max(len(v.where) for v in self.violations)
            for v in self.violations:
                lines.append(f"  {v.rule.ljust(width_rule)}  {v.where.ljust(width_where)}  "
                             f"{v.detail}")
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
    """A model or file that breaks a chip's rules where a valid one is required (export,
    hardening, loading an export). ``report`` holds every violation."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(f"{message}\n{report.table()}")
        self.report = report


def check_rules(chip_name: str, rules: Sequence[Constraint], deployment: Deployment,
                extra: Sequence[Violation] = ()) -> ValidationReport:
    """Run every rule's ``check`` on ``deployment``; the first core-fit rule gives the mapping."""
    violations: list[Violation] = list(extra)
    mapping: tuple = ()
    for rule in rules:
        violations.extend(rule.check(deployment))
        if not mapping and callable(getattr(rule, "mapping", None)):
            mapping = tuple(rule.mapping(deployment))
    return ValidationReport(chip_name, tuple(violations), mapping)


def harden_rules(rules: Sequence[Constraint], deployment: Deployment) -> None:
    """Every rule's ``harden``, in the rules' ``order`` (ranges, signs, grids, then neurons).
    Call under ``torch.no_grad()``."""
    for rule in sorted(rules, key=lambda r: r.order):
        rule.harden(deployment)
