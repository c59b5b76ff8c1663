"""Splits: a labelled dataset into train and test sets (stratified by class), and
[`DataSplits`][nwave_core.data.split.DataSplits], what a dataset that makes its own split
returns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import torch
from torch.utils.data import TensorDataset

from .base import DataError

__all__ = ["DataSplits", "split_dataset", "train_test_split"]


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
        dataset: a ``TensorDataset(x, y)``, an ``(x, y)`` pair of tensors, a `WavFolder`
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


@attrs.frozen
class DataSplits:
    """Train, test and optional validation sets made by a dataset itself (for example with
    disjoint speakers), which a config's ``test_fraction`` does not split again.

    Attributes:
        train: training set: a dataset of ``(x, y)`` items.
        test: held-out test set.
        val: validation set, or None.
        classes: class names by label, or None.
    """

    train: Any = attrs.field(metadata={"doc": "training set: a dataset of (x, y) items"})
    test: Any = attrs.field(metadata={"doc": "held-out test set"})
    val: Any = attrs.field(default=None, metadata={"doc": "validation set, or None"})
    classes: list[str] | None = attrs.field(default=None, metadata={
        "doc": "class names by label, or None"})


def split_dataset(built: Any, test_fraction: float = 0.2, seed: int = 0) -> DataSplits:
    """The splits of what a dataset builder returned.

    Args:
        built: a [`DataSplits`][nwave_core.data.split.DataSplits] (returned as it is) or a labelled
            dataset, split with [`train_test_split`][nwave_core.data.split.train_test_split].
        test_fraction: share of each class held out when ``built`` is not split yet.
        seed: seed of that split.

    Returns:
        The [`DataSplits`][nwave_core.data.split.DataSplits]; plain datasets come back as
        ``TensorDataset`` train and test sets and no validation set.
    """
    if isinstance(built, DataSplits):
        return built
    train, test = train_test_split(built, test_fraction, seed=seed)
    return DataSplits(train, test, None, getattr(train, "classes", None))
