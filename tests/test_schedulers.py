"""SurrogateScheduler and ParamScheduler: formulas, targets, errors, resume."""

from __future__ import annotations


import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import nwave_core
from nwave_core import Scheduler, UnknownNameError
from nwave_core.optim import ParamScheduler, SurrogateScheduler
from nwave_plugins.surrogates import atan, fast_sigmoid, sigmoid


class Neuron(nn.Module):
    """Stands in for a neuron layer: anything with a spike_grad."""

    def __init__(self, spike_grad):
        super().__init__()
        self.spike_grad = spike_grad


def model(*surrogates):
    return nn.Sequential(*(Neuron(s) for s in surrogates))


def test_finds_every_surrogate_in_a_model_a_layer_a_surrogate_and_lists():
    a, b, c = fast_sigmoid(), sigmoid(), fast_sigmoid()
    net = model(a, b)
    assert SurrogateScheduler(net).surrogates == [a, b]
    assert SurrogateScheduler(Neuron(c)).surrogates == [c]
    assert SurrogateScheduler(c).surrogates == [c]
    assert SurrogateScheduler([net, (Neuron(c), a)]).surrogates == [a, b, c]


def test_linear_schedule_writes_every_surrogate_and_returns_the_value():
    net = model(fast_sigmoid(), sigmoid())
    sched = SurrogateScheduler(net, policy="linear", start_value=10.0, end_value=30.0, total_steps=4)
    values = [sched.step() for _ in range(6)]
    assert values == [10.0, 15.0, 20.0, 25.0, 30.0, 30.0]
    assert all(m.spike_grad.param_value == 30.0 for m in net)
    assert sched.step(2) == 20.0 and net[0].spike_grad.param_value == 20.0
    assert sched.step() == 25.0  # continues from the step set


def test_start_value_none_takes_the_current_value_and_end_none_equals_start():
    s = atan(alpha=3.0)
    sched = SurrogateScheduler(s, policy="cosine")
    assert (sched.start_value, sched.end_value) == (3.0, 3.0)
    assert sched.step() == 3.0


def test_step_policy_with_clipping():
    s = fast_sigmoid()
    sched = SurrogateScheduler(s, policy="step", start_value=5.0, step_size=3, gamma=2.0,
                               max_value=25.0)
    assert [sched.step() for _ in range(10)] == [5, 5, 5, 10, 10, 10, 20, 20, 20, 25]


@given(start=st.floats(0.5, 50), end=st.floats(0.5, 50), total=st.integers(1, 60),
       step=st.integers(0, 100), lo=st.floats(0.1, 10), width=st.floats(0, 40))
def test_value_is_the_policy_formula_clipped(start, end, total, step, lo, width):
    hi = lo + width
    sched = SurrogateScheduler(atan(), policy="exp", start_value=start, end_value=end,
                               total_steps=total, min_value=lo, max_value=hi)
    p = min(step, total) / total
    expected = min(max(start * (end / start) ** p, lo), hi)
    assert sched.step(step) == pytest.approx(expected, rel=1e-12)


def test_a_third_party_policy_works_by_name():
    from nwave_core import Entry, hookimpl
    from nwave_core.policy import PolicyBase

    class Halfway(PolicyBase):
        name = "halfway"

        def shape(self, step, start, end, total_steps, **_):
            return (start + end) / 2

    class Plugin:
        @staticmethod
        @hookimpl
        def nwave_policies():
            return [Entry("halfway", Halfway)]

    nwave_core.register_plugin(Plugin, "halfway-plugin")
    sched = SurrogateScheduler(atan(), policy="halfway", start_value=2.0, end_value=4.0)
    assert sched.step() == 3.0


# -- errors ------------------------------------------------------------------------------------


def test_mixed_parameter_kinds_are_an_error():
    with pytest.raises(ValueError) as info:
        SurrogateScheduler(model(fast_sigmoid(), atan()))
    assert str(info.value) == ("SurrogateScheduler: the targets schedule different parameter "
                               "kinds: 'slope' (FastSigmoid), 'alpha' (ATan); use one scheduler "
                               "per kind")


def test_no_surrogate_is_an_error():
    with pytest.raises(ValueError, match=r"^SurrogateScheduler: no surrogate found in the target "
                                         r"\(Linear\)"):
        SurrogateScheduler(nn.Linear(2, 2))


@pytest.mark.parametrize("start, end", [(0.0, 10.0), (5.0, -1.0)])
def test_exp_with_non_positive_values_is_an_error_at_construction(start, end):
    with pytest.raises(ValueError, match=r"^SurrogateScheduler: policy 'exp' needs start > 0 and "
                                         r"end > 0"):
        SurrogateScheduler(atan(), policy="exp", start_value=start, end_value=end)


