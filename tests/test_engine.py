"""The multi-step neuron engine (nwave_core.engine) against its per-step reference."""

from __future__ import annotations

import contextlib
import os
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import nwave_core.engine as engine
from nwave_core import SurrogateBase
from nwave_core.engine import lif_sequence, lif_sequence_reference
from nwave_plugins.surrogates import ATan, FastSigmoid, Sigmoid

RESETS = ("zero", "subtraction", "none")
F64 = torch.float64


class ShiftedGaussian(SurrogateBase):
    """A test-only surrogate, off-centre on purpose: a wrong argument shows up at once."""

    name, param_name = "shifted_gaussian", "width"

    def __init__(self, width: float = 0.6, **kwargs):
        super().__init__(width, **kwargs)

    def grad(self, x):
        return torch.exp(-(((x - 0.15) / self.width) ** 2))

    def primitive(self, x):
        return 0.5 * self.width * torch.pi ** 0.5 * (1 + torch.erf((x - 0.15) / self.width))


class Triangle(SurrogateBase):
    """Compact support: zero gradient farther than ``width`` from the threshold."""

    name, param_name = "test_triangle", "width"

    def __init__(self, width: float = 0.05, **kwargs):
        super().__init__(width, **kwargs)

    def grad(self, x):
        return torch.clamp(1 - x.abs() / self.width, min=0) / self.width

    def primitive(self, x):  # pragma: no cover - not used by the engine
        raise NotImplementedError


SURROGATES = {
    "atan": lambda: ATan(alpha=2.0),
    "fast_sigmoid": lambda: FastSigmoid(slope=4.0),
    "sigmoid": lambda: Sigmoid(slope=3.0),
    "custom": lambda: ShiftedGaussian(width=0.6),
}


#: the engine's two implementations of its loops: compiled (when a compiler is available) and
#: pure PyTorch (the fallback, forced by NWAVE_NO_EXTENSION=1)
PATHS = ("compiled", "pytorch")
#: NWAVE_NO_EXTENSION=1 for the whole run: the compiled loop is neither built nor tested
NO_EXTENSION = engine.native.disabled()


def compiled_available() -> bool:
    return not NO_EXTENSION and engine.native.load() is not None


@contextlib.contextmanager
def loops(path: str):
    """Run the engine with its compiled loops or its pure-PyTorch ones."""
    if path == "compiled" and not compiled_available():
        pytest.skip(f"no compiled loop: {engine.extension_status()}")
    saved = os.environ.get("NWAVE_NO_EXTENSION")
    if path == "pytorch":
        os.environ["NWAVE_NO_EXTENSION"] = "1"
    else:
        os.environ.pop("NWAVE_NO_EXTENSION", None)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("NWAVE_NO_EXTENSION", None)
        else:
            os.environ["NWAVE_NO_EXTENSION"] = saved


@contextlib.contextmanager
def block_elements(value: int | None):
    """Run the backward with blocks of ``value`` elements (None: the default)."""
    saved = engine.backward.BLOCK_ELEMENTS
    if value is not None:
        engine.backward.BLOCK_ELEMENTS = value
    try:
        yield
    finally:
        engine.backward.BLOCK_ELEMENTS = saved


def make_case(b, t, n, *, seed, dtype=F64, per_neuron_beta=True, per_neuron_threshold=True,
              recurrent=True, with_v0=True, with_s0=True, scale=1.0):
    """Inputs of one call, all that can take a gradient requiring it."""
    gen = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.rand(*shape, generator=gen, dtype=F64)

    def randn(*shape):
        return torch.randn(*shape, generator=gen, dtype=F64)

    beta = 0.3 + 0.69 * rand(n) if per_neuron_beta else torch.tensor(0.9, dtype=F64)
    threshold = 0.4 + rand(n) if per_neuron_threshold else torch.tensor(1.0, dtype=F64)
    case = {
        "current": scale * randn(b, t, n) + 0.3,
        "beta": beta,
        "threshold": threshold,
        "recurrent_weight": 0.8 * randn(n, n) if recurrent else None,
        "v0": randn(b, n) if with_v0 else None,
        "s0": (rand(b, n) < 0.4).to(F64) if with_s0 else None,
    }
    return {k: None if v is None else v.to(dtype).requires_grad_() for k, v in case.items()}


