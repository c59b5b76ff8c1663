"""Chip rules as data: the [`Constraint`][nwave_core.constraints.base.Constraint] protocol, the
built-in rules, and what they read.

A chip ([`nwave_core.ChipSpec`][nwave_core.chip.ChipSpec]) is its neuron model plus a tuple of
constraints. Each constraint is a frozen attrs spec with validated parameters; the generic machinery
(validation,
hardening, export, the hardware losses, QAT, SignAnnealing) reads them. The built-ins are
registered as the ``constraint`` kind by the ``nwave.constraints`` plugin; a third party adds a
rule no built-in expresses by subclassing [`Constraint`][nwave_core.constraints.base.Constraint] and
registering it with the ``nwave_constraints`` hook.

Built-in kinds: ``weight_range``, ``sign_block``, ``weight_grid``, ``tau_set``, ``tau_range``,
``threshold``, ``reset``, ``membrane_floor``, ``core_fit``, ``frontend``, ``synapse_transfer``,
``structure`` and ``finite`` (the last two hold for every chip).
"""

from __future__ import annotations

from .base import (
    RESETS,
    ROLES,
    TOLERANCE,
    Constraint,
    Deployment,
    NeuronSite,
    Stage,
    Violation,
    WeightSite,
)
from .neurons import MembraneFloor, ResetRule, TauRange, TauSet, Threshold
from .report import ChipValidationError, ValidationReport, check_rules, harden_rules
from .topology import CoreFit, FiniteValues, Frontend, Structure, SynapseTransfer, map_to_cores
from .transfer import TRANSFERS, apply_transfer, register_transfer, transfer_function
from .view import deployment_of
from .weights import (
    SignBlock,
    WeightGrid,
    WeightRange,
    block_view,
    harden_signs,
    incoherent_blocks,
    straight_through,
)

__all__ = [
    "Constraint", "Violation", "Deployment", "Stage", "WeightSite", "NeuronSite", "ROLES",
    "RESETS", "TOLERANCE",
    "WeightRange", "SignBlock", "WeightGrid", "TauSet", "TauRange", "Threshold", "ResetRule",
    "MembraneFloor", "CoreFit", "Frontend", "SynapseTransfer", "Structure", "FiniteValues",
    "BUILTIN_CONSTRAINTS",
    "ValidationReport", "ChipValidationError", "check_rules", "harden_rules", "deployment_of",
    "TRANSFERS", "register_transfer", "transfer_function", "apply_transfer",
    "block_view", "incoherent_blocks", "harden_signs", "straight_through", "map_to_cores",
]

BUILTIN_CONSTRAINTS: tuple[type[Constraint], ...] = (
    WeightRange, SignBlock, WeightGrid, TauSet, TauRange, Threshold, ResetRule, MembraneFloor,
    CoreFit, Frontend, SynapseTransfer, Structure, FiniteValues,
)
"""Every built-in rule class, in the order ``nwave list constraint`` shows them."""
