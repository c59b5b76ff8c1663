"""nwave core: protocols, the plugin host and registries, and the machinery plugins share.

``import nwave_core`` is cheap: it loads no plugin and does not import torch. Registries are
filled on first use; torch-based parts (``SurrogateBase``, ``spike``) load when first accessed.
"""

from __future__ import annotations

import importlib
from typing import Any

from .entry import Entry, ParamInfo, Provider
from .errors import (
    DuplicateNameError,
    NwaveError,
    NwavePluginWarning,
    PluginLoadError,
    UnknownNameError,
)
from .hookspecs import hookimpl, hookspec
from .host import ENTRY_POINT_GROUP, PluginHost, PluginRecord
from .protocols import ChipTarget, NeuronLayer, Policy, Scheduler, Surrogate
from .registry import KINDS, Description, Registry

__version__ = "0.1.0"

__all__ = [
    "__version__",
    # plugin host and registries
    "ENTRY_POINT_GROUP", "KINDS", "Entry", "Provider", "ParamInfo", "Description", "Registry",
    "PluginHost", "PluginRecord", "hookimpl", "hookspec",
    "plugin_host", "registry", "create", "plugins", "disable_plugins", "enable_plugins",
    "register_plugin", "reload_plugins",
    # errors
    "NwaveError", "UnknownNameError", "DuplicateNameError", "PluginLoadError",
    "NwavePluginWarning",
    # protocols
    "Surrogate", "Policy", "NeuronLayer", "Scheduler", "ChipTarget",
    # machinery (lazy: imports torch)
    "SurrogateBase", "SpikeFunction", "spike", "PolicyBase", "ChipSpec", "Constraint", "prepare_net",
    "build", "Experiment", "load_config", "ConfigError",
]

_host = PluginHost()


def plugin_host() -> PluginHost:
    """The process-wide plugin host behind [`registry`][nwave_core.registry] and
    [`create`][nwave_core.create]."""
    return _host


def registry(kind: str) -> Registry:
    """The registry of ``kind``: ``"surrogate"``, ``"policy"``, ``"layer"``, ``"scheduler"``,
    ``"chip"`` or ``"device"``. Plugins are loaded on the first call."""
    return _host.registry(kind)


def create(kind: str, name: str, /, **params: Any) -> Any:
    """Build the component ``name`` of ``kind``: ``create("surrogate", "atan", alpha=3.0)``."""
    return _host.registry(kind).create(name, **params)


def plugins() -> list[PluginRecord]:
    """Every plugin found, with status (loaded / failed / blocked) and what it provides."""
    return _host.plugins()


def disable_plugins(*names: str) -> None:
    """Block plugins by entry-point name, like ``NWAVE_DISABLE_PLUGINS=a,b``."""
    _host.block(*names)


def enable_plugins(*names: str) -> None:
    """Undo [`disable_plugins`][nwave_core.disable_plugins] for these names."""
    _host.unblock(*names)


def register_plugin(plugin: Any, name: str | None = None) -> str:
    """Add a plugin object (a module, say) without installing it; returns its name."""
    return _host.register(plugin, name)


def reload_plugins() -> None:
    """Discover and load plugins again on the next registry access."""
    _host.reload()


_LAZY = {
    "SurrogateBase": "surrogate",
    "SpikeFunction": "surrogate",
    "spike": "surrogate",
    "PolicyBase": "policy",
    "ChipSpec": "chip",
    "Constraint": "constraints",
    "prepare_net": "neurons",
    "build": "experiment",
    "Experiment": "experiment",
    "load_config": "config",
    "ConfigError": "config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nwave_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
