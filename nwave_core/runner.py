"""The training runner behind ``nwave train``: epochs, metrics, checkpoints, resume, the end
of run report (chip validation, hardened vs float accuracy, export, plots).

Reproducibility: the model is initialized from ``config.seed``; each epoch's batch order and
each batch's mismatch sample come from generators seeded by (seed, epoch, batch), so a run
resumed from a checkpoint computes exactly the losses of an uninterrupted one.

Several processes: under ``torchrun`` (``WORLD_SIZE > 1`` in the environment) the runner starts
the process group itself (nccl on CUDA, gloo otherwise) unless the caller already did, wraps the
model in ``DistributedDataParallel``, and gives each rank a share of every global batch
(``data.batch_size`` is the global batch) with its loss weighted by that share, so the updates
equal a single-process run's. Every rank steps SignAnnealing and the schedulers identically;
only rank 0 writes files.

Safety: the checkpoint is written atomically after the metrics of its epoch, so a kill at any
point leaves metrics that cover the checkpoint (a resume rewrites them from the checkpoint's
history) and no temporary file once the next run starts. A checkpoint that cannot be read, is
not nwave's, or does not fit the model is a [`CheckpointError`][nwave_core.runner.CheckpointError];
resuming with a changed config is a [`ConfigChangedError`][nwave_core.runner.ConfigChangedError]
listing the changes unless ``force=True``. A loss or gradient that is not finite (or an input with
NaN/inf) stops the run with [`Diverged`][nwave_core.runner.Diverged] before the weights are touched,
keeping the last good checkpoint.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .config import config_to_dict, dump_toml, fill_config
from .errors import ConfigWarning, NwaveError
from .experiment import Experiment
from .losses import (REGRESSION_READOUTS, readout_loss, readout_metric, topology_loss,
                     weight_magnitude_loss)
from .metrics import rate_correlation, window_rates
from .neurons import NeuronLayerBase, prepare_net

__all__ = ["TrainResult", "train", "CHECKPOINT", "BEST", "Interrupted", "save_atomic",
           "CheckpointError", "ConfigChangedError", "Diverged", "load_checkpoint",
           "resolve_device", "config_diff"]

CHECKPOINT = "checkpoint.pt"
"""The file in the run folder that holds the last finished epoch (what ``--resume`` reads)."""
BEST = "best.pt"
"""The file in the run folder that holds the model of the best epoch so far."""
CHECKPOINT_VERSION = 1
_CHECKPOINT_KEYS = ("version", "epoch", "model", "optimizer", "lr_scheduler", "schedulers",
                    "sign_annealing", "torch_rng", "history", "config")
#: config keys that may change between a run and its resume without ``force``
_RESUME_FREE = ("out", "train.progress", "train.device", "train.tensorboard")


class CheckpointError(NwaveError):
    """A checkpoint that cannot be resumed from: unreadable, foreign, or not fitting the model."""


class ConfigChangedError(NwaveError):
    """Resuming with a config that differs from the checkpoint's (without ``force``)."""


class Diverged(NwaveError):
    """A loss, gradient or input that is not finite; the run stopped before using it."""

    exit_code = 3


class Interrupted(Exception):
    """Training stopped by Ctrl-C after saving a checkpoint."""

    def __init__(self, checkpoint: Path, epoch: int) -> None:
        super().__init__(f"interrupted; the checkpoint of epoch {epoch} is at {checkpoint}; "
                         f"continue with --resume")
        self.checkpoint, self.epoch = checkpoint, epoch


@attrs.define
class TrainResult:
    """What a finished run produced."""

    out: Path
    history: list[dict[str, float]]
    float_accuracy: float
    hardened_accuracy: float | None = None
    report: Any = None
    export_path: Path | None = None


