"""The chip-like filter bank: audio to band energies binned in time, and the time-bin count.

It stands in for the chips' 16 fixed analog filters: log-spaced Butterworth band-pass filters,
evaluated exactly in the frequency domain, whose output power is averaged over time bins of
``bin_s`` seconds and log-compressed to ``[0, 1]``. The real chips' filter frequencies and shapes
are not public: these are nominal choices, all of them arguments.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import numpy as np
import torch

from .base import _CHUNK, DataError

__all__ = ["filter_bank", "num_bins"]

# Mean square of a full-scale sine: the 0 dB reference of the "db" scale.
_FULL_SCALE_POWER = 0.5


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
    peak_normalize: bool = False,
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

    With ``peak_normalize=True`` the reference is each clip's own loudest (bin, band) power
    instead of full scale: ``clip(1 + 10 log10(power / peak) / dynamic_range_db, 0, 1)``, so the
    loudest entry of every clip is 1 whatever the clip's level, and anything
    ``dynamic_range_db`` below it is 0 (``scale="power"``: ``power / peak``). A clip without
    any power gives zeros.

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
        peak_normalize: measure each clip against its own peak power instead of full scale.

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
    reference = torch.full((batch, 1, 1), _FULL_SCALE_POWER)
    if peak_normalize:
        reference = power.amax(dim=(1, 2), keepdim=True) if n_bins > 0 else reference
        silent = reference <= 0
        reference = torch.where(silent, torch.ones_like(reference), reference)
        power = torch.where(silent, torch.zeros_like(power), power)
    if scale == "db":
        db = 10.0 * torch.log10(power / reference + 1e-30)
        power = (1.0 + db / float(dynamic_range_db)).clamp(0.0, 1.0)
    elif peak_normalize:
        power = power / reference
    power = power.contiguous()
    return power[0] if single else power
