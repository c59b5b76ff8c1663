"""Data that needs no download: synthetic tasks, a chip-like filter bank, and WAV folders.

The package's modules: [`filterbank`][nwave_core.data.filterbank] (the frontend),
[`synthetic`][nwave_core.data.synthetic] (generated tasks), [`wav`][nwave_core.data.wav] (WAV files
and folders, the Speech Commands layout), [`spoken`][nwave_core.data.spoken] (words spoken by
eSpeak NG), [`pattern`][nwave_core.data.pattern] (a target rate pattern, a regression
task), [`split`][nwave_core.data.split] (train/test splits), [`names`][nwave_core.data.names]
(datasets by name). Every public name is importable from ``nwave_core.data``.

Every dataset here comes out as ``x`` float32 ``[N, T, C]`` (batch-first sequences, the nwave
convention) and ``y`` int64 ``[N]``:

- [`poisson_patterns`][nwave_core.data.synthetic.poisson_patterns]: Bernoulli spike trains from one
  fixed random rate pattern per class (the surrogate tutorial's task).
- [`audio_like`][nwave_core.data.synthetic.audio_like]: synthesized sound classes (tones, chirps,
  noise bursts, ...) passed through [`filter_bank`][nwave_core.data.filterbank.filter_bank], the
  16-band chip-like frontend, and binned in time.
- [`WavFolder`][nwave_core.data.wav.WavFolder]: ``root/<class>/*.wav`` read with the
  standard-library `wave` module, resampled, padded or trimmed to a fixed duration, then
  [`filter_bank`][nwave_core.data.filterbank.filter_bank].

Everything random is drawn from a local generator seeded by ``seed`` (never the global RNG), so
the same arguments give the same tensors. [`DATASETS`][nwave_core.data.names.DATASETS] and
[`make_dataset`][nwave_core.data.names.make_dataset] select a dataset by name (what configs use);
[`train_test_split`][nwave_core.data.split.train_test_split] makes a stratified split.

The filter bank (see [`filter_bank`][nwave_core.data.filterbank.filter_bank] for the details) is our
stand-in for the chips' 16 fixed analog filters: log-spaced Butterworth band-pass filters, evaluated
exactly in the frequency domain, whose output power is averaged over time bins of ``bin_s`` seconds
and log-compressed to ``[0, 1]``. The real chips' filter frequencies and shapes are not public:
these are nominal choices, all of them arguments.
"""

from __future__ import annotations

from .base import DataError
from .filterbank import filter_bank, num_bins
from .names import DATASETS, data_bin_s, make_dataset
from .spoken import (
    COMMAND_WORDS,
    SPOKEN_CLASSES,
    MissingExtraError,
    default_cache_dir,
    spoken_words,
    synthesize,
)
from .pattern import rate_pattern, smooth_curves
from .split import DataSplits, split_dataset, train_test_split
from .synthetic import AUDIO_CLASSES, audio_like, poisson_patterns
from .wav import WavFolder, read_wav, resample, speech_commands

__all__ = [
    "AUDIO_CLASSES",
    "COMMAND_WORDS",
    "DATASETS",
    "DataError",
    "DataSplits",
    "MissingExtraError",
    "SPOKEN_CLASSES",
    "WavFolder",
    "audio_like",
    "data_bin_s",
    "default_cache_dir",
    "filter_bank",
    "make_dataset",
    "num_bins",
    "poisson_patterns",
    "rate_pattern",
    "read_wav",
    "resample",
    "speech_commands",
    "spoken_words",
    "split_dataset",
    "synthesize",
    "train_test_split",
]
