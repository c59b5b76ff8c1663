"""Neuron layers, synapses and frontends: shapes, state, composition, chips as data."""

from __future__ import annotations


import pytest
import torch
from torch import nn

import nwave_core
from nwave_core import ChipSpec, prepare_net
from nwave_core.hardware import ChipLayer, ChipSynapse, quantize
from nwave_plugins.h1 import H1V1, H1V2
from nwave_plugins.layers import (
    H1v1Frontend,
    H1v1Layer,
    H1v1Synapse,
    H1v2Frontend,
    H1v2Layer,
    H1v2Synapse,
    LIFLayer,
    LIFSynapse,
)
from nwave_plugins.surrogates import atan


def _inputs(*shape, p=0.3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g, dtype=dtype) < p).to(dtype) * 1.5


@pytest.mark.parametrize("make", [
    lambda: LIFLayer(6, taus=10e-3, reset_mechanism="zero", spike_grad=atan()),
    lambda: LIFLayer(6, thresholds=0.5, layer_topology="RC"),
    lambda: H1v1Layer(6, layer_topology="RC"),
    lambda: H1v2Layer(6, taus=[5e-3, 10e-3, 20e-3, 40e-3, 80e-3, 160e-3]),
    lambda: H1v2Frontend(n_channels=6),
])
def test_steps_one_at_a_time_equal_the_whole_sequence(make):
    torch.manual_seed(0)
    layer = make().double()
    x = _inputs(3, 12, 6)
    spikes, mem = layer(x, return_mem=True)
    assert spikes.shape == mem.shape == (3, 12, 6) and layer.mem is mem
    layer.reset_state()
    steps = [layer(x[:, t], return_mem=True) for t in range(12)]
    torch.testing.assert_close(torch.stack([s for s, _ in steps], 1), spikes, rtol=0, atol=0)
    torch.testing.assert_close(torch.stack([m for _, m in steps], 1), mem)
    assert layer.mem.shape == (3, 6)


def test_a_sequence_can_be_fed_in_pieces_and_state_resets():
    layer = LIFLayer(4).double()
    x = _inputs(2, 10, 4)
    whole = layer(x)
    layer.reset_state()
    pieces = torch.cat([layer(x[:, :4]), layer(x[:, 4:])], dim=1)
    torch.testing.assert_close(pieces, whole)
    prepare_net(layer)
    assert layer.mem is None
    torch.testing.assert_close(layer(x), whole)


def test_a_vector_is_one_sample_and_return_mem_matches_the_original():
    layer = LIFLayer(5)
    spikes, mem = layer(torch.full((5,), 2.0), return_mem=True)
    assert spikes.shape == mem.shape == (1, 5)
    assert torch.equal(spikes, torch.ones(1, 5))


def test_layers_compose_in_sequential_and_train():
    torch.manual_seed(0)
    net = nn.Sequential(LIFSynapse(10, 20), LIFLayer(20, learn_taus=True, learn_thresholds=True),
                        LIFSynapse(20, 3), LIFLayer(3))
    x = _inputs(4, 15, 10, dtype=torch.float32) * 3
    out = net(x)
    assert out.shape == (4, 15, 3)
    out.sum().backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, name
    assert net[1].taus.grad.shape == (20,) and net[1].thresholds.grad.shape == (20,)


def test_state_from_another_batch_size_is_a_clear_error():
    layer = LIFLayer(3)
    layer(torch.zeros(4, 3))
    with pytest.raises(ValueError, match=r"^LIFLayer: the kept state has batch size 4 but the "
                                         r"input has 2; call nwave_core.prepare_net\(model\)"):
        layer(torch.zeros(2, 3))


@pytest.mark.parametrize("build, message", [
    (lambda: LIFLayer(0), "LIFLayer: n_neurons must be an integer >= 1, got 0"),
    (lambda: LIFLayer(3, dt=0), "LIFLayer: dt must be a number > 0 (seconds), got 0"),
    (lambda: LIFLayer(3, taus=-1e-3), "LIFLayer: taus must be finite and > 0, got -0.001"),
    (lambda: LIFLayer(3, taus=[1e-3, 2e-3]), "LIFLayer: taus must be a number or have shape [3], got shape [2]"),
    (lambda: LIFLayer(3, reset_mechanism="hard"),
     "LIFLayer: reset_mechanism must be one of 'zero', 'subtraction', 'none', got 'hard'"),
    (lambda: LIFLayer(3, layer_topology="XY"),
     "LIFLayer: layer_topology must be 'FF' (feed-forward) or 'RC' (recurrent), got 'XY'"),
    (lambda: H1v2Synapse(16, 0), "H1v2Synapse: nb_outputs must be an integer >= 1, got 0"),
    (lambda: H1v2Synapse(16, 4, quantization_bits=1),
     "H1v2Synapse: quantization_bits must be None (float weights) or an integer >= 2, got 1"),
    (lambda: ChipLayer(4), "ChipLayer needs a chip: pass chip= a nwave_core.ChipSpec or a chip name"),
    (lambda: ChipLayer(4, chip=ChipSpec(name="ff", recurrent_scope="none"), layer_topology="RC"),
     "ChipLayer: chip 'ff' has no recurrent connections (recurrent_scope='none'); use layer_topology='FF'"),
])
def test_bad_arguments_name_the_layer(build, message):
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    assert str(info.value).startswith(message)


