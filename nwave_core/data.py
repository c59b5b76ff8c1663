"""Data that needs no download: synthetic tasks, a chip-like filter bank, and WAV folders.

Every dataset here comes out as ``x`` float32 ``[N, T, C]`` (batch-first sequences, the nwave
convention) and ``y`` int64 ``[N]``:

- :func:`poisson_patterns`: Bernoulli spike trains from one fixed random rate pattern per class
  (the surrogate tutorial's task).
- :func:`audio_like`: synthesized sound classes (tones, chirps, noise bursts, ...) passed through
  :func:`filter_bank`, the 16-band chip-like frontend, and binned in time.
- :class:`WavFolder`: ``root/<class>/*.wav`` read with the standard-library :mod:`wave` module,
  resampled, padded or trimmed to a fixed duration, then :func:`filter_bank`.

Everything random is drawn from a local generator seeded by ``seed`` (never the global RNG), so
the same arguments give the same tensors. :data:`DATASETS` and :func:`make_dataset` select a
dataset by name (what configs use); :func:`train_test_split` makes a stratified split.

The filter bank (see :func:`filter_bank` for the details) is our stand-in for the chips' 16 fixed
analog filters: log-spaced Butterworth band-pass filters, evaluated exactly in the frequency
domain, whose output power is averaged over time bins of ``bin_s`` seconds and log-compressed to
``[0, 1]``. The real chips' filter frequencies and shapes are not public: these are nominal
choices, all of them arguments.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
import os
import wave
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .errors import NwaveError, UnknownNameError
from .suggest import close_matches, did_you_mean

__all__ = [
    "AUDIO_CLASSES",
    "DATASETS",
    "DataError",
    "WavFolder",
    "audio_like",
    "filter_bank",
    "make_dataset",
    "num_bins",
    "poisson_patterns",
    "read_wav",
    "resample",
    "train_test_split",
]

#: The sound kinds of :func:`audio_like`, in class-index order; ``n_classes`` takes the first n.
AUDIO_CLASSES: tuple[str, ...] = (
    "tone",
    "up_chirp",
    "down_chirp",
    "noise_burst",
    "am_tone",
    "click_train",
)

# Mean square of a full-scale sine: the 0 dB reference of the "db" scale.
_FULL_SCALE_POWER = 0.5
# Signals per chunk in the filter bank and in synthesis (bounds memory; fixed, so results do not
# depend on it).
_CHUNK = 128


class DataError(NwaveError, ValueError):
    """Bad data or data arguments: an unreadable file, an empty folder, an impossible setting."""


# --------------------------------------------------------------------------------------------
# time bins


def num_bins(duration: float, bin_s: float) -> int:
    """Number of time bins ``T = floor(duration / bin_s)`` of a clip.

    The quotient is taken with a tolerance of a few parts per billion, so that decimal inputs
    mean what they say: ``num_bins(0.3, 0.1) == 3`` although ``0.3 / 0.1 == 2.9999999999999996``
    in floating point.

    Args:
        duration: clip length in seconds, ``>= 0``.
        bin_s: bin width in seconds, ``> 0``.

    Returns:
        The number of whole bins in the clip.

    Raises:
        DataError: a negative duration or a non-positive bin width.
    """
    duration, bin_s = float(duration), float(bin_s)
    if not bin_s > 0 or not math.isfinite(bin_s):
        raise DataError(f"bin_s must be a positive number of seconds, got {bin_s!r}")
    if not duration >= 0 or not math.isfinite(duration):
        raise DataError(f"duration must be a non-negative number of seconds, got {duration!r}")
    q = duration / bin_s
    return int(math.floor(q + 1e-9 * max(1.0, q)))


# --------------------------------------------------------------------------------------------
# the filter bank


def _check_bank(sample_rate: float, n_bands: int, fmin: float, fmax: float, bin_s: float,
                order: int, scale: str, dynamic_range_db: float) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real) or not (
        0 < sample_rate < math.inf
    ):
        raise DataError(f"sample_rate must be a positive number of Hz, got {sample_rate!r}")
    if isinstance(n_bands, bool) or not isinstance(n_bands, numbers.Integral) or n_bands < 1:
        raise DataError(f"n_bands must be a positive integer, got {n_bands!r}")
    if not 0 < fmin < fmax:
        raise DataError(f"need 0 < fmin < fmax, got fmin={fmin!r}, fmax={fmax!r}")
    if fmax > sample_rate / 2:
        raise DataError(
            f"fmax={fmax!r} Hz is above the Nyquist frequency {sample_rate / 2:g} Hz of "
            f"sample_rate={sample_rate!r}; lower fmax or raise sample_rate"
        )
    if not bin_s > 0 or bin_s * sample_rate < 1:
        raise DataError(
            f"bin_s must hold at least one sample: bin_s={bin_s!r} s at {sample_rate!r} Hz"
        )
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 1:
        raise DataError(f"order must be a positive integer, got {order!r}")
    if scale not in ("db", "power"):
        raise DataError(f"scale must be 'db' or 'power', got {scale!r}")
    if not dynamic_range_db > 0:
        raise DataError(f"dynamic_range_db must be positive, got {dynamic_range_db!r}")


def _band_edges(n_bands: int, fmin: float, fmax: float) -> np.ndarray:
    """``n_bands + 1`` log-spaced edges from fmin to fmax (Hz)."""
    return fmin * (fmax / fmin) ** (np.arange(n_bands + 1) / n_bands)


def _fast_len(n: int) -> int:
    """The smallest 2-3-5-smooth integer >= n (a fast FFT length)."""
    while True:
        m = n
        for p in (2, 3, 5):
            while m % p == 0:
                m //= p
        if m == 1:
            return n
        n += 1


def _ring_samples(sample_rate: float, n_bands: int, fmin: float, fmax: float, order: int) -> int:
    """Samples for the slowest band's impulse response to decay by 80 dB (the FFT padding)."""
    edges = _band_edges(n_bands, fmin, fmax)
    bw_min = float(edges[1] - edges[0])
    # band-pass poles sit at distance ~ (pi * bw) * sin(pi / (2 order)) from the j-axis
    rate = math.pi * bw_min * math.sin(math.pi / (2 * order))
    return int(math.ceil(sample_rate * math.log(1e4) / rate)) + 1


