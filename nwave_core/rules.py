"""What a chip's rules say about a model: validation reports and hardening.

The rules themselves live in [`nwave_core.constraints`][nwave_core.constraints] (one class per kind,
each reading its numbers from its own parameters); a [`ChipSpec`][nwave_core.chip.ChipSpec] holds
them. This module keeps the functional entry points and the helpers the rest of nwave shares:

* [`validate`][nwave_core.rules.validate] / [`harden`][nwave_core.rules.harden]:
  ``spec.validate(model)`` / ``spec.harden(model)``;
* [`weight_sites`][nwave_core.rules.weight_sites] /
  [`constrained_weights`][nwave_core.rules.constrained_weights]: the weights the rules govern;
* [`neuron_layers`][nwave_core.rules.neuron_layers]: the spiking layers of a model;
* [`chip_of`][nwave_core.rules.chip_of]: the chip a model is for.

Decision: a frontend's first-stage neurons occupy core neurons like any other layer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch import Tensor, nn

from .chip import ChipSpec, resolve_chip
from .constraints import (
    ChipValidationError,
    ValidationReport,
    Violation,
    WeightSite,
    block_view,
    deployment_of,
    harden_signs,
    incoherent_blocks,
    map_to_cores,
)

__all__ = ["Violation", "ValidationReport", "ChipValidationError", "weight_sites",
           "constrained_weights", "neuron_layers", "validate", "harden", "block_view",
           "incoherent_blocks", "harden_signs", "map_to_cores", "chip_of"]


def weight_sites(model: nn.Module, roles: tuple[str, ...] = ("synapse", "recurrent")
                 ) -> Iterator[WeightSite]:
    """The model's weights of ``roles`` as the chip rules see them (with module and attribute)."""
    yield from deployment_of(model).weights(roles)


def constrained_weights(model: nn.Module) -> Iterator[tuple[str, nn.Module, str, Tensor]]:
    """``(qualified name, module, attribute, tensor)`` for every synapse weight ``[N_in, N_out]``
    and recurrent weight ``[N, N]`` of the model (frontend gains excluded)."""
    for site in weight_sites(model):
        yield site.where, site.module, site.attribute, site.value


def neuron_layers(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``(qualified name, layer)`` for every spiking neuron layer, in registration order."""
    from .neurons import NeuronLayerBase

    for name, module in model.named_modules():
        if isinstance(module, NeuronLayerBase):
            yield name or type(module).__name__, module


def validate(spec: ChipSpec, model: nn.Module) -> ValidationReport:
    """Every violation of ``spec``'s rules by ``model`` (the model is not changed)."""
    return spec.validate(model)


def harden(spec: ChipSpec, model: nn.Module) -> nn.Module:
    """A deployable copy of ``model`` (see
    [`nwave_core.ChipSpec.harden`][nwave_core.chip.ChipSpec.harden])."""
    return spec.harden(model)


def chip_of(model: nn.Module, chip: Any = None, owner: str = "nwave") -> ChipSpec:
    """The chip to use for ``model``: ``chip`` (a spec or name) when given, else the one chip
    its hardware layers follow.

    Raises:
        ValueError: no hardware layer, or layers of several chips, and no ``chip`` given.
    """
    if chip is not None:
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