def run(fn, case, surrogate, **options):
    """Outputs, and gradients of a fixed random mix of them w.r.t. every input (None -> 0)."""
    spikes, mem = fn(case["current"], case["beta"], case["threshold"], surrogate,
                     recurrent_weight=case["recurrent_weight"], v0=case["v0"], s0=case["s0"],
                     **options)
    gen = torch.Generator().manual_seed(7)
    w_spikes = torch.randn(spikes.shape, generator=gen, dtype=F64).to(spikes.dtype)
    w_mem = torch.randn(mem.shape, generator=gen, dtype=F64).to(mem.dtype)
    return spikes, mem, w_spikes, w_mem


def gradients(case, loss):
    names = [k for k, v in case.items() if v is not None]
    grads = torch.autograd.grad(loss, [case[k] for k in names], allow_unused=True)
    return {k: torch.zeros_like(case[k]) if g is None else g for k, g in zip(names, grads)}


def compare(case, surrogate, outputs="both", **options):
    """Engine and reference: identical outputs, gradients equal to rounding."""
    results = []
    for fn in (lif_sequence, lif_sequence_reference):
        spikes, mem, w_spikes, w_mem = run(fn, case, surrogate, **options)
        loss = {"both": (spikes * w_spikes).sum() + (mem * w_mem).sum(),
                "spikes": (spikes * w_spikes).sum(), "mem": (mem * w_mem).sum()}[outputs]
        results.append((spikes, mem, gradients(case, loss)))
    (spikes, mem, grads), (ref_spikes, ref_mem, ref_grads) = results
    assert spikes.dtype == ref_spikes.dtype and mem.dtype == ref_mem.dtype
    assert torch.equal(spikes, ref_spikes)
    assert torch.equal(mem, ref_mem)
    for name, ref in ref_grads.items():
        torch.testing.assert_close(grads[name], ref, msg=lambda m, k=name: f"d/d {k}: {m}")
    return spikes, mem


# -- engine == reference -------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(b=st.integers(1, 3), t=st.integers(1, 12), n=st.integers(1, 6),
       reset=st.sampled_from(RESETS), floor=st.sampled_from([None, 0.0, -0.4]),
       recurrent=st.booleans(), per_neuron_beta=st.booleans(),
       per_neuron_threshold=st.booleans(), detach_reset=st.booleans(),
       with_v0=st.booleans(), with_s0=st.booleans(),
       surrogate=st.sampled_from(sorted(SURROGATES)),
       outputs=st.sampled_from(["both", "both", "spikes", "mem"]),
       block=st.sampled_from([None, 1, 12, 40]), scale=st.sampled_from([0.5, 1.0, 2.5]),
       seed=st.integers(0, 2 ** 31 - 1))
@pytest.mark.parametrize("path", PATHS)
def test_engine_matches_reference(path, b, t, n, reset, floor, recurrent, per_neuron_beta,
                                  per_neuron_threshold, detach_reset, with_v0, with_s0,
                                  surrogate, outputs, block, scale, seed):
    case = make_case(b, t, n, seed=seed, per_neuron_beta=per_neuron_beta,
                     per_neuron_threshold=per_neuron_threshold, recurrent=recurrent,
                     with_v0=with_v0, with_s0=with_s0, scale=scale)
    with loops(path), block_elements(block):
        compare(case, SURROGATES[surrogate](), outputs=outputs, reset=reset, floor=floor,
                detach_reset=detach_reset)


@pytest.mark.parametrize("reset", RESETS)
@pytest.mark.parametrize("floor", [None, 0.0])
@pytest.mark.parametrize("detach_reset", [False, True])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("path", PATHS)
def test_every_mode_on_a_larger_case(path, reset, floor, detach_reset, recurrent):
    """Every mode once at a size where blocks, vector kernels and spikes all take part."""
    case = make_case(4, 40, 24, seed=3, recurrent=recurrent)
    with loops(path), block_elements(4 * 24 * 7):  # blocks of 7 steps: 40 = 5 * 7 + 5
        spikes, _ = compare(case, ATan(alpha=2.0), reset=reset, floor=floor,
                            detach_reset=detach_reset)
    assert 0.05 < spikes.mean() < 0.95