@functools.lru_cache(maxsize=32)
def _responses(n_fft: int, sample_rate: float, n_bands: int, fmin: float, fmax: float,
               order: int) -> torch.Tensor:
    """Complex frequency responses ``[n_bands, n_fft // 2 + 1]`` of the analog band-pass bank.

    Band ``k`` is the Butterworth low-pass prototype of ``order`` poles under the band-pass
    transform ``p = (s^2 + w0^2) / (B s)``, with ``w0`` the geometric centre and ``B`` the width
    of the band's edges, evaluated at ``s = j w`` on the FFT grid. It is causal (the impulse
    response of the analog filter), 0 dB at the centre and -3 dB at the band edges.
    """
    edges = _band_edges(n_bands, fmin, fmax)
    centre = np.sqrt(edges[:-1] * edges[1:])[:, None]
    width = (edges[1:] - edges[:-1])[:, None]
    f = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)[None, :]
    f_safe = np.where(f > 0, f, 1.0)
    x = (f_safe / centre - centre / f_safe) / (width / centre)
    k = np.arange(1, order + 1)
    poles = np.exp(1j * np.pi * (2 * k + order - 1) / (2 * order))
    h = np.ones(x.shape, dtype=np.complex128)
    for p in poles:
        h = h / (1j * x - p)
    h[:, 0] = 0.0
    return torch.from_numpy(h.astype(np.complex64))


