"""Train the shipped chip examples and the sign-aware variants, and write docs/fidelity.md.

Each run is an ordinary ``nwave train`` of a config (with ``--set`` overrides for the
variants); its ``results.json`` holds the fidelity report (float, QAT, hardened, exported, and
mismatch draws). This is a script, not a test: the runs take minutes each on 2 cores.

    python benchmarks/fidelity.py                  # every example and variant, 3 seeds each
    python benchmarks/fidelity.py --only yes/no    # the rows whose name contains 'yes/no'
    python benchmarks/fidelity.py --seeds 1 --out /tmp/fidelity.md --runs /tmp/runs
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
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
    ("H1v1, spoken yes/no", "h1v1_yes_no.yaml", []),
    ("H1v2, ten words (recurrent)", "h1v2_ten_words.toml", []),
    ("H1v1, ten words", "h1v1_ten_words.toml", []),
    ("H1v2, yes/no: no SignAnnealing (hardening only)", "h1v2_yes_no.toml",
     ["train.topology=0.0", "sign_annealing=null"]),
    ("H1v2, yes/no: signs fixed at epoch 5", "h1v2_yes_no.toml", ["sign_annealing.fix_signs_at=5"]),
    ("H1v2, yes/no: uniform init instead of fluct_init", "h1v2_yes_no.toml", ["init.method=uniform"]),
]

#: the generated part of docs/fidelity.md lies between these lines
BEGIN, END = "<!-- fidelity table: begin -->", "<!-- fidelity table: end -->"

KEYS: tuple[str, ...] = ("float_test_accuracy", "qat_test_accuracy", "hardened_test_accuracy",
                         "exported_test_accuracy")


def run(name: str, config: str, overrides: list[str], runs: Path, seed: int) -> dict:
    path = CONFIGS / config
    settings = [o for o in overrides if not o.endswith("=null")] + [f"seed={seed}"]
    raw = apply_overrides(read_config(path), settings)
    for removed in (o[: -len("=null")] for o in overrides if o.endswith("=null")):
        raw.pop(removed, None)  # a whole top-level table, e.g. sign_annealing
    experiment = build(parse_config(raw, source=str(path)))
    slug = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
    start = time.perf_counter()
    train(experiment, runs / f"{slug}_seed{seed}")
    results = json.loads((runs / f"{slug}_seed{seed}" / "results.json").read_text())
    results["minutes"] = (time.perf_counter() - start) / 60
    return results


def _cell(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.3f}" if len(values) == 1 else f"{mean:.3f} +- {statistics.stdev(values):.3f}"


def table(rows: list[tuple[str, str, list[str], list[dict]]]) -> str:
    lines = ["| run | float | QAT | hardened | exported | mismatch draws | minutes a run |",
             "|---|---|---|---|---|---|---|"]
    for name, config, overrides, results in rows:
        cells = [_cell([r[k] for r in results]) if all(k in r for r in results) else "-"
                 for k in KEYS + ("mismatch_test_accuracy_mean",)]
        setting = f"`{config}`" + (f" `--set {' '.join(overrides)}`" if overrides else "")
        minutes = statistics.fmean(r["minutes"] for r in results)
        lines.append(f"| {name} ({setting}) | {' | '.join(cells)} | {minutes:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the rows whose name contains this text")
    parser.add_argument("--seeds", type=int, default=3, help="runs per row (seeds 0..N-1)")
    parser.add_argument("--runs", default=str(ROOT / "runs/fidelity"), help="run folders")
    parser.add_argument("--out", default=str(ROOT / "docs/fidelity.md"), help="the page")
    args = parser.parse_args()
    torch.set_num_threads(2)
    chosen = [r for r in ROWS if args.only is None or args.only in r[0]]
    done = [(name, config, overrides,
             [run(name, config, overrides, Path(args.runs), seed) for seed in range(args.seeds)])
            for name, config, overrides in chosen]
    text = table(done)
    stamp = (f"Measured by `python benchmarks/fidelity.py` on torch {torch.__version__}, "
             f"{platform.machine()}, {torch.get_num_threads()} threads, {args.seeds} seed(s) a "
             f"row (mean +- std over seeds; each mismatch cell is the mean over its draws).")
    page = Path(args.out)
    block = f"{BEGIN}\n{stamp}\n\n{text}\n{END}"
    if page.is_file() and BEGIN in page.read_text():  # keep the page's prose
        before, rest = page.read_text().split(BEGIN, 1)
        page.write_text(before + block + rest.split(END, 1)[1])
    else:
        page.write_text(block + "\n")
    print(text)


if __name__ == "__main__":
    main()
