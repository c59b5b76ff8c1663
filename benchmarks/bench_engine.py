"""Benchmark of the multi-step neuron engine on the reference workload (spec: performance.md).

``700 -> Linear -> LIF(256) -> Linear -> LIF(20)``, batch 32, T = 100 and 500, Bernoulli input
(p = 0.05), beta = 0.95, threshold 1.0, subtraction reset, atan surrogate, loss = sum of output
spikes, 2 threads, float32, CPU. Times the forward (autograd on, as in training) and
forward+backward, median over repetitions after warm-up, for:

* ``engine``: ``nwave_core.engine.lif_sequence`` (one autograd node per layer), with its
  compiled loops where they build (``NWAVE_NO_EXTENSION=1`` times the pure-PyTorch ones);
* ``reference``: ``nwave_core.engine.lif_sequence_reference`` (per-step autograd);
* ``proxy``: the floor: the two input matmuls (forward and backward) plus one elementwise pass
  per layer, nothing else (with ``--recurrent``: plus the T recurrent matmuls forward and
  backward, as in ``bench_peers.py``).

The variants run in interleaved rounds, so a load that comes and goes on the machine touches all
of them alike. Ratios are to the proxy measured in the same process; only they compare across
machines. Not a test: run ``python benchmarks/bench_engine.py [--steps 100 500] [--repeat 15]
[--recurrent]``. The peers and the public layers: ``benchmarks/bench_peers.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from nwave_core.engine import extension_status, lif_sequence, lif_sequence_reference
from nwave_plugins.surrogates import ATan

N_IN, N_HID, N_OUT, BATCH = 700, 256, 20, 32


def make_model(recurrent: bool, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    model = {"lin1": nn.Linear(N_IN, N_HID), "lin2": nn.Linear(N_HID, N_OUT),
             "beta": torch.tensor(0.95), "threshold": torch.tensor(1.0),
             "surrogate": ATan(alpha=2.0), "w_rec": None}
    with torch.no_grad():  # a scale at which both layers spike at a few percent
        model["lin1"].weight.mul_(4.0)
        model["lin2"].weight.mul_(2.0)
    if recurrent:
        model["w_rec"] = nn.Parameter(torch.empty(N_HID, N_HID).uniform_(-1, 1) / N_HID ** 0.5)
    return model


def snn_forward(model: dict, x: torch.Tensor, run: Callable) -> tuple[torch.Tensor, torch.Tensor]:
    """Hidden and output spikes of the SNN, each LIF layer through ``run``."""
    s1, _ = run(model["lin1"](x), model["beta"], model["threshold"], model["surrogate"],
                reset="subtraction", recurrent_weight=model["w_rec"])
    s2, _ = run(model["lin2"](s1), model["beta"], model["threshold"], model["surrogate"],
                reset="subtraction")
    return s1, s2


def proxy_loss(model: dict, x: torch.Tensor) -> torch.Tensor:
    a1 = model["lin1"](x)  # the matmul and one elementwise pass per layer
    if model["w_rec"] is not None:  # plus the T recurrent matmuls, forward and backward
        from bench_peers import _RecurrentMatmuls  # the same floor as the peers' table

        a1 = a1 + _RecurrentMatmuls.apply(a1, model["w_rec"])
    a2 = model["lin2"](a1 * 0.5) * 0.5
    return a2.sum()


def zero_grads(model: dict) -> None:
    for module in (model["lin1"], model["lin2"]):
        module.zero_grad(set_to_none=True)
    if model["w_rec"] is not None:
        model["w_rec"].grad = None


def bench(steps: int, repeat: int, recurrent: bool) -> list[tuple[str, float, float]]:
    """``(name, forward ms, forward+backward ms)`` medians of each variant.

    Rounds: proxy, engine, reference, proxy, ...; the reference, slow at large T, runs in one
    round of three.
    """
    model = make_model(recurrent)
    gen = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((BATCH, steps, N_IN), 0.05), generator=gen)
    variants: dict[str, Callable[[], torch.Tensor]] = {
        "proxy (matmuls + 1 elementwise pass)": lambda: proxy_loss(model, x),
        "engine (lif_sequence)": lambda: snn_forward(model, x, lif_sequence)[1].sum(),
        "reference (per-step autograd)":
            lambda: snn_forward(model, x, lif_sequence_reference)[1].sum(),
    }
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in variants}

    def timed(loss_fn: Callable[[], torch.Tensor], backward: bool) -> float:
        zero_grads(model)
        start = time.perf_counter()
        loss = loss_fn()
        if backward:
            loss.backward()
        return time.perf_counter() - start

    for round_ in range(-2, repeat):  # two warm-up rounds
        for name, loss_fn in variants.items():
            if name.startswith("reference") and round_ >= 0 and round_ % 3:
                continue
            fwd, fwd_bwd = timed(loss_fn, backward=False), timed(loss_fn, backward=True)
            if round_ >= 0:
                times[name][0].append(fwd)
                times[name][1].append(fwd_bwd)
    with torch.no_grad():
        s1, s2 = snn_forward(model, x, lif_sequence)
    print(f"T={steps}: spike rates hidden {float(s1.mean()):.3f}, output {float(s2.mean()):.3f}")
    return [(name, 1e3 * statistics.median(f), 1e3 * statistics.median(fb))
            for name, (f, fb) in times.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--recurrent", action="store_true",
                        help="add recurrent weights [256, 256] on the hidden layer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, "
          f"{'recurrent hidden layer' if args.recurrent else 'feed-forward'}, "
          f"engine: {extension_status()}")
    tables = {steps: bench(steps, args.repeat, args.recurrent) for steps in args.steps}
    print()
    print("| implementation | " + " | ".join(f"T={s} fwd ms (x proxy) | T={s} fwd+bwd ms "
                                               f"(x proxy)" for s in args.steps) + " |")
    print("|---|" + "---|---|" * len(args.steps))
    for i, (name, _, _) in enumerate(tables[args.steps[0]]):
        cells = []
        for steps in args.steps:
            _, proxy_fwd, proxy_fwd_bwd = tables[steps][0]
            _, fwd, fwd_bwd = tables[steps][i]
            cells.append(f"{fwd:.1f} ({fwd / proxy_fwd:.2f})")
            cells.append(f"{fwd_bwd:.1f} ({fwd_bwd / proxy_fwd_bwd:.2f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
