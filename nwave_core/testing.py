"""Conformance checks for plugin authors and users: one call checks a component's contract.

Each raises one ``AssertionError`` listing every failed check::

    from nwave_core.testing import check_chip, check_layer, check_policy, check_surrogate

    check_surrogate(MySurrogate())
    check_policy(MyPolicy())
    check_layer(lambda: MyLayer(8))
    check_chip(MY_CHIP)
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor

from .protocols import Surrogate
from .surrogate import SurrogateBase, spike

__all__ = ["check_surrogate", "check_policy", "check_layer", "check_scheduler", "check_chip",
           "surrogate_grid"]

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


def _raise_if(failures: list[str], label: str) -> None:
    if failures:
        raise AssertionError(f"{label} failed {len(failures)} check(s):\n  " + "\n  ".join(failures))


def check_policy(policy: Any) -> None:
    """Check that a schedule policy keeps the Policy contract; raise one ``AssertionError``
    listing every failure.

    Checks: the Policy members; ``value`` returns a finite float for steps before, inside and
    after the schedule; options it does not use are ignored; ``min_value`` / ``max_value`` clip;
    the same arguments give the same value (a pure function).
    """
    from .protocols import Policy

    if not isinstance(policy, Policy):
        raise AssertionError(f"{policy!r} has no value(step, start, end, total_steps, **options)")
    failures: list[str] = []
    label = f"policy {type(policy).__name__}"
    for step in (-3, 0, 1, 5, 10, 25):
        try:
            value = policy.value(step, 2.0, 8.0, 10, step_size=3, gamma=1.5, unknown_option=1)
        except Exception as exc:  # noqa: BLE001
            failures.append(f"value(step={step}, ...) with an unknown option raised "
                            f"{type(exc).__name__}: {exc}")
            continue
        if not isinstance(value, float) or not math.isfinite(value):
            failures.append(f"value(step={step}) returned {value!r}, not a finite float")
        again = policy.value(step, 2.0, 8.0, 10, step_size=3, gamma=1.5, unknown_option=1)
        if again != value:
            failures.append(f"value(step={step}) is not pure: {value!r} then {again!r}")
        clipped = policy.value(step, 2.0, 8.0, 10, min_value=3.0, max_value=4.0)
        if not 3.0 <= clipped <= 4.0:
            failures.append(f"value(step={step}, min_value=3, max_value=4) = {clipped!r} "
                            "is not clipped")
    _raise_if(failures, label)


def check_layer(make: Any, *, batch: int = 3, steps: int = 12) -> None:
    """Check a neuron layer against the NeuronLayer contract; ``make()`` builds a fresh layer.

    Checks: the NeuronLayer members and ``spike_grad``; a sequence ``[B, T, N]`` gives 0/1
    spikes of the same shape and ``layer.mem``; ``return_mem``; feeding the steps one at a time
    gives the same spikes as the sequence; ``reset_state`` restarts; gradients reach the input;
    a ``state_dict`` round trip gives an equal layer.
    """
    from .neurons import prepare_net
    from .protocols import NeuronLayer

    failures: list[str] = []
    torch.manual_seed(0)
    layer = make().double()
    label = f"layer {type(layer).__name__}"
    if not isinstance(layer, NeuronLayer):
        raise AssertionError(f"{label} lacks the NeuronLayer members (spike_grad, reset_state)")
    width = layer.n_features() if hasattr(layer, "n_features") else layer.n_neurons
    generator = torch.Generator().manual_seed(1)
    x = (torch.rand(batch, steps, width, generator=generator, dtype=torch.float64) * 3
         ).requires_grad_()
    prepare_net(layer)
    spikes, mem = layer(x, return_mem=True)
    if spikes.shape != (batch, steps, layer.n_neurons) or mem.shape != spikes.shape:
        failures.append(f"a [{batch}, {steps}, {width}] input gave spikes {list(spikes.shape)} "
                        f"and mem {list(mem.shape)}")
    if not ((spikes == 0) | (spikes == 1)).all():
        failures.append("spikes are not exactly 0/1")
    if getattr(layer, "mem", None) is not mem:
        failures.append("layer.mem is not the membrane of the last call")
    spikes.sum().backward(retain_graph=True)
    if x.grad is None or not torch.isfinite(x.grad).all():
        failures.append("no finite gradient reached the input")
    layer.reset_state()
    stepped = torch.stack([layer(x[:, t].detach()) for t in range(steps)], dim=1)
    if not torch.equal(stepped, spikes.detach()):
        failures.append("feeding one step at a time differs from the whole sequence")
    twin = make().double()
    twin.load_state_dict(layer.state_dict())
    prepare_net(layer), prepare_net(twin)
    if not torch.equal(twin(x.detach()), layer(x.detach())):
        failures.append("a layer loaded from state_dict computes other spikes")
    _raise_if(failures, label)


def check_scheduler(make: Any, steps: int = 6) -> None:
    """Check the Scheduler contract; ``make()`` builds a fresh scheduler (with its own target).

    Checks: the Scheduler members; a scheduler stopped after some steps and restored into a
    fresh one with ``load_state_dict(state_dict())`` continues the same sequence of values.
    """
    from .protocols import Scheduler

    first = make()
    if not isinstance(first, Scheduler):
        raise AssertionError(f"{first!r} lacks step, state_dict or load_state_dict")
    whole = [first.step() for _ in range(steps)]
    cut = make()
    head = [cut.step() for _ in range(steps // 2)]
    resumed = make()
    resumed.load_state_dict(copy.deepcopy(cut.state_dict()))
    tail = [resumed.step() for _ in range(steps - steps // 2)]
    if head + tail != whole:
        raise AssertionError(f"scheduler {type(first).__name__} failed 1 check(s):\n  resumed "
                             f"from state_dict it gave {head + tail}, uninterrupted {whole}")


def check_chip(chip: Any) -> None:
    """Check a chip target: the ChipTarget members; for a ChipSpec, that its generic layers
    build and run, that ``harden`` gives a model ``validate`` accepts, and that an export loads
    back into a model computing the same spikes."""
    import tempfile
    from pathlib import Path

    from torch import nn

    from .chip import ChipSpec
    from .protocols import ChipTarget

    if not isinstance(chip, ChipTarget):
        raise AssertionError(f"{chip!r} lacks the ChipTarget members (name, validate, harden)")
    if not isinstance(chip, ChipSpec):
        return
    from .export import load_export
    from .hardware import ChipFrontend, ChipLayer, ChipSynapse
    from .neurons import prepare_net

    failures: list[str] = []
    torch.manual_seed(0)
    widths = [r.channels for r in chip.rules_of("frontend") if r.channels is not None]
    channels = widths[0] if widths else 8
    cores = [max(r.core_sizes) for r in chip.rules_of("core_fit")]
    hidden = max(1, min(12, min(cores) // 2)) if cores else 12
    layers: list[nn.Module] = [ChipFrontend(channels, chip=chip)] if widths else []
    layers += [ChipSynapse(channels, hidden, stddev=0.0, chip=chip), ChipLayer(hidden, chip=chip)]
    model = nn.Sequential(*layers)
    x = (torch.rand(2, 10, channels) < 0.4).float()
    try:
        prepare_net(model)
        model(x)
        hard = chip.harden(model)
        report = chip.validate(hard)
        if not report.ok:
            failures.append("harden(model) does not validate:\n" + report.table())
        with tempfile.TemporaryDirectory() as folder:
            loaded, spec = load_export(chip.export(hard, Path(folder) / "m.json"), chip=chip)
        if spec != chip:
            failures.append("the exported spec does not load back equal")
        prepare_net(hard), prepare_net(loaded)
        if not torch.equal(loaded(x), hard(x)):
            failures.append("the exported model computes other spikes once loaded")
    except Exception as exc:  # noqa: BLE001 - report, do not crash the check
        failures.append(f"{type(exc).__name__}: {exc}")
    _raise_if(failures, f"chip {chip.name!r}")
