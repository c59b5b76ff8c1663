"""The H1 chips, declared as data: H1v1 (first version, deprecated) and H1v2 (current).

Public facts: weight ranges, blocks of 5 sign-sharing post-synaptic neurons, core sizes,
16 frontend channels, one global threshold, membrane clipped at 0, reset rules, linear vs
nonlinear synapses. Values marked *nominal* are not published by the vendor: they are our
stand-ins, overridable with ``attrs.evolve(H1V2, field=value)`` or from a config.
"""

from __future__ import annotations

from nwave_core import ChipSpec, Entry, hookimpl

__all__ = ["H1V1", "H1V2"]

H1V1 = ChipSpec(
    name="h1v1",
    summary="H1v1 (deprecated): 4 x 64 neurons, weights in [-0.9, 0.9], reset to zero",
    weight_limit=0.9,
    sign_block=5,
    weight_bits=5,  # from an old tutorial
    core_sizes=(64, 64, 64, 64),
    recurrent_scope="core",
    frontend_channels=16,
    threshold=1.0,
    global_threshold=True,
    reset="zero",
    membrane_floor=0.0,
    synapse_gain=1.0,
    synapse_nonlinearity="tanh",  # nominal shape: the synapse is nonlinear
    synapse_stddev=0.02,  # the documented example
    leak_mismatch=0.1,  # nominal
    threshold_mismatch=0.0,
    energy_per_spike=10e-12,  # nominal
    energy_per_synaptic_event=1e-12,  # nominal
)
"""H1v1 (first version, deprecated), as data: the chip name ``"h1v1"``."""

H1V2 = ChipSpec(
    name="h1v2",
    summary="H1v2: 50 + 50 + 100 neurons, weights in [-1.66, 1.66], subtract and clamp at 0",
    weight_limit=1.66,
    sign_block=5,
    weight_bits=8,  # nominal: supported, width not public
    core_sizes=(50, 50, 100),
    recurrent_scope="core",
    frontend_channels=16,
    threshold=1.0,
    global_threshold=True,
    reset="subtraction",
    membrane_floor=0.0,
    tau_profiles=(2.5e-3, 5e-3, 10e-3, 20e-3, 40e-3, 80e-3, 160e-3),  # nominal table
    synapse_gain=0.5,  # nominal: weaker than H1v1
    synapse_nonlinearity="linear",
    synapse_stddev=0.0,  # mostly removed by hardware remapping
    leak_mismatch=0.1,  # nominal
    threshold_mismatch=0.02,  # nominal: small per-neuron variation
    energy_per_spike=5e-12,  # nominal
    energy_per_synaptic_event=0.5e-12,  # nominal
)
"""H1v2 (current), as data: the chip name ``"h1v2"``."""


@hookimpl
def nwave_chips() -> list[Entry]:
    return [
        Entry("h1v1", H1V1.with_overrides, summary=H1V1.summary),
        Entry("h1v2", H1V2.with_overrides, summary=H1V2.summary),
    ]
