"""``PulsedSGD``: SGD whose analog weights are updated by coincidences of stochastic pulses.

Every parameter that is the weight of a synapse carrying a device
([`attach_device`][nwave_core.analog.tile.attach_device]) is updated the way a resistive crossbar
is: the ``(x, d)`` pairs its tile recorded since the last step (``x`` the input activity, ``d`` the
gradient at the output current, one pair per batch element and time step) become pulse trains
([`pulses`][nwave_core.analog.pulses]), all pairs at once, and the devices take one step per
coincidence ([`apply_pulses`][nwave_core.analog.devices.DeviceSpec.apply_pulses]). The expected
update is ``-lr * sum_pairs x d^T`` where no pulse probability clips. Every other parameter (time
constants, thresholds, frontend gains, synapses without a device) takes a plain SGD step
``p -= lr * grad``, as does everything with ``pulse_type = "none"`` (bit for bit
``torch.optim.SGD``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .params import PulseType, UpdateParameters, update_parameters
from .pulses import coincidences
from .tile import TILE_ATTRIBUTE, AnalogTile, attach_devices

__all__ = ["PulsedSGD"]


def _check_lr(lr: Any) -> float:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not lr >= 0:
        raise ValueError(f"PulsedSGD: lr must be a number >= 0, got {lr!r}")
    return float(lr)


class PulsedSGD(torch.optim.Optimizer):
    """Pulsed in-memory update for analog synapses, plain SGD for the rest.

    Args:
        params: parameters or parameter groups (as for any torch optimizer).
        lr: learning rate.
        update: [`UpdateParameters`][nwave_core.analog.params.UpdateParameters], or a table of its
            fields (a config's ``[optimizer.update]``); None: the defaults.
        seed: seed of the pulse bits and device noise; None: drawn from torch's global RNG.

    The optimizer state of an analog weight holds ``pulses`` (coincidences in the last step)
    and, with ``update.d_sparsity``, ``d_sparsity``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 0.01, update: Any = None,
                 seed: int | None = None) -> None:
        defaults = {"lr": _check_lr(lr), "update": update_parameters(update)}
        super().__init__(params, defaults)
        if seed is None:
            seed = int(torch.randint(0, 2**62, (1,)))
        self.generator = torch.Generator().manual_seed(int(seed))

    @classmethod
    def for_model(cls, model: nn.Module, lr: float = 0.01, update: Any = None,
                  seed: int | None = None, device: Any = None, device_seed: int = 0,
                  forward: Any = None, *, chip: Any = None) -> PulsedSGD:
        """The optimizer of ``model``'s parameters, after giving its synapses devices.

        Args:
            model: the network.
            lr: learning rate.
            update: the update parameters (as for the constructor).
            seed: seed of the pulse bits and device noise.
            device: device model for every synapse without a tile (a registry name, a table
                with ``type``, or a DeviceSpec); None: the chip's ``synapse_device`` if it
                declares one, else synapses keep what they carry.
            device_seed: seed of the per-device draws (synapse ``k`` gets ``device_seed + k``).
            forward: forward non-idealities for those synapses (an AnalogForward or a table).
            chip: the experiment's chip (a ChipSpec), read for ``synapse_device``.
        """
        if device is None:
            device = getattr(chip, "synapse_device", None)
        if device is not None or forward is not None:
            attach_devices(model, device, forward=forward, seed=device_seed)
        return cls(model.parameters(), lr=lr, update=update, seed=seed)

    @staticmethod
    def check_params(params: dict[str, Any]) -> list[str]:
        """Problems of a config's ``[optimizer]`` parameters beyond names (``message @ path``)."""
        problems = []
        try:
            update_parameters(params.get("update"))
        except (ValueError, TypeError) as exc:
            problems.append(f"{exc} @ $.optimizer.update")
        device = params.get("device")
        if device is not None:
            from .devices import device_spec

            try:
                device_spec(device)
            except Exception as exc:  # noqa: BLE001 - any bad device table is the user's
                problems.append(f"{exc} @ $.optimizer.device")
        return problems

    def state_dict(self) -> dict[str, Any]:
        """The torch optimizer state plus the pulse generator's state (for exact resumes)."""
        state = super().state_dict()
        for group in state["param_groups"]:  # plain values: loadable with weights_only=True
            update = attrs.asdict(update_parameters(group["update"]))
            update["pulse_type"] = update["pulse_type"].value
            group["update"] = update
        state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        generator = state_dict.pop("generator", None)
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["update"] = update_parameters(group["update"])
        if generator is not None:
            self.generator.set_state(generator)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients and the pairs the tiles recorded (both feed the next step)."""
        super().zero_grad(set_to_none)
        for tile in self._tiles():
            tile.clear_pairs()

    def _tiles(self) -> list[AnalogTile]:
        return [tile for group in self.param_groups for p in group["params"]
                if isinstance(tile := getattr(p, TILE_ATTRIBUTE, None), AnalogTile)]

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One update of every parameter.

        Raises:
            RuntimeError: an analog weight has a gradient but its synapse recorded no pairs
                (its forward ran outside the synapse module, e.g. through ``effective_weight``).
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = _check_lr(group["lr"])
            update: UpdateParameters = update_parameters(group["update"])
            for p in group["params"]:
                tile = getattr(p, TILE_ATTRIBUTE, None)
                analog = (isinstance(tile, AnalogTile) and tile.device is not None
                          and update.pulse_type is not PulseType.NONE)
                if not analog:
                    if isinstance(tile, AnalogTile):
                        tile.clear_pairs()
                    if p.grad is not None:
                        p.add_(p.grad, alpha=-lr)
                    continue
                pairs = tile.take_pairs()
                if pairs is None:
                    if p.grad is not None:
                        raise RuntimeError(
                            "PulsedSGD: an analog weight has a gradient but its synapse recorded "
                            "no (x, d) pairs; call the synapse module itself in the forward pass")
                    continue
                self._pulsed_step(p, tile, *pairs, lr, update)
        return loss

    def _pulsed_step(self, p: Tensor, tile: AnalogTile, x: Tensor, d: Tensor, lr: float,
                     update: UpdateParameters) -> None:
        if p.device.type != "cpu":
            raise NotImplementedError(
                f"PulsedSGD: the pulsed update runs on CPU tensors for now; this analog weight is "
                f"on {p.device} (pulse_type 'none' works on any device)")
        device = tile.device
        assert device is not None
        dw_min = device.spec.dw_min
        x = x.to(p.dtype)
        d = d.to(p.dtype)
        state = self.state[p]
        if update.pulse_type is PulseType.NONE_WITH_DEVICE:
            delta = -lr * (x.t() @ d)
            n_up, n_down = delta.clamp(min=0) / dw_min, (-delta).clamp(min=0) / dw_min
        else:
            counts = coincidences(x, d, lr, dw_min, update, self.generator)
            n_up, n_down = counts.up, counts.down
            if update.d_sparsity:
                state["d_sparsity"] = counts.d_sparsity
        state["pulses"] = float((n_up + n_down).sum())
        p.copy_(device.apply_pulses(p, n_up, n_down, self.generator))
