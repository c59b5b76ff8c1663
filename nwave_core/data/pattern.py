"""A regression task: reproduce a target spike-rate pattern over time (the original SDK's
pattern tutorial trains a recurrent H1v2 network on such a task).

[`rate_pattern`][nwave_core.data.pattern.rate_pattern] makes noisy input spike trains whose rates
follow fixed smooth curves, and
a target: a fixed smooth rate curve for each output neuron, in time windows. The ``rate_mse``
read-out ([`readout_loss`][nwave_core.losses.readout_loss]) trains the output rates towards it and
[`rate_correlation`][nwave_core.metrics.rate_correlation] scores how well they follow it.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .base import DataError, _check_count
from .split import DataSplits

__all__ = ["rate_pattern", "smooth_curves"]


def smooth_curves(rng: np.random.Generator, n_curves: int, n_steps: int, bin_s: float,
                  low: float, high: float, components: int = 3,
                  max_hz: float = 3.0) -> np.ndarray:
    """``[n_steps, n_curves]`` smooth random curves spanning ``[low, high]``.

    Each curve is a sum of ``components`` sinusoids of random frequency (uniform in
    ``[max_hz / 4, max_hz]`` Hz), phase (uniform) and amplitude (uniform in ``[0.5, 1]``),
    sampled every ``bin_s`` seconds, then scaled linearly so that its minimum is ``low`` and its
    maximum ``high``.
    """
    t = np.arange(n_steps)[:, None, None] * bin_s
    freq = rng.uniform(0.25, 1.0, size=(1, n_curves, components)) * max_hz
    phase = rng.uniform(0, 2 * np.pi, size=(1, n_curves, components))
    amplitude = rng.uniform(0.5, 1.0, size=(1, n_curves, components))
    raw = (amplitude * np.sin(2 * np.pi * freq * t + phase)).sum(-1)
    span = raw.max(0, keepdims=True) - raw.min(0, keepdims=True)
    unit = (raw - raw.min(0, keepdims=True)) / np.where(span > 0, span, 1.0)
    return low + (high - low) * unit


def _rate_range(name: str, value: object) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise DataError(f"{name} must be [low, high] spike probabilities per step, got "
                        f"{value!r}") from None
    if not 0 <= low < high <= 1:
        raise DataError(f"{name} must be [low, high] with 0 <= low < high <= 1, got {value!r}")
    return low, high


def rate_pattern(
    n_train: int = 64,
    n_test: int = 16,
    n_channels: int = 16,
    n_outputs: int = 10,
    duration: float = 1.0,
    bin_s: float = 0.01,
    window: int = 5,
    input_rate: tuple[float, float] = (0.05, 0.5),
    target_rate: tuple[float, float] = (0.0, 0.4),
    components: int = 3,
    max_hz: float = 3.0,
    seed: int = 0,
) -> DataSplits:
    """Input spike trains driven by fixed rate curves, and a target rate curve per output.

    One draw from ``seed`` fixes the ``n_channels`` input rate curves (in ``input_rate``) and
    the ``n_outputs`` target rate curves (in ``target_rate``), both
    [`smooth_curves`][nwave_core.data.pattern.smooth_curves]: the
    pattern. Every sample then draws ``x[t, ch] ~ Bernoulli(input_curve[t, ch])``
    independently; its target ``y`` is the target curves averaged over windows of ``window``
    steps, the same for every sample. The test samples are new draws of the same input rates:
    the network must reproduce the pattern from inputs it has not seen.

    Args:
        n_train: training samples.
        n_test: test samples.
        n_channels: input channels (the chip's frontend width, 16 on H1).
        n_outputs: output neurons with a target curve each.
        duration: seconds per sample.
        bin_s: seconds per time step (layers step at this width unless their ``dt`` is set).
        window: time steps per target value; the rates compared are spike counts over windows
            divided by ``window``. ``duration / bin_s`` must be a multiple of it.
        input_rate: ``[low, high]`` spike probability per step of the input curves.
        target_rate: ``[low, high]`` spike probability per step of the target curves.
        components: sinusoids per curve.
        max_hz: highest frequency of a curve's sinusoids, Hz.
        seed: seed of every random draw.

    Returns:
        [`DataSplits`][nwave_core.data.split.DataSplits] with ``train`` and ``test``
        ``TensorDataset(x, y)``: ``x`` float32
        ``[N, T, n_channels]`` of 0./1. spikes (``T = round(duration / bin_s)``), ``y`` float32
        ``[N, T / window, n_outputs]`` target rates (spikes per step). Each set carries
        ``input_rates`` ``[T, n_channels]`` and ``target_rates`` ``[T, n_outputs]`` (the curves
        before windowing); ``classes`` is None.

    Raises:
        DataError: a bad count, range or a window that does not divide the steps.
    """
    _check_count("n_train", n_train, 1)
    _check_count("n_test", n_test, 1)
    _check_count("n_channels", n_channels, 1)
    _check_count("n_outputs", n_outputs, 1)
    _check_count("window", window, 1)
    _check_count("components", components, 1)
    for name, value in (("duration", duration), ("bin_s", bin_s), ("max_hz", max_hz)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value > 0:
            raise DataError(f"{name} must be a number > 0, got {value!r}")
    steps = int(round(duration / bin_s))
    if steps < window or steps % window:
        raise DataError(f"window ({window} steps) must divide the {steps} steps of a sample "
                        f"(duration / bin_s = {duration} / {bin_s}); pick a divisor of {steps}")
    low_in, high_in = _rate_range("input_rate", input_rate)
    low_out, high_out = _rate_range("target_rate", target_rate)
    rng = np.random.default_rng(seed)
    inputs = smooth_curves(rng, n_channels, steps, bin_s, low_in, high_in, components, max_hz)
    targets = smooth_curves(rng, n_outputs, steps, bin_s, low_out, high_out, components, max_hz)
    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    probs = torch.from_numpy(inputs.astype(np.float32))
    target = torch.from_numpy(targets.astype(np.float32))
    windows = target.reshape(steps // window, window, n_outputs).mean(1)

    def part(n: int) -> TensorDataset:
        x = (torch.rand(n, steps, n_channels, generator=generator) < probs).to(torch.float32)
        dataset = TensorDataset(x, windows.expand(n, -1, -1).clone())
        dataset.classes = None
        dataset.input_rates = probs
        dataset.target_rates = target
        return dataset

    train = part(n_train)
    return DataSplits(train, part(n_test), None, None)
