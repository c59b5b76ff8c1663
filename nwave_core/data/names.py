"""Datasets by name, as configs select them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from ..errors import UnknownNameError
from ..suggest import close_matches, did_you_mean
from .synthetic import audio_like, poisson_patterns
from .wav import WavFolder

__all__ = ["DATASETS", "make_dataset"]


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
