"""How much accuracy a model keeps on its chip: float, QAT, hardened, exported-and-reloaded,
and under mismatch draws, in one report.

[`fidelity_report`][nwave_core.fidelity.fidelity_report] evaluates one trained model five ways,
without building twin models:

* ``float``: the trained weights as floats (QAT projections off), no mismatch;
* ``qat``: as trained (the chip modules' QAT projections on), no mismatch;
* ``hardened``: ``chip.harden(model)``, no mismatch;
* ``exported``: the hardened model written by ``chip.export`` and read back by
  ``load_export`` (the deployment gate), no mismatch;
* ``mismatch``: the hardened model under ``draws`` samples of every variation the chip declares
  ([`set_mismatch`][nwave_core.hardware.set_mismatch] ``"chip"``), mean and standard deviation.

Accuracies are strict ([`nwave_core.metrics.accuracy`][nwave_core.metrics.accuracy] unless ``score``
is given).
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .neurons import prepare_net

__all__ = ["FidelityReport", "fidelity_report", "evaluate", "qat_off"]


@attrs.frozen
class FidelityReport:
    """Accuracy of one model on its chip, five ways (see the module doc)."""

    chip: str
    float_accuracy: float
    qat_accuracy: float
    hardened_accuracy: float
    exported_accuracy: float
    mismatch_accuracy_mean: float
    mismatch_accuracy_std: float
    mismatch_draws: int
    valid: bool = attrs.field(metadata={"doc": "the hardened model passes chip.validate"})

    def to_dict(self) -> dict[str, Any]:
        """The ``results.json`` keys (``*_test_accuracy``)."""
        return {"chip": self.chip, "valid": self.valid,
                "float_test_accuracy": self.float_accuracy,
                "qat_test_accuracy": self.qat_accuracy,
                "hardened_test_accuracy": self.hardened_accuracy,
                "exported_test_accuracy": self.exported_accuracy,
                "mismatch_test_accuracy_mean": self.mismatch_accuracy_mean,
                "mismatch_test_accuracy_std": self.mismatch_accuracy_std,
                "mismatch_draws": self.mismatch_draws}

    def table(self) -> str:
        """A readable table, one row per way of running the model."""
        rows = [("float", f"{self.float_accuracy:.4f}"), ("QAT", f"{self.qat_accuracy:.4f}"),
                ("hardened", f"{self.hardened_accuracy:.4f}"),
                ("exported and reloaded", f"{self.exported_accuracy:.4f}"),
                (f"mismatch ({self.mismatch_draws} draws)",
                 f"{self.mismatch_accuracy_mean:.4f} +- {self.mismatch_accuracy_std:.4f}")]
        width = max(len(r[0]) for r in rows)
        lines = [f"fidelity on chip {self.chip!r} (strict test accuracy):"]
        lines += [f"  {name.ljust(width)}  {value}" for name, value in rows]
        return "\n".join(lines)


@contextlib.contextmanager
def qat_off(model: nn.Module) -> Iterator[nn.Module]:
    """Within the block, the chip modules run on their float weights (QAT projections off)."""
    saved = [(m, m.qat) for m in model.modules() if isinstance(getattr(m, "qat", None), bool)]
    try:
        for module, _ in saved:
            module.qat = False
        yield model
    finally:
        for module, value in saved:
            module.qat = value


@contextlib.contextmanager
def _mismatch(model: nn.Module, mode: str) -> Iterator[None]:
    from .hardware import set_mismatch

    previous = set_mismatch(model, mode)
    try:
        yield
    finally:
        set_mismatch(model, previous)


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, *, score: Callable[[Tensor, Tensor], float]
             | None = None, batch_size: int = 256, generator: torch.Generator | None = None
             ) -> float:
    """``score`` (default: strict accuracy) of ``model`` on ``x``, ``y``, batch by batch, with
    ``prepare_net`` before each batch (drawing mismatch from ``generator``)."""
    from .metrics import accuracy

    score = score or accuracy
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            prepare_net(model, generator)
            total += score(model(xb), yb) * len(yb)
            count += len(yb)
    finally:
        model.train(was_training)
    return total / max(count, 1)


def fidelity_report(model: nn.Module, x: Tensor | None = None, y: Tensor | None = None,
                    chip: Any = None, *, draws: int = 5, seed: int = 0,
                    score: Callable[[Tensor, Tensor], float] | None = None,
                    batch_size: int = 256,
                    evaluator: Callable[[nn.Module], float] | None = None) -> FidelityReport:
    """Evaluate ``model`` five ways (see the module doc).

    Args:
        model: the trained model (SignAnnealing folded or not: hardening folds a copy).
        x: test inputs ``[B, T, C]`` (unless ``evaluator`` is given).
        y: their targets (unless ``evaluator`` is given).
        chip: the chip (a spec or name); None: the chip of the model's hardware layers.
        draws: mismatch samples (chips) to evaluate the hardened model on.
        seed: seed of the mismatch draws.
        score: ``score(outputs, targets) -> float``; default strict accuracy.
        batch_size: evaluation batch size.
        evaluator: ``evaluator(model) -> accuracy`` instead of ``x``, ``y`` and ``score`` (the
            training runner passes its own test loop and read-out). It must call
            ``prepare_net`` before each batch and not change the model.

    Raises:
        ChipValidationError: hardening cannot make the model valid.
        ValueError: neither ``evaluator`` nor ``x`` and ``y``; ``draws`` < 1.
    """
    from .export import load_export
    from .rules import chip_of

    spec = chip_of(model, chip, "fidelity_report")
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"fidelity_report: draws must be an integer >= 1, got {draws!r}")
    if evaluator is None:
        if x is None or y is None:
            raise ValueError("fidelity_report: pass the test data (x, y) or an evaluator")

        def evaluator(candidate: nn.Module) -> float:
            return evaluate(candidate, x, y, score=score, batch_size=batch_size)

    with _mismatch(model, "nominal"):
        qat = evaluator(model)
        with qat_off(model):
            float_accuracy = evaluator(model)
    hardened = spec.harden(model)
    valid = spec.validate(hardened).ok
    with _mismatch(hardened, "nominal"):
        hardened_accuracy = evaluator(hardened)
    with tempfile.TemporaryDirectory() as folder:
        loaded, _ = load_export(spec.export(hardened, Path(folder) / "model.json"), chip=spec)
    exported = evaluator(loaded.to(_device(hardened)))
    generator = torch.Generator().manual_seed(seed)
    samples = []
    with _mismatch(hardened, "chip"):
        for _ in range(draws):
            _freeze(hardened, False)
            prepare_net(hardened, generator)
            _freeze(hardened, True)  # one chip for the whole test set
            samples.append(evaluator(hardened))
        _freeze(hardened, False)
    mean = sum(samples) / draws
    std = math.sqrt(sum((s - mean) ** 2 for s in samples) / (draws - 1)) if draws > 1 else 0.0
    return FidelityReport(spec.name, float_accuracy, qat, hardened_accuracy, exported, mean, std,
                          draws, valid)


def _freeze(model: nn.Module, frozen: bool) -> None:
    for module in model.modules():
        if callable(getattr(module, "freeze_mismatch", None)):
            module.freeze_mismatch(frozen)


def _device(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")
