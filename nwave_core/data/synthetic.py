"""Generated tasks that need no download: Poisson spike patterns and audio-like sounds."""

from __future__ import annotations

import numbers

import numpy as np
import torch
from torch.utils.data import TensorDataset

from .base import _CHUNK, DataError, _balanced_labels, _check_count
from .filterbank import _check_bank, _fast_len, filter_bank, num_bins

__all__ = ["AUDIO_CLASSES", "audio_like", "poisson_patterns"]

AUDIO_CLASSES: tuple[str, ...] = (
    "tone",
    "up_chirp",
    "down_chirp",
    "noise_burst",
    "am_tone",
    "click_train",
)
"""The sound kinds of [`audio_like`][nwave_core.data.synthetic.audio_like], in class-index
order; ``n_classes`` takes the first n."""


def poisson_patterns(
    n_samples: int = 256,
    n_channels: int = 100,
    n_steps: int = 100,
    n_classes: int = 2,
    rate: float = 0.05,
    seed: int = 0,
) -> TensorDataset:
    """Spike trains from one fixed random rate pattern per class (the surrogate tutorial's task).

    Each class ``c`` gets a pattern ``p_c[channel]``, drawn once from ``seed``: uniform random
    numbers rescaled so that the pattern's mean over channels is exactly ``rate`` (a probability
    of a spike per channel and time step), then clipped to ``[0, 1]`` (clipping can only happen
    for ``rate > 0.5``). Sample ``i`` of class ``y_i`` has
    ``x[i, t, ch] ~ Bernoulli(p_{y_i}[ch])``, independently over time steps and channels.
    Classes are balanced (counts differ by at most one) and come in shuffled order.

    Args:
        n_samples: number of samples ``N``.
        n_channels: input channels ``C``.
        n_steps: time steps ``T``.
        n_classes: number of classes (patterns), ``>= 1``.
        rate: mean spike probability per channel and step, in ``(0, 1]``.
        seed: seed of the local generators; the same seed gives identical tensors.

    Returns:
        ``TensorDataset(x, y)``: ``x`` float32 ``[N, T, C]`` of 0./1. spikes, ``y`` int64
        ``[N]``. Extra attributes: ``classes`` (``["pattern_0", ...]``) and ``patterns``
        (float32 ``[n_classes, C]``, the rate patterns).

    Raises:
        DataError: a non-positive count or a rate outside ``(0, 1]``.
    """
    _check_count("n_samples", n_samples, 0)
    _check_count("n_channels", n_channels, 1)
    _check_count("n_steps", n_steps, 1)
    _check_count("n_classes", n_classes, 1)
    if not 0 < rate <= 1:
        raise DataError(f"rate must be a spike probability in (0, 1], got {rate!r}")
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0.0, 1.0, size=(n_classes, n_channels)) + 1e-12
    patterns = np.clip(raw * (rate / raw.mean(axis=1, keepdims=True)), 0.0, 1.0)
    labels = _balanced_labels(n_samples, n_classes, rng)

    generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
    probs = torch.from_numpy(patterns.astype(np.float32))
    y = torch.from_numpy(labels)
    u = torch.rand(n_samples, n_steps, n_channels, generator=generator)
    x = (u < probs[y][:, None, :]).to(torch.float32)
    dataset = TensorDataset(x, y)
    dataset.classes = [f"pattern_{c}" for c in range(n_classes)]
    dataset.patterns = probs
    return dataset


def _ramp_envelope(t: np.ndarray, onset: np.ndarray, offset: np.ndarray,
                   ramp: float) -> np.ndarray:
    """``[n, S]`` envelopes: 0 outside ``[onset, offset)``, raised-cosine ramps of ``ramp`` s."""
    r = np.minimum(ramp, (offset - onset) / 4)[:, None]
    rise = np.clip((t - onset[:, None]) / r, 0.0, 1.0)
    fall = np.clip((offset[:, None] - t) / r, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall))


