"""The synapses' event-driven product: ``synaptic_current(x, W)`` is ``x @ W`` with its gradients,
whichever path runs."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nwave_core.engine import events, native, synaptic_current
from nwave_plugins.layers import LIFSynapse

pytestmark = pytest.mark.skipif(native.load() is None, reason=native.extension_status())


def spikes(*shape: int, p: float = 0.05, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < p).to(dtype)


def is_event(y: torch.Tensor) -> bool:
    return y.grad_fn is not None and "EventMatmul" in type(y.grad_fn).__name__


def dense_grads(x, w, g, create_graph=False):
    x, w = x.detach().requires_grad_(x.requires_grad), w.detach().requires_grad_()
    y = x @ w
    inputs = [t for t in (x, w) if t.requires_grad]
    return y, torch.autograd.grad(y, inputs, g, create_graph=create_graph)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-12)])
def test_spike_input_takes_the_event_path_and_equals_the_dense_product(dtype, tol):
    x = spikes(4, 64, 300, dtype=dtype)
    w = torch.randn(300, 70, dtype=dtype, requires_grad=True)
    y = synaptic_current(x, w)
    assert is_event(y)
    assert y.shape == (4, 64, 70)
    g = torch.randn_like(y)
    (gw,) = torch.autograd.grad(y, w, g)
    y_ref, (gw_ref,) = dense_grads(x, w, g)
    torch.testing.assert_close(y, y_ref, rtol=tol, atol=tol)
    torch.testing.assert_close(gw, gw_ref, rtol=tol, atol=tol * 10)


def test_input_gradient_and_graded_values():
    # values other than 0 and 1 (graded spikes, negative inputs) and a gradient for x too
    x = spikes(4, 64, 200) * torch.randn(4, 64, 200)
    x.requires_grad_()
    w = torch.randn(200, 64, requires_grad=True)
    y = synaptic_current(x, w)
    assert is_event(y)
    g = torch.randn_like(y)
    gx, gw = torch.autograd.grad(y, (x, w), g)
    y_ref, (gx_ref, gw_ref) = dense_grads(x, w, g)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(gx, gx_ref)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-4)


def test_dense_input_takes_the_dense_product():
    x = torch.rand(4, 64, 200)
    w = torch.randn(200, 80, requires_grad=True)
    y = synaptic_current(x, w)
    torch.testing.assert_close(y, x @ w)
    g = torch.randn_like(y)
    (gw,) = torch.autograd.grad(y, w, g)
    torch.testing.assert_close(gw, dense_grads(x, w, g)[1][0])


def test_input_denser_than_the_limit_overall_takes_the_dense_product():
    # sparse first half, dense second half: about half nonzero overall
    x = spikes(2, 128, 256, p=0.02)
    x[1] = torch.rand(128, 256) + 0.1
    w = torch.randn(256, 64, requires_grad=True)
    y = synaptic_current(x, w)
    assert not is_event(y)
    assert torch.equal(y, x @ w)
    g = torch.randn_like(y)
    (gw,) = torch.autograd.grad(y, w, g)
    torch.testing.assert_close(gw, dense_grads(x, w, g)[1][0], rtol=1e-5, atol=1e-4)


def test_small_inputs_and_a_disabled_library_take_the_dense_product(monkeypatch):
    w = torch.randn(100, 64, requires_grad=True)
    assert not is_event(synaptic_current(spikes(2, 10, 100), w))  # under EVENT_MIN_ELEMENTS
    big = spikes(8, 64, 100)
    assert is_event(synaptic_current(big, w))
    assert not is_event(synaptic_current(big, w[:, :20]))  # under EVENT_MIN_OUTPUTS
    monkeypatch.setenv("NWAVE_NO_EXTENSION", "1")
    y = synaptic_current(big, w)
    assert not is_event(y)
    torch.testing.assert_close(y, big @ w)


def test_results_do_not_depend_on_the_number_of_threads():
    x = spikes(8, 64, 300, seed=3)
    w = torch.randn(300, 90, requires_grad=True)
    g = torch.randn(8, 64, 90)
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            y = synaptic_current(x, w)
            results.append((y.detach(), torch.autograd.grad(y, w, g)[0]))
    finally:
        torch.set_num_threads(threads)
    for y, gw in results[1:]:
        assert torch.equal(y, results[0][0]) and torch.equal(gw, results[0][1])


def test_second_order_gradients_are_exact():
    x = spikes(4, 64, 128, dtype=torch.float64).requires_grad_()
    w = torch.randn(128, 64, dtype=torch.float64, requires_grad=True)
    g = torch.randn(4, 64, 64, dtype=torch.float64)

    def second(y, x, w):
        gx, gw = torch.autograd.grad(y, (x, w), g, create_graph=True)
        return torch.autograd.grad((gw ** 2).sum() + (gx ** 2).sum(), (x, w))

    y = synaptic_current(x, w)
    assert is_event(y)
    x_ref, w_ref = x.detach().requires_grad_(), w.detach().requires_grad_()
    for got, want in zip(second(y, x, w), second(x_ref @ w_ref, x_ref, w_ref)):
        torch.testing.assert_close(got, want)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 300), k=st.integers(1, 200), n=st.integers(1, 140),
       p=st.sampled_from([0.0, 0.01, 0.1, 0.3, 1.0]), seed=st.integers(0, 2**16))
def test_any_shape_and_density_equals_the_dense_product(rows, k, n, p, seed):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(rows, k, generator=g) < p).float() * torch.randn(rows, k, generator=g)
    w = torch.randn(k, n, generator=g, requires_grad=True)
    limits = events.EVENT_MIN_ELEMENTS, events.EVENT_MIN_OUTPUTS
    events.EVENT_MIN_ELEMENTS = events.EVENT_MIN_OUTPUTS = 1  # every size, when sparse enough
    try:
        y = synaptic_current(x, w)
    finally:
        events.EVENT_MIN_ELEMENTS, events.EVENT_MIN_OUTPUTS = limits
    grad = torch.randn(rows, n, generator=g)
    (gw,) = torch.autograd.grad(y, w, grad)
    y_ref, (gw_ref,) = dense_grads(x, w, grad)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(gw, gw_ref, rtol=1e-5, atol=1e-4)


def test_synapse_layers_use_it():
    layer = LIFSynapse(300, 64)
    x = spikes(4, 64, 300)
    y = layer(x)
    assert is_event(y)
    torch.testing.assert_close(y, x @ layer.weight)
    y.sum().backward()
    torch.testing.assert_close(layer.weight.grad, x.reshape(-1, 300).sum(0)[:, None].expand(300, 64))


def test_autocast_takes_the_dense_product_in_its_dtype():
    x = spikes(4, 64, 300)
    w = torch.randn(300, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = synaptic_current(x, w)
    assert y.dtype == torch.bfloat16


@pytest.mark.parametrize("p", [0.05, 0.5])
def test_the_recurrent_weight_gradient_pairs_each_step_with_the_next(p):
    # sum over b and t < T-1 of s[b, t]^T gu[b, t+1]; dense spikes (p = 0.5) take the dense
    # product (None here)
    s = spikes(3, 50, 256, p=p, seed=1, dtype=torch.float64)
    gu = torch.randn(3, 50, 256, dtype=torch.float64)
    got = events.next_step_outer(s, gu)
    if p > events.EVENT_DENSITY:
        assert got is None
        return
    want = sum(s[b, t][:, None] * gu[b, t + 1][None, :] for b in range(3) for t in range(49))
    torch.testing.assert_close(got, want)


def test_a_recurrent_layers_weight_gradient_through_the_event_pass_equals_the_reference():
    from nwave_core.engine import lif_sequence, lif_sequence_reference
    from nwave_plugins.surrogates import atan

    g = torch.Generator().manual_seed(5)
    current = torch.rand(4, 64, 128, generator=g, dtype=torch.float64) * 0.25
    weight = (torch.randn(128, 128, generator=g, dtype=torch.float64) * 0.05).requires_grad_()
    grads = []
    for run in (lif_sequence, lif_sequence_reference):
        spk, _ = run(current, 0.9, 1.0, atan(2.0), reset="subtraction", recurrent_weight=weight)
        grads.append(torch.autograd.grad(spk.sum(), weight)[0])
    assert 0 < spk.mean() < events.EVENT_DENSITY  # sparse enough for the event pass:
    assert events.next_step_outer(spk.detach(), torch.zeros_like(current)) is not None
    torch.testing.assert_close(grads[0], grads[1])


def run_on_threads(n, fn):
    threads = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


def test_the_choice_of_path_does_not_depend_on_the_number_of_threads():
    # unevenly spread nonzeros (one half of the rows or columns empty, the other 20 % nonzero,
    # 10 % overall): the same path and bits on 1 and 2 threads
    x = torch.zeros(1024, 256)
    x[512:] = spikes(512, 256, p=0.2, seed=4)
    w = torch.randn(256, 256)
    one, two = (run_on_threads(n, lambda: synaptic_current(x, w.requires_grad_())) for n in (1, 2))
    assert is_event(one) and is_event(two) and torch.equal(one, two)
    s = torch.zeros(8, 512, 256)
    s[..., 128:] = spikes(8, 512, 128, p=0.2, seed=5)
    gu = torch.randn(8, 512, 256)
    a, b = (run_on_threads(n, lambda: events.next_step_outer(s, gu)) for n in (1, 2))
    assert a is not None and b is not None and torch.equal(a, b)


def test_the_output_can_be_changed_in_place():
    x = spikes(4, 64, 300)
    w = torch.randn(300, 64, requires_grad=True)
    y = synaptic_current(x, w)
    assert is_event(y)
    y[..., 0] = 0.0
    y.add_(1.0).sum().backward()
    want = x.reshape(-1, 300).sum(0)[:, None].expand(300, 64).clone()
    want[:, 0] = 0.0  # the overwritten column passes no gradient
    torch.testing.assert_close(w.grad, want)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_forward_mode_ad_takes_the_dense_product():  # (torch's forward AD scripts internally)
    import torch.autograd.forward_ad as fwAD

    x = spikes(4, 64, 300)
    w = torch.randn(300, 64)
    tangent = torch.randn(300, 64)
    with fwAD.dual_level():
        y = synaptic_current(x, fwAD.make_dual(w, tangent))
        torch.testing.assert_close(fwAD.unpack_dual(y).tangent, x @ tangent)