def test_unknown_policy_suggests_names():
    with pytest.raises(UnknownNameError, match=r"^unknown policy 'cosin'\. Did you mean 'cosine'\?"):
        SurrogateScheduler(atan(), policy="cosin")


def test_min_greater_than_max_is_an_error():
    with pytest.raises(ValueError) as info:
        SurrogateScheduler(atan(), min_value=5.0, max_value=1.0)
    assert str(info.value) == "SurrogateScheduler: min_value (5) is greater than max_value (1)"


def test_a_scheduled_value_the_surrogate_rejects_is_an_error():
    sched = SurrogateScheduler(atan(), policy="linear", start_value=1.0, end_value=-1.0, total_steps=2)
    sched.step()
    with pytest.raises(ValueError, match="surrogate 'atan': alpha must be > 0, got 0.0"):
        sched.step()


# -- ParamScheduler ----------------------------------------------------------------------------


class Synapse(nn.Module):
    def __init__(self):
        super().__init__()
        self.stddev = 0.0
        self.quantization_bits = 8
        self.register_buffer("sigma", torch.tensor(0.5))


def test_param_scheduler_reaches_attributes_buffers_and_rounds_integers():
    net = nn.Sequential(Synapse(), nn.ReLU(), Synapse())
    bits = ParamScheduler(net, "quantization_bits", policy="linear", end_value=4, total_steps=4)
    assert [bits.step() for _ in range(5)] == [8.0, 7.0, 6.0, 5.0, 4.0]
    assert net[0].quantization_bits == net[2].quantization_bits == 4
    assert isinstance(net[0].quantization_bits, int)
    noise = ParamScheduler(net, "stddev", policy="linear", start_value=0.0, end_value=0.1, total_steps=10)
    noise.step(5)
    assert net[2].stddev == pytest.approx(0.05)
    sigma = ParamScheduler(net[0], "sigma", policy="exp", end_value=0.05, total_steps=1)
    sigma.step(1)
    assert net[0].sigma.dtype == torch.float32 and float(net[0].sigma) == pytest.approx(0.05)


def test_param_scheduler_on_a_plain_object_and_errors():
    class Loss:
        weight = 1.0

    loss = Loss()
    ParamScheduler(loss, "weight", policy="linear", end_value=0.0, total_steps=2).step(1)
    assert loss.weight == 0.5
    with pytest.raises(ValueError, match="ParamScheduler: no target has an attribute 'wieght'"):
        ParamScheduler(loss, "wieght")


# -- protocol and resume -----------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    lambda net: SurrogateScheduler(net, policy="cosine", start_value=2.0, end_value=40.0, total_steps=9),
    lambda net: ParamScheduler(net, "stddev", policy="step", start_value=0.01, step_size=2, gamma=1.5),
])
def test_a_resumed_run_continues_the_same_sequence(make):
    def build():
        net = nn.Sequential(Neuron(fast_sigmoid()), Synapse())
        return net, make(net)

    net, sched = build()
    assert isinstance(sched, Scheduler)
    uninterrupted = [sched.step() for _ in range(12)]

    net, sched = build()
    first = [sched.step() for _ in range(5)]
    saved = {"sched": sched.state_dict(), "model": net.state_dict()}
    torch.save(saved, buffer := __import__("io").BytesIO())
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    net2, sched2 = build()
    net2.load_state_dict(loaded["model"])
    sched2.load_state_dict(loaded["sched"])
    rest = [sched2.step() for _ in range(7)]
    assert first + rest == uninterrupted


def test_works_beside_torch_lr_schedulers_in_one_loop():
    net = nn.Sequential(nn.Linear(3, 3), Neuron(atan()))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    surrogate = SurrogateScheduler(net, policy="linear", start_value=1.0, end_value=4.0, total_steps=3)
    alphas = []
    for epoch in range(4):
        alphas.append(surrogate.step(epoch))
        loss = net[0](torch.ones(1, 3)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        cosine.step()
        plateau.step(1.0)  # a flat metric: the plateau scheduler halves the LR
    assert alphas == [1.0, 2.0, 3.0, 4.0]
    assert opt.param_groups[0]["lr"] < 0.1


def test_schedulers_are_in_the_registry():
    net = model(fast_sigmoid())
    sched = nwave_core.create("scheduler", "surrogate", target=net, policy="linear",
                              end_value=50.0, total_steps=2)
    assert isinstance(sched, SurrogateScheduler) and sched.step(2) == 50.0
    assert "ParamScheduler" in nwave_core.registry("scheduler")