def _band_noise(rng: np.random.Generator, n: int, length: int, sample_rate: float,
                lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``[n, length]`` white noise restricted to ``[lo_i, hi_i]`` Hz, unit RMS."""
    spectrum = np.fft.rfft(rng.standard_normal((n, length)), axis=1)
    f = np.fft.rfftfreq(length, 1.0 / sample_rate)[None, :]
    spectrum *= (f >= lo[:, None]) & (f <= hi[:, None])
    noise = np.fft.irfft(spectrum, n=length, axis=1)
    return noise / np.maximum(noise.std(axis=1, keepdims=True), 1e-12)


def _synthesize(kind: str, p: dict[str, np.ndarray], rng: np.random.Generator, t: np.ndarray,
                sample_rate: float, fmin: float, fmax: float) -> np.ndarray:
    """The event of one sound kind for a group of samples (parameters ``p``): ``[n, S]``."""
    n = p["onset"].shape[0]
    onset, offset = p["onset"], p["offset"]
    tt = np.maximum(t[None, :] - onset[:, None], 0.0)  # time since onset
    lo, hi = 1.2 * fmin, fmax / 1.2  # keep events inside the bank's range
    if hi <= 1.05 * lo:  # a very narrow bank: use all of it
        lo, hi = fmin, fmax
    pitch = lo * (hi / lo) ** p["pitch"][:, None]  # log-uniform over [lo, hi]
    if kind in ("tone", "am_tone"):
        wave_ = np.sin(2 * np.pi * pitch * tt + p["phase"][:, None])
        if kind == "am_tone":
            depth = 0.8 + 0.2 * p["extra"][:, None]
            fm = 4.0 + 8.0 * p["extra2"][:, None]  # 4..12 Hz
            wave_ *= 1.0 - depth * (0.5 - 0.5 * np.cos(2 * np.pi * fm * tt))
        return wave_
    if kind in ("up_chirp", "down_chirp"):
        octaves = 1.5 + 1.5 * p["extra"][:, None]  # sweep of 1.5..3 octaves
        span = np.log2(hi / lo)
        octaves = np.minimum(octaves, span)
        start = lo * 2.0 ** ((span - octaves) * p["pitch"][:, None])  # low end of the sweep
        k = 2.0 ** octaves
        length = (offset - onset)[:, None]
        if kind == "up_chirp":
            f0, ratio = start, k
        else:
            f0, ratio = start * k, 1.0 / k
        # exponential sweep f(t) = f0 ratio^(t / length); phase is its integral
        log_r = np.log(ratio)
        sweep = np.power(ratio, np.minimum(tt, length) / length) - 1
        phase = 2 * np.pi * f0 * length / log_r * sweep
        return np.sin(phase + p["phase"][:, None])
    if kind == "noise_burst":
        width = 2.0 ** (1.0 + 2.0 * p["extra"])  # 1..3 octaves wide
        centre = lo * (hi / lo) ** p["pitch"]
        return np.sqrt(2.0) * _band_noise(
            rng, n, t.shape[0], sample_rate, centre / np.sqrt(width), centre * np.sqrt(width)
        )  # RMS of a unit sine, like the tonal kinds
    if kind == "click_train":
        rate = 15.0 + 25.0 * p["extra"][:, None]  # 15..40 clicks per second
        k_len = max(1, int(round(0.003 * sample_rate)))
        kt = np.arange(k_len) / sample_rate
        kernel = rng.standard_normal((n, k_len)) * np.exp(-kt / 0.0007)[None, :]
        kernel /= np.sqrt((kernel**2).mean(axis=1, keepdims=True))  # a 3 ms click at ~0 dB
        impulses = np.zeros((n, t.shape[0]))
        cycle = np.floor(tt * rate)
        starts = (np.diff(cycle, axis=1, prepend=-1.0) > 0) & (t[None, :] >= onset[:, None])
        impulses[starts] = 1.0
        size = _fast_len(t.shape[0] + k_len)
        out = np.fft.irfft(
            np.fft.rfft(impulses, n=size, axis=1) * np.fft.rfft(kernel, n=size, axis=1),
            n=size, axis=1,
        )
        return out[:, : t.shape[0]]
    raise AssertionError(kind)  # pragma: no cover


def audio_like(
    n_samples: int = 512,
    n_classes: int = 4,
    duration: float = 0.5,
    sample_rate: float = 16000,
    bin_s: float = 0.01,
    n_bands: int = 16,
    seed: int = 0,
    fmin: float = 100.0,
    fmax: float = 6000.0,
    *,
    order: int = 2,
    scale: str = "db",
    dynamic_range_db: float = 80.0,
    peak_normalize: bool = False,
) -> TensorDataset:
    """A 16-channel audio-like classification task, synthesized and passed through the frontend.

    Class ``c`` is the sound kind ``AUDIO_CLASSES[c]``: ``tone`` (steady sine), ``up_chirp`` /
    ``down_chirp`` (exponential sweeps of 1.5 to 3 octaves), ``noise_burst`` (white noise
    band-limited to 1 to 3 octaves), ``am_tone`` (sine, 80-100 % amplitude modulation at
    4-12 Hz), ``click_train`` (3 ms broadband clicks at 15-40 per second). Every sample draws its
    own pitch (log-uniform over ``[1.2 fmin, fmax / 1.2]``), onset (0 to 35 % of ``duration``),
    length (35 to 60 % of ``duration``, 10 ms raised-cosine ramps), level (-30 to -6 dBFS) and a
    white background noise (-70 to -45 dBFS RMS) over the whole clip. The clips
    (``round(duration * sample_rate)`` samples) go through
    [`filter_bank`][nwave_core.data.filterbank.filter_bank] and are binned to ``T =
    num_bins(duration, bin_s) = floor(duration / bin_s)`` steps; with the default ``scale="db"``
    features lie in ``[0, 1]`` on a fixed dBFS scale (see
    [`filter_bank`][nwave_core.data.filterbank.filter_bank]).

    Args:
        n_samples: number of samples ``N``; classes are balanced (counts differ by at most one)
            and shuffled.
        n_classes: how many of [`AUDIO_CLASSES`][nwave_core.data.synthetic.AUDIO_CLASSES] to use
            (the first ``n_classes``), 1 to 6.
        duration: clip length in seconds.
        sample_rate: synthesis sample rate, Hz (at least ``2 * fmax``).
        bin_s: time-bin width in seconds.
        n_bands: bands of the filter bank (channels ``C``).
        seed: seed of the local generator; the same seed gives identical tensors.
        fmin: lower edge of the filter bank, Hz.
        fmax: upper edge of the filter bank, Hz.
        order: filter order, see [`filter_bank`][nwave_core.data.filterbank.filter_bank].
        scale: ``"db"`` or ``"power"``, see [`filter_bank`][nwave_core.data.filterbank.filter_bank].
        dynamic_range_db: span of the ``"db"`` scale.
        peak_normalize: features relative to each clip's peak, see
            [`filter_bank`][nwave_core.data.filterbank.filter_bank].

    Returns:
        ``TensorDataset(x, y)``: ``x`` float32 ``[N, T, n_bands]``, ``y`` int64 ``[N]``; the
        extra attribute ``classes`` lists the sound kinds by class index.

    Raises:
        DataError: ``n_classes`` outside 1..6, or impossible filter-bank settings.
    """
    _check_count("n_samples", n_samples, 0)
    if isinstance(n_classes, bool) or not isinstance(n_classes, numbers.Integral) or not (
        1 <= n_classes <= len(AUDIO_CLASSES)
    ):
        raise DataError(
            f"audio_like has {len(AUDIO_CLASSES)} sound classes "
            f"({', '.join(AUDIO_CLASSES)}); n_classes must be 1..{len(AUDIO_CLASSES)}, "
            f"got {n_classes!r}"
        )
    _check_bank(sample_rate, n_bands, fmin, fmax, bin_s, order, scale, dynamic_range_db)
    T = num_bins(duration, bin_s)
    length = max(int(round(float(duration) * sample_rate)), 1)
    rng = np.random.default_rng(seed)
    labels = _balanced_labels(n_samples, n_classes, rng)
    # per-sample parameters are drawn for all samples up front; noise is drawn chunk by chunk in
    # a fixed order (_CHUNK is a constant), so the same arguments always give the same clips
    onset = rng.uniform(0.0, 0.35, n_samples) * duration
    offset = np.minimum(onset + rng.uniform(0.35, 0.6, n_samples) * duration, duration)
    params = {
        "onset": onset,
        "offset": offset,
        "pitch": rng.uniform(0.0, 1.0, n_samples),
        "phase": rng.uniform(0.0, 2 * np.pi, n_samples),
        "extra": rng.uniform(0.0, 1.0, n_samples),
        "extra2": rng.uniform(0.0, 1.0, n_samples),
    }
    level = 10.0 ** (rng.uniform(-30.0, -6.0, n_samples) / 20.0)
    background = 10.0 ** (rng.uniform(-70.0, -45.0, n_samples) / 20.0)
    t = np.arange(length) / float(sample_rate)

    x = torch.empty(n_samples, T, n_bands)
    for start in range(0, n_samples, _CHUNK):
        stop = min(start + _CHUNK, n_samples)
        clips = rng.standard_normal((stop - start, length)) * background[start:stop, None]
        for c in range(n_classes):
            idx = np.nonzero(labels[start:stop] == c)[0] + start
            if idx.size == 0:
                continue
            p = {k: v[idx] for k, v in params.items()}
            event = _synthesize(AUDIO_CLASSES[c], p, rng, t, float(sample_rate), fmin, fmax)
            envelope = _ramp_envelope(t, p["onset"], p["offset"], 0.01)
            clips[idx - start] += level[idx, None] * envelope * event
        x[start:stop] = filter_bank(
            torch.from_numpy(clips.astype(np.float32)), sample_rate, n_bands, fmin, fmax,
            bin_s, n_bins=T, order=order, scale=scale, dynamic_range_db=dynamic_range_db,
            peak_normalize=peak_normalize,
        )
    dataset = TensorDataset(x, torch.from_numpy(labels))
    dataset.classes = list(AUDIO_CLASSES[:n_classes])
    return dataset
