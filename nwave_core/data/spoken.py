"""Spoken words synthesised on the machine with eSpeak NG (the optional extra ``spoken``).

[`spoken_words`][nwave_core.data.spoken.spoken_words] speaks the Speech Commands vocabulary with the
eSpeak NG library and voices that the pip package ``espeakng-loader`` bundles (``pip install
'nwave-snn[spoken]'``), driven through `ctypes` with synchronous output (16-bit PCM at 22,050 Hz).
Speakers are eSpeak accents combined with voice variants; each utterance also draws its rate, pitch
and pitch range, and each clip its level, onset and background noise. Train and test sets use
disjoint speakers.

eSpeak keeps state between utterances: its breathy variants draw from a random generator that
differs between processes unless its seed is set, and other state (the pitch flutter, ...)
carries over from one utterance to the next, so each utterance runs in a freshly loaded copy of
the library with its seed set first; an unknown variant name silently falls back to the base
voice, so the voice eSpeak reports is checked against the one asked for. The result is a function of the arguments (and the eSpeak
NG build), cached on disk.
"""

from __future__ import annotations

import _ctypes
import atexit
import contextlib
import ctypes
import hashlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

from ..errors import NwaveError
from ..suggest import did_you_mean
from .base import DataError
from .filterbank import _check_bank, filter_bank, num_bins
from .split import DataSplits
from .wav import resample

__all__ = [
    "COMMAND_WORDS", "SPOKEN_CLASSES", "UNKNOWN_WORDS", "ACCENTS", "VARIANTS",
    "MissingExtraError", "spoken_words", "synthesize", "default_cache_dir",
]

COMMAND_WORDS: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off",
                                  "stop", "go")
"""The ten command words of Speech Commands, in class-index order."""
SPOKEN_CLASSES: tuple[str, ...] = COMMAND_WORDS + ("silence", "unknown")
"""Every class [`spoken_words`][nwave_core.data.spoken.spoken_words] can make: the commands,
then ``silence`` and ``unknown``."""
UNKNOWN_WORDS: tuple[str, ...] = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin", "nine",
    "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero", "backward",
    "follow", "forward", "learn", "visual",
)
"""The other words of Speech Commands: what the ``unknown`` class says."""
ACCENTS: tuple[str, ...] = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                            "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
"""ESpeak NG's English accents (voice names) that speakers are made from."""
VARIANTS: tuple[str, ...] = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4",
                             "f5", "klatt", "klatt2", "klatt3", "klatt4")
"""ESpeak NG voice variants (``!v`` files) that speakers are made from."""
_PRESETS: dict[str, tuple[str, ...]] = {"commands": SPOKEN_CLASSES, "yes_no": ("yes", "no")}
_NOISES = ("white", "pink")
ESPEAK_RATE = 22050
# bump when the synthesis changes, so old cache files are not used
_SYNTH_VERSION = 2
_EXTRA_HINT = ("spoken_words needs eSpeak NG from the optional extra 'spoken': "
               "pip install 'nwave-snn[spoken]' (the package espeakng-loader)")


class MissingExtraError(NwaveError, ImportError):
    """An optional dependency (an extra of the ``nwave`` distribution) is not installed."""


def default_cache_dir() -> Path:
    """Where [`spoken_words`][nwave_core.data.spoken.spoken_words] caches its clips when given no
    ``cache_dir``.

    Returns:
        ``$NWAVE_CACHE_DIR``, else ``$XDG_CACHE_HOME/nwave``, else ``~/.cache/nwave``.
    """
    if os.environ.get("NWAVE_CACHE_DIR"):
        return Path(os.environ["NWAVE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nwave"


# --------------------------------------------------------------------------------------------
# eSpeak NG through ctypes

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4}


class _Voice(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_char_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte),
                ("age", ctypes.c_ubyte), ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte),
                ("score", ctypes.c_int), ("spare", ctypes.c_void_p)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)


def _unload(handle: int) -> None:
    """Unload a library loaded with `ctypes.CDLL` (its static state goes with it)."""
    if hasattr(_ctypes, "dlclose"):
        _ctypes.dlclose(handle)
    else:  # pragma: no cover - Windows
        _ctypes.FreeLibrary(handle)


