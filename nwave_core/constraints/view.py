"""Read a model as a :class:`~nwave_core.constraints.Deployment`.

A module says how it appears on a chip through a ``deployment_stage(name)`` method returning a
:class:`~nwave_core.constraints.Stage` (the chip modules, neuron layers and LIF synapses have
one). Any other module with a 2-D ``weight [N_in, N_out]`` reads as a plain linear synapse; a
``torch.nn.Linear`` (weight ``[out, in]``) and any other module holding parameters of its own are
reported as not deployable. Modules inside a stage's module (surrogates, parametrizations) belong
to it.
"""

from __future__ import annotations

from typing import Any

from .base import Deployment, Stage, Violation, WeightSite

__all__ = ["deployment_of"]


def _plain_synapse(name: str, module: Any, weight: Any) -> Stage:
    n_in, n_out = weight.shape
    site = WeightSite(f"{name}.weight" if name else "weight", "synapse", weight, module=module,
                      attribute="weight")
    return Stage(name or type(module).__name__, "synapse", n_in, n_out, type(module).__name__,
                 [site], module=module)


def deployment_of(model: Any) -> Deployment:
    """The stages of ``model`` in registration order (the data flow of an ``nn.Sequential``)."""
    from torch import Tensor, nn

    deployment = Deployment()
    claimed: list[str] = []
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in claimed):
            continue
        describe = getattr(module, "deployment_stage", None)
        if callable(describe):
            stage = describe(name)
            if isinstance(stage, Violation):
                deployment.foreign.append(stage)
            elif stage is not None:
                deployment.stages.append(stage)
            claimed.append(name)
            continue
        label = name or "model"
        if isinstance(module, nn.Linear):
            deployment.foreign.append(Violation(
                "structure", label, "torch.nn.Linear (weight [out, in]) is not a chip synapse; "
                                    "use LIFSynapse or the chip's synapse (weight [in, out])"))
            claimed.append(name)
            continue
        weight = getattr(module, "weight", None)
        if isinstance(weight, Tensor) and weight.dim() == 2:
            deployment.stages.append(_plain_synapse(name, module, weight))
            claimed.append(name)
            continue
        own = [p for p, _ in module.named_parameters(recurse=False)]
        if own:
            deployment.foreign.append(Violation(
                "structure", label, f"{type(module).__name__} holds parameters "
                                    f"({', '.join(own)}) but is no chip module (it declares no "
                                    f"deployment_stage)"))
            claimed.append(name)
    return deployment
