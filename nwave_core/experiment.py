"""Build an experiment from a config: the same plain objects a library user would make.

``nwave_core.build(config)`` returns an [`Experiment`][nwave_core.experiment.Experiment] holding the
model (an ``nn.Sequential``), the chip, the data, the optimizer, the LR schedule, the nwave
schedulers and SignAnnealing, ready for [`nwave_core.runner.train`][nwave_core.runner.train] or for
a loop of your own.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .chip import ChipSpec
from .config import ConfigError, ExperimentConfig, load_config, parse_config

__all__ = ["Experiment", "build", "build_model"]


@attrs.define
class Experiment:
    """Everything a training run needs, as plain objects."""

    config: ExperimentConfig
    model: nn.Sequential
    chip: ChipSpec | None
    train_data: TensorDataset
    test_data: TensorDataset
    optimizer: torch.optim.Optimizer
    lr_scheduler: Any
    schedulers: list[Any]
    sign_annealing: Any
    val_data: Any = None

    def train_loader(self, epoch: int) -> DataLoader:
        """Shuffled batches; the order depends only on the seed and the epoch (so a resumed run
        sees the same batches as an uninterrupted one)."""
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        return DataLoader(self.train_data, batch_size=self.config.data.batch_size, shuffle=True,
                          generator=generator)

    def test_loader(self) -> DataLoader:
        return DataLoader(self.test_data, batch_size=self.config.data.batch_size)


def _surrogate(spec: Any) -> Any:
    from . import create

    if isinstance(spec, str):
        return create("surrogate", spec)
    spec = dict(spec)
    return create("surrogate", spec.pop("type"), **spec)


def build_model(config: ExperimentConfig) -> tuple[nn.Sequential, ChipSpec | None]:
    """The model and chip of a config (seeded by ``config.seed``)."""
    from . import create, registry
    from .data import data_bin_s
    from .rules import chip_of

    torch.manual_seed(config.seed)
    dt = data_bin_s(config.data.type, config.data.params)  # layers step at the data's bin
    model_config = config.model
    chip = None
    if model_config.chip is not None:
        chip = create("chip", model_config.chip.type, **model_config.chip.params)
    layers = []
    reg = registry("layer")
    for component in model_config.layers:
        params = dict(component.params)
        accepted = {p.name for p in reg.describe(component.type).params}
        if "spike_grad" in params:
            params["spike_grad"] = _surrogate(params["spike_grad"])
        elif "spike_grad" in accepted and model_config.surrogate is not None:
            params["spike_grad"] = _surrogate({"type": model_config.surrogate.type,
                                               **model_config.surrogate.params})
        if "dt" in accepted and "dt" not in params and dt is not None:
            params["dt"] = dt
        if "chip" in accepted and "chip" not in params and chip is not None:
            params["chip"] = chip  # the config's chip, overrides included, drives the layers
        layers.append(create("layer", component.type, **params))
    model = nn.Sequential(*layers)
    if chip is None:
        try:
            chip = chip_of(model)
        except ValueError:
            chip = None
    return model, chip


def build(config: ExperimentConfig | Mapping[str, Any] | str | Path) -> Experiment:
    """Build every object of an experiment from a config (a path, a dict or a parsed config).

    Raises:
        ConfigError: the config has problems (all of them are listed).
    """
    from . import create
    from .data import make_dataset, split_dataset
    from .optim import SignAnnealing
    from .optim.optimizers import build_optimizer, optimizer_namespace

    if isinstance(config, (str, Path)):
        config = load_config(config)
    elif not isinstance(config, ExperimentConfig):
        config = parse_config(config)
    model, chip = build_model(config)

    data_params = dict(config.data.params)
    if _dataset_accepts_seed(config.data.type) and "seed" not in data_params:
        data_params["seed"] = config.seed
    splits = split_dataset(make_dataset(config.data.type, **data_params),
                           config.data.test_fraction, seed=config.seed)
    _check_targets(config, model, splits.train)

    if config.init is not None:
        initialise(model, splits.train, config.init, config.seed)
    sign_annealing = None
    if config.sign_annealing is not None:  # before the optimizer: it adds parameters
        sa = config.sign_annealing
        sign_annealing = SignAnnealing(model, config.train.epochs, sa.alpha_start, sa.alpha_end,
                                       chip=chip, policy=sa.policy, fix_signs_at=sa.fix_signs_at)
    optimizer_cls = _find_class(optimizer_namespace(), config.optimizer.type)
    optimizer = build_optimizer(optimizer_cls, model, chip, dict(config.optimizer.params))
    lr_scheduler = None
    if config.lr_schedule is not None:
        scheduler_cls = _find_class(torch.optim.lr_scheduler, config.lr_schedule.type)
        lr_scheduler = scheduler_cls(optimizer, **config.lr_schedule.params)
    schedulers = [create("scheduler", s.type, target=model, **scheduler_params(config, s))
                  for s in config.schedulers]
    return Experiment(config, model, chip, splits.train, splits.test, optimizer, lr_scheduler,
                      schedulers, sign_annealing, splits.val)


def _check_targets(config: ExperimentConfig, model: nn.Sequential, data: Any) -> None:
    """The data's targets fit the read-out ``train.loss`` names: class indices for the class
    read-outs, target rates ``[W, O]`` (``O`` the model's outputs) for the regression ones.

    Raises:
        ConfigError: they do not (found before any run folder is written).
    """
    from .losses import REGRESSION_READOUTS

    if len(data) == 0:
        return
    y = torch.as_tensor(data[0][1])
    loss = config.train.loss
    outputs = getattr(model[-1], "n_neurons", None) if len(model) else None
    if loss in REGRESSION_READOUTS:
        if y.dim() != 2:
            problem = (f"the {loss} read-out needs target rates [windows, outputs] per sample, but "
                       f"dataset {config.data.type!r} gives targets of shape {list(y.shape)}: "
                       f"choose a class read-out or a dataset of target rates")
        elif outputs is not None and y.shape[-1] != outputs:
            problem = (f"the {loss} read-out compares {outputs} output neurons with {y.shape[-1]} "
                       f"target rates from dataset {config.data.type!r}: make them equal")
        else:
            return
    elif y.dim() != 0 or y.is_floating_point():
        problem = (f"the {loss} read-out needs a class index per sample, but dataset "
                   f"{config.data.type!r} gives targets of shape {list(y.shape)} ({y.dtype}): "
                   f"choose a read-out that fits them (the rate_pattern data: rate_mse)")
    else:
        return
    raise ConfigError([f"{problem} @ $.train.loss"])


def initialise(model: nn.Module, data: Any, init: Any, seed: int) -> None:
    """Apply an ``[init]`` table to ``model``, measuring on the first ``init.samples`` samples
    of ``data`` (seeded, so a resumed run rebuilds the same model)."""
    from .init import fluct_init, frontend_firing_init, init_weights

    count = min(init.samples, len(data))
    x = torch.stack([torch.as_tensor(data[i][0]) for i in range(count)]).float()
    generator = torch.Generator().manual_seed(seed)
    if init.frontend_rate is not None:
        frontend_firing_init(model, x, init.frontend_rate)
    if init.method == "fluct":
        fluct_init(model, x, init.xi_target, init.alpha, generator=generator)
    else:
        init_weights(model, generator=generator)


def scheduler_params(config: ExperimentConfig, component: Any) -> dict[str, Any]:
    """A scheduler's parameters, with ``total_steps`` defaulting to the run's length
    (``train.epochs``: the runner steps every scheduler once per epoch)."""
    from . import registry

    params = dict(component.params)
    accepted = {p.name for p in registry("scheduler").describe(component.type).params}
    if "total_steps" in accepted and "total_steps" not in params:
        params["total_steps"] = config.train.epochs
    return params


def _dataset_accepts_seed(name: str) -> bool:
    from . import registry

    return any(p.name == "seed" for p in registry("dataset").describe(name).params)


def _find_class(module: Any, name: str) -> Any:
    lowered = name.strip().lower()
    for attribute, value in vars(module).items():
        if attribute.lower() == lowered and isinstance(value, type):
            return value
    raise LookupError(f"{module.__name__} has no class {name!r}")  # checked by the config


