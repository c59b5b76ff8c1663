"""The plugin author's kit: every registered component passes its conformance check."""

from __future__ import annotations

import pytest

import nwave_core
from nwave_core import ChipSpec
from nwave_core.optim import ParamScheduler, SurrogateScheduler
from nwave_core.testing import check_chip, check_layer, check_policy, check_scheduler

NEURON_LAYERS = ["LIFLayer", "H1v1Layer", "H1v2Layer", "H1v1Frontend", "H1v2Frontend"]


@pytest.mark.parametrize("name", nwave_core.registry("policy").names())
def test_every_policy(name):
    check_policy(nwave_core.create("policy", name))


@pytest.mark.parametrize("name", NEURON_LAYERS)
@pytest.mark.parametrize("topology", ["FF", "RC"])
def test_every_neuron_layer(name, topology):
    params = {"layer_topology": topology} if "Frontend" not in name else {}
    if "Frontend" in name and topology == "RC":
        pytest.skip("frontends are feed-forward")
    size = {} if "Frontend" in name else {"n_neurons": 7}
    check_layer(lambda: nwave_core.create("layer", name, **size, **params))


@pytest.mark.parametrize("name", nwave_core.registry("chip").names())
def test_every_chip(name):
    check_chip(nwave_core.create("chip", name))


def test_a_third_party_chip_with_other_numbers():
    check_chip(ChipSpec(name="acme", weight_limit=0.5, sign_block=4, core_sizes=(16, 16),
                        weight_bits=4, frontend_channels=6, reset="zero", membrane_floor=-0.1))


def test_schedulers_resume():
    from nwave_plugins.surrogates import atan

    check_scheduler(lambda: SurrogateScheduler(atan(), policy="cosine", start_value=1.0,
                                               end_value=9.0, total_steps=6))

    class Holder:
        sigma = 0.5

    check_scheduler(lambda: ParamScheduler(Holder(), "sigma", policy="exp", end_value=0.05,
                                           total_steps=6))


def test_the_checks_catch_broken_components():
    class Broken(nwave_core.PolicyBase):
        def shape(self, step, start, end, total_steps):  # no **options: rejects unknown ones
            return start

    with pytest.raises(AssertionError, match="with an unknown option raised TypeError"):
        check_policy(Broken())

    class Forgetful:
        def __init__(self):
            self.i = 0

        def step(self):
            self.i += 1
            return float(self.i)

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    with pytest.raises(AssertionError, match="resumed from state_dict it gave"):
        check_scheduler(Forgetful)

    from nwave_core.neurons import LIFNeurons

    class Leaky(LIFNeurons):
        def reset_state(self):  # forgets to forget the membrane
            self.mem = None

    with pytest.raises(AssertionError, match="one step at a time differs"):
        check_layer(lambda: Leaky(5))