def test_scalar_parameters_and_default_state():
    """0-d beta and threshold (reduced gradients), no v0 / s0 / recurrence."""
    case = make_case(3, 9, 4, seed=11, per_neuron_beta=False, per_neuron_threshold=False,
                     recurrent=False, with_v0=False, with_s0=False)
    compare(case, Sigmoid(slope=3.0), reset="subtraction")
    compare(case, FastSigmoid(slope=4.0), reset="zero", floor=0.0)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("reset, floor", [("zero", 0.0), ("subtraction", None),
                                          ("none", -0.5)])
def test_float32_forward_is_bit_identical_and_gradients_close(path, reset, floor):
    case = make_case(4, 30, 16, seed=5, dtype=torch.float32)
    with loops(path):
        for fn in (lif_sequence, lif_sequence_reference):
            assert fn(case["current"], case["beta"], case["threshold"], ATan())[0].dtype == \
                torch.float32
        results = []
        for fn in (lif_sequence, lif_sequence_reference):
            spikes, mem, w_spikes, w_mem = run(fn, case, ATan(), reset=reset, floor=floor)
            loss = (spikes * w_spikes).sum() + (mem * w_mem).sum()
            results.append((spikes, mem, gradients(case, loss)))
    (spikes, mem, grads), (ref_spikes, ref_mem, ref_grads) = results
    assert torch.equal(spikes, ref_spikes) and torch.equal(mem, ref_mem)
    for name, ref in ref_grads.items():
        torch.testing.assert_close(grads[name], ref, rtol=1e-4, atol=1e-4)


def test_bfloat16_runs():
    case = make_case(2, 6, 5, seed=2, dtype=torch.bfloat16)
    spikes, mem, _, _ = run(lif_sequence, case, ATan(), reset="subtraction", floor=0.0)
    assert spikes.dtype == mem.dtype == torch.bfloat16
    (spikes.sum() + mem.sum()).backward()
    assert case["current"].grad.dtype == torch.bfloat16
    assert torch.isfinite(case["current"].grad.float()).all()


def test_dtype_follows_torch_promotion():
    current = torch.randn(2, 3, 4)
    spikes, mem = lif_sequence(current, torch.tensor(0.9, dtype=F64), 1.0, ATan())
    assert spikes.dtype == mem.dtype == torch.float32  # a 0-d parameter follows current
    spikes, mem = lif_sequence(current, torch.full((4,), 0.9, dtype=F64), 1.0, ATan())
    assert spikes.dtype == mem.dtype == F64


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("recurrent", [True, False])
def test_gradcheck_against_finite_differences(path, recurrent):
    """gradcheck sees the step functions as flat, so: a compact surrogate and inputs that stay
    away from the threshold (and the floor) make the spikes' true derivative zero, and every
    other path of the backward (leak, resets, floor, recurrence, v0, beta, threshold) is
    checked against finite differences."""
    with loops(path):
        _gradcheck(recurrent)


