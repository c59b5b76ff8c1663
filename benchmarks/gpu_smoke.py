"""GPU smoke run of the engine's pure-PyTorch loops (the compiled loop is CPU only).

On CUDA, ``nwave_core.engine.lif_sequence`` runs its pure-PyTorch forward and backward
loops. This script checks them against the per-step reference on the same device (forward
equal, gradients of every input and of a learnable surrogate parameter close), for each reset,
with and without recurrent weights, then times the spec's workload (``700 -> 256 -> 20``,
B = 32, T = 100 and 500) forward+backward against the proxy (the two input matmuls plus one
elementwise pass) on the device.

Run ``python benchmarks/gpu_smoke.py [--device cuda] [--steps 100 500] [--repeat 10]``.
Exit status: 0 when every check passes, 1 when one fails, 77 when the device is not there
(``--device cpu`` runs the same checks on the CPU's pure-PyTorch loops).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

os.environ["NWAVE_NO_EXTENSION"] = "1"  # the pure-PyTorch loops, also on --device cpu

from nwave_core.engine import lif_sequence, lif_sequence_reference  # noqa: E402
from nwave_plugins.surrogates import ATan  # noqa: E402

N_IN, N_HID, N_OUT, BATCH = 700, 256, 20, 32


def check(device: torch.device) -> list[str]:
    """Engine against reference on ``device``; returns the failures (empty: all passed)."""
    failures = []
    gen = torch.Generator().manual_seed(0)
    for reset in ("subtraction", "zero", "none"):
        for recurrent in (False, True):
            b, t, n = 4, 50, 16
            inputs = {"current": torch.randn(b, t, n, generator=gen, dtype=torch.float64) + 0.3,
                      "beta": 0.5 + 0.4 * torch.rand(n, generator=gen, dtype=torch.float64),
                      "threshold": 0.5 + torch.rand(n, generator=gen, dtype=torch.float64),
                      "recurrent_weight": (0.5 * torch.randn(n, n, generator=gen,
                                                             dtype=torch.float64)
                                           if recurrent else None)}
            results = []
            for fn in (lif_sequence, lif_sequence_reference):
                leaves = {k: v.to(device).requires_grad_() for k, v in inputs.items()
                          if v is not None}
                surrogate = ATan(alpha=2.0, learnable=True).to(device)
                spikes, mem = fn(leaves["current"], leaves["beta"], leaves["threshold"],
                                 surrogate, reset=reset, floor=0.0 if reset == "zero" else None,
                                 recurrent_weight=leaves.get("recurrent_weight"))
                loss = (spikes * torch.arange(n, device=device)).sum() + mem.pow(2).sum()
                params = [*leaves.values(), surrogate.alpha]
                results.append((spikes, mem, torch.autograd.grad(loss, params)))
            (spikes, mem, grads), (ref_spikes, ref_mem, ref_grads) = results
            label = f"reset={reset} recurrent={recurrent}"
            if not (torch.equal(spikes, ref_spikes) and torch.equal(mem, ref_mem)):
                failures.append(f"{label}: forward differs from the reference")
            for name, got, want in zip([*inputs_names(inputs), "alpha"], grads, ref_grads):
                if not torch.allclose(got, want, rtol=1e-6, atol=1e-8):
                    failures.append(f"{label}: d/d {name} differs "
                                    f"(max {float((got - want).abs().max()):.3g})")
    return failures


def inputs_names(inputs: dict) -> list[str]:
    return [k for k, v in inputs.items() if v is not None]


def timing(device: torch.device, steps: int, repeat: int) -> dict[str, float]:
    gen = torch.Generator().manual_seed(1)
    x = torch.bernoulli(torch.full((BATCH, steps, N_IN), 0.05), generator=gen).to(device)
    w1 = ((torch.rand(N_IN, N_HID, generator=gen) * 2 - 1) * 4 / N_IN ** 0.5).to(device)
    w2 = ((torch.rand(N_HID, N_OUT, generator=gen) * 2 - 1) * 2 / N_HID ** 0.5).to(device)
    w1.requires_grad_(), w2.requires_grad_()
    surrogate = ATan(alpha=2.0).to(device)

    def engine() -> torch.Tensor:
        s1, _ = lif_sequence(x @ w1, 0.95, 1.0, surrogate)
        return lif_sequence(s1 @ w2, 0.95, 1.0, surrogate)[0].sum()

    def proxy() -> torch.Tensor:
        return (((x @ w1) * 0.5) @ w2 * 0.5).sum()

    times: dict[str, list[float]] = {"proxy": [], "engine": []}
    for round_ in range(repeat + 2):  # two warm-up rounds; interleaved
        for name, fn in (("proxy", proxy), ("engine", engine)):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn().backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if round_ >= 2:
                times[name].append((time.perf_counter() - start) * 1e3)
            w1.grad = w2.grad = None
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_smoke: no CUDA device (torch.cuda.is_available() is False)")
        return 77
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {name} | torch {torch.__version__}")
    failures = check(device)
    for failure in failures:
        print(f"FAIL {failure}")
    print("checks: " + ("all passed" if not failures else f"{len(failures)} failed"))
    for steps in args.steps:
        result = timing(device, steps, args.repeat)
        print(f"T={steps}: proxy {result['proxy']:.2f} ms, engine {result['engine']:.2f} ms "
              f"({result['engine'] / result['proxy']:.2f}x), fwd+bwd median of {args.repeat}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