class _ESpeak:
    """eSpeak NG, loaded afresh for every utterance.

    The library keeps state between utterances that its API does not reset (its random
    generator, but also e.g. the pitch flutter's position), so the same call gives different
    samples depending on what was spoken before, even after ``espeak_Terminate``. Each utterance
    therefore runs in a freshly loaded private copy of the library (copied once per process,
    ``dlopen``-ed and ``dlclose``-d around the utterance, about 8 ms), with the random seed set
    before it: a call's samples depend on its arguments only.
    """

    _instance: _ESpeak | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        try:
            import espeakng_loader
        except ImportError:
            raise MissingExtraError(_EXTRA_HINT) from None
        folder = Path(tempfile.mkdtemp(prefix="nwave-espeak-"))
        atexit.register(shutil.rmtree, folder, True)
        source = Path(espeakng_loader.get_library_path())
        self.path = folder / f"nwave-private-{source.name}"
        shutil.copyfile(source, self.path)
        self.data = espeakng_loader.get_data_path().encode()
        self.chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # kept alive as long as the library uses it
        try:
            self.version = metadata.version("espeakng-loader")
        except metadata.PackageNotFoundError:  # pragma: no cover - a source checkout
            self.version = "unknown"

    @classmethod
    def get(cls) -> _ESpeak:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def _collect(self, wav: Any, count: int, events: Any) -> int:
        if wav and count > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    @contextlib.contextmanager
    def _library(self) -> Iterator[Any]:
        """A freshly loaded, initialised library (synchronous output), unloaded afterwards."""
        with self._lock:
            lib = ctypes.CDLL(str(self.path), mode=getattr(os, "RTLD_LOCAL", 0))
            try:
                lib.espeak_Initialize.restype = ctypes.c_int
                lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p,
                                                  ctypes.c_int]
                lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
                lib.espeak_SetVoiceByName.restype = ctypes.c_int
                lib.espeak_GetCurrentVoice.restype = ctypes.POINTER(_Voice)
                lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
                lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
                lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint,
                                             ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                             ctypes.c_void_p, ctypes.c_void_p]
                rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data, 0)
                if rate != ESPEAK_RATE:
                    raise DataError(f"eSpeak NG did not start (espeak_Initialize returned "
                                    f"{rate}, expected a sample rate of {ESPEAK_RATE} Hz)")
                lib.espeak_SetSynthCallback(self._callback)
                yield lib
            finally:
                lib.espeak_Terminate()
                handle = lib._handle
                del lib
                _unload(handle)

    @staticmethod
    def _set_voice(lib: Any, accent: str, variant: str | None) -> str:
        """Select ``accent[+variant]``; refuse when eSpeak falls back to another voice."""
        name = accent if not variant else f"{accent}+{variant}"
        status = lib.espeak_SetVoiceByName(name.encode())
        identifier = (lib.espeak_GetCurrentVoice().contents.identifier or b"").decode()
        language, _, got_variant = identifier.rsplit("/", 1)[-1].partition("+")
        if status != 0 or language.lower() != accent.lower():
            raise DataError(f"eSpeak NG has no voice {accent!r} (status {status}); choose from "
                            f"{', '.join(ACCENTS)} or another voice of espeak-ng-data/lang")
        if (variant or "").lower() != got_variant.lower():
            raise DataError(f"eSpeak NG has no voice variant {variant!r}: it fell back to "
                            f"{identifier!r}; choose variants from espeak-ng-data/voices/!v, "
                            f"e.g. {', '.join(VARIANTS[:6])}")
        return identifier

    def check_voices(self, voices: Sequence[tuple[str, str | None]]) -> None:
        """Raise [`DataError`][nwave_core.data.base.DataError] for the first voice eSpeak NG does
        not have."""
        with self._library() as lib:
            for accent, variant in voices:
                self._set_voice(lib, accent, variant)

    def speak(self, text: str, accent: str, variant: str | None, rate: int, pitch: int,
              pitch_range: int, seed: int) -> np.ndarray:
        with self._library() as lib:
            self._set_voice(lib, accent, variant)
            for key, value in (("rate", rate), ("volume", 100), ("pitch", pitch),
                               ("range", pitch_range)):
                lib.espeak_SetParameter(_PARAM[key], int(value), 0)
            lib.espeak_ng_SetRandSeed(int(seed))
            self.chunks = []
            data = text.encode("utf-8") + b"\0"
            lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            lib.espeak_Synchronize()
            chunks, self.chunks = self.chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(chunks).astype(np.int16)


