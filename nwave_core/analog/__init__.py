"""Analog synapses: pulsed in-memory updates and device non-idealities.

* [`UpdateParameters`][nwave_core.analog.params.UpdateParameters] and
  [`PulseType`][nwave_core.analog.params.PulseType]: how an update becomes pulse trains (aihwkit's
  semantics); the arithmetic is in [`nwave_core.analog.pulses`][nwave_core.analog.pulses].
* Device models ([`DeviceSpec`][nwave_core.analog.devices.DeviceSpec], registry kind ``device``):
  the step response of one pulse, with device-to-device and cycle-to-cycle spread, bounds and
  asymmetry.
* [`attach_device`][nwave_core.analog.tile.attach_device]: a synapse carries devices and/or forward
  non-idealities ([`AnalogForward`][nwave_core.analog.tile.AnalogForward]: DAC/ADC quantization,
  output noise, read noise, drift).
* [`PulsedSGD`][nwave_core.analog.optimizer.PulsedSGD] (optimizer name ``pulsed_sgd``): the pulsed
  update of analog weights, float SGD for everything else.
"""

from .devices import DeviceSpec, DeviceState, affine_pulses, device_spec
from .optimizer import PulsedSGD
from .params import PulseType, UpdateParameters, update_parameters
from .pulses import (
    PulseCounts,
    coincidences,
    discretize,
    managed_pulse_trains,
    pulse_probabilities,
    pulse_train,
    resolution,
)
from .tile import (
    AnalogForward,
    AnalogTile,
    analog_tiles,
    attach_device,
    attach_devices,
    detach_device,
    set_inference_time,
)

__all__ = [
    "PulseType", "UpdateParameters", "update_parameters",
    "resolution", "discretize", "pulse_train", "managed_pulse_trains", "pulse_probabilities",
    "PulseCounts", "coincidences",
    "DeviceSpec", "DeviceState", "affine_pulses", "device_spec",
    "AnalogForward", "AnalogTile", "attach_device", "attach_devices", "detach_device",
    "analog_tiles", "set_inference_time",
    "PulsedSGD",
]
