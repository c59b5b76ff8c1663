"""The numbers and figures of docs/analog.md: accuracy of pulsed vs float SGD, a device step
response, weight trajectories.

Task: ``poisson_patterns`` (4 classes, 32 channels, T = 30, rate 0.2, 256 samples, 20 % held
out), network ``H1v2Synapse(32, 24) -> H1v2Layer(24) -> H1v2Synapse(24, 4) -> H1v2Layer(4)``
(fast_sigmoid surrogate, slope 5), cross entropy on output spike counts, batch 32, 8 epochs,
lr 0.2, through ``nwave_core.build`` and ``nwave_core.runner.train`` (the config path), seeds
0, 1, 2. Variants: float SGD, and ``pulsed_sgd`` with each built-in device (``dw_min = 0.002``,
other device parameters at their defaults) and a few pulse types.

Run ``python benchmarks/analog_report.py [--seeds 0 1 2] [--out DIR]``; it prints a
Markdown table and writes ``analog_step_response.png`` and ``analog_trajectories.png``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

import nwave_core
from nwave_core.runner import train

EPOCHS, LR = 8, 0.2


def config(optimizer: dict, seed: int, out: str) -> dict:
    return {
        "seed": seed, "out": out,
        "model": {"surrogate": {"type": "fast_sigmoid", "slope": 5.0}, "layers": [
            {"type": "H1v2Synapse", "nb_inputs": 32, "nb_outputs": 24},
            {"type": "H1v2Layer", "n_neurons": 24},
            {"type": "H1v2Synapse", "nb_inputs": 24, "nb_outputs": 4},
            {"type": "H1v2Layer", "n_neurons": 4}]},
        "data": {"type": "poisson_patterns", "n_samples": 256, "n_channels": 32, "n_steps": 30,
                 "n_classes": 4, "rate": 0.2, "batch_size": 32},
        "optimizer": optimizer,
        "train": {"epochs": EPOCHS, "progress": False},
    }


VARIANTS = {
    "float SGD": {"type": "SGD", "lr": LR},
    "pulsed_sgd, soft_bounds": {"type": "pulsed_sgd", "lr": LR,
                                "device": {"type": "soft_bounds", "dw_min": 0.002}},
    "pulsed_sgd, constant_step": {"type": "pulsed_sgd", "lr": LR,
                                  "device": {"type": "constant_step", "dw_min": 0.002}},
    "pulsed_sgd, exp_step": {"type": "pulsed_sgd", "lr": LR,
                             "device": {"type": "exp_step", "dw_min": 0.002}},
    "pulsed_sgd, soft_bounds, stochastic": {
        "type": "pulsed_sgd", "lr": LR, "device": {"type": "soft_bounds", "dw_min": 0.002},
        "update": {"pulse_type": "stochastic"}},
    "pulsed_sgd, soft_bounds, mean_count": {
        "type": "pulsed_sgd", "lr": LR, "device": {"type": "soft_bounds", "dw_min": 0.002},
        "update": {"pulse_type": "mean_count"}},
    "pulsed_sgd, soft_bounds, none_with_device": {
        "type": "pulsed_sgd", "lr": LR, "device": {"type": "soft_bounds", "dw_min": 0.002},
        "update": {"pulse_type": "none_with_device"}},
}


def accuracy_table(seeds: list[int]) -> str:
    lines = ["| optimizer | test accuracy (mean over seeds) | per seed |", "|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for name, optimizer in VARIANTS.items():
            accs = []
            for seed in seeds:
                optimizer = dict(optimizer, seed=seed) if optimizer["type"] == "pulsed_sgd" \
                    else optimizer
                result = train(nwave_core.build(config(optimizer, seed, f"{tmp}/run")))
                accs.append(result.history[-1]["test_accuracy"])
            per_seed = ", ".join(f"{a:.2f}" for a in accs)
            lines.append(f"| {name} | {statistics.mean(accs):.3f} | {per_seed} |")
    return "\n".join(lines)


def step_response(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    n = 300
    for ax, name in zip(axes, ("constant_step", "soft_bounds", "exp_step"), strict=True):
        for std, style in ((0.0, "k-"), (0.3, "C0-")):
            spec = nwave_core.create("device", name, dw_min=0.01, dw_min_dtod=0.0,
                                     dw_min_std=std, w_min_dtod=0.0, w_max_dtod=0.0,
                                     up_down_dtod=0.0)
            devices = spec.build((1, 1), seed=0)
            generator = torch.Generator().manual_seed(1)
            w, trace = torch.zeros(1, 1), []
            one, zero = torch.ones(1, 1), torch.zeros(1, 1)
            for k in range(2 * n):
                up = k < n
                w = devices.apply_pulses(w, one if up else zero, zero if up else one, generator)
                trace.append(w.item())
            label = "mean step" if std == 0 else "cycle-to-cycle std 0.3"
            ax.plot(trace, style, lw=1, label=label)
        ax.axvline(n, color="grey", lw=0.5)
        ax.set_title(name)
        ax.set_xlabel(f"pulse ({n} up, then {n} down)")
    axes[0].set_ylabel("weight")
    axes[0].legend(loc="lower center", fontsize=8)
    fig.suptitle("Step response of the built-in devices (dw_min = 0.01, bounds +-0.6)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def trajectories(path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torch.nn.functional import cross_entropy

    picks = [(0, 0), (3, 5), (7, 11), (12, 2), (20, 17), (30, 9)]
    traces = {}
    for name in ("float SGD", "pulsed_sgd, soft_bounds"):
        with tempfile.TemporaryDirectory() as tmp:
            optimizer = dict(VARIANTS[name])
            if optimizer["type"] == "pulsed_sgd":
                optimizer["seed"] = 0
            exp = nwave_core.build(config(optimizer, 0, f"{tmp}/run"))
        synapse = exp.model[0]
        rows = []
        for epoch in range(1, EPOCHS + 1):
            for batch, (x, y) in enumerate(exp.train_loader(epoch)):
                nwave_core.prepare_net(exp.model, torch.Generator().manual_seed(batch))
                exp.optimizer.zero_grad()
                cross_entropy(exp.model(x).sum(1), y).backward()
                exp.optimizer.step()
                rows.append([synapse.weight[i, j].item() for i, j in picks])
        traces[name] = torch.tensor(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), sharey=True)
    for ax, (name, trace) in zip(axes, traces.items(), strict=True):
        ax.plot(trace.numpy(), lw=1)
        ax.set_title(name)
        ax.set_xlabel("optimizer step")
    axes[0].set_ylabel("weight of the first synapse")
    fig.suptitle("Six weights during training from the same start (lr 0.2)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=".", help="where the two figures go (the docs build "
                        "draws its own: docs/figures/analog.py)")
    parser.add_argument("--no-table", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    step_response(out / "analog_step_response.png")
    trajectories(out / "analog_trajectories.png")
    print(f"torch {torch.__version__}")
    if not args.no_table:
        print(accuracy_table(args.seeds))


if __name__ == "__main__":
    main()
