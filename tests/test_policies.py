"""The five built-in policies against the formulas of the spec (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import nwave_core
from nwave_core import Policy

values = st.floats(-1e3, 1e3, allow_nan=False)
positive = st.floats(1e-3, 1e3)
totals = st.integers(1, 10_000)


def policy(name):
    return nwave_core.create("policy", name)


@pytest.mark.parametrize("name", ["constant", "linear", "exp", "cosine", "step"])
def test_policies_satisfy_the_protocol(name):
    assert isinstance(policy(name), Policy)


@given(start=values, end=values, total=totals, step=st.integers(-100, 20_000))
def test_constant_is_start_everywhere(start, end, total, step):
    assert policy("constant").value(step, start, end, total) == start


@pytest.mark.parametrize("name", ["linear", "cosine"])
@given(start=values, end=values, total=totals)
def test_interpolating_policies_hit_both_ends_and_hold_past_them(name, start, end, total):
    p = policy(name)
    assert p.value(0, start, end, total) == pytest.approx(start, abs=1e-9)
    assert p.value(total, start, end, total) == pytest.approx(end, abs=1e-9)
    assert p.value(-5, start, end, total) == p.value(0, start, end, total)
    assert p.value(total + 7, start, end, total) == p.value(total, start, end, total)


@given(start=positive, end=positive, total=totals)
def test_exp_hits_both_ends(start, end, total):
    p = policy("exp")
    assert p.value(0, start, end, total) == start
    assert p.value(total, start, end, total) == end
    assert p.value(total * 3, start, end, total) == end


@pytest.mark.parametrize("name", ["linear", "exp", "cosine"])
@given(data=st.data(), total=st.integers(1, 500))
def test_monotone_between_start_and_end(name, data, total):
    start = data.draw(positive)
    end = data.draw(positive)
    p = policy(name)
    steps = sorted(data.draw(st.lists(st.integers(0, total), min_size=2, max_size=20)))
    seq = [p.value(s, start, end, total) for s in steps]
    lo, hi = min(start, end), max(start, end)
    tol = 1e-9 * hi
    assert all(lo - tol <= v <= hi + tol for v in seq)
    if end >= start:
        assert all(b >= a - tol for a, b in zip(seq, seq[1:]))
    else:
        assert all(b <= a + tol for a, b in zip(seq, seq[1:]))


@given(start=values, end=values, total=totals, step=st.integers(0, 10_000))
def test_linear_formula(start, end, total, step):
    p = min(step, total) / total
    assert policy("linear").value(step, start, end, total) == pytest.approx(
        start + (end - start) * p, abs=1e-9)


@given(start=positive, end=positive, total=totals, step=st.integers(0, 10_000))
def test_exp_formula_is_geometric(start, end, total, step):
    p = min(step, total) / total
    assert policy("exp").value(step, start, end, total) == pytest.approx(
        start * (end / start) ** p, rel=1e-12)


@given(start=values, end=values, total=st.integers(2, 10_000))
def test_cosine_is_midway_at_half_time(start, end, total):
    assume(total % 2 == 0)
    assert policy("cosine").value(total // 2, start, end, total) == pytest.approx(
        (start + end) / 2, abs=1e-9)


@given(start=values, step=st.integers(0, 200), step_size=st.integers(1, 50),
       gamma=st.floats(0.1, 3.0))
def test_step_formula(start, step, step_size, gamma):
    expected = start * gamma ** math.floor(step / step_size)
    got = policy("step").value(step, start, 0.0, 100, step_size=step_size, gamma=gamma)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_step_defaults_are_step_size_10_and_gamma_2():
    p = policy("step")
    assert [p.value(s, 1.0, 0.0, 100) for s in (0, 9, 10, 25, -3)] == [1.0, 1.0, 2.0, 4.0, 1.0]


@pytest.mark.parametrize("name", ["constant", "linear", "exp", "cosine", "step"])
@given(data=st.data())
def test_clipping_to_min_and_max(name, data):
    start, end = data.draw(positive), data.draw(positive)
    lo = data.draw(st.floats(1e-3, 1e3))
    hi = data.draw(st.floats(lo, 2e3))
    step, total = data.draw(st.integers(0, 300)), data.draw(st.integers(1, 200))
    p = policy(name)
    raw = p.value(step, start, end, total)
    clipped = p.value(step, start, end, total, min_value=lo, max_value=hi)
    assert lo <= clipped <= hi
    assert clipped == min(max(raw, lo), hi)


def test_options_a_policy_does_not_use_are_ignored():
    assert policy("linear").value(5, 0.0, 1.0, 10, step_size=3, gamma=9.0) == 0.5


@pytest.mark.parametrize("start, end", [(0.0, 1.0), (1.0, 0.0), (-1.0, 2.0)])
def test_exp_with_non_positive_ends_is_a_clear_error(start, end):
    with pytest.raises(ValueError) as info:
        policy("exp").value(0, start, end, 10)
    assert str(info.value) == (
        f"policy 'exp' needs start > 0 and end > 0, got start={start:g}, end={end:g}: "
        "a geometric schedule cannot reach or cross zero; use 'linear' or 'cosine'"
    )


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match=r"policy 'linear': total_steps must be a positive integer, got 0"):
        policy("linear").value(0, 0.0, 1.0, 0)
    with pytest.raises(ValueError, match=r"policy 'cosine': min_value \(2\) is greater than max_value \(1\)"):
        policy("cosine").value(0, 0.0, 1.0, 10, min_value=2, max_value=1)
    with pytest.raises(ValueError, match="policy 'step': step_size must be a positive integer, got 0"):
        policy("step").value(0, 1.0, 1.0, 10, step_size=0)
    with pytest.raises(ValueError, match="policy 'step': gamma must be a finite number > 0, got -1"):
        policy("step").value(0, 1.0, 1.0, 10, gamma=-1)
    with pytest.raises(ValueError, match="policy 'linear': start must be finite, got nan"):
        policy("linear").value(0, float("nan"), 1.0, 10)


def test_aliases_of_exp():
    assert type(policy("exponential")) is type(policy("exp")) is type(policy("Geometric"))


@given(start=values, total=totals, step=st.integers(-100, 1_000))
def test_constant_and_step_accept_end_none(start, total, step):
    assert policy("constant").value(step, start, None, total) == start
    assert policy("step").value(step, start, None, total, step_size=3, gamma=2.0) == \
        policy("step").value(step, start, 123.0, total, step_size=3, gamma=2.0)


def test_step_with_end_none_as_in_the_issue():
    assert policy("step").value(step=0, start=1.0, end=None, total_steps=100, step_size=3,
                                gamma=2.0) == 1.0
    assert policy("step").value(step=7, start=1.0, end=None, total_steps=100, step_size=3,
                                gamma=2.0) == 4.0


@pytest.mark.parametrize("name", ["linear", "exp", "cosine"])
def test_policies_that_use_end_reject_none_clearly(name):
    with pytest.raises(ValueError, match=rf"^policy '{name}' goes from start to end, so end "
                                         r"cannot be None; .*\(constant, step\)$"):
        policy(name).value(0, 1.0, None, 10)
