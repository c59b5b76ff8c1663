"""Conformance checks for plugin authors and users: one call checks a component's contract.

>>> from nwave_core.testing import check_surrogate
>>> check_surrogate(my_surrogate)          # raises AssertionError listing every failure
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor

from .protocols import Surrogate
from .surrogate import SurrogateBase, spike

__all__ = ["check_surrogate", "surrogate_grid"]

_FLOATS = (torch.float32, torch.float64)
_HALVES = (torch.float16, torch.bfloat16)


def surrogate_grid(dtype: torch.dtype = torch.float64) -> Tensor:
    """Dense points in [-6, 6], denser near 0, shifted off round numbers so that no point lands
    exactly on a kink of a piecewise surrogate."""
    shift = 1e-4 * math.pi
    coarse = torch.linspace(-6, 6, 6001, dtype=torch.float64)
    fine = torch.linspace(-0.05, 0.05, 2001, dtype=torch.float64)
    return (torch.cat([coarse, fine]).sort().values + shift).to(dtype)


def _wide_grid(dtype: torch.dtype) -> Tensor:
    """0 and +-10^k for k in [-6, 4]: up to abs(x) = 1e4."""
    mags = torch.logspace(-6, 4, 101, dtype=torch.float64)
    return torch.cat([-mags.flip(0), torch.zeros(1, dtype=torch.float64), mags]).to(dtype)


def check_surrogate(surrogate: Any, *, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Check that ``surrogate`` keeps the surrogate contract; raise one ``AssertionError``
    listing every check that failed.

    Checks: (a) the spike function's backward is ``grad(x)``; (b) autograd of ``primitive``
    equals ``grad`` on a dense grid (float64); (c) ``grad`` and ``primitive`` are finite, and
    ``grad`` non-negative unless the class declares ``may_be_negative``, for ``abs(x)`` up to
    1e4 in float32 and float64, and forward and backward work in float16 and bfloat16;
    (d) the scheduled parameter round-trips through ``state_dict``; (e) the forward is exactly
    ``(x >= 0)`` as 0./1. in every float dtype; (f) the declared ``peak`` and ``area`` (where
    given and finite) match the gradient.

    The surrogate is not modified (checks run on copies).
    """
    failures: list[str] = []
    if not isinstance(surrogate, Surrogate):
        raise AssertionError(f"{surrogate!r} does not have the Surrogate members "
                             "(param_name, grad, primitive, __call__)")
    label = f"{type(surrogate).__name__} ({getattr(surrogate, 'name', '') or 'unnamed'})"
    s = copy.deepcopy(surrogate)
    if isinstance(s, SurrogateBase):
        s.set_spiking_mode(True)

    def fail(check: str, message: str) -> None:
        failures.append(f"({check}) {message}")

    grid = surrogate_grid()
    with torch.no_grad():
        expected = s.grad(grid)

    # (a) backward of the spike function
    x = grid.clone().requires_grad_()
    spike(x, s).backward(torch.ones_like(x))
    _compare(fail, "a", "backward of the spike function vs grad(x)", x.grad, expected, 0, 0)

    # (b) autograd of the primitive
    x = grid.clone().requires_grad_()
    s.primitive(x).sum().backward()
    _compare(fail, "b", "autograd of primitive(x) vs grad(x)", x.grad, expected, rtol, atol)

    # (c) finite, non-negative, over a wide range and in every float dtype
    negative_ok = getattr(s, "may_be_negative", False)
    for dtype in _FLOATS:
        wide = _wide_grid(dtype)
        with torch.no_grad():
            g, p = s.grad(wide), s.primitive(wide)
        if g.dtype != dtype:
            fail("c", f"grad(x) of a {dtype} input is {g.dtype}")
        if not torch.isfinite(g).all():
            fail("c", f"grad(x) is not finite in {dtype} at x = {_where_bad(wide, ~torch.isfinite(g))}")
        if not torch.isfinite(p).all():
            fail("c", f"primitive(x) is not finite in {dtype} at x = {_where_bad(wide, ~torch.isfinite(p))}")
        if not negative_ok and (g < 0).any():
            fail("c", f"grad(x) is negative in {dtype} at x = {_where_bad(wide, g < 0)}")
    for dtype in _HALVES:
        x = torch.linspace(-3, 3, 601, dtype=dtype).requires_grad_()
        try:
            out = spike(x, s)
            out.sum().backward()
        except Exception as exc:  # noqa: BLE001 - report, do not crash the check
            fail("c", f"{dtype} input raised {type(exc).__name__}: {exc}")
            continue
        if x.grad is None or x.grad.dtype != dtype or not torch.isfinite(x.grad).all():
            fail("c", f"backward of a {dtype} input is not a finite {dtype} gradient")

    # (d) the scheduled parameter through state_dict
    name = s.param_name
    if isinstance(s, torch.nn.Module):
        source, target = copy.deepcopy(s), copy.deepcopy(s)
        old = float(getattr(s, name))
        new = old * 1.5 + 0.25
        try:
            setattr(source, name, new)
            target.load_state_dict(source.state_dict())
            got = float(getattr(target, name))
            if got != new:
                fail("d", f"{name} set to {new} came back from state_dict as {got}")
            if not any(key.split(".")[-1] == name for key in source.state_dict()):
                fail("d", f"{name} is not in state_dict (keys: {list(source.state_dict())})")
        except Exception as exc:  # noqa: BLE001
            fail("d", f"setting {name} = {new} and loading state_dict raised "
                      f"{type(exc).__name__}: {exc}")
    else:
        fail("d", "the surrogate is not a torch.nn.Module, so it has no state_dict")

    # (e) exact forward
    for dtype in _FLOATS + _HALVES:
        x = torch.cat([_wide_grid(torch.float64), torch.tensor([-0.0])]).to(dtype)
        out = s(x)
        if out.dtype != dtype or not torch.equal(out, (x >= 0).to(dtype)):
            fail("e", f"forward of a {dtype} input is not exactly (x >= 0) as 0./1. in {dtype}")

    # (f) declared peak and area
    if isinstance(s, SurrogateBase):
        peak, area = s.peak_value(), s.area_value()
        if peak is not None and math.isfinite(peak):
            dense = torch.cat([grid, torch.zeros(1, dtype=grid.dtype)])
            found = float(s.grad(dense).max())
            if not math.isclose(found, peak, rel_tol=1e-3, abs_tol=1e-9):
                fail("f", f"declared peak {s.peak} = {peak:g}, but max grad(x) = {found:g}")
        if area is not None and math.isfinite(area):
            near, far = _mass(s, 1e6), _mass(s, 1e12)
            converged = math.isclose(near, far, rel_tol=1e-4, abs_tol=1e-6)
            # heavy tails (q_pseudo_spike near alpha = 1) cannot be checked numerically
            if converged and not math.isclose(far, area, rel_tol=1e-4, abs_tol=1e-6):
                fail("f", f"declared area {s.area} = {area:g}, but primitive(+inf) - "
                          f"primitive(-inf) = {far:g}")

    if failures:
        raise AssertionError(f"surrogate {label} failed {len(failures)} check(s):\n  "
                             + "\n  ".join(failures))


def _mass(s: Any, bound: float) -> float:
    """``primitive(bound) - primitive(-bound)``: the area of ``grad`` over [-bound, bound]."""
    with torch.no_grad():
        low, high = s.primitive(torch.tensor([-bound, bound], dtype=torch.float64)).tolist()
    return high - low


def _compare(fail: Any, check: str, what: str, got: Tensor | None, want: Tensor,
             rtol: float, atol: float) -> None:
    if got is None:
        fail(check, f"{what}: no gradient reached x")
        return
    bad = ~torch.isclose(got, want, rtol=rtol, atol=atol, equal_nan=False)
    if bad.any():
        i = int(bad.nonzero()[0, 0])
        fail(check, f"{what}: {int(bad.sum())} of {bad.numel()} points differ, first at "
                    f"x = {float(surrogate_grid()[i]):.6g}: {float(got[i]):.10g} vs {float(want[i]):.10g}")


def _where_bad(x: Tensor, mask: Tensor) -> str:
    points = x[mask][:3].tolist()
    return ", ".join(f"{p:.3g}" for p in points) + (" ..." if int(mask.sum()) > 3 else "")