def filter_bank(
    signal: Any,
    sample_rate: float,
    n_bands: int = 16,
    fmin: float = 100.0,
    fmax: float = 6000.0,
    bin_s: float = 0.01,
    *,
    n_bins: int | None = None,
    order: int = 2,
    scale: str = "db",
    dynamic_range_db: float = 80.0,
) -> torch.Tensor:
    """Band energies of audio through a chip-like bank of band-pass filters, binned in time.

    The bank: ``n_bands`` Butterworth band-pass filters with log-spaced edges from ``fmin`` to
    ``fmax`` (band ``k`` spans ``[e_k, e_{k+1}]``, ``e_k = fmin (fmax/fmin)^(k/n_bands)``; the
    response is 0 dB at the band's geometric centre and -3 dB at its edges; ``order`` poles in
    the low-pass prototype, so skirts fall at ``6 * order`` dB per octave). Each filter is the
    exact analog (causal) response applied in the frequency domain: one FFT of the zero-padded
    signal, one inverse FFT per band; the padding is long enough that the slowest filter's ring
    decays by 80 dB, so nothing wraps around. The output power of each band, ``mean(y^2)``, is
    averaged over consecutive bins of ``bin_s`` seconds (bin ``t`` covers samples
    ``[round(t * bin_s * sample_rate), round((t + 1) * bin_s * sample_rate))``).

    With ``scale="db"`` (the default) the power is log-compressed to ``[0, 1]`` with a fixed
    reference, so features do not depend on the rest of a dataset:
    ``clip(1 + 10 log10(power / 0.5) / dynamic_range_db, 0, 1)``: a full-scale sine at a band
    centre gives 1 in its band, anything ``dynamic_range_db`` below that (or quieter) gives 0.
    ``scale="power"`` returns the linear mean-square power instead.

    Args:
        signal: audio samples in full-scale units (``[-1, 1]``), ``[S]`` or a batch ``[B, S]``;
            a tensor, a NumPy array or a sequence of numbers.
        sample_rate: samples per second of ``signal``.
        n_bands: number of bands (the H1 chips have 16).
        fmin: lower edge of the lowest band, Hz.
        fmax: upper edge of the highest band, Hz; at most ``sample_rate / 2``.
        bin_s: width of a time bin in seconds; at least one sample.
        n_bins: number of bins to return; the signal is zero-padded or cut to fit. Default:
            every whole bin, ``floor(S / (bin_s * sample_rate))``.
        order: poles of the Butterworth prototype of each band (2: a 4th-order band-pass).
        scale: ``"db"`` (log-compressed to ``[0, 1]``) or ``"power"`` (mean square).
        dynamic_range_db: the span of the ``"db"`` scale.

    Returns:
        float32 ``[T, n_bands]`` for a 1-D signal, ``[B, T, n_bands]`` for a batch, on the CPU
        and detached (the frontend is fixed, not trained).

    Raises:
        DataError: a signal that is not 1-D or 2-D, or impossible bank settings (``fmax`` above
            Nyquist, a bin shorter than one sample, ...).
    """
    _check_bank(sample_rate, n_bands, fmin, fmax, bin_s, order, scale, dynamic_range_db)
    n_bands, order = int(n_bands), int(order)
    x = torch.as_tensor(signal).detach().to(device="cpu", dtype=torch.float32)
    if x.dim() not in (1, 2):
        raise DataError(
            f"filter_bank takes a signal [S] or a batch [B, S], got shape {tuple(x.shape)}"
        )
    single = x.dim() == 1
    if single:
        x = x.unsqueeze(0)
    hop = float(bin_s) * float(sample_rate)
    if n_bins is None:
        q = x.shape[1] / hop
        n_bins = int(math.floor(q + 1e-9 * max(1.0, q)))
    elif isinstance(n_bins, bool) or not isinstance(n_bins, numbers.Integral) or n_bins < 0:
        raise DataError(f"n_bins must be a non-negative integer, got {n_bins!r}")
    n_bins = int(n_bins)
    bounds = [int(round(t * hop)) for t in range(n_bins + 1)]
    length = bounds[-1]
    if x.shape[1] < length:
        x = torch.nn.functional.pad(x, (0, length - x.shape[1]))
    x = x[:, :length]

    batch = x.shape[0]
    power = torch.zeros(batch, n_bands, n_bins)
    if n_bins > 0 and batch > 0:
        n_fft = _fast_len(length + _ring_samples(sample_rate, n_bands, fmin, fmax, order))
        h = _responses(n_fft, float(sample_rate), n_bands, float(fmin), float(fmax), order)
        regular = abs(hop - round(hop)) < 1e-9
        hop_i = int(round(hop))
        chunk = max(1, min(_CHUNK, 2**23 // (n_bands * h.shape[1]), batch))
        for start in range(0, batch, chunk):
            spectrum = torch.fft.rfft(x[start:start + chunk], n=n_fft)
            y = torch.fft.irfft(spectrum[:, None, :] * h[None], n=n_fft)[..., :length]
            if regular:
                frames = y.reshape(y.shape[0], n_bands, n_bins, hop_i)
                power[start:start + chunk] = (
                    torch.linalg.vector_norm(frames, dim=-1).square() / hop_i
                )
            else:
                cum = torch.nn.functional.pad(y.double().square().cumsum(-1), (1, 0))
                idx = torch.tensor(bounds)
                sums = cum[..., idx[1:]] - cum[..., idx[:-1]]
                power[start:start + chunk] = (sums / (idx[1:] - idx[:-1]).double()).float()
    power = power.transpose(1, 2)  # [B, T, n_bands]
    if scale == "db":
        db = 10.0 * torch.log10(power / _FULL_SCALE_POWER + 1e-30)
        power = (1.0 + db / float(dynamic_range_db)).clamp(0.0, 1.0)
    power = power.contiguous()
    return power[0] if single else power


# --------------------------------------------------------------------------------------------
# poisson patterns


def _balanced_labels(n_samples: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``n_samples`` labels in shuffled order, class counts differing by at most one."""
    return rng.permutation(np.arange(n_samples) % n_classes).astype(np.int64)


def _check_count(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise DataError(f"{name} must be an integer >= {minimum}, got {value!r}")


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


# --------------------------------------------------------------------------------------------
# audio-like synthetic task


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
) -> TensorDataset:
    """A 16-channel audio-like classification task, synthesized and passed through the frontend.

    Class ``c`` is the sound kind ``AUDIO_CLASSES[c]``: ``tone`` (steady sine), ``up_chirp`` /
    ``down_chirp`` (exponential sweeps of 1.5 to 3 octaves), ``noise_burst`` (white noise
    band-limited to 1 to 3 octaves), ``am_tone`` (sine, 80-100 % amplitude modulation at
    4-12 Hz), ``click_train`` (3 ms broadband clicks at 15-40 per second). Every sample draws its
    own pitch (log-uniform over ``[1.2 fmin, fmax / 1.2]``), onset (0 to 35 % of ``duration``),
    length (35 to 60 % of ``duration``, 10 ms raised-cosine ramps), level (-30 to -6 dBFS) and a
    white background noise (-70 to -45 dBFS RMS) over the whole clip. The clips
    (``round(duration * sample_rate)`` samples) go through :func:`filter_bank` and are binned
    to ``T = num_bins(duration, bin_s) = floor(duration / bin_s)`` steps; with the default
    ``scale="db"`` features lie in ``[0, 1]`` on a fixed dBFS scale (see :func:`filter_bank`).

    Args:
        n_samples: number of samples ``N``; classes are balanced (counts differ by at most one)
            and shuffled.
        n_classes: how many of :data:`AUDIO_CLASSES` to use (the first ``n_classes``), 1 to 6.
        duration: clip length in seconds.
        sample_rate: synthesis sample rate, Hz (at least ``2 * fmax``).
        bin_s: time-bin width in seconds.
        n_bands: bands of the filter bank (channels ``C``).
        seed: seed of the local generator; the same seed gives identical tensors.
        fmin: lower edge of the filter bank, Hz.
        fmax: upper edge of the filter bank, Hz.
        order: filter order, see :func:`filter_bank`.
        scale: ``"db"`` or ``"power"``, see :func:`filter_bank`.
        dynamic_range_db: span of the ``"db"`` scale.

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
        )
    dataset = TensorDataset(x, torch.from_numpy(labels))
    dataset.classes = list(AUDIO_CLASSES[:n_classes])
    return dataset


# --------------------------------------------------------------------------------------------
# WAV files


def _wav_error(path: Any, error: BaseException) -> DataError:
    """The error for a WAV file the wave module rejects, naming the file."""
    if isinstance(error, wave.Error):
        hint = ""
        if "unknown format" in str(error):
            hint = " (only integer PCM WAV is supported: convert float or compressed audio first)"
        return DataError(f"unsupported WAV file '{path}': {error}{hint}")
    return DataError(
        f"cannot read WAV file '{path}': {str(error) or 'the file is empty or truncated'}"
    )


@contextlib.contextmanager
def _open_wav(path: Any) -> Iterator[wave.Wave_read]:
    """``wave.open(path, "rb")`` whose failures become :class:`DataError` naming the file."""
    try:
        handle = wave.open(os.fspath(path), "rb")
    except (wave.Error, EOFError, OSError) as error:
        raise _wav_error(path, error) from error
    with handle:
        yield handle


def _wav_format(path: Any, handle: wave.Wave_read) -> tuple[int, int, int]:
    """(channels, sample width in bytes, rate) of an open file; unsupported ones raise."""
    channels, width, rate = handle.getnchannels(), handle.getsampwidth(), handle.getframerate()
    if width not in (1, 2, 3, 4):
        raise DataError(f"unsupported WAV file '{path}': {8 * width}-bit samples")
    if channels < 1 or rate <= 0:
        raise DataError(f"unsupported WAV file '{path}': {channels} channels at {rate} Hz")
    return channels, width, rate


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a PCM WAV file with the standard-library :mod:`wave` module.

    8-bit (unsigned), 16-, 24- and 32-bit (signed) integer PCM are supported; channels are
    averaged to mono; samples are scaled to full-scale units (``[-1, 1)``). A file whose data is
    cut short is read as far as it goes.

    Args:
        path: the ``.wav`` file.

    Returns:
        ``(samples, sample_rate)``: float32 ``[S]`` and the file's rate in Hz.

    Raises:
        DataError: the file cannot be opened or is not integer PCM (float WAV, compressed, ...);
            the message names the file.
    """
    with _open_wav(path) as handle:
        channels, width, rate = _wav_format(path, handle)
        try:
            data = handle.readframes(handle.getnframes())
        except (wave.Error, EOFError, OSError) as error:
            raise _wav_error(path, error) from error
    frames = len(data) // (width * channels)
    raw = np.frombuffer(data[: frames * width * channels], dtype=np.uint8)
    if width == 1:
        samples = (raw.astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        b = raw.reshape(-1, 3).astype(np.int32)
        value = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        value = np.where(value >= 2**23, value - 2**24, value)
        samples = value.astype(np.float32) / 2.0**23
    else:
        ints = np.frombuffer(raw.tobytes(), dtype="<i2" if width == 2 else "<i4")
        samples = (ints / 2.0 ** (8 * width - 1)).astype(np.float32)
    samples = samples.reshape(frames, channels).mean(axis=1, dtype=np.float64)
    return samples.astype(np.float32), int(rate)


def resample(signal: Any, orig_rate: float, new_rate: float) -> np.ndarray:
    """Band-limited resampling by the FFT method (like ``scipy.signal.resample``).

    The spectrum of the ``S``-sample signal is cut (downsampling: an ideal low-pass at the new
    Nyquist frequency, so nothing aliases) or zero-extended (upsampling) to
    ``round(S * new_rate / orig_rate)`` samples. The method treats the signal as periodic, so a
    signal that does not end near its starting value rings slightly at both ends.

    Args:
        signal: 1-D samples.
        orig_rate: their sample rate, Hz.
        new_rate: the wanted sample rate, Hz.

    Returns:
        float32 ``[round(S * new_rate / orig_rate)]``.
    """
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim != 1:
        raise DataError(f"resample takes a 1-D signal, got shape {x.shape}")
    if not (orig_rate > 0 and new_rate > 0):
        raise DataError(f"sample rates must be positive, got {orig_rate!r} -> {new_rate!r}")
    n = x.shape[0]
    m = int(round(n * float(new_rate) / float(orig_rate)))
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    if m == n:
        return x.astype(np.float32)
    spectrum = np.fft.rfft(x)
    out = np.zeros(m // 2 + 1, dtype=np.complex128)
    keep = min(spectrum.shape[0], out.shape[0])
    out[:keep] = spectrum[:keep]
    if m > n and n % 2 == 0:
        out[n // 2] *= 0.5  # the old Nyquist bin stands for both +f and -f
    elif m < n and m % 2 == 0:
        out[m // 2] = out[m // 2].real  # the new Nyquist bin must be real
    return (np.fft.irfft(out, n=m) * (m / n)).astype(np.float32)


def _wav_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.suffix.lower() == ".wav" and not p.name.startswith(".")
    )


class WavFolder(Dataset):
    """Audio classification data from ``root/<class_name>/*.wav``, through the chip-like frontend.

    Classes are the sub-folders of ``root`` (hidden ones skipped) in sorted order; class index =
    position in :attr:`classes`. Each class folder must hold at least one ``*.wav`` (any case),
    files taken in sorted order. Headers are checked when the dataset is built, so a bad file
    fails early; audio is decoded when an item is read.

    An item: :func:`read_wav` (integer PCM of 8/16/24/32 bits, channels averaged to mono), cut
    to the first ``duration`` seconds, :func:`resample` (FFT method) to ``sample_rate`` when the
    file's rate differs, zero-padded or trimmed to ``round(duration * sample_rate)`` samples,
    then :func:`filter_bank` with ``T = num_bins(duration, bin_s) = floor(duration / bin_s)``.

    Args:
        root: folder of class folders.
        duration: clip length in seconds (longer files are trimmed, shorter zero-padded).
        sample_rate: rate the audio is resampled to before filtering, Hz.
        bin_s: time-bin width in seconds.
        n_bands: bands of the filter bank.
        fmin: lower edge of the filter bank, Hz.
        fmax: upper edge of the filter bank, Hz; at most ``sample_rate / 2``.
        order: filter order, see :func:`filter_bank`.
        scale: ``"db"`` or ``"power"``, see :func:`filter_bank`.
        dynamic_range_db: span of the ``"db"`` scale.

    Attributes:
        classes: class names, sorted; ``classes[y]`` names label ``y``.
        class_to_idx: ``{name: index}``.
        samples: ``[(path, label), ...]`` for every file, class by class.
        targets: the labels of :attr:`samples`.

    Raises:
        DataError: a missing or empty root, a class folder without ``.wav`` files, or a file
            that is not readable integer-PCM WAV (messages name the folder or file).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        duration: float,
        sample_rate: float = 16000,
        bin_s: float = 0.01,
        n_bands: int = 16,
        fmin: float = 100.0,
        fmax: float = 6000.0,
        *,
        order: int = 2,
        scale: str = "db",
        dynamic_range_db: float = 80.0,
    ) -> None:
        _check_bank(sample_rate, n_bands, fmin, fmax, bin_s, order, scale, dynamic_range_db)
        self.root = Path(root)
        self.duration = float(duration)
        self.sample_rate = sample_rate
        self.bin_s = bin_s
        self.n_bands = n_bands
        self.fmin = fmin
        self.fmax = fmax
        self.order = order
        self.scale = scale
        self.dynamic_range_db = dynamic_range_db
        self.n_bins = num_bins(self.duration, bin_s)
        self.n_samples = int(round(self.duration * sample_rate))

        if not self.root.is_dir():
            what = "is not a folder" if self.root.exists() else "does not exist"
            raise DataError(f"WavFolder root '{self.root}' {what}")
        folders = sorted(
            p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )
        if not folders:
            loose = _wav_files(self.root)
            hint = (
                f"; it holds {len(loose)} .wav file(s) directly: put them in one sub-folder "
                "per class" if loose else ""
            )
            raise DataError(
                f"WavFolder root '{self.root}' has no class folders (expected "
                f"root/<class_name>/*.wav){hint}"
            )
        self.classes: list[str] = [p.name for p in folders]
        self.class_to_idx: dict[str, int] = {name: i for i, name in enumerate(self.classes)}
        self.samples: list[tuple[Path, int]] = []
        for label, folder in enumerate(folders):
            files = _wav_files(folder)
            if not files:
                raise DataError(
                    f"class folder '{folder}' has no .wav files (every sub-folder of "
                    f"'{self.root}' is a class; remove it or add audio)"
                )
            for path in files:
                with _open_wav(path) as handle:  # fail early, naming the file
                    _wav_format(path, handle)
                self.samples.append((path, label))
        self.targets: list[int] = [label for _, label in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def load_audio(self, index: int) -> np.ndarray:
        """The clip of item ``index`` before filtering: float32 ``[round(duration * sample_rate)]``
        at :attr:`sample_rate`, mono, padded or trimmed."""
        path, _ = self.samples[index]
        samples, rate = read_wav(path)
        if rate != self.sample_rate:
            keep = int(math.ceil(self.duration * rate)) + 1
            samples = resample(samples[:keep], rate, self.sample_rate)
        out = np.zeros(self.n_samples, dtype=np.float32)
        n = min(self.n_samples, samples.shape[0])
        out[:n] = samples[:n]
        return out

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: float32 ``[T, n_bands]`` features and the int64 label (0-d)."""
        features = self._features(torch.from_numpy(self.load_audio(index)))
        return features, torch.tensor(self.samples[index][1], dtype=torch.int64)

    def _features(self, clips: torch.Tensor) -> torch.Tensor:
        return filter_bank(
            clips, self.sample_rate, self.n_bands, self.fmin, self.fmax, self.bin_s,
            n_bins=self.n_bins, order=self.order, scale=self.scale,
            dynamic_range_db=self.dynamic_range_db,
        )

    def to_tensor_dataset(self) -> TensorDataset:
        """Every item at once: ``TensorDataset(x [N, T, n_bands] float32, y [N] int64)``, with
        the extra attribute ``classes``. Files are filtered in batches (faster than items)."""
        x = torch.empty(len(self), self.n_bins, self.n_bands)
        for start in range(0, len(self), _CHUNK):
            stop = min(start + _CHUNK, len(self))
            clips = np.stack([self.load_audio(i) for i in range(start, stop)])
            x[start:stop] = self._features(torch.from_numpy(clips))
        dataset = TensorDataset(x, torch.tensor(self.targets, dtype=torch.int64))
        dataset.classes = list(self.classes)
        return dataset

    def __repr__(self) -> str:
        return (
            f"WavFolder(root='{self.root}', {len(self)} files, classes={self.classes}, "
            f"T={self.n_bins}, n_bands={self.n_bands})"
        )


# --------------------------------------------------------------------------------------------
# by name


#: Dataset builders by the names configs use. Add an entry to make a builder selectable.
DATASETS: dict[str, Callable[..., Any]] = {
    "poisson_patterns": poisson_patterns,
    "audio_like": audio_like,
    "wav_folder": WavFolder,
}


def _describe_params(builder: Callable[..., Any]) -> tuple[list[str], list[str], bool]:
    """(accepted names, display strings, accepts **kwargs) of a builder's signature."""
    names, shown, var_kw = [], [], False
    for p in inspect.signature(builder).parameters.values():
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind is not p.VAR_POSITIONAL:
            names.append(p.name)
            shown.append(p.name if p.default is p.empty else f"{p.name}={p.default!r}")
    return names, shown, var_kw


def make_dataset(name: str, /, **params: Any) -> Any:
    """Build the dataset registered in :data:`DATASETS` as ``name``, from keyword parameters.

    ``make_dataset("audio_like", n_classes=6, seed=1)`` is ``audio_like(n_classes=6, seed=1)``;
    ``"wav_folder"`` returns a :class:`WavFolder` (call ``.to_tensor_dataset()`` for tensors).
    Names are compared case-insensitively, ``-`` and ``_`` alike.

    Args:
        name: a key of :data:`DATASETS`.
        **params: keyword arguments of that builder.

    Returns:
        What the builder returns.

    Raises:
        UnknownNameError: (a ``LookupError``) no such name; the message suggests close names and
            lists the available ones.
        TypeError: an unknown or missing keyword; the message lists the accepted parameters.
    """
    key = str(name).strip().lower().replace("-", "_")
    builder = DATASETS.get(key)
    if builder is None:
        suggestions = tuple(close_matches(key, DATASETS))
        message = f"unknown dataset {name!r}."
        if suggestions:
            message += did_you_mean(key, DATASETS)
        message += f" Available: {', '.join(sorted(DATASETS))}."
        raise UnknownNameError(message, kind="dataset", name=str(name), suggestions=suggestions)
    accepted, shown, var_kw = _describe_params(builder)
    unknown = [k for k in params if k not in accepted]
    if unknown and not var_kw:
        hints = "".join(did_you_mean(k, accepted) for k in unknown)
        raise TypeError(
            f"dataset {key!r} got unexpected parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}.{hints} Accepted parameters: {', '.join(shown)}."
        )
    try:
        inspect.signature(builder).bind(**params)
    except TypeError as error:
        raise TypeError(
            f"dataset {key!r}: {error}. Accepted parameters: {', '.join(shown)}."
        ) from None
    return builder(**params)


# --------------------------------------------------------------------------------------------
# splitting


def _as_tensors(dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(dataset, "to_tensor_dataset"):
        dataset = dataset.to_tensor_dataset()
    if isinstance(dataset, TensorDataset):
        if len(dataset.tensors) != 2:
            raise DataError(
                f"train_test_split needs a TensorDataset of (x, y), got "
                f"{len(dataset.tensors)} tensors"
            )
        return dataset.tensors[0], dataset.tensors[1]
    if isinstance(dataset, Sequence) and len(dataset) == 2 and all(
        isinstance(t, torch.Tensor) for t in dataset
    ):
        return dataset[0], dataset[1]
    items = [dataset[i] for i in range(len(dataset))]
    if not items:
        raise DataError("train_test_split got an empty dataset")
    return torch.stack([torch.as_tensor(x) for x, _ in items]), torch.as_tensor(
        [int(y) for _, y in items], dtype=torch.int64
    )


def train_test_split(
    dataset: Any, test_fraction: float = 0.2, seed: int = 0
) -> tuple[TensorDataset, TensorDataset]:
    """Split a labelled dataset into train and test sets, stratified by class.

    Within each class, ``round(n_class * test_fraction)`` samples, chosen at random from
    ``seed``, go to the test set and the rest to the train set (a class of one sample stays in
    train with the default fraction). Both parts keep the original sample order.

    Args:
        dataset: a ``TensorDataset(x, y)``, an ``(x, y)`` pair of tensors, a :class:`WavFolder`
            (or anything with ``to_tensor_dataset()``), or any dataset of ``(x, y)`` items;
            ``y`` holds integer class labels ``[N]``.
        test_fraction: share of each class for the test set, in ``[0, 1)``; 0 gives an empty
            test set.
        seed: seed of the local generator; the same seed gives the same split.

    Returns:
        ``(train, test)``, two ``TensorDataset(x, y)``; a ``classes`` attribute of the input is
        copied to both.

    Raises:
        DataError: a fraction outside ``[0, 1)`` or labels that are not 1-D integers.
    """
    if not 0 <= test_fraction < 1:
        raise DataError(f"test_fraction must be in [0, 1), got {test_fraction!r}")
    x, y = _as_tensors(dataset)
    if y.dim() != 1 or y.dtype.is_floating_point or y.dtype.is_complex or y.shape[0] != x.shape[0]:
        raise DataError(
            f"train_test_split needs integer labels y [N] matching x [N, ...]; got x "
            f"{tuple(x.shape)}, y {tuple(y.shape)} {y.dtype}"
        )
    rng = np.random.default_rng(seed)
    labels = y.cpu().numpy()
    is_test = np.zeros(labels.shape[0], dtype=bool)
    for c in np.unique(labels):
        members = np.nonzero(labels == c)[0]
        n_test = int(round(members.size * test_fraction))
        is_test[rng.permutation(members)[:n_test]] = True
    test_idx = torch.from_numpy(np.nonzero(is_test)[0])
    train_idx = torch.from_numpy(np.nonzero(~is_test)[0])
    train = TensorDataset(x[train_idx], y[train_idx].to(torch.int64))
    test = TensorDataset(x[test_idx], y[test_idx].to(torch.int64))
    classes = getattr(dataset, "classes", None)
    if classes is not None:
        train.classes = list(classes)
        test.classes = list(classes)
    return train, test
