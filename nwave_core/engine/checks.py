"""Input checks shared by every path of the engine: one message per mistake, naming the argument.

[`prepare`][nwave_core.engine.checks.prepare] validates the arguments of
[`nwave_core.engine.lif_sequence`][nwave_core.engine.lif_sequence] and
[`nwave_core.engine.lif_sequence_reference`][nwave_core.engine.reference.lif_sequence_reference] and
casts them to one compute dtype (the promotion of ``current`` and the inputs with dimensions; 0-d
parameters follow it).
"""

from __future__ import annotations

import numbers
from typing import Any

import torch
from torch import Tensor

from ..chip import RESETS

__all__ = ["prepare", "is_spiking", "surrogate_params"]


def _shape(t: Tensor) -> str:
    return "[" + ", ".join(str(d) for d in t.shape) + "]"


def is_spiking(surrogate: Any) -> bool:
    """False for a surrogate in primitive mode (``spiking=False``): it outputs ``P(x)``."""
    return getattr(surrogate, "spiking", True) is not False


def surrogate_params(surrogate: Any) -> tuple[Tensor, ...]:
    """The surrogate's parameters that require a gradient (its learnable shape), in order."""
    parameters = getattr(surrogate, "parameters", None)
    if not callable(parameters):
        return ()
    return tuple(p for p in parameters() if p.requires_grad)


def _as_param(name: str, value: Any, n: int, current: Tensor) -> Tensor:
    """``beta`` / ``threshold`` as a 0-d or ``[N]`` tensor on current's device."""
    if isinstance(value, bool) or not isinstance(value, (Tensor, numbers.Real)):
        raise ValueError(f"{name} must be a number, a 0-d tensor or a [N] = [{n}] tensor, "
                         f"got {type(value).__name__}")
    if not isinstance(value, Tensor):
        return torch.tensor(float(value), dtype=current.dtype, device=current.device)
    if value.dim() != 0 and tuple(value.shape) != (n,):
        raise ValueError(f"{name} must be a 0-d tensor or [N] = [{n}], got {_shape(value)}")
    if not value.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {value.dtype}")
    _check_device(name, value, current)
    return value


def _check_device(name: str, value: Tensor, current: Tensor) -> None:
    if value.device != current.device:
        raise ValueError(f"{name} must be on current's device {current.device}, "
                         f"got {value.device}")


def _check_state(name: str, value: Any, b: int, n: int, current: Tensor) -> Tensor | None:
    if value is None:
        return None
    if not isinstance(value, Tensor):
        raise ValueError(f"{name} must be None or a [B, N] = [{b}, {n}] tensor, "
                         f"got {type(value).__name__}")
    if tuple(value.shape) != (b, n):
        raise ValueError(f"{name} must be [B, N] = [{b}, {n}], got {_shape(value)}")
    _check_device(name, value, current)
    return value


def _check_surrogate(surrogate: Any) -> None:
    if not callable(getattr(surrogate, "grad", None)):
        raise ValueError(f"surrogate must have a grad(x) method (a nwave_core.SurrogateBase), "
                         f"got {surrogate!r}")
    if not is_spiking(surrogate) and not callable(getattr(surrogate, "primitive", None)):
        raise ValueError(f"surrogate is in primitive mode (spiking=False) but has no "
                         f"primitive(x) method: {surrogate!r}")


def prepare(current: Any, beta: Any, threshold: Any, surrogate: Any, reset: Any, floor: Any,
            recurrent_weight: Any, v0: Any, s0: Any, detach_reset: Any) -> tuple:
    """Validate the inputs and cast them to one compute dtype (differentiably).

    Returns:
        ``(current, beta, threshold, reset, floor, weight, v0, s0, detach_reset)``.

    Raises:
        ValueError: an argument of the wrong type, shape, dtype or device (named).
    """
    if not isinstance(current, Tensor) or current.dim() != 3:
        got = _shape(current) if isinstance(current, Tensor) else type(current).__name__
        raise ValueError(f"current must be a [B, T, N] tensor, got {got}")
    if not current.is_floating_point():
        raise ValueError(f"current must be a floating-point tensor, got {current.dtype}")
    b, t, n = current.shape
    if t < 1:
        raise ValueError(f"current must have at least one time step, got {_shape(current)}")
    _check_surrogate(surrogate)
    if not isinstance(reset, str) or reset not in RESETS:
        raise ValueError(f"reset must be one of {', '.join(map(repr, RESETS))}, got {reset!r}")
    if floor is not None:
        if isinstance(floor, Tensor) and floor.numel() == 1:
            floor = floor.item()
        if isinstance(floor, bool) or not isinstance(floor, numbers.Real):
            raise ValueError(f"floor must be None or a number, got {floor!r}")
        floor = float(floor)
    if not isinstance(detach_reset, bool):
        raise ValueError(f"detach_reset must be True or False, got {detach_reset!r}")
    beta = _as_param("beta", beta, n, current)
    threshold = _as_param("threshold", threshold, n, current)
    weight = recurrent_weight
    if weight is not None:
        if not isinstance(weight, Tensor) or tuple(weight.shape) != (n, n):
            got = _shape(weight) if isinstance(weight, Tensor) else type(weight).__name__
            raise ValueError(f"recurrent_weight must be [N, N] = [{n}, {n}], got {got}")
        if not weight.is_floating_point():
            raise ValueError(f"recurrent_weight must be a floating-point tensor, "
                             f"got {weight.dtype}")
        _check_device("recurrent_weight", weight, current)
    v0 = _check_state("v0", v0, b, n, current)
    s0 = _check_state("s0", s0, b, n, current)
    # compute dtype: promotion over the inputs with dimensions; 0-d parameters follow
    dtype = current.dtype
    for x in (beta, threshold, weight, v0):
        if x is not None and x.dim() > 0 and x.is_floating_point():
            dtype = torch.promote_types(dtype, x.dtype)

    def cast(x: Tensor | None) -> Tensor | None:
        return None if x is None else x.to(dtype)  # no-op (no graph node) when already dtype

    return (cast(current), cast(beta), cast(threshold), reset, floor, cast(weight), cast(v0),
            cast(s0), detach_reset)
