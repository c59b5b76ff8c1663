"""The training runner behind ``nwave train``: epochs, metrics, checkpoints, resume, the end
of run report (chip validation, hardened vs float accuracy, export, plots).

Reproducibility: the model is initialized from ``config.seed``; each epoch's batch order and
each batch's mismatch sample come from generators seeded by (seed, epoch, batch), so a run
resumed from a checkpoint computes exactly the losses of an uninterrupted one.

Several processes: under ``torchrun`` (``WORLD_SIZE > 1`` in the environment) the runner starts
the process group itself (gloo; the runner trains on the CPU) unless the caller already did,
wraps the model in ``DistributedDataParallel``, and gives each rank a share of every global batch
(``data.batch_size`` is the global batch) with its loss weighted by that share, so the updates
equal a single-process run's. Every
rank steps SignAnnealing and the schedulers identically; only rank 0 writes files.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .config import config_to_dict, dump_toml, fill_config
from .experiment import Experiment
from .losses import readout_loss, readout_scores, topology_loss, weight_magnitude_loss
from .metrics import decisions
from .neurons import NeuronLayerBase, prepare_net

__all__ = ["TrainResult", "train", "CHECKPOINT", "Interrupted", "save_atomic"]

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_VERSION = 1


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
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    """Strict accuracy of the configured read-out: ties and silent outputs are wrong."""
    train, model = exp.config.train, model if model is not None else exp.model
    scores = readout_scores(train.loss, out, _output_membrane(model), train.num_classes)
    return decisions(scores, y, silent_if_zero=not train.loss.startswith("membrane")).accuracy


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


def evaluate(exp: Experiment, model: nn.Module | None = None) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``model`` (default: the experiment's) on the test set."""
    model = model if model is not None else exp.model
    loss_fn = _task_loss(exp, model)
    total_loss, total_acc, n = 0.0, 0.0, 0
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for batch, (x, y) in enumerate(exp.test_loader()):
            prepare_net(model, _batch_generator(exp.config.seed, 0, batch))
            out = model(x)
            total_loss += float(loss_fn(out, y)) * len(y)
            total_acc += _accuracy(exp, out, y, model) * len(y)
            n += len(y)
    model.train(was_training)
    return (total_loss / n, total_acc / n) if n else (math.nan, math.nan)


def _surrogate_value(exp: Experiment) -> float | None:
    for scheduler in exp.schedulers:
        if getattr(scheduler, "param_name", None) and scheduler.last_value is not None:
            return scheduler.last_value
    for module in exp.model.modules():
        surrogate = getattr(module, "spike_grad", None)
        if surrogate is not None and hasattr(surrogate, "param_value"):
            return surrogate.param_value
    return None


def _checkpoint_state(exp: Experiment, epoch: int, history: list[dict[str, float]]) -> dict[str, Any]:
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
        "config": config_to_dict(exp.config),
    }


def _restore(exp: Experiment, state: dict[str, Any]) -> tuple[int, list[dict[str, float]]]:
    exp.model.load_state_dict(state["model"])
    exp.optimizer.load_state_dict(state["optimizer"])
    if exp.lr_scheduler is not None and state["lr_scheduler"] is not None:
        exp.lr_scheduler.load_state_dict(state["lr_scheduler"])
    for scheduler, saved in zip(exp.schedulers, state["schedulers"]):
        scheduler.load_state_dict(saved)
    if exp.sign_annealing is not None and state["sign_annealing"] is not None:
        exp.sign_annealing.load_state_dict(state["sign_annealing"])
    torch.set_rng_state(state["torch_rng"])
    return int(state["epoch"]), list(state["history"])


def _write_metrics(out: Path, history: list[dict[str, float]]) -> None:
    (out / "metrics.json").write_text(json.dumps(history, indent=1))
    with open(out / "metrics.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)


def _progress(total: int, initial: int, enabled: bool) -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, initial=initial, unit="epoch", disable=not enabled, dynamic_ncols=True)


class _Distributed:
    """This process's place in a distributed run (world 1 when there is none)."""

    def __init__(self) -> None:
        import torch.distributed as dist

        self.dist = dist
        if not dist.is_available():
            self.world, self.rank = 1, 0
            return
        if not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
            dist.init_process_group("gloo")  # the runner trains on the CPU
        self.world = dist.get_world_size() if dist.is_initialized() else 1
        self.rank = dist.get_rank() if dist.is_initialized() else 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        if self.world == 1:
            return model
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
        tensor = torch.tensor(values, dtype=torch.float64)
        self.dist.all_reduce(tensor)
        return tensor.tolist()


