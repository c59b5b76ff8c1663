"""The example plugin's own tests: it is found by name once installed, and its formulas hold."""

import torch

import nwave_core


def test_registered_by_name():
    assert "example_triangle" in nwave_core.registry("surrogate")
    assert nwave_core.registry("policy").describe("warmup_linear").provider.distribution == (
        "nwave-example-plugin")


def test_primitive_derivative_is_grad():
    s = nwave_core.create("surrogate", "example_triangle", alpha=2.0, spiking=False)
    x = torch.linspace(-1, 1, 201, dtype=torch.float64).requires_grad_()
    s(x).sum().backward()
    torch.testing.assert_close(x.grad, s.grad(x.detach()))


def test_warmup_then_linear():
    p = nwave_core.create("policy", "warmup_linear")
    assert [p.value(s, 0.0, 9.0, 10) for s in (0, 1, 10)] == [0.0, 0.0, 9.0]


def test_passes_nwave_conformance_check():
    from nwave_core.testing import check_surrogate

    check_surrogate(nwave_core.create("surrogate", "example_triangle"))
    check_surrogate(nwave_core.create("surrogate", "example_triangle", alpha=3.0))


def test_policy_passes_nwave_conformance_check():
    from nwave_core.testing import check_policy

    check_policy(nwave_core.create("policy", "warmup_linear"))
