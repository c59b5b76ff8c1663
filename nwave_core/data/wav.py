"""WAV files: reading integer PCM with the standard library, resampling, and class folders."""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import wave
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from .base import _CHUNK, DataError
from .filterbank import _check_bank, filter_bank, num_bins
from .split import DataSplits

__all__ = ["WavFolder", "read_wav", "resample", "speech_commands"]


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
    """``wave.open(path, "rb")`` whose failures become [`DataError`][nwave_core.data.base.DataError]
    naming the file."""
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
    """Read a PCM WAV file with the standard-library `wave` module.

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
    position in `classes`. Each class folder must hold at least one ``*.wav`` (any case), files
    taken in sorted order. Headers are checked when the dataset is built, so a bad file fails early;
    audio is decoded when an item is read.

    An item: [`read_wav`][nwave_core.data.wav.read_wav] (integer PCM of 8/16/24/32 bits, channels
    averaged to mono), cut to the first ``duration`` seconds,
    [`resample`][nwave_core.data.wav.resample] (FFT method) to ``sample_rate`` when the file's rate
    differs, zero-padded or trimmed to ``round(duration * sample_rate)`` samples, then
    [`filter_bank`][nwave_core.data.filterbank.filter_bank] with ``T = num_bins(duration, bin_s) =
    floor(duration / bin_s)``.

    Args:
        root: folder of class folders.
        duration: clip length in seconds (longer files are trimmed, shorter zero-padded).
        sample_rate: rate the audio is resampled to before filtering, Hz.
        bin_s: time-bin width in seconds.
        n_bands: bands of the filter bank.
        fmin: lower edge of the filter bank, Hz.
        fmax: upper edge of the filter bank, Hz; at most ``sample_rate / 2``.
        order: filter order, see [`filter_bank`][nwave_core.data.filterbank.filter_bank].
        scale: ``"db"`` or ``"power"``, see [`filter_bank`][nwave_core.data.filterbank.filter_bank].
        dynamic_range_db: span of the ``"db"`` scale.
        peak_normalize: features relative to each clip's peak, see
            [`filter_bank`][nwave_core.data.filterbank.filter_bank].
        classes: the class folders to use, in label order (default: every sub-folder, sorted).

    Attributes:
        classes: class names, sorted; ``classes[y]`` names label ``y``.
        class_to_idx: ``{name: index}``.
        samples: ``[(path, label), ...]`` for every file, class by class.
        targets: the labels of `samples`.

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
        peak_normalize: bool = False,
        classes: Sequence[str] | None = None,
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
        self.peak_normalize = bool(peak_normalize)
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
        if classes is not None:
            by_name = {p.name: p for p in folders}
            missing = [c for c in classes if c not in by_name]
            if missing:
                raise DataError(
                    f"WavFolder root '{self.root}' has no class folder "
                    f"{', '.join(map(repr, missing))}; it has: {', '.join(by_name)}"
                )
            folders = [by_name[c] for c in classes]
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
        at `sample_rate`, mono, padded or trimmed."""
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
            dynamic_range_db=self.dynamic_range_db, peak_normalize=self.peak_normalize,
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


_SPEAKER_SEP = "_nohash_"


def _which_split(relative: str, val_percent: float, test_percent: float) -> str:
    """The Speech Commands rule: a file's speaker (its name up to ``_nohash_``) hashed to a
    percentage, so one speaker's clips all land in the same split."""
    name = Path(relative).name
    speaker = name.split(_SPEAKER_SEP)[0] if _SPEAKER_SEP in name else Path(name).stem
    digest = hashlib.sha1(speaker.encode("utf-8")).hexdigest()
    percent = (int(digest, 16) % (2**27)) * (100.0 / (2**27 - 1))
    if percent < val_percent:
        return "val"
    if percent < val_percent + test_percent:
        return "test"
    return "train"


def _read_list(path: Path) -> set[str]:
    return {line.strip().replace("\\", "/") for line in path.read_text().splitlines()
            if line.strip()}


