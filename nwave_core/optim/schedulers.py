"""SurrogateScheduler and ParamScheduler: a policy from the registry drives numeric attributes.

``SurrogateScheduler`` keeps the original SDK's signature; ``ParamScheduler`` does the same for
any attribute or buffer (a chip layer's quantization bits, a mismatch sigma, a loss weight), so a
constraint can be tightened progressively. Both look the policy up in the ``policy`` registry, so
a third-party policy works by name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["SurrogateScheduler", "ParamScheduler"]


def _is_surrogate(obj: Any) -> bool:
    return isinstance(getattr(obj, "param_name", None), str) and callable(getattr(obj, "grad", None))


def _flatten(target: Any) -> list[Any]:
    if isinstance(target, (list, tuple)):
        return [item for part in target for item in _flatten(part)]
    return [target]


class _PolicySchedule:
    """The shared part: policy lookup, argument checks, the step index and its state."""

    _owner = "scheduler"

    def __init__(self, policy: str, start_value: float | None, end_value: float | None,
                 total_steps: int, step_size: int, gamma: float, min_value: float | None,
                 max_value: float | None, last_step: int, current: float) -> None:
        from nwave_core import create

        owner = self._owner
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"{owner}: total_steps must be an integer >= 1, got {total_steps!r}")
        if isinstance(last_step, bool) or not isinstance(last_step, int) or last_step < -1:
            raise ValueError(f"{owner}: last_step must be an integer >= -1, got {last_step!r}")
        if min_value is not None and max_value is not None and min_value > max_value:
            raise ValueError(f"{owner}: min_value ({min_value:g}) is greater than max_value "
                             f"({max_value:g})")
        self.policy_name = policy
        self.policy = create("policy", policy)
        self.start_value = float(current if start_value is None else start_value)
        self.end_value = float(self.start_value if end_value is None else end_value)
        self.total_steps = total_steps
        self.step_size = step_size
        self.gamma = gamma
        self.min_value = min_value
        self.max_value = max_value
        self.last_step = last_step
        self.last_value: float | None = None
        try:  # surface a policy's complaints (exp with a value <= 0) now, not mid-training
            self._value_at(0)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None

    def _value_at(self, step: int) -> float:
        return self.policy.value(step, self.start_value, self.end_value, self.total_steps,
                                 step_size=self.step_size, gamma=self.gamma,
                                 min_value=self.min_value, max_value=self.max_value)

    def step(self, step: int | None = None) -> float:
        """Advance to ``step`` (or the next step), write the value, and return it."""
        if step is None:
            step = self.last_step + 1
        elif isinstance(step, bool) or int(step) != step:
            raise TypeError(f"{self._owner}.step: step must be an integer, got {step!r}")
        self.last_step = int(step)
        value = self._value_at(self.last_step)
        self._apply(value)
        self.last_value = value
        return value

    def value(self, step: int | None = None) -> float:
        """The value at ``step`` (default: the current step) without writing it."""
        return self._value_at(self.last_step if step is None else step)

    def _apply(self, value: float) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Position and settings; ``load_state_dict`` on a fresh scheduler continues from here."""
        return {"last_step": self.last_step, "last_value": self.last_value,
                "start_value": self.start_value, "end_value": self.end_value,
                "policy": self.policy_name, "total_steps": self.total_steps,
                "step_size": self.step_size, "gamma": self.gamma,
                "min_value": self.min_value, "max_value": self.max_value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the position; settings in ``state`` that differ from this scheduler's win
        (so a scheduler built with ``start_value=None`` resumes from the saved start)."""
        from nwave_core import create

        if state.get("policy", self.policy_name) != self.policy_name:
            self.policy_name = state["policy"]
            self.policy = create("policy", self.policy_name)
        for key in ("last_step", "last_value", "start_value", "end_value", "total_steps",
                    "step_size", "gamma", "min_value", "max_value"):
            if key in state:
                setattr(self, key, state[key])
        if self.last_value is not None:
            self._apply(self.last_value)

    def _settings(self) -> str:
        return (f"policy={self.policy_name!r}, start_value={self.start_value:g}, "
                f"end_value={self.end_value:g}, total_steps={self.total_steps}, "
                f"last_step={self.last_step}")


class SurrogateScheduler(_PolicySchedule):
    """Schedule the sharpness of surrogate gradients over training.

    Args:
        target: a model (every surrogate in it, including each module's ``spike_grad``), one
            module, a surrogate, or a list/tuple of these. All must schedule the same parameter
            kind (``alpha`` or ``slope``).
        policy: a policy registry name: constant, linear, exp, cosine, step, or a plugin's.
        start_value: value at step 0; None: the first surrogate's current value.
        end_value: value at ``total_steps``; None: equal to ``start_value``.
        total_steps: steps that span the schedule.
        step_size: steps between multiplications (policy "step").
        gamma: factor per multiplication (policy "step").
        min_value: lower clip bound, or None.
        max_value: upper clip bound, or None.
        last_step: the index of the last step taken; ``step()`` continues from it.
    """

    _owner = "SurrogateScheduler"

    def __init__(self, target: Any, policy: str = "constant", start_value: float | None = None,
                 end_value: float | None = None, total_steps: int = 100, step_size: int = 10,
                 gamma: float = 2.0, min_value: float | None = None,
                 max_value: float | None = None, last_step: int = -1) -> None:
        self.surrogates = self._find(target)
        kinds: dict[str, str] = {}
        for s in self.surrogates:
            kinds.setdefault(s.param_name, type(s).__name__)
        if len(kinds) > 1:
            listed = ", ".join(f"{kind!r} ({cls})" for kind, cls in kinds.items())
            raise ValueError(f"SurrogateScheduler: the targets schedule different parameter "
                             f"kinds: {listed}; use one scheduler per kind")
        self.param_name = next(iter(kinds))
        current = float(getattr(self.surrogates[0], self.param_name))
        super().__init__(policy, start_value, end_value, total_steps, step_size, gamma,
                         min_value, max_value, last_step, current)

    @staticmethod
    def _find(target: Any) -> list[Any]:
        found: dict[int, Any] = {}
        for item in _flatten(target):
            candidates: Iterable[Any]
            if _is_surrogate(item):
                candidates = [item]
            elif isinstance(item, nn.Module):
                candidates = [m for m in item.modules() if _is_surrogate(m)]
                candidates += [m.spike_grad for m in item.modules()
                               if _is_surrogate(getattr(m, "spike_grad", None))]
            else:
                candidates = [item.spike_grad] if _is_surrogate(
                    getattr(item, "spike_grad", None)) else []
            for s in candidates:
                found.setdefault(id(s), s)
        if not found:
            raise ValueError(f"SurrogateScheduler: no surrogate found in the target "
                             f"({type(target).__name__}): pass a model whose layers have "
                             f"spike_grad, a layer, a surrogate, or a list of these")
        return list(found.values())

    def _apply(self, value: float) -> None:
        for s in self.surrogates:
            setattr(s, self.param_name, value)

    def __repr__(self) -> str:
        return (f"SurrogateScheduler({self.param_name!r} of {len(self.surrogates)} "
                f"surrogate(s), {self._settings()})")


class ParamScheduler(_PolicySchedule):
    """Schedule any numeric attribute, buffer or parameter with a policy.

    ``attribute`` is looked up on each target; a target that is a module is searched
    recursively, so ``ParamScheduler(model, "stddev", ...)`` reaches every synapse with a
    ``stddev``. Tensors are filled in place (their dtype kept); integer attributes get the value
    rounded (e.g. quantization bits).

    Args:
        target: an object or module, or a list/tuple of them.
        attribute: the attribute name.
        policy: a policy registry name.
        start_value: value at step 0; None: the first attribute's current value.
        end_value: value at ``total_steps``; None: equal to ``start_value``.
        total_steps: steps that span the schedule.
        step_size: steps between multiplications (policy "step").
        gamma: factor per multiplication (policy "step").
        min_value: lower clip bound, or None.
        max_value: upper clip bound, or None.
        last_step: the index of the last step taken; ``step()`` continues from it.
        cast: ``int`` or ``float`` to force the written type; None: the current value's type.
    """

    _owner = "ParamScheduler"

    def __init__(self, target: Any, attribute: str, policy: str = "constant",
                 start_value: float | None = None, end_value: float | None = None,
                 total_steps: int = 100, step_size: int = 10, gamma: float = 2.0,
                 min_value: float | None = None, max_value: float | None = None,
                 last_step: int = -1, cast: type | None = None) -> None:
        if cast not in (None, int, float):
            raise ValueError(f"ParamScheduler: cast must be None, int or float, got {cast!r}")
        self.attribute = attribute
        self.cast = cast
        self.holders = self._find(target, attribute)
        current = getattr(self.holders[0], attribute)
        if current is None and start_value is None:
            raise ValueError(f"ParamScheduler: {attribute!r} is None on the target; give a "
                             f"start_value")
        if cast is None and current is None and all(
                isinstance(v, int) and not isinstance(v, bool) for v in (start_value, end_value)):
            self.cast = int  # e.g. quantization_bits that start as None
        current_value = 0.0 if current is None else float(current)
        super().__init__(policy, start_value, end_value, total_steps, step_size, gamma,
                         min_value, max_value, last_step, current_value)

    @staticmethod
    def _find(target: Any, attribute: str) -> list[Any]:
        found: dict[int, Any] = {}
        for item in _flatten(target):
            holders: Sequence[Any] = (
                [m for m in item.modules() if hasattr(m, attribute)]
                if isinstance(item, nn.Module) else ([item] if hasattr(item, attribute) else []))
            for h in holders:
                found.setdefault(id(h), h)
        if not found:
            raise ValueError(f"ParamScheduler: no target has an attribute {attribute!r}")
        return list(found.values())

    def _apply(self, value: float) -> None:
        for holder in self.holders:
            current = getattr(holder, self.attribute)
            if isinstance(current, Tensor):
                with torch.no_grad():
                    current.fill_(value)
                continue
            cast = self.cast or (int if isinstance(current, int) and not isinstance(current, bool)
                                 else float)
            setattr(holder, self.attribute, int(math.floor(value + 0.5)) if cast is int else float(value))

    def __repr__(self) -> str:
        return (f"ParamScheduler({self.attribute!r} of {len(self.holders)} target(s), "
                f"{self._settings()})")
