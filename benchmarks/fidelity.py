"""Train the shipped chip examples and the sign-aware variants, and write docs/fidelity.md.

Each run is an ordinary ``nwave train`` of a config (with ``--set`` overrides for the
variants); its ``results.json`` holds the fidelity report (float, QAT, hardened, exported, and
mismatch draws). This is a script, not a test: the runs take minutes each on 2 cores.

    python benchmarks/fidelity.py                  # every example and variant
    python benchmarks/fidelity.py --only yes_no    # the rows whose name contains 'yes_no'
    python benchmarks/fidelity.py --out /tmp/fidelity.md --runs /tmp/runs
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from nwave_core.config import apply_overrides, parse_config, read_config
from nwave_core.experiment import build
from nwave_core.runner import train

ROOT = Path(__file__).parents[1]
CONFIGS = ROOT / "docs/examples/configs"

#: (row name, config file, overrides): the examples, then sign-aware variants of one of them
ROWS: list[tuple[str, str, list[str]]] = [
    ("H1v2, spoken yes/no", "h1v2_yes_no.toml", []),
    ("H1v1, spoken yes/no", "h1v1_yes_no.toml", []),
    ("H1v2, ten words (recurrent)", "h1v2_ten_words.toml", []),
    ("H1v1, ten words", "h1v1_ten_words.toml", []),
    ("H1v2, yes/no: no SignAnnealing (hardening only)", "h1v2_yes_no.toml",
     ["train.topology=0.0", "sign_annealing=null"]),
    ("H1v2, yes/no: signs fixed at epoch 5", "h1v2_yes_no.toml", ["sign_annealing.fix_signs_at=5"]),
    ("H1v2, yes/no: uniform init instead of fluct_init", "h1v2_yes_no.toml", ["init.method=uniform"]),
]

KEYS = ("float_test_accuracy", "qat_test_accuracy", "hardened_test_accuracy",
        "exported_test_accuracy")


def run(name: str, config: str, overrides: list[str], runs: Path) -> dict:
    path = CONFIGS / config
    raw = apply_overrides(read_config(path), [o for o in overrides if not o.endswith("=null")])
    for removed in (o[: -len("=null")] for o in overrides if o.endswith("=null")):
        raw.pop(removed, None)  # a whole top-level table, e.g. sign_annealing
    experiment = build(parse_config(raw, source=str(path)))
    out = runs / (name.lower().replace(" ", "_").replace(",", "").replace("/", "")
                  .replace(":", "").replace("(", "").replace(")", ""))
    start = time.perf_counter()
    train(experiment, out)
    results = json.loads((out / "results.json").read_text())
    results["minutes"] = (time.perf_counter() - start) / 60
    return results


def table(rows: list[tuple[str, str, list[str], dict]]) -> str:
    lines = ["| run | float | QAT | hardened | exported | mismatch (mean +- std) | minutes |",
             "|---|---|---|---|---|---|---|"]
    for name, config, overrides, r in rows:
        cells = [f"{r[k]:.3f}" if k in r else "-" for k in KEYS]
        mismatch = (f"{r['mismatch_test_accuracy_mean']:.3f} +- "
                    f"{r['mismatch_test_accuracy_std']:.3f} ({r['mismatch_draws']})"
                    if "mismatch_test_accuracy_mean" in r else "-")
        setting = f"`{config}`" + (f" `--set {' '.join(overrides)}`" if overrides else "")
        lines.append(f"| {name} ({setting}) | {' | '.join(cells)} | {mismatch} | "
                     f"{r['minutes']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the rows whose name contains this text")
    parser.add_argument("--runs", default=str(ROOT / "runs/fidelity"), help="run folders")
    parser.add_argument("--out", default=str(ROOT / "docs/fidelity.md"), help="the page")
    args = parser.parse_args()
    torch.set_num_threads(2)
    chosen = [r for r in ROWS if args.only is None or args.only in r[0]]
    done = [(name, config, overrides, run(name, config, overrides, Path(args.runs)))
            for name, config, overrides in chosen]
    header = (f"Measured by `python benchmarks/fidelity.py` on torch {torch.__version__}, "
              f"{platform.machine()}, {torch.get_num_threads()} threads.")
    Path(args.out).write_text(f"{header}\n\n{table(done)}\n")
    print(table(done))


if __name__ == "__main__":
    main()