def speech_commands(
    root: str | os.PathLike,
    words: Sequence[str] | None = None,
    duration: float = 1.0,
    sample_rate: float = 16000,
    bin_s: float = 0.01,
    n_bands: int = 16,
    fmin: float = 100.0,
    fmax: float = 6000.0,
    val_percent: float = 10.0,
    test_percent: float = 10.0,
    *,
    order: int = 2,
    scale: str = "db",
    dynamic_range_db: float = 40.0,
    peak_normalize: bool = True,
) -> DataSplits:
    """A WAV folder in the Speech Commands layout, split into train, validation and test sets.

    The layout: ``root/<word>/<speaker>_nohash_<n>.wav``, one folder per word; folders whose
    name starts with ``_`` (``_background_noise_``) or ``.`` are not words. The split follows
    the data set's own files when they exist: ``root/validation_list.txt`` and
    ``root/testing_list.txt`` list ``<word>/<file>.wav`` paths, every other file is for
    training. Without them, each file's speaker (its name up to ``_nohash_``, else the whole
    stem) is hashed (SHA-1, as the data set's README does) to a percentage, so a speaker's
    clips are never in two splits. Items are read as [`WavFolder`][nwave_core.data.wav.WavFolder]
    reads them.

    Args:
        root: the folder of word folders.
        words: the word folders to use, in label order (default: every word folder, sorted).
        duration: clip length in seconds.
        sample_rate: rate the audio is resampled to, Hz.
        bin_s: time-bin width in seconds.
        n_bands: bands of the filter bank.
        fmin: lower edge of the filter bank, Hz.
        fmax: upper edge of the filter bank, Hz.
        val_percent: share of speakers for validation, in percent (without list files).
        test_percent: share of speakers for testing, in percent (without list files).
        order: filter order, see [`filter_bank`][nwave_core.data.filterbank.filter_bank].
        scale: ``"db"`` or ``"power"``, see [`filter_bank`][nwave_core.data.filterbank.filter_bank].
        dynamic_range_db: span of the ``"db"`` scale.
        peak_normalize: features relative to each clip's peak, see
            [`filter_bank`][nwave_core.data.filterbank.filter_bank].

    Returns:
        [`DataSplits`][nwave_core.data.split.DataSplits] of ``TensorDataset(x [N, T, n_bands], y
        [N])`` for train, test and val (each with ``classes``).

    Raises:
        DataError: a missing root, no word folders, an unknown word, a word without ``.wav``
            files, an unreadable file, or percentages outside ``[0, 100]`` summing above 100.
    """
    root = Path(root)
    if not (0 <= val_percent <= 100 and 0 <= test_percent <= 100
            and val_percent + test_percent <= 100):
        raise DataError(f"val_percent and test_percent must be in [0, 100] with a sum of at most "
                        f"100, got {val_percent!r} and {test_percent!r}")
    if not root.is_dir():
        what = "is not a folder" if root.exists() else "does not exist"
        raise DataError(f"speech_commands root '{root}' {what}")
    available = sorted(p.name for p in root.iterdir()
                       if p.is_dir() and not p.name.startswith(("_", ".")))
    if words is None:
        words = available
    if not words:
        raise DataError(f"speech_commands root '{root}' has no word folders "
                        f"(expected root/<word>/*.wav)")
    folder = WavFolder(root, duration, sample_rate, bin_s, n_bands, fmin, fmax, order=order,
                       scale=scale, dynamic_range_db=dynamic_range_db,
                       peak_normalize=peak_normalize, classes=list(words))
    lists = {name: root / f"{name}_list.txt" for name in ("validation", "testing")}
    if all(path.is_file() for path in lists.values()):
        val_files, test_files = _read_list(lists["validation"]), _read_list(lists["testing"])

        def which(relative: str) -> str:
            return "val" if relative in val_files else "test" if relative in test_files else "train"
    else:
        def which(relative: str) -> str:
            return _which_split(relative, val_percent, test_percent)

    everything = folder.to_tensor_dataset()
    x, y = everything.tensors
    assigned = [which(path.relative_to(root).as_posix()) for path, _ in folder.samples]
    parts = {}
    for part in ("train", "test", "val"):
        index = torch.tensor([i for i, a in enumerate(assigned) if a == part], dtype=torch.int64)
        parts[part] = TensorDataset(x[index], y[index])
        parts[part].classes = list(folder.classes)
    return DataSplits(parts["train"], parts["test"], parts["val"], list(folder.classes))
