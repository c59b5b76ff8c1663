"""A finished (or stopped) run's folder, read back: ``nwave evaluate RUN`` and ``nwave plot run``.

A run folder holds what [`nwave_core.runner.train`][nwave_core.runner.train] wrote: ``config.toml``
(every default
filled in, so it rebuilds the identical model and data), ``checkpoint.pt`` (the last epoch),
``best.pt`` (the best epoch) and ``metrics.json``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import NwaveError

__all__ = ["load_run", "evaluate_run", "plot_run"]


def load_run(run: str | Path, which: str = "last", overrides: Sequence[str] = ()) -> Any:
    """The run's experiment rebuilt from its ``config.toml``, with the weights of its last
    (``which="last"``) or best (``"best"``) epoch, SignAnnealing folded in as at the end of
    training. Returns ``(experiment, epoch)``.

    Args:
        run: the run's output folder.
        which: ``"last"`` (``checkpoint.pt``) or ``"best"`` (``best.pt``).
        overrides: ``key.path=value`` changes to the run's config, e.g. other data
            (``data.seed=7``); the model must stay the same.

    Raises:
        NwaveError: no such run, a missing or unreadable checkpoint, or weights that do not fit.
    """
    import torch

    from .config import load_config
    from .experiment import build
    from .runner import BEST, CHECKPOINT, CheckpointError, load_checkpoint

    run = Path(run)
    config_path = run / "config.toml"
    if not config_path.is_file():
        raise NwaveError(f"{run} is not a run folder: no config.toml (give the --out folder of "
                         f"nwave train)")
    if which not in ("last", "best"):
        raise NwaveError(f"which checkpoint: 'last' or 'best', got {which!r}")
    experiment = build(load_config(config_path, overrides))
    path = run / (CHECKPOINT if which == "last" else BEST)
    if which == "last":
        state = load_checkpoint(path, "evaluate")
    else:
        if not path.is_file():
            raise CheckpointError(f"nothing to evaluate: no {path} (the run has not finished "
                                  f"an epoch yet)")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise CheckpointError(f"cannot evaluate: {path} is not a readable checkpoint "
                                  f"({type(exc).__name__})") from None
    try:
        experiment.model.load_state_dict(state["model"])
    except Exception as exc:  # noqa: BLE001 - shapes, keys
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"cannot evaluate: {path} does not fit the model of {config_path} "
                              f"({first})") from None
    if experiment.sign_annealing is not None:
        experiment.sign_annealing.harden()  # as train() does at the end
    return experiment, int(state["epoch"])


def evaluate_run(run: str | Path, which: str = "last",
                 overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Test loss and accuracy of a run's model; with a chip, its fidelity report too.

    Returns:
        ``{"epoch", "checkpoint", "test_samples", "metric", "float_test_loss",
        "float_test_accuracy"}`` (``metric``: what the ``*_accuracy`` numbers hold, ``"accuracy"``
        or ``"rate_correlation"``) and, with a chip, ``"float_model_valid"`` and the fidelity report's keys
        (``qat_test_accuracy``, ``hardened_test_accuracy``, ``exported_test_accuracy``,
        ``mismatch_test_accuracy_mean`` / ``_std``, ``mismatch_draws``), or ``"hardening"``:
        why hardening failed.
    """
    from .runner import chip_fidelity, evaluate, metric_name

    experiment, epoch = load_run(run, which, overrides)
    loss, accuracy = evaluate(experiment)
    report: dict[str, Any] = {"epoch": epoch, "checkpoint": which,
                              "test_samples": len(experiment.test_data),
                              "metric": metric_name(experiment), "float_test_loss": loss, "float_test_accuracy": accuracy}
    if experiment.chip is not None:
        report["float_model_valid"] = experiment.chip.validate(experiment.model).ok
        report.update(chip_fidelity(experiment))
    return report


def plot_run(run: str | Path, output: str | Path, which: str = "last", sample: int = 0) -> Path:
    """One figure of a run: loss and accuracy curves, and for one test sample the spike raster
    of every neuron layer and the membrane traces of the last one.

    Raises:
        NwaveError: no run, no metrics yet, a sample index outside the test set, or no
            matplotlib.
    """
    import torch

    from .neurons import NeuronLayerBase, prepare_net
    from .plots import require_matplotlib

    plt = require_matplotlib()
    run = Path(run)
    metrics = run / "metrics.json"
    if not metrics.is_file():
        raise NwaveError(f"no {metrics}: the run has not finished an epoch yet")
    history = json.loads(metrics.read_text())
    experiment, epoch = load_run(run, which)
    if not 0 <= sample < len(experiment.test_data):
        raise NwaveError(f"sample {sample} is outside the test set (0..{len(experiment.test_data) - 1})")
    x, y = experiment.test_data[sample]
    layers = [m for m in experiment.model.modules() if isinstance(m, NeuronLayerBase)]
    spikes: dict[int, Any] = {}
    hooks = [layer.register_forward_hook(
        lambda module, args, out, i=i: spikes.__setitem__(i, out[0] if isinstance(out, tuple) else out))
        for i, layer in enumerate(layers)]
    model = experiment.model.eval()
    try:
        with torch.no_grad():
            prepare_net(model, torch.Generator().manual_seed(experiment.config.seed))
            model(x.unsqueeze(0))
    finally:
        for hook in hooks:
            hook.remove()
    rows = 1 + len(layers) + (1 if layers else 0)
    fig = plt.figure(figsize=(10, 2.6 * rows), constrained_layout=True)
    grid = fig.add_gridspec(rows, 2)
    epochs = [r["epoch"] for r in history]
    ax_loss, ax_acc = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax_loss.plot(epochs, [r["loss"] for r in history], label="train")
    ax_loss.plot(epochs, [r["test_loss"] for r in history], label="test")
    ax_loss.set(title="loss", xlabel="epoch")
    ax_acc.plot(epochs, [r["accuracy"] for r in history], label="train")
    ax_acc.plot(epochs, [r["test_accuracy"] for r in history], label="test")
    ax_acc.set(title="accuracy", xlabel="epoch", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    for i, layer in enumerate(layers):
        ax = fig.add_subplot(grid[1 + i, :])
        train = spikes[i][0]  # [T, N]
        times, neurons = _raster(train)
        ax.scatter(times, neurons, s=12, marker="|", color="black")
        ax.set(title=f"spikes of layer {i + 1} ({type(layer).__name__}), test sample {sample}, "
                     f"label {int(y)}", xlabel="time step", ylabel="neuron",
               xlim=(-0.5, train.shape[0] - 0.5), ylim=(-0.5, train.shape[1] - 0.5))
    if layers:
        ax = fig.add_subplot(grid[rows - 1, :])
        mem = layers[-1].mem[0].float().numpy()  # [T, N]
        for n in range(min(mem.shape[1], 8)):
            ax.plot(mem[:, n], lw=1, label=f"neuron {n}")
        ax.set(title=f"membrane potential of layer {len(layers)} ({type(layers[-1]).__name__})",
               xlabel="time step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=4)
    fig.suptitle(f"{run.name}: epoch {epoch} ({which} checkpoint)")
    output = Path(output)
    fig.savefig(output, dpi=110)
    plt.close(fig)
    return output


def _raster(spikes: Any) -> tuple[list[int], list[int]]:
    """(time steps, neuron indices) of the ones in a ``[T, N]`` spike train."""
    found = spikes.nonzero().tolist()
    return [t for t, _ in found], [n for _, n in found]
