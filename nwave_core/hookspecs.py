"""The hooks a plugin implements: one per kind, each returning [`Entry`][nwave_core.entry.Entry]
objects.

A plugin is any module (or object) with functions marked ``@nwave_core.hookimpl`` whose names
are the hook names below. Each hook takes no arguments and returns an iterable of entries::

    from nwave_core import Entry, hookimpl

    @hookimpl
    def nwave_surrogates():
        return [Entry(name="my_surrogate", factory=MySurrogate, summary="...")]
"""

from __future__ import annotations

from collections.abc import Iterable

import pluggy

from .entry import Entry

__all__ = ["PROJECT", "hookspec", "hookimpl", "HOOK_OF_KIND"]

PROJECT = "nwave"
"""The pluggy project name the hooks are marked with."""
hookspec = pluggy.HookspecMarker(PROJECT)
"""Marks a hook specification (nwave's own, in this module)."""
hookimpl = pluggy.HookimplMarker(PROJECT)
"""Marks a plugin's hook implementation: ``@hookimpl`` above ``def nwave_surrogates(): ...``."""

HOOK_OF_KIND: dict[str, str] = {
    "surrogate": "nwave_surrogates",
    "policy": "nwave_policies",
    "layer": "nwave_layers",
    "scheduler": "nwave_schedulers",
    "chip": "nwave_chips",
    "constraint": "nwave_constraints",
    "dataset": "nwave_datasets",
    "device": "nwave_devices",
}
"""Kind -> name of the hook that provides entries of that kind."""


@hookspec
def nwave_surrogates() -> Iterable[Entry]:
    """Surrogate gradients: factories that return [`Surrogate`][nwave_core.protocols.Surrogate]."""


@hookspec
def nwave_policies() -> Iterable[Entry]:
    """Schedule policies: factories that return [`Policy`][nwave_core.protocols.Policy]."""


@hookspec
def nwave_layers() -> Iterable[Entry]:
    """Neuron layers, synapses and frontends (``torch.nn.Module`` classes)."""


@hookspec
def nwave_schedulers() -> Iterable[Entry]:
    """Schedulers: factories that return [`Scheduler`][nwave_core.protocols.Scheduler]."""


@hookspec
def nwave_chips() -> Iterable[Entry]:
    """Chip targets: factories that return [`ChipTarget`][nwave_core.protocols.ChipTarget]."""


@hookspec
def nwave_constraints() -> Iterable[Entry]:
    """Chip rules: [`Constraint`][nwave_core.constraints.base.Constraint] classes (a chip's
    ``constraints`` name them by kind in configs and export files)."""


@hookspec
def nwave_datasets() -> Iterable[Entry]:
    """Datasets for ``nwave train``: factories that return a labelled dataset (split by the
    config's ``test_fraction``) or a [`DataSplits`][nwave_core.data.split.DataSplits] of their
    own."""


@hookspec
def nwave_devices() -> Iterable[Entry]:
    """Analog synapse device models: [`DeviceSpec`][nwave_core.analog.devices.DeviceSpec]
    subclasses."""
