"""``nwavesdk.layers``: the SDK's layer classes, whose neuron layers return ``(spk, mem)``.

The synapses are nwave's own classes. The neuron layers (``LIFLayer``, the H1 layers and
frontends) are nwave's with one change: every call returns ``(spikes, membrane)``, as the SDK's
do, one step ``[B, N]`` or a whole sequence ``[B, T, N]`` alike, so that the SDK's per-step loop
``spk, mem = layer(cur)`` runs unchanged. (nwave's own layers return the spikes only and compose
in ``nn.Sequential``; these do not.)

The older names of the SDK's first hardware generation are aliases of the H1v1 classes:
``Frontend`` = [`H1v1Frontend`][nwave_core.compat.nwavesdk.layers.H1v1Frontend], ``HWSynapse`` =
[`H1v1Synapse`][nwave_plugins.layers.H1v1Synapse], ``HWLayer`` =
[`H1v1Layer`][nwave_core.compat.nwavesdk.layers.H1v1Layer] (our reading: the names predate the H1v2;
pass ``chip="h1v2"`` for another chip).
"""

from __future__ import annotations

from torch import Tensor

from nwave_core.neurons import prepare_net
from nwave_plugins import layers as _nwave

__all__ = ["LIFSynapse", "LIFLayer", "H1v1Frontend", "H1v1Synapse", "H1v1Layer", "H1v2Frontend",
           "H1v2Synapse", "H1v2Layer", "Frontend", "HWSynapse", "HWLayer", "prepare_net"]

LIFSynapse = _nwave.LIFSynapse
H1v1Synapse = _nwave.H1v1Synapse
H1v2Synapse = _nwave.H1v2Synapse


class _ReturnsMem:
    """``forward(x) -> (spk, mem)``, the SDK's return, for one step or a whole sequence."""

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        return super().forward(x, return_mem=True)  # type: ignore[misc]


class LIFLayer(_ReturnsMem, _nwave.LIFLayer):
    """LIF neurons (``nwave_plugins.layers.LIFLayer``, same arguments), returning ``(spk, mem)``
    from every call."""


class H1v1Frontend(_ReturnsMem, _nwave.H1v1Frontend):
    """H1v1's frontend, returning ``(spk, mem)``."""


class H1v1Layer(_ReturnsMem, _nwave.H1v1Layer):
    """H1v1 neurons, returning ``(spk, mem)``."""


class H1v2Frontend(_ReturnsMem, _nwave.H1v2Frontend):
    """H1v2's frontend, returning ``(spk, mem)``."""


class H1v2Layer(_ReturnsMem, _nwave.H1v2Layer):
    """H1v2 neurons, returning ``(spk, mem)``."""


Frontend = H1v1Frontend
HWSynapse = H1v1Synapse
HWLayer = H1v1Layer
