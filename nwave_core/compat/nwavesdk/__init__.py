"""The original NWAVE SDK's module layout (``nwavesdk``) on top of nwave.

A script written for the SDK runs with its imports changed from ``nwavesdk`` to
``nwave_core.compat.nwavesdk``::

    from nwave_core.compat.nwavesdk.layers import H1v2Layer, H1v2Synapse, prepare_net
    from nwave_core.compat.nwavesdk.optim import SignAnnealing, SurrogateScheduler
    from nwave_core.compat.nwavesdk import NWaveDataGen, NWaveDataloaderConfig

Modules: :mod:`~.surrogate`, :mod:`~.layers`, :mod:`~.loss`, :mod:`~.metrics`,
:mod:`~.optim` (also as :mod:`~.schedulers`) and, at the top level, the data generator
(:class:`NWaveDataGen`, :class:`NWaveDataloaderConfig`). Not here yet: ``nwavesdk.init``
(``fluct_init``, ``frontend_firing_init``), which comes with nwave's initialisation module.

What differs from nwave's own API: the neuron layers here return ``(spk, mem)`` from every
call, as the SDK's do (nwave's return the spikes, so that they compose in ``nn.Sequential``);
:func:`~.loss.weight_magnitude_loss` has a default limit for models without chip layers; and
:func:`~.loss.balanced_population_mse` is the SDK's per-neuron spike-count loss, not nwave's
per-population rate loss (``nwave_core.losses.balanced_population_mse``). docs/migration.md
lists every name.
"""

from __future__ import annotations

from . import layers, loss, metrics, optim, schedulers, surrogate
from .data import NWaveDataGen, NWaveDataloaderConfig

__all__ = ["NWaveDataGen", "NWaveDataloaderConfig", "layers", "loss", "metrics", "optim",
           "schedulers", "surrogate"]
