"""nwave_core.guards: the SDK-style unpack of a layer's spikes is refused wherever it is written,
and state whose graph backward() freed is found on every layer kind and path."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

from nwave_core import prepare_net
from nwave_core.guards import StaleStateError
from nwave_plugins.layers import H1v1Layer, H1v2Layer, LIFLayer, LIFSynapse

UNPACK = r"spk, mem = layer\(x, return_mem=True\)"


class SdkStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.lif = LIFLayer(3)

    def forward(self, x):
        spk, mem = self.lif(x)
        return spk, mem


def test_every_spelling_of_a_two_name_unpack_is_refused():
    layer, x = LIFLayer(3), torch.rand(2, 3)
    with pytest.raises(TypeError, match=UNPACK):
        (spk, mem) = layer(x)
    with pytest.raises(TypeError, match=UNPACK):
        [spk, mem] = layer(x)
    with pytest.raises(TypeError, match=UNPACK):
        spk, mem = layer.forward(x)
    with pytest.raises(TypeError, match=UNPACK):
        spk, mem = layer(torch.rand(2, 5, 3))                 # a sequence splits the same way
    with pytest.raises(TypeError, match=UNPACK):
        SdkStyle()(x)                                         # inside a module's forward


def test_other_uses_of_the_spikes_are_left_alone():
    layer, x = LIFLayer(3), torch.rand(3, 3)
    a, b, c = layer(x)                                        # not the SDK's two names
    out = layer(x)
    first, second, third = out
    rows = [row for row in layer(x)]
    assert len(rows) == 3 and first.shape == (3,)
    spk, mem = layer(x, return_mem=True)
    assert spk.shape == mem.shape == (3, 3)


CASES = [(cls, topology, detach, per_step)
         for cls, topology, detach, per_step in itertools.product(
             (LIFLayer, H1v1Layer, H1v2Layer), ("FF", "RC"), (False, True), (False, True))]


@pytest.mark.parametrize("cls,topology,detach,per_step", CASES,
                         ids=[f"{c.__name__}-{t}-{'detach' if d else 'grad'}-{'step' if s else 'seq'}"
                              for c, t, d, s in CASES])
def test_state_after_backward_is_found_on_every_path(cls, topology, detach, per_step):
    torch.manual_seed(0)
    net = nn.Sequential(LIFSynapse(3, 4), cls(4, layer_topology=topology))
    net[1].detach_reset = detach
    x = torch.rand(2, 6, 3) * 3
    for _ in range(2):                                        # with prepare_net: never raised
        prepare_net(net)
        out = torch.stack([net(x[:, t]) for t in range(6)], 1) if per_step else net(x)
        out.sum().backward()
    with pytest.raises(StaleStateError, match=r"prepare_net\(model\)"):
        net(x[:, 0] if per_step else x)
