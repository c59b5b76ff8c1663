"""The engine's autograd beyond the inputs: learnable surrogates, primitive mode, second order,
torch.func and torch.compile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import nwave_core.neurons as neurons
from nwave_core import prepare_net
from nwave_core.engine import DoubleBackwardError, lif_sequence, lif_sequence_reference
from nwave_plugins.layers import LIFLayer, LIFSynapse
from nwave_plugins.surrogates import ATan, FastSigmoid, atan
from test_engine import F64, PATHS, ShiftedGaussian, block_elements, loops, make_case

LEARNABLE = {
    "atan": lambda **kw: ATan(alpha=2.0, learnable=True, **kw),
    "fast_sigmoid": lambda **kw: FastSigmoid(slope=4.0, learnable=True, **kw),
    "custom": lambda **kw: ShiftedGaussian(width=0.6, learnable=True, **kw),
}
MODES = [("subtraction", None, False, False), ("subtraction", None, False, True),
         ("zero", 0.0, False, True), ("zero", None, True, False), ("none", -0.3, False, True),
         ("subtraction", 0.0, True, True)]


def outputs_and_grads(fn, case, surrogate, **options):
    spikes, mem = fn(case["current"], case["beta"], case["threshold"], surrogate,
                     recurrent_weight=case["recurrent_weight"], v0=case["v0"], s0=case["s0"],
                     **options)
    gen = torch.Generator().manual_seed(5)
    loss = ((spikes * torch.randn(spikes.shape, generator=gen, dtype=F64)).sum()
            + (mem * torch.randn(mem.shape, generator=gen, dtype=F64)).sum())
    names = [k for k, v in case.items() if v is not None]
    theta = [p for p in surrogate.parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, [case[k] for k in names] + theta, allow_unused=True)
    return spikes, mem, dict(zip(names + ["theta"], grads))


def assert_engine_equals_reference(case, make, **options):
    (spikes, mem, grads), (ref_spikes, ref_mem, ref_grads) = (
        outputs_and_grads(fn, case, make(), **options)
        for fn in (lif_sequence, lif_sequence_reference))
    assert torch.equal(spikes, ref_spikes) and torch.equal(mem, ref_mem)
    assert ref_grads["theta"] is not None and float(ref_grads["theta"].abs()) > 0
    for name, ref in ref_grads.items():
        got = grads[name]
        if ref is None:
            assert got is None or not got.any(), name
        else:
            torch.testing.assert_close(got, ref, msg=lambda m, k=name: f"d/d {k}: {m}")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("surrogate", sorted(LEARNABLE))
@pytest.mark.parametrize("reset, floor, detach_reset, recurrent", MODES)
def test_a_learnable_surrogate_gets_the_reference_gradient(path, surrogate, reset, floor,
                                                          detach_reset, recurrent):
    case = make_case(3, 30, 5, seed=11, recurrent=recurrent, scale=1.5)
    with loops(path), block_elements(3 * 5 * 7):  # several blocks
        assert_engine_equals_reference(case, LEARNABLE[surrogate], reset=reset, floor=floor,
                                       detach_reset=detach_reset)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("surrogate", ["atan", "custom"])
@pytest.mark.parametrize("reset, floor, detach_reset, recurrent", MODES)
def test_primitive_mode_runs_through_the_engine(path, surrogate, reset, floor, detach_reset,
                                                recurrent):
    """spiking=False: the output is P(v - threshold) and drives the reset; same gradients."""
    case = make_case(2, 25, 4, seed=12, recurrent=recurrent)
    with loops(path), block_elements(2 * 4 * 6):
        assert_engine_equals_reference(case, lambda: LEARNABLE[surrogate](spiking=False),
                                       reset=reset, floor=floor, detach_reset=detach_reset)
    spikes, _ = lif_sequence(case["current"], case["beta"], case["threshold"],
                             ATan(spiking=False))
    assert ((spikes > 0) & (spikes < 1)).float().mean() > 0.9  # not spikes


def small_net(surrogate):
    torch.manual_seed(0)
    return nn.Sequential(LIFSynapse(6, 8), LIFLayer(8, spike_grad=surrogate),
                         LIFSynapse(8, 3), LIFLayer(3, spike_grad=atan()))


def test_a_learnable_alpha_network_trains_with_the_reference_gradient(monkeypatch):
    x = (torch.rand(4, 30, 6, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    target = torch.tensor([0, 1, 2, 1])

    def loss_of(net):
        prepare_net(net)
        return nn.functional.cross_entropy(net(x).sum(1), target)

    net = small_net(atan(alpha=2.0, learnable=True))
    reference = small_net(atan(alpha=2.0, learnable=True))
    names = [name for name, _ in net.named_parameters()]
    assert "1.spike_grad.alpha" in names  # a plain parameter of the layer: DDP reduces it
    loss_of(net).backward()
    with monkeypatch.context() as patch:  # the same network, every step through autograd
        patch.setattr(neurons, "lif_sequence", lif_sequence_reference)
        loss_of(reference).backward()
    for (name, p), q in zip(net.named_parameters(), reference.parameters()):
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-6,
                                   msg=lambda m, k=name: f"{k}: {m}")
    alpha = net[1].spike_grad.alpha
    assert float(alpha.grad.abs()) > 0
    optimizer = torch.optim.Adam(net.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = loss_of(net)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    assert alpha.item() != 2.0


def test_a_layer_in_primitive_mode_outputs_the_primitive():
    layer = LIFLayer(4, spike_grad=atan(spiking=False))
    x = torch.randn(2, 10, 4)
    out, mem = layer(x, return_mem=True)
    ref_out, ref_mem = lif_sequence_reference(x, *layer.neuron_params(), layer.spike_grad)
    assert torch.equal(out, ref_out) and torch.equal(mem, ref_mem)
    layer.reset_state()
    steps = torch.stack([layer(x[:, t]) for t in range(10)], 1)  # one step at a time
    assert torch.equal(steps, out)


# -- second order ----------------------------------------------------------------------------


def test_second_order_raises_instead_of_a_partial_result():
    case = make_case(2, 12, 3, seed=3, recurrent=False, with_v0=False, with_s0=False)
    w = torch.randn(3, 3, dtype=F64, requires_grad=True)
    spikes, mem = lif_sequence(case["current"] @ w, case["beta"], case["threshold"], ATan())
    (grad_w,) = torch.autograd.grad(spikes.sum() + mem.sum(), w, create_graph=True)
    with pytest.raises(DoubleBackwardError, match="no second-order gradient"):
        torch.autograd.grad(grad_w.pow(2).sum(), w)
    # the first-order result itself is complete
    (again,) = torch.autograd.grad(*[lif_sequence(case["current"] @ w, case["beta"],
                                                  case["threshold"], ATan())[1].sum(), w])
    ref = torch.autograd.grad(lif_sequence_reference(case["current"] @ w, case["beta"],
                                                     case["threshold"], ATan())[1].sum(), w)[0]
    torch.testing.assert_close(again, ref)


# -- torch.func and torch.compile -----------------------------------------------------------


def lif_net_loss(fn, w_in, w_rec, x, beta, threshold=1.0):
    spikes, mem = fn(x @ w_in, beta, threshold, ATan(), recurrent_weight=w_rec)
    return (spikes * mem).sum() + mem.pow(2).mean()


@pytest.mark.parametrize("path", PATHS)
def test_torch_func_vmap_over_a_batch_of_lif_networks(path):
    """vmap over 5 networks' weights (and over their betas), grad and jacrev, against the
    per-step reference looped over the networks."""
    gen = torch.Generator().manual_seed(9)
    x = torch.randn(3, 12, 4, generator=gen, dtype=F64)
    w_in = torch.randn(5, 4, 6, generator=gen, dtype=F64)
    w_rec = 0.3 * torch.randn(5, 6, 6, generator=gen, dtype=F64)
    betas = 0.5 + 0.4 * torch.rand(5, 6, generator=gen, dtype=F64)
    with loops(path):
        ff = torch.func.vmap(lambda w: lif_sequence(x @ w, 0.9, 1.0, ATan()))(w_in)
        ref = [lif_sequence_reference(x @ w, 0.9, 1.0, ATan()) for w in w_in]
        assert torch.equal(ff[0], torch.stack([r[0] for r in ref]))
        assert torch.equal(ff[1], torch.stack([r[1] for r in ref]))
        grads = torch.func.vmap(torch.func.grad(
            lambda w, r, b: lif_net_loss(lif_sequence, w, r, x, b), argnums=(0, 1, 2)))(
            w_in, w_rec, betas)
        jac = torch.func.jacrev(lambda w: lif_sequence(x @ w, 0.9, 1.0, ATan())[1].sum((0, 1)))(
            w_in[0])
    for i in range(5):
        leaves = [w_in[i].clone().requires_grad_(), w_rec[i].clone().requires_grad_(),
                  betas[i].clone().requires_grad_()]
        expected = torch.autograd.grad(lif_net_loss(lif_sequence_reference, *leaves[:2], x,
                                                    leaves[2]), leaves)
        for got, want in zip(grads, expected):
            torch.testing.assert_close(got[i], want)
    want = torch.autograd.functional.jacobian(
        lambda w: lif_sequence_reference(x @ w, 0.9, 1.0, ATan())[1].sum((0, 1)), w_in[0])
    torch.testing.assert_close(jac, want)


def compile_net():
    torch.manual_seed(1)
    return nn.Sequential(LIFSynapse(5, 7), LIFLayer(7, spike_grad=atan(), learn_taus=True,
                                                    learn_thresholds=True),
                         LIFSynapse(7, 6), LIFLayer(6, layer_topology="RC", reset_mechanism="zero"),
                         LIFSynapse(6, 3), LIFLayer(3, spike_grad=atan(learnable=True)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit inside the compiler
@pytest.mark.parametrize("backend", ["aot_eager",
                                     pytest.param("inductor", marks=pytest.mark.slow)])
def test_torch_compile_fullgraph_compiles_a_whole_network(backend):
    """No graph break (fullgraph=True) and the eager network's outputs and gradients."""
    torch._dynamo.reset()
    x = (torch.rand(4, 15, 5, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    results = []
    for compiled in (False, True):
        net = compile_net()

        def loss(x, net=net):
            prepare_net(net)
            return (net(x) * torch.arange(3.0)).sum() + net[3].mem.pow(2).sum()

        fn = torch.compile(loss, fullgraph=True, backend=backend) if compiled else loss
        value = fn(x)
        value.backward()
        results.append((value.detach(), {k: p.grad for k, p in net.named_parameters()}))
    (value, grads), (compiled_value, compiled_grads) = results
    torch.testing.assert_close(compiled_value, value)
    for name, grad in grads.items():
        torch.testing.assert_close(compiled_grads[name], grad, rtol=1e-4, atol=1e-5,
                                   msg=lambda m, k=name: f"{k}: {m}")
