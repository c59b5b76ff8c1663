"""The SDK's data generator: train, validation and test ``DataLoader``s from WAV files.

Two layouts under ``data_dir``:

- ``format="classification"``: ``data_dir/<class_name>/*.wav``, one folder per class
  ([`nwave_core.data.WavFolder`][nwave_core.data.wav.WavFolder]); labels are int64 class indices,
  splits are stratified by class;
- ``format="regression"``: ``data_dir/<targets_file>``, a CSV file with a header row
  ``file,<target name>[,<target name>...]`` and one row per clip (``file`` relative to
  ``data_dir``); targets are float32 ``[N, K]``, one column per target; splits are random.

Every clip goes through the chip-like frontend of [`nwave_core.data`][nwave_core.data] (padded or
trimmed to ``duration``, resampled, 16-band filter bank, time bins of ``bin_s``): ``x`` is float32
``[B, T, n_bands]`` with ``T = floor(duration / bin_s)``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from nwave_core.data import DataError, WavFolder, num_bins, train_test_split
from nwave_core.data.filterbank import _check_bank

__all__ = ["NWaveDataloaderConfig", "NWaveDataGen", "FORMATS"]

FORMATS: tuple[str, ...] = ("classification", "regression")
"""The two layouts of ``data_dir``."""


def _fraction(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not (isinstance(value, (int, float)) and 0 <= value < 1):
        raise ValueError(f"NWaveDataloaderConfig: {attribute.name} must be in [0, 1), got {value!r}")


def _positive(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or \
            not math.isfinite(value):
        raise ValueError(f"NWaveDataloaderConfig: {attribute.name} must be a number > 0, "
                         f"got {value!r}")


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@attrs.frozen(kw_only=True)
class NWaveDataloaderConfig:
    """Where the clips are, how they become features, and how they are split and batched."""

    data_dir: str = attrs.field(converter=str, metadata=_doc(
        "folder of class folders (classification) or of the targets CSV and clips (regression)"))
    format: str = attrs.field(default="classification", validator=attrs.validators.in_(FORMATS),
                              metadata=_doc("'classification' or 'regression'"))
    targets_file: str = attrs.field(default="targets.csv", metadata=_doc(
        "regression: the CSV file in data_dir (header 'file,<target>...')"))
    duration: float = attrs.field(default=1.0, validator=_positive, metadata=_doc(
        "clip length in seconds (longer clips are trimmed, shorter zero-padded)"))
    sample_rate: float = attrs.field(default=16000, validator=_positive, metadata=_doc(
        "rate the audio is resampled to, Hz"))
    bin_s: float = attrs.field(default=0.01, validator=_positive, metadata=_doc(
        "time-bin width in seconds (one step of the network)"))
    n_bands: int = attrs.field(default=16, validator=_positive, metadata=_doc(
        "bands of the filter bank (the chips' frontend has 16)"))
    fmin: float = attrs.field(default=100.0, validator=_positive, metadata=_doc(
        "lower edge of the filter bank, Hz"))
    fmax: float = attrs.field(default=6000.0, validator=_positive, metadata=_doc(
        "upper edge of the filter bank, Hz"))
    batch_size: int = attrs.field(default=32, validator=_positive, metadata=_doc(
        "samples per batch"))
    val_fraction: float = attrs.field(default=0.1, validator=_fraction, metadata=_doc(
        "share of the data for validation"))
    test_fraction: float = attrs.field(default=0.2, validator=_fraction, metadata=_doc(
        "share of the data for testing"))
    seed: int = attrs.field(default=0, metadata=_doc("seed of the split and of the shuffling"))
    shuffle: bool = attrs.field(default=True, metadata=_doc("shuffle the training batches"))
    num_workers: int = attrs.field(default=0, metadata=_doc("DataLoader worker processes"))

    def __attrs_post_init__(self) -> None:
        if self.val_fraction + self.test_fraction >= 1:
            raise ValueError(f"NWaveDataloaderConfig: val_fraction + test_fraction must be < 1, "
                             f"got {self.val_fraction} + {self.test_fraction}")


class _WavTargets(WavFolder):
    """Clips listed in a CSV file with float targets (the regression layout)."""

    def __init__(self, config: NWaveDataloaderConfig) -> None:
        _check_bank(config.sample_rate, config.n_bands, config.fmin, config.fmax, config.bin_s,
                    2, "db", 80.0)
        self.root = Path(config.data_dir)
        self.duration, self.sample_rate, self.bin_s = float(config.duration), config.sample_rate, config.bin_s
        self.n_bands, self.fmin, self.fmax = config.n_bands, config.fmin, config.fmax
        self.order, self.scale, self.dynamic_range_db = 2, "db", 80.0
        self.peak_normalize = False
        self.n_bins = num_bins(self.duration, config.bin_s)
        self.n_samples = int(round(self.duration * config.sample_rate))
        table = self.root / config.targets_file
        if not table.is_file():
            raise DataError(f"regression data needs {table} (a CSV file with the header "
                            f"'file,<target>...' and one row per clip)")
        with table.open(newline="") as stream:
            rows = [row for row in csv.reader(stream) if row]
        if len(rows) < 2 or rows[0][0].strip() != "file" or len(rows[0]) < 2:
            raise DataError(f"{table}: the first row must be the header 'file,<target>...', "
                            f"followed by one row per clip")
        self.classes = []  # no classes in regression
        self.target_names = [name.strip() for name in rows[0][1:]]
        self.samples, values = [], []
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != len(rows[0]):
                raise DataError(f"{table}, line {line}: {len(row)} cells, the header has "
                                f"{len(rows[0])}")
            path = self.root / row[0].strip()
            if not path.is_file():
                raise DataError(f"{table}, line {line}: no such file {path}")
            try:
                values.append([float(cell) for cell in row[1:]])
            except ValueError:
                raise DataError(f"{table}, line {line}: targets must be numbers, got "
                                f"{row[1:]}") from None
            self.samples.append((path, line))
        self.values = torch.tensor(values, dtype=torch.float32)

    def to_tensor_dataset(self) -> TensorDataset:
        x = torch.stack([self._features(torch.from_numpy(self.load_audio(i)))
                         for i in range(len(self))])
        return TensorDataset(x, self.values)


class NWaveDataGen:
    """Train, validation and test ``DataLoader``\\ s built from an
    [`NWaveDataloaderConfig`][nwave_core.compat.nwavesdk.data.NWaveDataloaderConfig].

    The clips are read and filtered once, on first use. ``get_dataloaders()`` returns
    ``(train, val, test)``; the same loaders are the attributes ``train_loader``,
    ``val_loader`` and ``test_loader``. The split depends only on ``seed``; so does the order of
    the shuffled training batches, epoch by epoch.

    Args:
        config: an [`NWaveDataloaderConfig`][nwave_core.compat.nwavesdk.data.NWaveDataloaderConfig],
            or its fields as keywords.

    Raises:
        DataError: a missing folder or file, or clips that cannot be read (named).
    """

    def __init__(self, config: NWaveDataloaderConfig | None = None, **fields: Any) -> None:
        if config is None:
            config = NWaveDataloaderConfig(**fields)
        elif fields:
            config = attrs.evolve(config, **fields)
        self.config = config
        self._splits: tuple[TensorDataset, TensorDataset, TensorDataset] | None = None
        self._loaders: tuple[DataLoader, DataLoader, DataLoader] | None = None

    def datasets(self) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
        """``(train, val, test)`` as ``TensorDataset(x, y)``."""
        if self._splits is None:
            self._splits = self._split()
        return self._splits

    def _split(self) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
        c = self.config
        if c.format == "classification":
            folder = WavFolder(c.data_dir, c.duration, c.sample_rate, c.bin_s, c.n_bands, c.fmin,
                               c.fmax)
            rest, test = train_test_split(folder, c.test_fraction, seed=c.seed)
            val_share = c.val_fraction / (1 - c.test_fraction)
            train, val = train_test_split(rest, val_share, seed=c.seed + 1)
            return train, val, test
        data = _WavTargets(c).to_tensor_dataset()
        x, y = data.tensors
        order = torch.from_numpy(np.random.default_rng(c.seed).permutation(len(x)))
        n_test = int(round(len(x) * c.test_fraction))
        n_val = int(round(len(x) * c.val_fraction))
        parts = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
        test, val, train = (TensorDataset(x[i.sort().values], y[i.sort().values]) for i in parts)
        return train, val, test

    def get_dataloaders(self) -> tuple[DataLoader, DataLoader, DataLoader]:
        """``(train_loader, val_loader, test_loader)``."""
        if self._loaders is None:
            c = self.config
            train, val, test = self.datasets()
            generator = torch.Generator().manual_seed(c.seed)
            self._loaders = (
                DataLoader(train, batch_size=c.batch_size, shuffle=c.shuffle,
                           generator=generator, num_workers=c.num_workers),
                DataLoader(val, batch_size=c.batch_size, num_workers=c.num_workers),
                DataLoader(test, batch_size=c.batch_size, num_workers=c.num_workers),
            )
        return self._loaders

    @property
    def train_loader(self) -> DataLoader:
        return self.get_dataloaders()[0]

    @property
    def val_loader(self) -> DataLoader:
        return self.get_dataloaders()[1]

    @property
    def test_loader(self) -> DataLoader:
        return self.get_dataloaders()[2]

    @property
    def classes(self) -> list[str]:
        """Class names (classification; empty for regression)."""
        return list(getattr(self.datasets()[0], "classes", []) or [])

    def __repr__(self) -> str:
        return f"NWaveDataGen({self.config!r})"
