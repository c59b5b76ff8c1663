"""The original NWAVE SDK's module layout (``nwavesdk``) on top of nwave.

A script written for the SDK runs with its imports changed from ``nwavesdk`` to
``nwave_core.compat.nwavesdk``::

    from nwave_core.compat.nwavesdk.layers import H1v2Layer, H1v2Synapse, prepare_net
    from nwave_core.compat.nwavesdk.optim import SignAnnealing, SurrogateScheduler
    from nwave_core.compat.nwavesdk import NWaveDataGen, NWaveDataloaderConfig

Modules: [`surrogate`][nwave_core.compat.nwavesdk.surrogate],
[`layers`][nwave_core.compat.nwavesdk.layers], [`loss`][nwave_core.compat.nwavesdk.loss],
[`metrics`][nwave_core.compat.nwavesdk.metrics], [`optim`][nwave_core.compat.nwavesdk.optim] (also
as [`schedulers`][nwave_core.compat.nwavesdk.schedulers]) and, at the top level, the data generator
([`NWaveDataGen`][nwave_core.compat.nwavesdk.data.NWaveDataGen],
[`NWaveDataloaderConfig`][nwave_core.compat.nwavesdk.data.NWaveDataloaderConfig]). Not here yet:
``nwavesdk.init`` (``fluct_init``, ``frontend_firing_init``), which comes with nwave's
initialisation module.

What differs from nwave's own API: the neuron layers here return ``(spk, mem)`` from every
call, as the SDK's do (nwave's return the spikes, so that they compose in ``nn.Sequential``);
[`weight_magnitude_loss`][nwave_core.compat.nwavesdk.loss.weight_magnitude_loss] has a default limit
for models without chip layers; and
[`balanced_population_mse`][nwave_core.compat.nwavesdk.loss.balanced_population_mse] is the SDK's
per-neuron spike-count loss, not nwave's per-population rate loss
(``nwave_core.losses.balanced_population_mse``). docs/migration.md
lists every name.
"""

from __future__ import annotations

from . import layers, loss, metrics, optim, schedulers, surrogate
from .data import NWaveDataGen, NWaveDataloaderConfig

__all__ = ["NWaveDataGen", "NWaveDataloaderConfig", "layers", "loss", "metrics", "optim",
           "schedulers", "surrogate"]
