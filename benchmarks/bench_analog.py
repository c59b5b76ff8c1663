"""Benchmark of the pulsed analog update against a float SGD step (docs/analog.md).

One synapse ``[256, 256]``, batch 32, T = 100 (3200 ``(batch, time)`` pairs): ``x`` Bernoulli
spikes (p = 0.1), ``d`` Gaussian errors (std 0.01), lr 0.01 (``--lr``), devices with
``dw_min = 0.001``. The pulsed cost grows with the pulse-train lengths (``sum of BL`` rows of
random bits and of the counting product); the run prints the mean BL that BL management chose.

* ``float``: what a float optimizer does with the same ``x`` and ``d``: the weight gradient
  ``x^T d`` (one matmul, normally part of the backward pass) and ``w -= lr * grad``;
* ``float_step_only``: just ``w -= lr * grad`` (``torch.optim.SGD.step``);
* ``pulsed[...]``: ``nwave_core.analog.PulsedSGD``'s update of the same weight from the same
  ``x`` and ``d``: pulse trains for all pairs, coincidence counts, the device's step response.

The pulsed update replaces both the weight gradient and the step (an analog tile never forms
``x^T d``), so ``float`` is the reference of the ratios. Variants run in interleaved rounds;
medians after warm-up of the process's CPU time (``--clock wall`` for wall time); ratios are to
``float`` measured in the same process. Not a test: run
``python benchmarks/bench_analog.py [--repeat 15] [--threads 2] [--lr 0.01]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import nwave_core
from nwave_core.analog import PulsedSGD, UpdateParameters, attach_device, managed_pulse_trains
from nwave_core.analog.tile import TILE_ATTRIBUTE

N, BATCH, STEPS = 256, 32, 100


def make_inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(BATCH, STEPS, N, generator=g) < 0.1).float()
    d = 0.01 * torch.randn(BATCH, STEPS, N, generator=g)
    return x, d


def float_update(x: torch.Tensor, d: torch.Tensor, lr: float) -> Callable[[], None]:
    weight = torch.nn.Parameter(torch.zeros(N, N))
    optimizer = torch.optim.SGD([weight], lr=lr)
    xf, df = x.reshape(-1, N), d.reshape(-1, N)

    def run() -> None:
        weight.grad = xf.t() @ df
        optimizer.step()
    return run


def step_only(lr: float) -> Callable[[], None]:
    weight = torch.nn.Parameter(torch.zeros(N, N))
    weight.grad = torch.randn(N, N)
    optimizer = torch.optim.SGD([weight], lr=lr)
    return optimizer.step


def pulsed_update(x: torch.Tensor, d: torch.Tensor, lr: float, device: str,
                  update: UpdateParameters) -> Callable[[], None]:
    synapse = nwave_core.create("layer", "LIFSynapse", nb_inputs=N, nb_outputs=N)
    tile = attach_device(synapse, device, seed=0)
    setattr(synapse.weight, TILE_ATTRIBUTE, tile)
    optimizer = PulsedSGD(synapse.parameters(), lr=lr, update=update, seed=0)
    start = synapse.weight.detach().clone()

    def run() -> None:
        tile._pairs = [(x, d)]  # what the synapse's hooks record in a training step
        optimizer.step()
        with torch.no_grad():
            synapse.weight.copy_(start)  # every repetition updates the same weights
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: the process's CPU time (robust on a shared machine); wall")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    x, d = make_inputs()
    default = UpdateParameters()
    lr = args.lr
    variants: dict[str, Callable[[], None]] = {
        "float": float_update(x, d, lr),
        "float_step_only": step_only(lr),
        "pulsed[soft_bounds, defaults]": pulsed_update(x, d, lr, "soft_bounds", default),
        "pulsed[constant_step, defaults]": pulsed_update(x, d, lr, "constant_step", default),
        "pulsed[exp_step, defaults]": pulsed_update(x, d, lr, "exp_step", default),
        "pulsed[soft_bounds, stochastic]": pulsed_update(
            x, d, lr, "soft_bounds", UpdateParameters(pulse_type="stochastic")),
        "pulsed[soft_bounds, mean_count]": pulsed_update(
            x, d, lr, "soft_bounds", UpdateParameters(pulse_type="mean_count")),
        "pulsed[soft_bounds, BL 31: no BL management]": pulsed_update(
            x, d, lr, "soft_bounds", UpdateParameters(update_bl_management=False)),
        "pulsed[soft_bounds, fixed BL 31, no management]": pulsed_update(
            x, d, lr, "soft_bounds", UpdateParameters(update_bl_management=False,
                                                  update_management=False)),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():  # warm-up
        run()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    for _ in range(args.repeat):
        for name, run in variants.items():
            start = clock()
            run()
            times[name].append(clock() - start)
    reference = statistics.median(times["float"])
    bl, _, _ = managed_pulse_trains(lr, 0.001, x.reshape(-1, N).abs().amax(1),
                                    d.reshape(-1, N).abs().amax(1), default)
    print(f"torch {torch.__version__}, {args.threads} threads, [{N}, {N}] synapse, B={BATCH}, "
          f"T={STEPS}, lr={lr:g}, dw_min=0.001, {args.clock} time, median of {args.repeat}; "
          f"with BL management "
          f"the mean BL is {bl.double().mean():.2f} (max {int(bl.max())})")
    print(f"{'variant':52s} {'ms':>9s} {'x float':>8s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:52s} {median * 1e3:9.2f} {median / reference:8.2f}")


if __name__ == "__main__":
    main()