def synthesize(text: str, accent: str = "en-us", variant: str | None = None, rate: int = 175,
               pitch: int = 50, pitch_range: int = 50, seed: int = 0) -> np.ndarray:
    """Speak ``text`` with eSpeak NG: int16 samples at 22,050 Hz
    ([`ESPEAK_RATE`][nwave_core.data.spoken.ESPEAK_RATE]).

    The same arguments give the same samples, in any order and in any process: the library's
    random seed is set before the utterance.

    Args:
        text: what to say.
        accent: an eSpeak NG voice name, e.g. ``"en-us"`` (see
            [`ACCENTS`][nwave_core.data.spoken.ACCENTS]).
        variant: a voice variant, e.g. ``"f3"`` (see [`VARIANTS`][nwave_core.data.spoken.VARIANTS]),
            or None.
        rate: speaking rate in words per minute (eSpeak: 80 to 450).
        pitch: base pitch, 0 to 100 (eSpeak's scale; 50 is the voice's normal).
        pitch_range: pitch range, 0 (monotone) to 100.
        seed: eSpeak NG's random seed for this utterance.

    Returns:
        int16 ``[S]``.

    Raises:
        MissingExtraError: espeakng-loader is not installed (``pip install 'nwave-snn[spoken]'``).
        DataError: an unknown accent or variant (eSpeak would silently use another voice).
    """
    return _ESpeak.get().speak(text, accent, variant, rate, pitch, pitch_range, seed)


# --------------------------------------------------------------------------------------------
# clips


