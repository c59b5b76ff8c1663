"""Read a model as a [`Deployment`][nwave_core.constraints.base.Deployment].

The data flow nwave can read is that of ``torch.nn.Sequential`` containers (nested as deep as
you like): their modules, in order, are the stages. A module says how it appears on a chip
through a ``deployment_stage(name)`` method returning a
[`Stage`][nwave_core.constraints.base.Stage] (the chip modules, neuron layers and LIF synapses have
one), and may report what the chip would not hold of it through ``deployment_issues(name)``.
A module with a 2-D ``weight [N_in, N_out]`` and nothing else of its own reads as a plain
linear synapse. ``nn.Identity`` and dropout (a no-op at inference) pass. Everything else is
reported as not deployable: a ``torch.nn.Linear`` (weight ``[out, in]``), any other module (an
activation, a normalisation, a custom module), and a container with a ``forward`` of its own,
whose data flow nwave cannot read. A module used twice is two stages. Modules inside a stage's
module (surrogates, parametrizations) belong to it.
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


def _own_state(module: Any, besides: tuple[str, ...] = ()) -> list[str]:
    names = [n for n, _ in module.named_parameters(recurse=False)]
    names += [n for n, _ in module.named_buffers(recurse=False)]
    return [n for n in names if n not in besides and not n.startswith("parametrizations")]


def deployment_of(model: Any) -> Deployment:
    """The stages of ``model`` in data-flow order, and what cannot be deployed."""
    from torch import Tensor, nn
    from torch.nn.modules.dropout import _DropoutNd
    from torch.nn.utils import parametrize

    deployment = Deployment()
    claimed: list[str] = []
    for name, module in model.named_modules(remove_duplicate=False):
        if any(name.startswith(prefix + ".") for prefix in claimed):
            continue
        label = name or "model"
        describe = getattr(module, "deployment_stage", None)
        if callable(describe):
            stage = describe(name)
            if isinstance(stage, Violation):
                deployment.foreign.append(stage)
            elif stage is not None:
                deployment.stages.append(stage)
            issues = getattr(module, "deployment_issues", None)
            if callable(issues):
                deployment.foreign.extend(issues(label))
            claimed.append(name)
            continue
        if isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            continue  # a container: its modules are read in order
        claimed.append(name)
        if isinstance(module, nn.Linear):
            deployment.foreign.append(Violation(
                "structure", label, "torch.nn.Linear (weight [out, in]) is not a chip synapse; "
                                    "use LIFSynapse or the chip's synapse (weight [in, out])"))
            continue
        if isinstance(module, (nn.Identity, _DropoutNd)):
            continue  # nothing at inference
        weight = getattr(module, "weight", None)
        plain = isinstance(weight, Tensor) and weight.dim() == 2 and not list(module.children()) \
            or parametrize.is_parametrized(module, "weight")
        if plain:
            deployment.stages.append(_plain_synapse(name, module, weight))
            extra = _own_state(module, besides=("weight",))
            if extra:
                deployment.foreign.append(Violation(
                    "structure", label, f"{type(module).__name__} holds {', '.join(extra)} "
                                        f"besides its weight, which a chip synapse does not have"))
            continue
        if list(module.children()):
            claimed.pop()  # its modules are reported on their own too
            deployment.foreign.append(Violation(
                "structure", label, f"{type(module).__name__} has a forward of its own, whose "
                                    f"data flow nwave cannot read; deploy an nn.Sequential of "
                                    f"chip modules"))
            continue
        deployment.foreign.append(Violation(
            "structure", label, f"{type(module).__name__} is no chip module: the chip cannot "
                                f"run it (it declares no deployment_stage)"))
    return deployment
