"""The optimizers a config can name: torch.optim's by class name, nwave's by their names.

An nwave optimizer may define ``for_model(model, ..., *, chip=None)`` (built with the model,
e.g. to give its synapses devices) and ``check_params(params) -> list[str]`` (config problems
beyond parameter names, each ``"message @ $.path"``).
"""

from __future__ import annotations

import importlib
import inspect
from types import SimpleNamespace
from typing import Any

import torch

__all__ = ["NWAVE_OPTIMIZERS", "optimizer_namespace", "build_optimizer"]

NWAVE_OPTIMIZERS: dict[str, str] = {"pulsed_sgd": "nwave_core.analog:PulsedSGD"}
"""Nwave's optimizers: config name -> "module:Class"."""


def optimizer_namespace() -> SimpleNamespace:
    """torch.optim's optimizer classes under their class names, and nwave's under their config
    names (and class names)."""
    found = {name: value for name, value in vars(torch.optim).items()
             if inspect.isclass(value) and issubclass(value, torch.optim.Optimizer)}
    for name, target in NWAVE_OPTIMIZERS.items():
        module, _, attribute = target.partition(":")
        cls = getattr(importlib.import_module(module), attribute)
        found[name] = cls
        found[cls.__name__] = cls
    return SimpleNamespace(__name__="torch.optim and nwave", **found)


def build_optimizer(cls: type, model: torch.nn.Module, chip: Any,
                    params: dict[str, Any]) -> torch.optim.Optimizer:
    """``cls.for_model(model, chip=chip, **params)`` when the class has it, else
    ``cls(model.parameters(), **params)``."""
    for_model = getattr(cls, "for_model", None)
    if callable(for_model):
        return for_model(model, chip=chip, **params)
    return cls(model.parameters(), **params)