def test_wrong_input_shapes_name_the_layer_and_the_expected_shape():
    with pytest.raises(ValueError, match=r"^LIFLayer: input must be \[B, T, 3\] \(a sequence\) or "
                                         r"\[B, 3\] \(one step\), got \[2, 5, 4\]$"):
        LIFLayer(3)(torch.zeros(2, 5, 4))
    with pytest.raises(ValueError, match=r"LIFSynapse: input must end in 4 features"):
        LIFSynapse(4, 2)(torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"^H1v2Layer: input must be"):
        H1v2Layer(3)(torch.zeros(1, 2, 3, 3))


# -- chips drive the hardware layers ---------------------------------------------------------


def test_h1_layers_follow_their_chip():
    v1, v2 = H1v1Layer(4), H1v2Layer(4, taus=12e-3)
    assert (v1.reset, v1.floor, v1.chip) == ("zero", 0.0, H1V1)
    assert (v2.reset, v2.floor, v2.chip) == ("subtraction", 0.0, H1V2)
    assert torch.allclose(v2.taus, torch.full((4,), 10e-3))  # snapped to the nearest profile
    beta, threshold = v2.neuron_params()
    assert torch.allclose(threshold, torch.ones(4))
    assert H1v1Frontend().n_neurons == H1v2Frontend().n_neurons == 16


def test_membrane_of_a_chip_never_goes_negative():
    layer = H1v2Layer(8).double()
    x = torch.randn(2, 30, 8, dtype=torch.float64)
    _, mem = layer(x, return_mem=True)
    assert (mem >= 0).all()
    assert (LIFLayer(8).double()(x, return_mem=True)[1] < 0).any()


def test_synapse_effective_weight_gain_nonlinearity_and_quantization():
    s2 = H1v2Synapse(3, 5, qat=False)
    torch.testing.assert_close(s2.effective_weight(), 0.5 * s2.weight)  # linear, gain 0.5 (nominal)
    s1 = H1v1Synapse(3, 5, stddev=0.0, qat=False)
    torch.testing.assert_close(s1.effective_weight(), 0.9 * torch.tanh(s1.weight / 0.9))
    q = H1v2Synapse(3, 5, quantization_bits=3)
    with torch.no_grad():
        q.weight.copy_(torch.linspace(-3, 3, 15).reshape(3, 5))
    step = 1.66 / 3
    codes = q.effective_weight().detach() / 0.5 / step
    torch.testing.assert_close(codes, codes.round())
    assert codes.abs().max() == 3  # clipped to the range


def test_chip_synapses_train_on_the_declared_grid_by_default():
    qat = H1v2Synapse(3, 5)  # H1v2 declares an 8-bit grid: QAT is on
    assert qat.qat and not H1v2Synapse(3, 5, qat=False).qat
    with torch.no_grad():
        qat.weight.copy_(torch.linspace(-3, 3, 15).reshape(3, 5))
    codes = qat.effective_weight().detach() / 0.5 / (1.66 / 127)
    assert torch.equal(codes.round(), codes.round().clamp(-127, 127))
    torch.testing.assert_close(codes, codes.round(), rtol=0, atol=1e-4)
    assert qat.effective_weight().requires_grad
    qat.effective_weight().sum().backward()  # straight through, also where the range clips
    torch.testing.assert_close(qat.weight.grad, torch.full((3, 5), 0.5))
    assert not ChipSynapse(3, 5, chip=ChipSpec(name="float")).qat  # no grid declared


def test_quantize_passes_the_gradient_straight_through():
    w = torch.tensor([0.1, -0.7, 2.0], requires_grad=True)
    quantize(w, 1.0, 4).sum().backward()
    assert torch.equal(w.grad, torch.ones(3))
    torch.testing.assert_close(quantize(w, 1.0, 4).detach(), torch.tensor([1 / 7, -5 / 7, 1.0]))