def _gradcheck(recurrent):
    surrogate = Triangle(width=0.05)
    for reset, floor in (("subtraction", None), ("zero", 0.0), ("subtraction", -0.3),
                         ("none", None)):
        for seed in range(200):
            case = make_case(2, 5, 3, seed=seed, scale=1.5)
            if not recurrent:
                case["recurrent_weight"] = torch.zeros(3, 3, dtype=F64)
            with torch.no_grad():
                spikes, mem = lif_sequence_reference(
                    case["current"], case["beta"], case["threshold"], surrogate, reset=reset,
                    floor=floor, recurrent_weight=case["recurrent_weight"], v0=case["v0"],
                    s0=case["s0"])
                v_prev = torch.cat([case["v0"].unsqueeze(1), mem[:, :-1]], 1)
                s_prev = torch.cat([case["s0"].unsqueeze(1), spikes[:, :-1]], 1)
                u = case["beta"] * v_prev + case["current"] + s_prev @ case["recurrent_weight"]
                after_reset = {"zero": u * (1 - spikes), "none": u,
                               "subtraction": u - spikes * case["threshold"]}[reset]
            far_from_threshold = (u - case["threshold"]).abs().min() > 0.1
            # a zero reset lands exactly on a floor of 0 whatever u is: flat, fine
            far_from_floor = floor is None or ((after_reset - floor).abs() > 0.05).logical_or(
                (spikes > 0) & (reset == "zero")).all()
            if far_from_threshold and far_from_floor and spikes.sum() > 0:
                break
        else:  # pragma: no cover - 200 seeds always give one
            pytest.fail("no suitable case")
        inputs = (case["current"], case["beta"], case["threshold"], case["v0"])
        if recurrent:
            inputs += (case["recurrent_weight"],)

        s0 = case["s0"].detach()

        def fn(current, beta, threshold, v0, weight=None, reset=reset, floor=floor, s0=s0):
            return lif_sequence(current, beta, threshold, surrogate, reset=reset, floor=floor,
                                recurrent_weight=weight, v0=v0, s0=s0)

        assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("path", PATHS)
def test_a_sequence_in_pieces_equals_one_call(path):
    """v0/s0 from the previous piece's last step: same outputs, same gradients (s0 included)."""
    with loops(path):
        _sequence_in_pieces()


def _sequence_in_pieces():
    case = make_case(3, 16, 5, seed=9, with_v0=False, with_s0=False)
    options = dict(reset="subtraction", floor=0.0)
    whole = lif_sequence(case["current"], case["beta"], case["threshold"], ATan(),
                         recurrent_weight=case["recurrent_weight"], **options)
    first = lif_sequence(case["current"][:, :7], case["beta"], case["threshold"], ATan(),
                         recurrent_weight=case["recurrent_weight"], **options)
    second = lif_sequence(case["current"][:, 7:], case["beta"], case["threshold"], ATan(),
                          recurrent_weight=case["recurrent_weight"], v0=first[1][:, -1],
                          s0=first[0][:, -1], **options)
    pieces = tuple(torch.cat([a, b], 1) for a, b in zip(first, second))
    assert torch.equal(whole[0], pieces[0]) and torch.equal(whole[1], pieces[1])
    gen = torch.Generator().manual_seed(1)
    weights = [torch.randn(whole[0].shape, generator=gen, dtype=F64) for _ in range(2)]
    g_whole = gradients(case, sum((o * w).sum() for o, w in zip(whole, weights)))
    g_pieces = gradients(case, sum((o * w).sum() for o, w in zip(pieces, weights)))
    for name in g_whole:
        torch.testing.assert_close(g_pieces[name], g_whole[name])


@pytest.mark.parametrize("path", PATHS)
def test_without_grad_the_same_values_and_no_graph(path):
    with loops(path):
        _without_grad()


def _without_grad():
    case = make_case(2, 8, 4, seed=4)
    args = (case["current"], case["beta"], case["threshold"], ATan())
    kwargs = dict(recurrent_weight=case["recurrent_weight"], v0=case["v0"], s0=case["s0"])
    for reset in RESETS:
        for floor in (None, 0.0):
            with_grad = lif_sequence(*args, reset=reset, floor=floor, **kwargs)
            with torch.no_grad():
                without = lif_sequence(*args, reset=reset, floor=floor, **kwargs)
            assert not without[0].requires_grad and not without[1].requires_grad
            assert torch.equal(with_grad[0], without[0])
            assert torch.equal(with_grad[1], without[1])


# -- one backward node, whatever T ----------------------------------------------------------


