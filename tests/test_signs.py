"""group_signs: a function-preserving regrouping of hidden neurons that makes sign blocks
cheaper to harden."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from nwave_core import ChipSpec, prepare_net
from nwave_core.constraints import SignBlock
from nwave_core.hardware import ChipLayer, ChipSynapse
from nwave_core.signs import block_cost, group_signs
from nwave_core.losses import topology_loss
from nwave_core.optim import SignAnnealing
from nwave_plugins.layers import H1v2Layer, H1v2Synapse


def test_block_cost_is_the_minority_mass():
    lines = torch.tensor([[1.0, -0.25, 2.0], [0.5, 0.5, 0.0], [-1.0, -2.0, 3.0]])
    assert float(block_cost(lines)) == pytest.approx(0.25 + 0.0 + 3.0)


@pytest.mark.parametrize("axis", ["outputs", "inputs"])
def test_group_signs_preserves_the_function_and_cheapens_the_blocks(axis):
    chip = ChipSpec(name="blocks", constraints=(SignBlock(4, axis=axis),), leak_mismatch=0.1)
    torch.manual_seed(0)
    net = nn.Sequential(ChipSynapse(10, 24, chip=chip),
                        ChipLayer(24, taus=torch.linspace(5e-3, 40e-3, 24).tolist(),
                                  layer_topology="RC", ileak_mismatch=True, chip=chip),
                        ChipSynapse(24, 3, chip=chip), ChipLayer(3, chip=chip))
    with torch.no_grad():  # weights whose signs follow hidden "types" spread over the blocks
        kind = torch.arange(24) % 2 * 2 - 1.0
        net[0].weight.copy_(net[0].weight.abs() * kind)
        net[2].weight.copy_(net[2].weight.abs() * kind.unsqueeze(1))
        net[1].recurrent_weights.copy_(net[1].recurrent_weights.abs() * kind * kind.unsqueeze(1))
    x = (torch.rand(4, 30, 10, generator=torch.Generator().manual_seed(1)) < 0.4).float() * 3
    prepare_net(net, torch.Generator().manual_seed(2))
    with torch.no_grad():
        before = net(x)
    cost = topology_loss(net).item()
    grouped = copy.deepcopy(net)
    order = group_signs(grouped)
    assert sorted(order["1"]) == list(range(24))
    assert topology_loss(grouped).item() < cost / 4
    torch.testing.assert_close(grouped[1].taus, net[1].taus[order["1"]])
    torch.testing.assert_close(grouped[1].tau_scale, net[1].tau_scale[order["1"]])
    for model in (grouped, net):  # keep the mismatch sample (permuted with its neurons)
        for layer in (model[1], model[3]):
            layer.reset_state()
    with torch.no_grad():
        assert before.sum() > 0
        torch.testing.assert_close(grouped(x), before)
        grouped[1].reset_state(), net[1].reset_state()
        hidden, moved = net[1](net[0](x)), grouped[1](grouped[0](x))
        assert hidden.sum() > 0 and torch.equal(moved, hidden[..., order["1"]])  # neurons moved


def test_group_signs_needs_sign_blocks_and_plain_weights():
    net = nn.Sequential(H1v2Synapse(4, 10), H1v2Layer(10), H1v2Synapse(10, 2), H1v2Layer(2))
    SignAnnealing(net, 2)
    with pytest.raises(ValueError, match="group_signs: the model is parametrized"):
        group_signs(net)
    with pytest.raises(ValueError, match="group_signs: chip 'plain' declares no sign blocks"):
        group_signs(nn.Sequential(ChipSynapse(2, 3, chip=ChipSpec(name="plain"))))


def test_sign_annealing_can_fix_the_signs_early_and_train_magnitudes_only():
    torch.manual_seed(0)
    net = nn.Sequential(H1v2Synapse(6, 10), H1v2Layer(10), H1v2Synapse(10, 2), H1v2Layer(2))
    sa = SignAnnealing(net, total_epochs=10, fix_signs_at=3)
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    x = (torch.rand(8, 20, 6) < 0.5).float() * 2
    signs = None
    for epoch in range(1, 7):
        sa.step(net, epoch)
        assert sa.signs_fixed == (epoch >= 3)
        assert sa.alpha == (10.0 if epoch >= 3 else sa.alpha_at(epoch))
        if epoch == 3:
            signs = torch.sign(net[0].weight.detach())
            assert topology_loss(net).item() == 0.0
        prepare_net(net)
        net(x).sum().backward()
        opt.step()
        opt.zero_grad()
    logits = net[0].parametrizations.weight.original1
    assert not logits.requires_grad and logits.grad is None
    assert torch.equal(torch.sign(net[0].weight.detach()), signs)  # fixed since epoch 3
    assert sa.state_dict()["fix_signs_at"] == 3
    with pytest.raises(ValueError, match="fix_signs_at must be None or an epoch >= 1, got 0"):
        SignAnnealing(nn.Sequential(H1v2Synapse(2, 5)), 3, fix_signs_at=0)