def save_atomic(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: a crash never leaves a
    half-written checkpoint."""
    _write_atomic(path, lambda tmp: torch.save(obj, tmp))


def _write_atomic(path: Path, write: Callable[[str], None]) -> None:
    """``write(tmp)`` a temporary file beside ``path``, then rename it to ``path``."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files a killed run left behind (``.<name>.<random>.tmp``)."""
    for stale in out.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _first_sentence(exc: BaseException) -> str:
    """The first line and sentence of an exception's message, at most 160 characters."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()] or [""]
    text = lines[0]
    if text.endswith(":") and len(lines) > 1:  # "Error(s) in loading state_dict for X:" + why
        text = f"{text} {lines[1]}"
    text = text.split(". ", 1)[0].rstrip(".")
    return text if len(text) <= 160 else text[:157] + "..."


def load_checkpoint(path: Path, action: str = "resume") -> dict[str, Any]:
    """Read an nwave checkpoint safely (``weights_only``), onto the CPU.

    Args:
        path: the checkpoint file.
        action: what it is read for, as messages say it (``"resume"``, ``"evaluate"``).

    Raises:
        CheckpointError: no file, not readable (truncated, corrupt), or not an nwave checkpoint;
            the message is one line saying which.
    """
    path = Path(path)
    hint = (" Start over without --resume, or give another --out" if action == "resume" else "")
    if not path.is_file():
        raise CheckpointError(f"nothing to {action}: no {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - EOFError, UnpicklingError, RuntimeError, ...
        reason = _first_sentence(exc)
        raise CheckpointError(
            f"cannot {action}: {path} is not a readable checkpoint ({type(exc).__name__}"
            f"{': ' + reason if reason else ''}); it may be truncated or corrupt.{hint}") from None
    if not isinstance(state, dict) or not all(key in state for key in _CHECKPOINT_KEYS):
        missing = [k for k in _CHECKPOINT_KEYS if not isinstance(state, dict) or k not in state]
        raise CheckpointError(
            f"cannot {action}: {path} is not an nwave training checkpoint (missing "
            f"{', '.join(missing)}).{hint}")
    if state["version"] != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"cannot {action}: {path} has checkpoint format {state['version']!r}, this nwave "
            f"reads format {CHECKPOINT_VERSION}")
    return state


def config_diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """``"key.path: old -> new"`` for every value that differs between two config dicts."""
    lines = []
    for key in sorted(set(old) | set(new), key=str):
        path = f"{prefix}{key}"
        a, b = old.get(key, "(not set)"), new.get(key, "(not set)")
        if isinstance(a, dict) and isinstance(b, dict):
            lines += config_diff(a, b, f"{path}.")
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and \
                all(isinstance(x, dict) and isinstance(y, dict) for x, y in zip(a, b)):
            for i, (x, y) in enumerate(zip(a, b)):
                lines += config_diff(x, y, f"{path}[{i}].")
        elif a != b:
            lines.append(f"{path}: {a!r} -> {b!r}")
    return lines


def _comparable(config: Any) -> dict[str, Any]:
    """A config (object or saved dict) with every default filled in, as plain data."""
    from .config import parse_config

    if isinstance(config, dict):
        try:
            config = parse_config(config)
        except Exception:  # noqa: BLE001 - e.g. a plugin since uninstalled: compare as saved
            return config
    return config_to_dict(fill_config(config))


def _check_unchanged(saved: dict[str, Any], config: Any, checkpoint: Path, force: bool) -> list[str]:
    """The differences that matter between the checkpoint's config and ``config``."""
    changes = [line for line in config_diff(_comparable(saved), _comparable(config))
               if not line.split(":", 1)[0].startswith(_RESUME_FREE)]
    if changes and not force:
        listed = "\n".join(f"  {line}" for line in changes)
        raise ConfigChangedError(
            f"cannot resume: the config differs from the one {checkpoint} was trained with:\n"
            f"{listed}\nresume with --force to continue with the new config anyway, or "
            f"train into another --out")
    return changes


def resolve_device(name: str) -> torch.device:
    """The ``torch.device`` for ``train.device``: auto, cpu, cuda, cuda:N or mps.

    Under ``torchrun`` (``LOCAL_RANK`` set) ``cuda`` and ``auto`` take GPU ``LOCAL_RANK``.

    Raises:
        NwaveError: the device is not available on this machine (one line, with the fix).
    """
    spec = name.strip().lower()
    local = os.environ.get("LOCAL_RANK")
    cuda_ok = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None)
    mps_ok = bool(mps is not None and mps.is_available())
    if spec == "auto":
        spec = "cuda" if cuda_ok else "mps" if mps_ok else "cpu"
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not mps_ok:
            raise NwaveError("device 'mps' is not available here (torch.backends.mps."
                             "is_available() is False); use device = 'cpu' or 'auto'")
        return torch.device("mps")
    if spec.startswith("cuda"):
        if not cuda_ok:
            raise NwaveError(f"device {name!r} is not available here (torch {torch.__version__}: "
                             f"torch.cuda.is_available() is False); use device = 'cpu' or 'auto'")
        index = int(spec.split(":", 1)[1]) if ":" in spec else int(local or 0)
        if index >= torch.cuda.device_count():
            raise NwaveError(f"device cuda:{index} does not exist: this machine has "
                             f"{torch.cuda.device_count()} GPU(s)")
        return torch.device("cuda", index)
    raise NwaveError(f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps")


def _place(model: nn.Module, device: torch.device) -> None:
    """Move the model to ``device``; surrogate parameter buffers take the model's dtype first
    (a float64 buffer would break MPS and cost time on GPUs)."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()),
                 torch.get_default_dtype())
    for module in model.modules():
        name = getattr(module, "param_name", None)
        buffer = module._buffers.get(name) if isinstance(name, str) else None
        if buffer is not None and buffer.is_floating_point() and buffer.dtype != dtype:
            module._buffers[name] = buffer.to(dtype)
    model.to(device)


def _batch_generator(seed: int, epoch: int, batch: int) -> torch.Generator:
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 10_007 + batch)


def _output_membrane(model: nn.Module) -> Tensor | None:
    """The membrane of the model's last neuron layer in its last call (membrane read-outs)."""
    layers = [m for m in model.modules() if isinstance(m, NeuronLayerBase)]
    return layers[-1].mem if layers else None


def _task_loss(exp: Experiment, model: nn.Module | None = None) -> Callable[[Tensor, Tensor], Tensor]:
    train, model = exp.config.train, model if model is not None else exp.model
    return lambda out, y: readout_loss(train.loss, out, y, _output_membrane(model),
                                       scale=train.loss_scale, num_classes=train.num_classes)


def _accuracy(exp: Experiment, out: Tensor, y: Tensor, model: nn.Module | None = None) -> float:
    """The configured read-out's metric
    ([`readout_metric`][nwave_core.losses.readout_metric]): strict
    accuracy (ties and silent outputs are wrong), or the rate correlation of ``rate_mse``."""
    train, model = exp.config.train, model if model is not None else exp.model
    return readout_metric(train.loss, out, y, _output_membrane(model), train.num_classes)


def _hardware_loss(exp: Experiment) -> Tensor:
    train = exp.config.train
    total = torch.zeros(())
    if train.weight_magnitude > 0:
        total = total + train.weight_magnitude * weight_magnitude_loss(exp.model, exp.chip)
    if train.topology > 0:
        total = total + train.topology * topology_loss(exp.model, exp.chip)
    return total


class _RateMeter:
    """Mean firing rate over every neuron layer, via forward hooks."""

    def __init__(self, model: nn.Module) -> None:
        self.spikes = 0.0
        self.count = 0
        self.hooks = [m.register_forward_hook(self._record) for m in model.modules()
                      if isinstance(m, NeuronLayerBase)]

    def _record(self, module: nn.Module, args: Any, output: Any) -> None:
        spikes = output[0] if isinstance(output, tuple) else output
        self.spikes += float(spikes.detach().sum())
        self.count += spikes.numel()

    def take(self) -> float:
        rate = self.spikes / self.count if self.count else 0.0
        self.spikes, self.count = 0.0, 0
        return rate

    def close(self) -> None:
        for hook in self.hooks:
            hook.remove()


def _device_of(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _autocast(exp: Experiment, device: torch.device) -> Any:
    """bfloat16 autocast when ``train.bf16`` is set, else a no-op context."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                          enabled=bool(getattr(exp.config.train, "bf16", False)))


def evaluate(exp: Experiment, model: nn.Module | None = None) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` (default: the experiment's) on the test set, on the
    model's device."""
    model = model if model is not None else exp.model
    device = _device_of(model)
    loss_fn = _task_loss(exp, model)
    total_loss, total_acc, n = 0.0, 0.0, 0
    # a regression read-out's correlation is one over the whole test set, not a mean of batches'
    regression = exp.config.train.loss in REGRESSION_READOUTS
    rates: list[Tensor] = []
    targets: list[Tensor] = []
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch, (x, y) in enumerate(exp.test_loader()):
            x, y = x.to(device), y.to(device)
            prepare_net(model, _batch_generator(exp.config.seed, 0, batch))
            with _autocast(exp, device):
                out = model(x)
            if exp.config.train.bf16:
                out = out.float()
            total_loss += float(loss_fn(out, y)) * len(y)
            if regression:
                rates.append(window_rates(out, y.shape[1]).cpu())
                targets.append(y.cpu())
            else:
                total_acc += _accuracy(exp, out, y, model) * len(y)
            n += len(y)
    model.train(was_training)
    if not n:
        return math.nan, math.nan
    if regression:  # the windows' rates stand for the spikes: one step a window
        return total_loss / n, rate_correlation(torch.cat(rates), torch.cat(targets))
    return total_loss / n, total_acc / n


def _surrogate_value(exp: Experiment) -> float | None:
    for scheduler in exp.schedulers:
        if getattr(scheduler, "param_name", None) and scheduler.last_value is not None:
            return scheduler.last_value
    for module in exp.model.modules():
        surrogate = getattr(module, "spike_grad", None)
        if surrogate is not None and hasattr(surrogate, "param_value"):
            return surrogate.param_value
    return None


def _checkpoint_state(exp: Experiment, epoch: int, history: list[dict[str, float]],
                      config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "version": CHECKPOINT_VERSION,
        "epoch": epoch,
        "model": exp.model.state_dict(),
        "optimizer": exp.optimizer.state_dict(),
        "lr_scheduler": exp.lr_scheduler.state_dict() if exp.lr_scheduler is not None else None,
        "schedulers": [s.state_dict() for s in exp.schedulers],
        "sign_annealing": exp.sign_annealing.state_dict() if exp.sign_annealing else None,
        "torch_rng": torch.get_rng_state(),
        "history": history,
        "config": config if config is not None else config_to_dict(exp.config),
    }


def _restore(exp: Experiment, state: dict[str, Any], checkpoint: Path,
             force: bool = False) -> tuple[int, list[dict[str, float]]]:
    """Load ``state`` into the experiment; with ``force``, the config's optimizer settings and
    schedules win over the saved ones (only the positions are restored)."""
    try:
        exp.model.load_state_dict(state["model"])
        exp.optimizer.load_state_dict(state["optimizer"])
        if exp.lr_scheduler is not None and state["lr_scheduler"] is not None:
            exp.lr_scheduler.load_state_dict(state["lr_scheduler"])
        if len(state["schedulers"]) != len(exp.schedulers):
            raise ValueError(f"it has {len(state['schedulers'])} schedulers, the config "
                             f"{len(exp.schedulers)}")
        for scheduler, saved in zip(exp.schedulers, state["schedulers"]):
            if force:
                saved = {k: v for k, v in saved.items() if k in ("last_step", "last_value")}
            scheduler.load_state_dict(saved)
        if exp.sign_annealing is not None and state["sign_annealing"] is not None:
            exp.sign_annealing.load_state_dict(state["sign_annealing"])
        torch.set_rng_state(state["torch_rng"])
        epoch, history = int(state["epoch"]), list(state["history"])
    except Exception as exc:  # noqa: BLE001 - shapes, keys, types: the checkpoint does not fit
        reason = _first_sentence(exc) or type(exc).__name__
        raise CheckpointError(f"cannot resume: {checkpoint} does not fit the model and "
                              f"optimizer built from the config ({reason})") from None
    if force:  # the new config's optimizer settings (lr, ...) replace the saved ones
        for group in exp.optimizer.param_groups:
            for key, value in exp.config.optimizer.params.items():
                if key in group:
                    group[key] = value
                    if key == "lr" and "initial_lr" in group:
                        group["initial_lr"] = value
    return epoch, history


def _write_metrics(out: Path, history: list[dict[str, float]]) -> None:
    """``metrics.json`` and ``metrics.csv``, each written atomically."""
    if not history:
        return
    _write_atomic(out / "metrics.json",
                  lambda tmp: Path(tmp).write_text(json.dumps(history, indent=1)))

    def write_csv(tmp: str) -> None:
        with open(tmp, "w", newline="") as stream:
            fields = list(dict.fromkeys(key for row in history for key in row))
            writer = csv.DictWriter(stream, fieldnames=fields)
            writer.writeheader()
            writer.writerows(history)

    _write_atomic(out / "metrics.csv", write_csv)


def _score(row: dict[str, float]) -> tuple[float, float]:
    """How good an epoch is: test accuracy, then lower test loss (train ones without test data)."""
    accuracy, loss = row.get("test_accuracy", math.nan), row.get("test_loss", math.nan)
    if not math.isfinite(accuracy):
        accuracy, loss = row["accuracy"], row["loss"]
    return (accuracy, -loss if math.isfinite(loss) else -math.inf)


def _best_epoch(history: list[dict[str, float]]) -> int | None:
    """The epoch with the best [`_score`][nwave_core.runner._score] (the earliest of equals)."""
    best = None
    for row in history:
        if best is None or _score(row) > _score(best):
            best = row
    return int(best["epoch"]) if best is not None else None


def _progress(total: int, initial: int, enabled: bool) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, initial=initial, unit="epoch", disable=not enabled, dynamic_ncols=True)


class _Distributed:
    """This process's place in a distributed run (world 1 when there is none)."""

    def __init__(self, device_name: str = "cpu") -> None:
        import torch.distributed as dist

        self.dist = dist
        if not dist.is_available():
            self.world, self.rank = 1, 0
            return
        if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            device = resolve_device(device_name)
            if device.type == "cuda":
                torch.cuda.set_device(device)
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        self.rank = dist.get_rank() if dist.is_initialized() else 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        if self.world == 1:
            return model
        device = _device_of(model)
        if device.type == "cuda":
            return nn.parallel.DistributedDataParallel(model, device_ids=[device.index])
        return nn.parallel.DistributedDataParallel(model)

    def shard(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, float]:
        """This rank's share of a global batch, and the weight that makes the ranks' averaged
        gradients equal the global batch's (``world * share / global``)."""
        if self.world == 1:
            return x, y, 1.0
        if len(y) < self.world:
            raise ValueError(f"a batch of {len(y)} samples cannot be shared by {self.world} "
                             f"processes; use a data.batch_size (and a dataset size) that leaves "
                             f"at least {self.world} samples in every batch")
        x_part, y_part = x.tensor_split(self.world)[self.rank], y.tensor_split(self.world)[self.rank]
        return x_part, y_part, self.world * len(y_part) / len(y)

    def total(self, *values: float) -> list[float]:
        """Sums over the ranks."""
        if self.world == 1:
            return list(values)
        device = torch.device("cuda", torch.cuda.current_device()) \
            if self.dist.get_backend() == "nccl" else torch.device("cpu")
        tensor = torch.tensor(values, dtype=torch.float64, device=device)
        self.dist.all_reduce(tensor)
        return tensor.tolist()


def train(exp: Experiment, out: str | Path | None = None, *, resume: bool = False,
          progress: bool | None = None, on_epoch: Callable[[int], None] | None = None,
          force: bool = False, label: str | None = None) -> TrainResult:
    """Train ``exp`` and write its outputs to ``out`` (default: the config's ``out``).

    Writes ``config.toml`` (every default filled in), ``metrics.csv`` / ``metrics.json`` and
    then ``checkpoint.pt`` after every epoch (each atomically), ``best.pt`` (the model of the
    best epoch so far: test accuracy, then test loss), and at the end ``results.json``, the
    chip's validation report, the export file and ``curves.png`` (with matplotlib). Nothing is
    written before the checkpoint to resume from has been read and checked.

    Args:
        exp: the built experiment.
        out: output folder.
        resume: continue from ``out/checkpoint.pt``.
        progress: show progress (default: the config's ``train.progress``): a bar on a
            terminal, one line per epoch on stderr otherwise.
        on_epoch: called with the epoch number after each epoch (tests use it to interrupt).
        force: resume even though the config changed (its optimizer settings and schedules
            then replace the saved ones).
        label: names the run in progress output (default: the output folder's name).

    Raises:
        Interrupted: Ctrl-C; the last finished epoch's checkpoint is saved.
        CheckpointError: the checkpoint to resume from is missing, unreadable, foreign, or does
            not fit the model.
        ConfigChangedError: resuming with a changed config without ``force``.
        Diverged: a non-finite input, loss or gradient; the last good checkpoint is kept.
        NwaveError: the configured device is not available.
    """
    config = exp.config
    device = resolve_device(config.train.device)
    ranks = _Distributed(config.train.device)
    out = Path(out if out is not None else config.out)
    checkpoint = out / CHECKPOINT
    saved_config = config_to_dict(fill_config(config))
    start, history = 0, []
    _place(exp.model, device)
    if resume:
        state = load_checkpoint(checkpoint)
        changes = _check_unchanged(state["config"], config, checkpoint, force)
        start, history = _restore(exp, state, checkpoint, force)
        for change in changes:
            warnings.warn(f"resuming with a changed config (--force): {change}", ConfigWarning,
                          stacklevel=2)
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(out)
        _write_atomic(out / "config.toml",
                      lambda tmp: Path(tmp).write_text(dump_toml(fill_config(config))))
        if resume:
            _write_metrics(out, history)  # a kill may have left them ahead of the checkpoint
        else:  # a consistent checkpoint exists from the start, so Ctrl-C always leaves one
            (out / BEST).unlink(missing_ok=True)
            for stale in ("metrics.json", "metrics.csv"):
                (out / stale).unlink(missing_ok=True)
            save_atomic(_checkpoint_state(exp, 0, history, saved_config), checkpoint)
    loss_fn = _task_loss(exp)
    meter = _RateMeter(exp.model)
    network = ranks.wrap(exp.model)
    show = (config.train.progress if progress is None else progress) and ranks.main
    name = label if label is not None else out.name
    bar = _Progress(name, config.train.epochs, start, show)
    board = _board(out, config.train.tensorboard and ranks.main)
    params = [p for p in exp.model.parameters() if p.requires_grad]
    clip = config.train.clip_grad_norm
    patience = config.train.early_stopping
    stopped_early = _stop_early(history, patience)
    epoch = start
    try:
        for epoch in range(start + 1, config.train.epochs + 1):
            if stopped_early:
                break
            alpha = exp.sign_annealing.step(exp.model, epoch) if exp.sign_annealing else None
            for scheduler in exp.schedulers:
                scheduler.step(epoch - 1)
            exp.model.train()
            total_loss, total_acc, n = 0.0, 0.0, 0
            for batch, (x, y) in enumerate(exp.train_loader(epoch)):
                x, y, share = ranks.shard(x, y)
                x, y = x.to(device), y.to(device)
                prepare_net(exp.model, _batch_generator(config.seed, epoch, batch))
                with _autocast(exp, device):
                    output = network(x)
                if config.train.bf16:  # the loss in full precision
                    output = output.float()
                loss = share * loss_fn(output, y) + _hardware_loss(exp)
                exp.optimizer.zero_grad()
                loss.backward()
                norm = _grad_norm(params, clip)
                _guard(ranks, checkpoint, epoch, batch, x, loss, norm)
                exp.optimizer.step()
                total_loss += float(loss.detach()) * len(y) / share
                total_acc += _accuracy(exp, output.detach(), y) * len(y)
                n += len(y)
            total_loss, total_acc, n, spikes, slots = ranks.total(
                total_loss, total_acc, n, meter.spikes, meter.count)
            rate = spikes / slots if slots else 0.0
            meter.take()
            test_loss, test_acc = evaluate(exp)
            meter.take()
            if exp.lr_scheduler is not None:
                if isinstance(exp.lr_scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    exp.lr_scheduler.step(test_loss if math.isfinite(test_loss) else total_loss / n)
                else:
                    exp.lr_scheduler.step()
            row = {"epoch": epoch, "loss": total_loss / n, "accuracy": total_acc / n,
                   "test_loss": test_loss, "test_accuracy": test_acc, "firing_rate": rate,
                   "lr": exp.optimizer.param_groups[0]["lr"]}
            surrogate = _surrogate_value(exp)
            if surrogate is not None:
                row["surrogate"] = surrogate
            if alpha is not None:
                row["alpha"] = alpha
            history.append(row)
            if ranks.main:
                _write_metrics(out, history)  # first: a kill leaves metrics >= the checkpoint
                if _best_epoch(history) == epoch:
                    save_atomic({"version": CHECKPOINT_VERSION, "epoch": epoch,
                                 "model": exp.model.state_dict(), "metrics": row,
                                 "config": saved_config}, out / BEST)
                save_atomic(_checkpoint_state(exp, epoch, history, saved_config), checkpoint)
                if board is not None:
                    for key, value in row.items():
                        if key != "epoch":
                            board.add_scalar(key, value, epoch)
                    board.flush()
            bar.update(row)
            if on_epoch is not None:
                on_epoch(epoch)
            stopped_early = _stop_early(history, patience)
    except KeyboardInterrupt:
        bar.close()
        meter.close()
        if board is not None:
            board.close()
        # the checkpoint of the last finished epoch is on disk; the interrupted epoch's partial
        # updates are not saved, so resuming repeats it exactly
        finished = history[-1]["epoch"] if history else start
        raise Interrupted(checkpoint, int(finished)) from None
    except BaseException:
        bar.close()
        meter.close()
        if board is not None:
            board.close()
        raise
    bar.close()
    meter.close()
    if board is not None:
        board.close()
    if stopped_early:
        bar.note(f"stopped early after epoch {history[-1]['epoch']}: no better epoch than "
                 f"{_best_epoch(history)} in {patience}")
    if exp.sign_annealing is not None:  # on every rank: the models stay identical
        exp.sign_annealing.harden()
    if not ranks.main:
        return TrainResult(out, history, math.nan)
    exp.model.to("cpu")  # the end-of-run report (chip validation, hardening, export) on the CPU
    result = _finish(exp, out, history)
    if stopped_early:
        summary = json.loads((out / "results.json").read_text())
        summary["stopped_early_after_epoch"] = history[-1]["epoch"]
        (out / "results.json").write_text(json.dumps(summary, indent=1))
    return result


def _stop_early(history: list[dict[str, float]], patience: int | None) -> bool:
    """True when the last ``patience`` epochs brought nothing better than an earlier one."""
    if patience is None or not history:
        return False
    best = _best_epoch(history)
    return best is not None and int(history[-1]["epoch"]) - best >= patience


def _grad_norm(params: list[nn.Parameter], clip: float | None) -> Tensor:
    """The gradients' total 2-norm (before clipping to ``clip`` when given)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return torch.zeros(())
    if clip is not None:
        return torch.nn.utils.clip_grad_norm_(params, clip)
    return torch.nn.utils.get_total_norm(grads)


def _guard(ranks: _Distributed, checkpoint: Path, epoch: int, batch: int, x: Tensor,
           loss: Tensor, norm: Tensor) -> None:
    """Stop before an optimizer step that would write NaN/inf into the weights."""
    bad_input = not bool(torch.isfinite(x).all())
    bad_loss = not bool(torch.isfinite(loss.detach()))
    bad_grad = not bool(torch.isfinite(norm))
    flags = [float(bad_input), float(bad_loss), float(bad_grad)]
    if ranks.world > 1:
        flags = ranks.total(*flags)
    if not any(flags):
        return
    where = f"epoch {epoch}, batch {batch}"
    kept = (f"the weights were not updated with it; the checkpoint of epoch {epoch - 1} is kept "
            f"at {checkpoint} (and best.pt, the best epoch so far)")
    if flags[0]:
        raise Diverged(f"training stopped at {where}: the input has NaN or inf values; {kept}. "
                       f"Clean the data (the dataset's samples must be finite)")
    what = "the loss" if flags[1] else "the gradient"
    raise Diverged(f"training stopped at {where}: {what} is not finite; {kept}. Lower the "
                   f"learning rate (optimizer.lr) or clip the gradients (train.clip_grad_norm)")


class _Progress:
    """Progress of one run: a tqdm bar on a terminal, else one line per epoch on stderr."""

    def __init__(self, label: str, total: int, initial: int, enabled: bool) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.bar = None
        if enabled and _is_tty(sys.stderr):
            self.bar = _progress(total, initial, True)
            if self.bar is not None:
                self.bar.set_description(label)

    def update(self, row: dict[str, float]) -> None:
        if not self.enabled:
            return
        numbers = {k: f"{v:.3g}" for k, v in row.items() if k != "epoch"}
        if self.bar is not None:
            self.bar.set_postfix(numbers)
            self.bar.update(1)
        else:
            text = " ".join(f"{k}={v}" for k, v in numbers.items())
            _say(f"{self.label}: epoch {int(row['epoch'])}/{self.total} {text}")

    def note(self, text: str) -> None:
        if self.enabled:
            _say(f"{self.label}: {text}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _say(text: str) -> None:
    try:
        print(text, file=sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):  # stderr went away: keep training quietly
        pass


def _board(out: Path, enabled: bool) -> Any:
    """A TensorBoard ``SummaryWriter`` in ``out/tensorboard``, when asked for and installed."""
    if not enabled:
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        warnings.warn("train.tensorboard is set, but TensorBoard logging needs the tensorboard "
                      "package: pip install tensorboard; training goes on without it",
                      ConfigWarning, stacklevel=3)
        return None
    return SummaryWriter(log_dir=str(out / "tensorboard"))


def _finish(exp: Experiment, out: Path, history: list[dict[str, float]]) -> TrainResult:
    _, float_acc = evaluate(exp)
    result = TrainResult(out, history, float_acc)
    summary: dict[str, Any] = {"float_test_accuracy": float_acc, "metric": metric_name(exp)}
    if exp.chip is not None:
        result.report = exp.chip.validate(exp.model)
        (out / "validation.txt").write_text(result.report.table() + "\n")
        summary["float_model_valid"] = result.report.ok
        summary.update(chip_fidelity(exp))
        result.hardened_accuracy = summary.get("hardened_test_accuracy")
        if "hardening" not in summary:
            hardened = exp.chip.harden(exp.model)
            result.export_path = exp.chip.export(hardened, out / f"model.{exp.chip.name}.json")
            summary["export"] = result.export_path.name
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    if history:
        _plot_curves(out / "curves.png", history)
    return result


def metric_name(exp: Experiment) -> str:
    """What the run's ``accuracy`` numbers hold: ``"accuracy"`` (strict) or, for a regression
    read-out such as ``rate_mse``, ``"rate_correlation"``."""
    return "rate_correlation" if exp.config.train.loss in REGRESSION_READOUTS else "accuracy"


def chip_fidelity(exp: Experiment) -> dict[str, Any]:
    """The fidelity report of the experiment's model on its chip, on the test set with the
    run's own read-out
    ([`nwave_core.fidelity.fidelity_report`][nwave_core.fidelity.fidelity_report]): the
    ``*_test_accuracy`` keys of ``results.json``, or ``{"hardening": why}`` when hardening fails."""
    from .fidelity import fidelity_report
    from .rules import ChipValidationError

    draws = exp.config.train.mismatch_draws
    try:
        report = fidelity_report(exp.model, chip=exp.chip, draws=max(draws, 1),
                                 seed=exp.config.seed, evaluator=lambda m: evaluate(exp, m)[1])
    except ChipValidationError as exc:
        return {"hardening": str(exc)}
    found = report.to_dict()
    del found["chip"], found["valid"]
    if draws == 0:
        for key in ("mismatch_test_accuracy_mean", "mismatch_test_accuracy_std"):
            del found[key]
        found["mismatch_draws"] = 0
    return found


def _plot_curves(path: Path, history: list[dict[str, float]]) -> None:
    try:
        from .plots import require_matplotlib

        plt = require_matplotlib()
    except Exception:  # noqa: BLE001 - plots are optional
        return
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    ax_loss.plot(epochs, [r["loss"] for r in history], label="train")
    ax_loss.plot(epochs, [r["test_loss"] for r in history], label="test")
    ax_acc.plot(epochs, [r["accuracy"] for r in history], label="train")
    ax_acc.plot(epochs, [r["test_accuracy"] for r in history], label="test")
    ax_loss.set(title="loss", xlabel="epoch")
    ax_acc.set(title="accuracy", xlabel="epoch", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)