def train(exp: Experiment, out: str | Path | None = None, *, resume: bool = False,
          progress: bool | None = None, on_epoch: Callable[[int], None] | None = None) -> TrainResult:
    """Train ``exp`` and write its outputs to ``out`` (default: the config's ``out``).

    Writes ``config.toml`` (every default filled in), ``checkpoint.pt`` after every epoch
    (atomically), ``metrics.csv`` / ``metrics.json``, and at the end ``results.json``, the chip's
    validation report, the export file and ``curves.png`` (with matplotlib).

    Args:
        exp: the built experiment.
        out: output folder.
        resume: continue from ``out/checkpoint.pt``.
        progress: show a progress bar (default: the config's ``train.progress``).
        on_epoch: called with the epoch number after each epoch (tests use it to interrupt).

    Raises:
        Interrupted: Ctrl-C; the last finished epoch's checkpoint is saved.
    """
    config = exp.config
    ranks = _Distributed()
    out = Path(out if out is not None else config.out)
    checkpoint = out / CHECKPOINT
    if ranks.main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(dump_toml(fill_config(config)))
    start, history = 0, []
    if resume:
        if not checkpoint.is_file():
            raise FileNotFoundError(f"nothing to resume: no {checkpoint}")
        start, history = _restore(exp, torch.load(checkpoint, weights_only=True))
    elif ranks.main:  # a consistent checkpoint exists from the start, so Ctrl-C always leaves one
        save_atomic(_checkpoint_state(exp, 0, history), checkpoint)
    loss_fn = _task_loss(exp)
    meter = _RateMeter(exp.model)
    network = ranks.wrap(exp.model)
    show = (config.train.progress if progress is None else progress) and ranks.main
    bar = _progress(config.train.epochs, start, show)
    epoch = start
    try:
        for epoch in range(start + 1, config.train.epochs + 1):
            alpha = exp.sign_annealing.step(exp.model, epoch) if exp.sign_annealing else None
            for scheduler in exp.schedulers:
                scheduler.step(epoch - 1)
            exp.model.train()
            total_loss, total_acc, n = 0.0, 0.0, 0
            for batch, (x, y) in enumerate(exp.train_loader(epoch)):
                x, y, share = ranks.shard(x, y)
                prepare_net(exp.model, _batch_generator(config.seed, epoch, batch))
                output = network(x)
                loss = share * loss_fn(output, y) + _hardware_loss(exp)
                exp.optimizer.zero_grad()
                loss.backward()
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
                save_atomic(_checkpoint_state(exp, epoch, history), checkpoint)
                _write_metrics(out, history)
            if bar is not None:
                bar.set_postfix({k: f"{v:.3g}" for k, v in row.items() if k != "epoch"})
                bar.update(1)
            if on_epoch is not None:
                on_epoch(epoch)
    except KeyboardInterrupt:
        if bar is not None:
            bar.close()
        meter.close()
        # the checkpoint of the last finished epoch is on disk; the interrupted epoch's partial
        # updates are not saved, so resuming repeats it exactly
        finished = history[-1]["epoch"] if history else start
        raise Interrupted(checkpoint, int(finished)) from None
    if bar is not None:
        bar.close()
    meter.close()
    if exp.sign_annealing is not None:  # on every rank: the models stay identical
        exp.sign_annealing.harden()
    if not ranks.main:
        return TrainResult(out, history, math.nan)
    return _finish(exp, out, history)


def _finish(exp: Experiment, out: Path, history: list[dict[str, float]]) -> TrainResult:
    from .rules import ChipValidationError

    _, float_acc = evaluate(exp)
    result = TrainResult(out, history, float_acc)
    summary: dict[str, Any] = {"float_test_accuracy": float_acc}
    if exp.chip is not None:
        result.report = exp.chip.validate(exp.model)
        (out / "validation.txt").write_text(result.report.table() + "\n")
        summary["float_model_valid"] = result.report.ok
        try:
            hardened = exp.chip.harden(exp.model)
        except ChipValidationError as exc:
            summary["hardening"] = str(exc)
        else:
            _, result.hardened_accuracy = evaluate(exp, hardened)
            summary["hardened_test_accuracy"] = result.hardened_accuracy
            result.export_path = exp.chip.export(hardened, out / f"model.{exp.chip.name}.json")
            summary["export"] = result.export_path.name
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    if history:
        _plot_curves(out / "curves.png", history)
    return result


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