def test_mismatch_is_sampled_by_prepare_net_reproducibly_and_can_be_frozen():
    def build():
        torch.manual_seed(1)
        return nn.Sequential(H1v1Synapse(4, 6), H1v1Layer(6, ileak_mismatch=True),
                             H1v2Layer(6, threshold_mismatch=True))

    a, b = build(), build()
    prepare_net(a, torch.Generator().manual_seed(7))
    prepare_net(b, torch.Generator().manual_seed(7))
    assert a[0].mismatch.abs().sum() > 0 and not torch.equal(a[1].tau_scale, torch.ones(6))
    assert not torch.equal(a[2].threshold_scale, torch.ones(6))
    for x, y in zip(a.buffers(), b.buffers()):
        assert torch.equal(x, y)
    a[0].freeze_mismatch()
    kept = a[0].mismatch.clone()
    prepare_net(a, torch.Generator().manual_seed(8))
    assert torch.equal(a[0].mismatch, kept)
    assert not torch.equal(a[1].tau_scale, b[1].tau_scale)


def test_a_third_party_chip_gets_working_layers_by_declaring_numbers():
    acme = ChipSpec(name="acme", weight_limit=0.5, sign_block=4, core_sizes=(32, 32),
                    reset="zero", membrane_floor=-0.25, threshold=0.8, frontend_channels=8,
                    tau_profiles=(4e-3, 30e-3), synapse_gain=2.0)
    net = nn.Sequential(nwave_core.hardware.ChipFrontend(chip=acme),
                        ChipSynapse(8, 12, chip=acme), ChipLayer(12, taus=25e-3, chip=acme))
    assert net[0].n_neurons == 8 and net[1].weight.abs().max() <= 0.5
    assert torch.allclose(net[2].taus, torch.full((12,), 30e-3))
    _, mem = net[2](torch.randn(2, 20, 12), return_mem=True)
    assert (mem >= -0.25).all() and (mem < -0.2).any()
    prepare_net(net)
    net(torch.rand(3, 20, 8)).sum().backward()
    torch.testing.assert_close(net[1].effective_weight(), 2.0 * net[1].weight)


def test_chip_by_name_and_overrides_from_the_registry():
    layer = ChipLayer(5, chip="h1v2")
    assert layer.chip is H1V2
    tighter = nwave_core.create("chip", "h1v2", weight_limit=1.0)
    assert tighter.weight_limit == 1.0 and tighter.sign_block == 5
    with pytest.raises(TypeError, match=r"chip 'h1v2' has no field 'weight_limt'\. Did you mean 'weight_limit'"):
        nwave_core.create("chip", "h1v2", weight_limt=1.0)


def test_layers_are_in_the_registry():
    reg = nwave_core.registry("layer")
    for name in ["LIFSynapse", "LIFLayer", "H1v1Frontend", "H1v1Synapse", "H1v1Layer",
                 "H1v2Frontend", "H1v2Synapse", "H1v2Layer", "ChipLayer", "ChipSynapse"]:
        assert name in reg
    layer = nwave_core.create("layer", "h1v2_layer", n_neurons=7)
    assert isinstance(layer, H1v2Layer) and isinstance(layer, nwave_core.NeuronLayer)


def test_state_dict_round_trip():
    torch.manual_seed(0)
    a = nn.Sequential(H1v2Synapse(4, 6), H1v2Layer(6, layer_topology="RC"), LIFLayer(6, learn_taus=True))
    b = nn.Sequential(H1v2Synapse(4, 6), H1v2Layer(6, layer_topology="RC"), LIFLayer(6, learn_taus=True))
    b.load_state_dict(a.state_dict())
    x = torch.rand(2, 10, 4)
    assert torch.equal(a(x), b(x))


def _task(n, T, seed):
    """Two classes of Poisson patterns: high rates on channels 0-7 or on channels 8-15."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    rates = torch.full((n, 1, 16), 0.05)
    rates[labels == 0, :, :8] = 0.4
    rates[labels == 1, :, 8:] = 0.4
    return (torch.rand(n, T, 16, generator=g) < rates).float(), labels


def test_a_tiny_h1v2_network_learns():
    torch.manual_seed(0)
    net = nn.Sequential(H1v2Frontend(), H1v2Synapse(16, 50), H1v2Layer(50),
                        H1v2Synapse(50, 10), H1v2Layer(10))
    with torch.no_grad():
        net[0].weight.fill_(2.0)
    x, y = _task(64, 40, seed=3)
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    losses = []
    for _ in range(25):
        prepare_net(net)
        counts = net(x).sum(1)
        loss = nn.functional.cross_entropy(counts, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert min(losses[-5:]) < 0.7 * losses[0], losses


def test_a_layer_that_ran_can_be_copied_and_the_copy_starts_from_rest():
    import copy

    layer = H1v2Layer(4, layer_topology="RC")
    layer(torch.rand(2, 5, 4, requires_grad=True))  # state now holds a graph
    twin = copy.deepcopy(layer)
    assert twin.mem is None and layer.mem is not None
    assert torch.equal(twin.recurrent_weights, layer.recurrent_weights)
