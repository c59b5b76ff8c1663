"""Binding parameter tables to declared parameters: type checks, dry runs, blame."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import attrs
import pytest

import nwave_core
from nwave_core import Entry, hookimpl
from nwave_core.binding import bind, type_problem
from nwave_core.config import ConfigError, parse_config


@pytest.mark.parametrize("value, hint, problem", [
    (3, int, None),
    (True, int, "expected an integer, got bool True"),
    ("ten", int, "expected an integer, got str 'ten'"),
    (3, float, None),
    (3.5, int, "expected an integer, got float 3.5"),
    ("x", float | None, "expected a number or nothing (null), got str 'x'"),
    (None, float | None, None),
    ([0.9, 0.99], tuple[float, float], None),
    (5, tuple[float, float], "expected a list of 2 items, got int 5"),
    ([0.9], tuple[float, float], "expected a list of 2 items, got list [0.9]"),
    ([1, "a"], Sequence[float], "expected a list, each item a number, got list [1, 'a']"),
    ("zero", Literal["zero", "subtraction"], None),
    ("sub", Literal["zero", "subtraction"], "expected one of 'zero', 'subtraction', got str 'sub'"),
    ({"type": "atan"}, Any, None),
    ("anything", object, None),
    ([1.0, 2.0], float | Sequence[float], None),
    ("yes", bool, "expected true or false, got str 'yes'"),
])
def test_type_problem(value, hint, problem):
    assert type_problem(value, hint) == problem


def test_bind_reports_every_bad_value_of_one_component():
    def make(width: float = 1.0, count: int = 2, mode: str = "a"):
        if width <= 0:
            raise ValueError(f"thing: width must be > 0, got {width}")
        if mode not in ("a", "b"):
            raise ValueError(f"thing: mode must be 'a' or 'b', got {mode!r}")
        return (width, count, mode)

    errors: list[str] = []
    dropped: set[str] = set()
    built = bind("thing", "$.x", make, {"width": -1.0, "count": "2", "mode": "c"}, errors,
                 hints={"width": float, "count": int, "mode": str}, dropped=dropped)
    assert errors == [
        "wrong type: expected an integer, got str '2' @ $.x.count",
        "invalid value: thing: width must be > 0, got -1.0 @ $.x.width",
        "invalid value: thing: mode must be 'a' or 'b', got 'c' @ $.x.mode",
    ]
    assert built == (1.0, 2, "a") and dropped == {"count", "width", "mode"}


@attrs.frozen
class _KnobParams:
    gain: float = attrs.field(default=1.0, validator=attrs.validators.gt(0),
                              metadata={"doc": "gain"})
    taps: int = attrs.field(default=3, metadata={"doc": "taps"})


def test_a_plugin_components_declared_params_are_bound_in_configs():
    import types

    from torch import nn

    class Knob(nn.Module):
        def __init__(self, gain: float, taps: int) -> None:
            super().__init__()
            self.gain, self.taps = gain, taps

        def forward(self, x):
            return x

    @hookimpl
    def nwave_layers():
        return [Entry("KnobLayer", Knob, params=_KnobParams)]

    plugin = types.ModuleType("knobs")
    plugin.nwave_layers = nwave_layers
    nwave_core.register_plugin(plugin, "knobs")
    raw = {"model": {"layers": [{"type": "KnobLayer", "gain": -1.0, "taps": "three"}]},
           "data": {"type": "poisson_patterns", "n_samples": 8}}
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert info.value.errors[0] == (
        "wrong type: expected an integer, got str 'three' @ $.model.layers[0].taps")
    assert info.value.errors[1].startswith("invalid value: 'gain' must be > 0: -1.0")
    assert info.value.errors[1].endswith("@ $.model.layers[0].gain")