def _pink_noise(rng: np.random.Generator, length: int) -> np.ndarray:
    """Unit-RMS noise with power falling as 1/f (-3 dB per octave), DC removed."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    f = np.arange(spectrum.shape[0], dtype=np.float64)
    f[0] = np.inf
    noise = np.fft.irfft(spectrum / np.sqrt(f), n=length)
    return noise / max(float(noise.std()), 1e-12)


def _trim(audio: np.ndarray, threshold: float = 1e-3) -> np.ndarray:
    """Drop the leading and trailing samples quieter than ``threshold`` times the peak."""
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if peak == 0.0:
        return audio[:0]
    loud = np.nonzero(np.abs(audio) > threshold * peak)[0]
    return audio[loud[0]:loud[-1] + 1]


def _range(name: str, value: Any, low: float, high: float) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be a pair [low, high], got {value!r}") from None
    if not low <= a <= b <= high:
        raise DataError(f"{name} must be a pair [low, high] with {low:g} <= low <= high <= "
                        f"{high:g}, got {value!r}")
    return a, b


def _classes(words: Any) -> tuple[str, ...]:
    if isinstance(words, str):
        if words not in _PRESETS:
            raise DataError(f"unknown word set {words!r}.{did_you_mean(words, _PRESETS)} Use one "
                            f"of {', '.join(_PRESETS)} or a list of {', '.join(SPOKEN_CLASSES)}")
        return _PRESETS[words]
    chosen = tuple(str(w) for w in words)
    unknown = [w for w in chosen if w not in SPOKEN_CLASSES]
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        hints = "".join(did_you_mean(w, SPOKEN_CLASSES) for w in unknown)
        raise DataError(f"words must be distinct names of {', '.join(SPOKEN_CLASSES)}, got "
                        f"{list(chosen)!r}.{hints}")
    return chosen


def spoken_words(
    words: str | Sequence[str] = "commands",
    n_per_class: int = 100,
    test_fraction: float = 0.25,
    duration: float = 1.0,
    sample_rate: float = 16000,
    bin_s: float = 0.01,
    n_bands: int = 16,
    fmin: float = 100.0,
    fmax: float = 6000.0,
    seed: int = 0,
    accents: Sequence[str] = ACCENTS,
    variants: Sequence[str] = VARIANTS,
    rate_wpm: Sequence[float] = (130.0, 210.0),
    pitch: Sequence[float] = (20.0, 80.0),
    pitch_range: Sequence[float] = (20.0, 80.0),
    level_db: Sequence[float] = (-30.0, -3.0),
    snr_db: Sequence[float] = (10.0, 20.0, 30.0),
    noise: Sequence[str] = ("white", "pink"),
    *,
    order: int = 2,
    scale: str = "db",
    dynamic_range_db: float = 40.0,
    peak_normalize: bool = True,
    cache_dir: str | os.PathLike | None = None,
    cache: bool = True,
) -> DataSplits:
    """Speech Commands words spoken by eSpeak NG voices, through the filter bank.

    Classes are ``words``: ``"commands"`` (the ten words ``yes no up down left right on off stop
    go`` plus ``silence`` and ``unknown``,
    [`SPOKEN_CLASSES`][nwave_core.data.spoken.SPOKEN_CLASSES]), ``"yes_no"`` (the original
    SDK's tutorial task) or a list of those names. ``silence`` clips hold background noise only;
    ``unknown`` clips say one of [`UNKNOWN_WORDS`][nwave_core.data.spoken.UNKNOWN_WORDS].

    Speakers are every ``accent+variant`` pair; a random ``test_fraction`` of them (at least
    one) speaks the test set and the others the train set, so test voices are unseen. Each
    utterance draws its speaker, a rate (words per minute, uniform in ``rate_wpm``), a pitch
    and a pitch range (uniform in ``pitch`` and ``pitch_range``, eSpeak's 0-100 scales) and
    eSpeak's random seed. The word (leading and trailing silence trimmed, resampled from
    22,050 Hz to ``sample_rate``, cut to ``duration``) gets a peak level uniform in
    ``level_db`` dBFS and a uniform onset that keeps it inside the clip; the clip gets white or
    pink noise (a choice from ``noise``) at an SNR chosen from ``snr_db`` (speech RMS over the
    word / noise RMS). A ``silence`` clip's noise is as loud as under a word of the drawn level
    whose RMS is a quarter of its peak. Then
    [`filter_bank`][nwave_core.data.filterbank.filter_bank], by default relative to each clip's peak
    with a 40 dB range.

    Each class has ``n_per_class`` clips: ``round(n_per_class * test_fraction)`` in the test
    set, the rest in the train set. Everything is drawn from ``seed`` (a generator per clip), so
    the result depends only on the arguments and the eSpeak NG build; it is cached in
    ``cache_dir`` (default [`default_cache_dir`][nwave_core.data.spoken.default_cache_dir]) under a
    hash of both.

    Args:
        words: ``"commands"``, ``"yes_no"`` or a list of class names.
        n_per_class: clips per class, train and test together.
        test_fraction: share of speakers, and of each class's clips, for the test set.
        duration: clip length in seconds.
        sample_rate: sample rate of the clips, Hz.
        bin_s: time-bin width in seconds.
        n_bands: bands of the filter bank.
        fmin: lower edge of the filter bank, Hz.
        fmax: upper edge of the filter bank, Hz.
        seed: seed of every random draw and of the speaker split.
        accents: eSpeak NG voices (accents) speakers are made from.
        variants: eSpeak NG voice variants speakers are made from.
        rate_wpm: ``[low, high]`` speaking rate, words per minute.
        pitch: ``[low, high]`` base pitch, 0-100.
        pitch_range: ``[low, high]`` pitch range, 0-100.
        level_db: ``[low, high]`` peak level of the word, dBFS.
        snr_db: the SNRs (dB) a clip's noise is chosen from.
        noise: the noise colours a clip's noise is chosen from: ``"white"``, ``"pink"``.
        order: filter order, see [`filter_bank`][nwave_core.data.filterbank.filter_bank].
        scale: ``"db"`` or ``"power"``, see [`filter_bank`][nwave_core.data.filterbank.filter_bank].
        dynamic_range_db: span of the ``"db"`` scale.
        peak_normalize: features relative to each clip's peak, see
            [`filter_bank`][nwave_core.data.filterbank.filter_bank].
        cache_dir: folder of the cache (default
            [`default_cache_dir`][nwave_core.data.spoken.default_cache_dir]).
        cache: read and write the cache.

    Returns:
        [`DataSplits`][nwave_core.data.split.DataSplits] with ``train`` and ``test``
        ``TensorDataset(x [N, T, n_bands], y [N])`` (``T = floor(duration / bin_s)``); each carries
        ``classes`` and ``speakers`` (the ``accent+variant`` of every clip).

    Raises:
        MissingExtraError: espeakng-loader is not installed: ``pip install 'nwave-snn[spoken]'``.
        DataError: bad arguments (an unknown word, accent or variant, too few speakers, ...).
    """
    classes = _classes(words)
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, int) or n_per_class < 2:
        raise DataError(f"n_per_class must be an integer >= 2, got {n_per_class!r}")
    if not 0 < test_fraction < 1:
        raise DataError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    if not duration > 0:
        raise DataError(f"duration must be positive, got {duration!r}")
    _check_bank(sample_rate, n_bands, fmin, fmax, bin_s, order, scale, dynamic_range_db)
    speakers = [(a, v) for a in dict.fromkeys(accents) for v in dict.fromkeys(variants)]
    if len(speakers) < 2:
        raise DataError(f"need at least 2 speakers (accents x variants) to keep train and test "
                        f"voices apart, got {len(speakers)}")
    ranges = {
        "rate_wpm": _range("rate_wpm", rate_wpm, 80, 450),
        "pitch": _range("pitch", pitch, 0, 100),
        "pitch_range": _range("pitch_range", pitch_range, 0, 100),
        "level_db": _range("level_db", level_db, -120, 0),
    }
    try:
        snrs = [float(s) for s in snr_db]
    except (TypeError, ValueError):
        raise DataError(f"snr_db must be a list of SNRs in dB, got {snr_db!r}") from None
    noises = [str(n) for n in noise]
    if not snrs or not all(np.isfinite(snrs)):
        raise DataError(f"snr_db must list at least one finite SNR in dB, got {snr_db!r}")
    if not noises or any(n not in _NOISES for n in noises):
        raise DataError(f"noise must list colours from {', '.join(_NOISES)}, got {noise!r}")

    espeak = _ESpeak.get()
    espeak.check_voices(speakers)  # refuse unknown voices before any work

    settings = {
        "version": _SYNTH_VERSION, "espeak": espeak.version, "classes": classes,
        "n_per_class": n_per_class, "test_fraction": float(test_fraction),
        "duration": float(duration), "sample_rate": float(sample_rate), "bin_s": float(bin_s),
        "n_bands": int(n_bands), "fmin": float(fmin), "fmax": float(fmax), "seed": int(seed),
        "speakers": speakers, **ranges, "snr_db": snrs, "noise": noises, "order": int(order),
        "scale": scale, "dynamic_range_db": float(dynamic_range_db),
        "peak_normalize": bool(peak_normalize),
    }
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]
    path = Path(cache_dir if cache_dir is not None else default_cache_dir())
    path = path / f"spoken_words-{key}.npz"
    if cache and path.is_file():
        try:
            return _from_arrays(dict(np.load(path)), classes)
        except (OSError, ValueError, KeyError):
            pass  # a damaged file: make it again
    arrays = _make(settings, classes, speakers)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as stream:
            np.savez(stream, **arrays)
        os.replace(tmp, path)
    return _from_arrays(arrays, classes)


def _from_arrays(arrays: dict[str, np.ndarray], classes: tuple[str, ...]) -> DataSplits:
    names = [str(s) for s in arrays["speaker_names"]]
    parts = []
    for part in ("train", "test"):
        dataset = TensorDataset(torch.from_numpy(arrays[f"x_{part}"]),
                                torch.from_numpy(arrays[f"y_{part}"]).to(torch.int64))
        dataset.classes = list(classes)
        dataset.speakers = [names[i] for i in arrays[f"s_{part}"]]
        parts.append(dataset)
    return DataSplits(parts[0], parts[1], None, list(classes))


def _make(settings: dict[str, Any], classes: tuple[str, ...],
          speakers: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    seed = settings["seed"]
    order = np.random.default_rng([seed, 0]).permutation(len(speakers))
    n_test_speakers = min(len(speakers) - 1, max(1, round(len(speakers) * settings["test_fraction"])))
    split_speakers = {"test": order[:n_test_speakers], "train": order[n_test_speakers:]}
    n_test = min(settings["n_per_class"] - 1, max(1, round(settings["n_per_class"] *
                                                           settings["test_fraction"])))
    counts = {"train": settings["n_per_class"] - n_test, "test": n_test}
    sample_rate = settings["sample_rate"]
    length = int(round(settings["duration"] * sample_rate))
    T = num_bins(settings["duration"], settings["bin_s"])
    arrays: dict[str, np.ndarray] = {
        "speaker_names": np.array([f"{a}+{v}" for a, v in speakers]),
    }
    for part_id, part in enumerate(("train", "test")):
        n = counts[part] * len(classes)
        labels = np.arange(n) % len(classes)
        x = np.empty((n, T, settings["n_bands"]), dtype=np.float32)
        who = np.empty(n, dtype=np.int64)
        for start in range(0, n, 256):
            stop = min(n, start + 256)
            clips = np.empty((stop - start, length), dtype=np.float32)
            for i in range(start, stop):
                rng = np.random.default_rng([seed, 1 + part_id, i])
                speaker = int(rng.choice(split_speakers[part]))
                who[i] = speaker
                clips[i - start] = _clip(classes[labels[i]], speakers[speaker], rng, settings,
                                         length)
            x[start:stop] = filter_bank(
                torch.from_numpy(clips), sample_rate, settings["n_bands"], settings["fmin"],
                settings["fmax"], settings["bin_s"], n_bins=T, order=settings["order"],
                scale=settings["scale"], dynamic_range_db=settings["dynamic_range_db"],
                peak_normalize=settings["peak_normalize"],
            ).numpy()
        arrays[f"x_{part}"], arrays[f"y_{part}"], arrays[f"s_{part}"] = x, labels, who
    return arrays


def _clip(label: str, speaker: tuple[str, str], rng: np.random.Generator,
          settings: dict[str, Any], length: int) -> np.ndarray:
    """One clip of ``length`` samples: the word at its level and onset, plus noise."""
    rate = int(round(rng.uniform(*settings["rate_wpm"])))
    pitch = int(round(rng.uniform(*settings["pitch"])))
    pitch_range = int(round(rng.uniform(*settings["pitch_range"])))
    espeak_seed = int(rng.integers(1, 2**31 - 1))
    text = str(rng.choice(UNKNOWN_WORDS)) if label == "unknown" else label
    peak = 10.0 ** (rng.uniform(*settings["level_db"]) / 20.0)
    snr = float(rng.choice(settings["snr_db"]))
    colour = str(rng.choice(settings["noise"]))
    onset_u = rng.uniform()
    clip = np.zeros(length, dtype=np.float64)
    if label == "silence":
        speech_rms = peak / 4.0
    else:
        audio = synthesize(text, speaker[0], speaker[1], rate, pitch, pitch_range, espeak_seed)
        word = _trim(audio.astype(np.float64) / 32768.0)
        word = resample(word, ESPEAK_RATE, settings["sample_rate"]).astype(np.float64)[:length]
        word *= peak / max(float(np.abs(word).max()), 1e-12)
        onset = int(onset_u * (length - word.shape[0] + 1))
        clip[onset:onset + word.shape[0]] = word
        speech_rms = float(np.sqrt(np.mean(word**2)))
    background = rng.standard_normal(length) if colour == "white" else _pink_noise(rng, length)
    background /= max(float(background.std()), 1e-12)
    clip += background * speech_rms / 10.0 ** (snr / 20.0)
    return clip.astype(np.float32)
