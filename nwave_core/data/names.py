"""Datasets by name, as configs select them: the ``dataset`` registry, filled by plugins."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..suggest import did_you_mean

__all__ = ["DATASETS", "data_bin_s", "make_dataset"]


class _DatasetNames(Mapping[str, Callable[..., Any]]):
    """A live, read-only view of the ``dataset`` registry: name -> factory."""

    def _registry(self) -> Any:
        from .. import registry

        return registry("dataset")

    def __getitem__(self, name: str) -> Callable[..., Any]:
        registry = self._registry()
        if not isinstance(name, str) or name not in registry:
            raise KeyError(name)
        return registry.get(name).factory

    def __iter__(self) -> Iterator[str]:
        return iter(self._registry().names())

    def __len__(self) -> int:
        return len(self._registry())

    def __repr__(self) -> str:
        return f"DATASETS({', '.join(self)})"


DATASETS: Mapping[str, Callable[..., Any]] = _DatasetNames()
"""Dataset factories by the names configs use: a read-only view of the ``dataset`` registry
(plugins add datasets with the ``nwave_datasets`` hook; see docs/data.md)."""


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
    """Build the dataset registered as ``name`` (kind ``dataset``) from keyword parameters.

    ``make_dataset("audio_like", n_classes=6, seed=1)`` is ``audio_like(n_classes=6, seed=1)``;
    ``"wav_folder"`` returns a [`WavFolder`][nwave_core.data.wav.WavFolder] (call
    ``.to_tensor_dataset()`` for tensors); ``"spoken_words"`` and ``"speech_commands"`` return
    [`DataSplits`][nwave_core.data.split.DataSplits]. Names are compared case-insensitively, ``-``
    and ``_`` alike.

    Args:
        name: a dataset name (see [`DATASETS`][nwave_core.data.names.DATASETS] or ``nwave list
            dataset``).
        **params: keyword arguments of that dataset's factory.

    Returns:
        What the factory returns.

    Raises:
        UnknownNameError: (a ``LookupError``) no such name; the message suggests close names and
            lists the available ones.
        TypeError: an unknown or missing keyword; the message lists the accepted parameters.
    """
    from .. import registry

    reg = registry("dataset")
    key = str(name).strip().lower().replace("-", "_")
    entry = reg.get(key if key in reg else str(name))  # unknown: suggestions, available names
    if entry.params is not None:  # an attrs class validates the parameters
        return reg.create(entry.name, **params)
    builder = entry.factory
    accepted, shown, var_kw = _describe_params(builder)
    unknown = [k for k in params if k not in accepted]
    if unknown and not var_kw:
        hints = "".join(did_you_mean(k, accepted) for k in unknown)
        raise TypeError(
            f"dataset {entry.name!r} got unexpected parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}.{hints} Accepted parameters: {', '.join(shown)}."
        )
    try:
        inspect.signature(builder).bind(**params)
    except TypeError as error:
        raise TypeError(
            f"dataset {entry.name!r}: {error}. Accepted parameters: {', '.join(shown)}."
        ) from None
    return builder(**params)


def data_bin_s(name: str, params: Mapping[str, Any]) -> float | None:
    """The time-bin width (seconds per step) of a dataset's sequences, where it has one.

    It is the ``bin_s`` parameter: the one given in ``params``, else the default of the
    factory of the dataset ``name``. Layers whose ``dt`` a config leaves unset step at this
    width, so the model's time constants mean what they say on the data.

    Args:
        name: a dataset name.
        params: the parameters the dataset is built with.

    Returns:
        Seconds per time step, or None: the dataset takes no ``bin_s`` (its steps have no
        duration, as in ``poisson_patterns``), or ``name`` is unknown.
    """
    from .. import registry

    if "bin_s" in params:
        value = params["bin_s"]
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    reg = registry("dataset")
    if name not in reg:
        return None
    for param in reg.describe(name).params:
        if param.name == "bin_s" and isinstance(param.default, (int, float)):
            return float(param.default)
    return None
