"""``nwavesdk.metrics``: accuracies and the chip's average power (``get_chip_consumption``)."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from nwave_core.metrics import accuracy, accuracy_population, estimate_energy

__all__ = ["accuracy", "accuracy_population", "get_chip_consumption"]


def get_chip_consumption(model: nn.Module, inputs: Tensor, chip: Any = None,
                         dt: float | None = None) -> float:
    """Average power of the chip running ``model`` on ``inputs`` ``[B, T, ...]``, in watts.

    The energy per sample of
    [`nwave_core.metrics.estimate_energy`][nwave_core.metrics.estimate_energy] (spikes and synaptic
    events times the chip's nominal energies) divided by the input's duration ``T * dt``.

    Args:
        model: the model (its neuron layers' outputs are counted).
        inputs: a batch of sequences ``[B, T, ...]``.
        chip: a chip spec or name; None: the chip of the model's hardware layers.
        dt: seconds per step; None: the ``dt`` of the model's neuron layers (one value).

    Raises:
        ValueError: no ``dt`` given and the layers have none or several.
    """
    if dt is None:
        steps = {float(m.dt) for m in model.modules() if hasattr(m, "dt") and hasattr(m, "n_neurons")}
        if len(steps) != 1:
            raise ValueError(f"get_chip_consumption: pass dt= (the model's neuron layers have "
                             f"{'no dt' if not steps else 'several dt: ' + str(sorted(steps))})")
        dt = steps.pop()
    energy = estimate_energy(model, inputs, chip)
    return energy.joules / (inputs.shape[1] * dt)