def graph_nodes(tensor):
    seen, stack = set(), [tensor.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(next_node for next_node, _ in node.next_functions)
    return seen


@pytest.mark.parametrize("recurrent", [False, True])
def test_backward_graph_does_not_grow_with_t(recurrent):
    sizes = {}
    for steps in (3, 200):
        case = make_case(2, steps, 4, seed=0, recurrent=recurrent)
        spikes, mem, _, _ = run(lif_sequence, case, ATan())
        assert spikes.grad_fn is mem.grad_fn
        node = spikes.grad_fn
        assert "LIFSequence" in type(node).__name__
        # the node's inputs are the leaves themselves: one AccumulateGrad each
        leaves = [next_node.variable for next_node, _ in node.next_functions
                  if next_node is not None]
        expected = [v for v in case.values() if v is not None]
        assert len(leaves) == len(expected)
        assert all(any(leaf is v for v in expected) for leaf in leaves)
        sizes[steps] = len(graph_nodes(spikes))
        ref_spikes = run(lif_sequence_reference, case, ATan())[0]
        sizes[("reference", steps)] = len(graph_nodes(ref_spikes))
    assert sizes[3] == sizes[200] == 1 + len(expected)
    assert sizes[("reference", 200)] > 10 * sizes[("reference", 3)]  # the per-step graph


# -- input checks ---------------------------------------------------------------------------


def good_args(b=3, t=4, n=5):
    return dict(current=torch.zeros(b, t, n), beta=torch.tensor(0.9), threshold=torch.ones(n),
                surrogate=ATan())


def call(fn, **changes):
    args = good_args()
    args.update(changes)
    fn(args.pop("current"), args.pop("beta"), args.pop("threshold"), args.pop("surrogate"),
       **args)


BAD_INPUTS = [
    (dict(current=torch.zeros(4, 5)), "current must be a [B, T, N] tensor, got [4, 5]"),
    (dict(current=torch.zeros(3, 4, 5, dtype=torch.int64)),
     "current must be a floating-point tensor, got torch.int64"),
    (dict(current=torch.zeros(3, 0, 5)), "current must have at least one time step"),
    (dict(beta=torch.ones(3)), "beta must be a 0-d tensor or [N] = [5], got [3]"),
    (dict(beta="0.9"), "beta must be a number, a 0-d tensor or a [N] = [5] tensor, got str"),
    (dict(threshold=torch.ones(5, 1)), "threshold must be a 0-d tensor or [N] = [5], got [5, 1]"),
    (dict(surrogate=object()), "surrogate must have a grad(x) method"),
    (dict(reset="hard"), "reset must be one of 'zero', 'subtraction', 'none', got 'hard'"),
    (dict(floor="0"), "floor must be None or a number, got '0'"),
    (dict(recurrent_weight=torch.zeros(5, 4)),
     "recurrent_weight must be [N, N] = [5, 5], got [5, 4]"),
    (dict(recurrent_weight=torch.zeros(5)), "recurrent_weight must be [N, N] = [5, 5], got [5]"),
    (dict(v0=torch.zeros(2, 5)), "v0 must be [B, N] = [3, 5], got [2, 5]"),
    (dict(s0=torch.zeros(3, 5, 1)), "s0 must be [B, N] = [3, 5], got [3, 5, 1]"),
    (dict(detach_reset="yes"), "detach_reset must be True or False, got 'yes'"),
]


@pytest.mark.parametrize("fn", [lif_sequence, lif_sequence_reference])
@pytest.mark.parametrize("changes, message", BAD_INPUTS)
def test_bad_input_is_named(fn, changes, message):
    with pytest.raises(ValueError) as info:
        call(fn, **changes)
    assert message in str(info.value)


def test_recurrent_weight_message_of_the_spec():
    current = torch.zeros(2, 3, 50)
    with pytest.raises(ValueError, match=r"recurrent_weight must be \[N, N\] = \[50, 50\], "
                                         r"got \[50, 40\]"):
        lif_sequence(current, 0.9, 1.0, ATan(), recurrent_weight=torch.zeros(50, 40))


def test_numbers_are_accepted_for_beta_threshold_and_floor():
    current = torch.randn(2, 5, 3, dtype=F64)
    a = lif_sequence(current, 0.9, 1.0, ATan(), floor=0)
    b = lif_sequence(current, torch.tensor(0.9, dtype=F64), torch.tensor(1.0, dtype=F64),
                     ATan(), floor=0.0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


# -- the compiled loops and their fallback ----------------------------------------------------


def sequence_outputs(case, surrogate=None, **options):
    spikes, mem = lif_sequence(case["current"], case["beta"], case["threshold"],
                               surrogate or ATan(),
                               recurrent_weight=case["recurrent_weight"], v0=case["v0"],
                               s0=case["s0"], **options)
    gen = torch.Generator().manual_seed(3)
    loss = ((spikes * torch.randn(spikes.shape, generator=gen).to(spikes.dtype)).sum()
            + (mem * torch.randn(mem.shape, generator=gen).to(mem.dtype)).sum())
    return spikes, mem, gradients(case, loss)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("reset, floor, detach_reset",
                         [("subtraction", None, False), ("subtraction", 0.0, True),
                          ("zero", 0.0, False), ("none", None, False), ("none", -0.3, True)])
def test_compiled_and_pytorch_loops_agree(dtype, recurrent, reset, floor, detach_reset):
    """The two implementations at a size with several blocks: identical outputs, gradients
    equal to rounding, per-neuron and 0-d parameters, with and without initial state."""
    if not compiled_available():
        pytest.skip(f"no compiled loop: {engine.extension_status()}")
    for per_neuron, with_state in ((True, True), (False, False)):
        case = make_case(5, 64, 33, seed=21, dtype=dtype, recurrent=recurrent,
                         per_neuron_beta=per_neuron, per_neuron_threshold=per_neuron,
                         with_v0=with_state, with_s0=with_state)
        options = dict(reset=reset, floor=floor, detach_reset=detach_reset)
        results = {}
        for path in PATHS:
            with loops(path), block_elements(5 * 33 * 10):
                results[path] = sequence_outputs(case, **options)
        (spikes, mem, grads), (ref_spikes, ref_mem, ref_grads) = (results["compiled"],
                                                                  results["pytorch"])
        assert torch.equal(spikes, ref_spikes) and torch.equal(mem, ref_mem)
        assert 0.02 < float(spikes.detach().float().mean()) < 0.98
        # float32: the two loops round differently, amplified by 64 steps of a recurrence whose
        # weights (0.8 randn, 33 x 33) grow the gradient; float64 holds the default tolerance
        tol = dict(rtol=2e-3, atol=1e-3) if dtype == torch.float32 else {}
        for name, ref in ref_grads.items():
            torch.testing.assert_close(grads[name], ref, **tol,
                                       msg=lambda m, k=name: f"d/d {k}: {m}")


class InPlaceGaussian(SurrogateBase):
    """exp(-x^2) computed in place: returns its own input."""

    name, param_name = "test_in_place", "width"

    def __init__(self, width: float = 1.0, **kwargs):
        super().__init__(width, **kwargs)

    def grad(self, x):
        return x.mul_(x).neg_().exp_()

    def primitive(self, x):  # pragma: no cover - not used by the engine
        raise NotImplementedError


class Gaussian(InPlaceGaussian):
    name = "test_gaussian"

    def grad(self, x):
        return torch.exp(-(x * x))


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("reset, floor", [("subtraction", None), ("zero", 0.0)])
@pytest.mark.parametrize("block", [None, 3 * 6 * 9])  # one block, or blocks of 9 steps
def test_a_surrogate_may_work_in_place(path, reset, floor, block):
    """A surrogate that overwrites its input (and returns it) gets the same gradients."""
    case = make_case(3, 40, 6, seed=13, recurrent=False)
    with loops(path), block_elements(block):
        results = [sequence_outputs(case, surrogate=s, reset=reset, floor=floor)
                   for s in (Gaussian(), InPlaceGaussian())]
    for name, ref in results[0][2].items():
        torch.testing.assert_close(results[1][2][name], ref)


def test_compiled_loop_takes_strided_inputs():
    """A non-contiguous current (time-first data viewed batch-first) and an expanded gradient."""
    if not compiled_available():
        pytest.skip(f"no compiled loop: {engine.extension_status()}")
    gen = torch.Generator().manual_seed(4)
    time_first = torch.randn(30, 3, 7, generator=gen, dtype=F64) + 0.4
    results = []
    for path in PATHS:
        current = time_first.clone().requires_grad_()
        with loops(path):
            spikes, mem = lif_sequence(current.transpose(0, 1), 0.9, 1.0, ATan())
            (spikes.sum() + mem.sum()).backward()  # expanded (stride 0) output gradients
        results.append((spikes, mem, current.grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    torch.testing.assert_close(results[0][2], results[1][2])


def test_extension_status_names_the_loops(monkeypatch):
    monkeypatch.setenv("NWAVE_NO_EXTENSION", "1")
    assert "NWAVE_NO_EXTENSION" in engine.extension_status()
    monkeypatch.delenv("NWAVE_NO_EXTENSION")
    status = engine.extension_status()
    assert status.startswith("compiled loop") or "pure-PyTorch" in status


def test_a_failed_build_falls_back_with_one_warning(monkeypatch, tmp_path):
    """A compiler that fails: one RuntimeWarning, then the pure-PyTorch loops, same values."""
    monkeypatch.delenv("NWAVE_NO_EXTENSION", raising=False)
    monkeypatch.setenv("NWAVE_EXTENSION_DIR", str(tmp_path))
    monkeypatch.setattr(engine.native, "find_compiler", lambda: "/bin/false")
    monkeypatch.setattr(engine.native, "_STATE",
                        {"tried": False, "lib": None, "reason": "not built yet"})
    case = make_case(2, 6, 3, seed=8)
    with pytest.warns(RuntimeWarning, match="compiled loop is unavailable"):
        spikes, mem = lif_sequence(case["current"], case["beta"], case["threshold"], ATan())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # only once
        again = lif_sequence(case["current"], case["beta"], case["threshold"], ATan())
    ref = lif_sequence_reference(case["current"], case["beta"], case["threshold"], ATan())
    assert torch.equal(spikes, ref[0]) and torch.equal(mem, ref[1])
    assert torch.equal(again[0], ref[0])
    assert "build failed" in engine.extension_status()


def test_no_compiler_means_the_fallback_silently(monkeypatch):
    monkeypatch.delenv("NWAVE_NO_EXTENSION", raising=False)
    monkeypatch.setattr(engine.native, "find_compiler", lambda: None)
    monkeypatch.setattr(engine.native, "_STATE",
                        {"tried": False, "lib": None, "reason": "not built yet"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spikes, _ = lif_sequence(torch.randn(2, 5, 3), 0.9, 1.0, ATan())
    assert spikes.shape == (2, 5, 3)
    assert "no C++ compiler" in engine.extension_status()


def test_the_built_library_is_cached(tmp_path):
    """A second build in the same directory loads the cached file instead of compiling."""
    compiler = engine.native.find_compiler()
    if compiler is None or os.name == "nt" or NO_EXTENSION:
        pytest.skip("no C++ compiler, or NWAVE_NO_EXTENSION=1")
    engine.native.build(tmp_path, compiler)
    built = sorted(tmp_path.glob("nwave_engine_*.so"))
    assert len(built) == 1
    inode = built[0].stat().st_ino  # a new build would install a new file (os.replace)
    lib = engine.native.build(tmp_path, compiler)
    assert lib.nwave_abi_version() == engine.native.EXTENSION_ABI
    assert sorted(tmp_path.glob("nwave_engine_*.so")) == built
    assert built[0].stat().st_ino == inode
    assert not [p for p in tmp_path.iterdir() if p.is_dir()]  # no build leftovers


def test_an_unusable_cache_directory_falls_back_to_the_next(monkeypatch, tmp_path):
    """A cache directory that cannot be written: the next candidate (the temporary directory)."""
    monkeypatch.delenv("NWAVE_NO_EXTENSION", raising=False)
    monkeypatch.delenv("NWAVE_EXTENSION_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(engine.native, "find_compiler", lambda: "/usr/bin/c++")
    monkeypatch.setattr(engine.native, "_STATE",
                        {"tried": False, "lib": None, "reason": "not built yet"})
    tried, library = [], object()

    def build(directory, compiler):
        tried.append(directory)
        if len(tried) == 1:
            raise PermissionError(f"{directory} is not writable")
        return library

    monkeypatch.setattr(engine.native, "build", build)
    assert engine.native.load() is library
    assert tried == engine.native.cache_dirs()
    assert tried[0] == tmp_path / "cache" / "nwave" / "engine"
