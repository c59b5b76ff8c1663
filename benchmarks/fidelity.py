"""Train the shipped chip examples and the sign-aware variants, and write docs/fidelity.md.

Each run is an ordinary ``nwave train`` of a config (with ``--set`` overrides for the
variants); its ``results.json`` holds the fidelity report (float, QAT, hardened, exported, and
mismatch draws). This is a script, not a test: the runs take minutes each on 2 cores.

    python benchmarks/fidelity.py                  # every example and variant, 3 seeds each
    python benchmarks/fidelity.py --only yes/no    # the rows whose name contains 'yes/no'
    python benchmarks/fidelity.py --seeds 1 --out /tmp/fidelity.md --runs /tmp/runs
    python benchmarks/fidelity.py --jobs 2          # two runs at a time, one thread each
    python benchmarks/fidelity.py --reuse           # keep finished runs of unchanged configs
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from nwave_core.config import apply_overrides, dump_toml, fill_config, parse_config, read_config
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
    ("H1v2, target rate pattern (recurrent)", "h1v2_rate_pattern.toml", []),
    ("H1v2, yes/no: no SignAnnealing (hardening only)", "h1v2_yes_no.toml",
     ["train.topology=0.0", "sign_annealing=null"]),
    ("H1v2, yes/no: signs fixed at epoch 5", "h1v2_yes_no.toml", ["sign_annealing.fix_signs_at=5"]),
    ("H1v2, yes/no: uniform init instead of fluct_init", "h1v2_yes_no.toml", ["init.method=uniform"]),
]

#: the generated part of docs/fidelity.md lies between these lines
BEGIN, END = "<!-- fidelity table: begin -->", "<!-- fidelity table: end -->"

#: the columns of the table: (header, results.json key); "as trained" is the model exactly as it
#: trained (float simulation, on the chip's grid when QAT is on: the accuracy before hardening),
#: "off the grid" the same weights with the QAT projections removed (``float_test_accuracy``)
COLUMNS: tuple[tuple[str, str], ...] = (
    ("as trained", "qat_test_accuracy"),
    ("hardened", "hardened_test_accuracy"),
    ("exported", "exported_test_accuracy"),
    ("mismatch: mean over draws", "mismatch_test_accuracy_mean"),
    ("off the grid", "float_test_accuracy"),
)


def run(name: str, config: str, overrides: list[str], runs: Path, seed: int,
        threads: int | None = None, reuse: bool = False) -> dict:
    """Train one row's config at ``seed`` into its run folder and return its ``results.json``
    with the minutes it took. With ``reuse``, a folder that already holds a finished run of
    exactly this config (its written ``config.toml`` equal to this one's) is read instead; its
    minutes are the time between its ``config.toml`` and its ``results.json``."""
    if threads is not None:
        torch.set_num_threads(threads)
    path = CONFIGS / config
    settings = [o for o in overrides if not o.endswith("=null")] + [f"seed={seed}"]
    raw = apply_overrides(read_config(path), settings)
    for removed in (o[: -len("=null")] for o in overrides if o.endswith("=null")):
        raw.pop(removed, None)  # a whole top-level table, e.g. sign_annealing
    parsed = parse_config(raw, source=str(path))
    slug = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
    folder = runs / f"{slug}_seed{seed}"
    written, summary = folder / "config.toml", folder / "results.json"
    if reuse and summary.is_file() and written.is_file() and \
            written.read_text() == dump_toml(fill_config(parsed)):
        results = json.loads(summary.read_text())
        results["minutes"] = (summary.stat().st_mtime - written.stat().st_mtime) / 60
        return results
    experiment = build(parsed)
    start = time.perf_counter()
    train(experiment, folder)
    results = json.loads(summary.read_text())
    results["minutes"] = (time.perf_counter() - start) / 60
    return results


def _cell(values: list[float]) -> str:
    mean = statistics.fmean(values)
    return f"{mean:.3f}" if len(values) == 1 else f"{mean:.3f} +- {statistics.stdev(values):.3f}"


def _points(values: list[float]) -> str:
    """Standard deviations over mismatch draws (one a seed), averaged over seeds, in points
    (hundredths of the metric)."""
    return f"{100 * statistics.fmean(values):.1f}"


#: what the numbers of a run are, by its ``results.json`` "metric", as the tables say it
METRICS: dict[str, str] = {
    "accuracy": "Strict test accuracy:",
    "rate_correlation": "Correlation of the output rates to the target rates on the test inputs "
                        "(`rate_mse` read-out; 1 is a perfect follower):",
}


def table(rows: list[tuple[str, str, list[str], list[dict]]]) -> str:
    """One markdown table per metric (classification accuracy, rate correlation)."""
    headers = [h for h, _ in COLUMNS[:4]] + ["mismatch: std over draws (points)",
                                               COLUMNS[4][0], "minutes a run"]
    tables = []
    for metric, title in METRICS.items():
        chosen = [row for row in rows if row[3][0].get("metric", "accuracy") == metric]
        if not chosen:
            continue
        lines = [title, "", "| run | " + " | ".join(headers) + " |",
                 "|---" * (len(headers) + 1) + "|"]
        for name, config, overrides, results in chosen:
            cells = [_cell([r[k] for r in results]) if all(k in r for r in results) else "-"
                     for _, k in COLUMNS]
            std = "mismatch_test_accuracy_std"
            cells.insert(4, _points([r[std] for r in results])
                         if all(std in r for r in results) else "-")
            setting = f"`{config}`" + (f" `--set {' '.join(overrides)}`" if overrides else "")
            minutes = statistics.fmean(r["minutes"] for r in results)
            lines.append(f"| {name} ({setting}) | {' | '.join(cells)} | {minutes:.1f} |")
        tables.append("\n".join(lines))
    return "\n\n".join(tables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run the rows whose name contains this text")
    parser.add_argument("--seeds", type=int, default=3, help="runs per row (seeds 0..N-1)")
    parser.add_argument("--runs", default=str(ROOT / "runs/fidelity"), help="run folders")
    parser.add_argument("--out", default=str(ROOT / "docs/fidelity.md"), help="the page")
    parser.add_argument("--reuse", action="store_true",
                        help="read finished runs of the same config from the run folders "
                             "instead of training them again")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs at a time (each in its own process, with 2 // jobs threads)")
    args = parser.parse_args()
    threads = max(1, 2 // args.jobs)
    torch.set_num_threads(threads)
    chosen = [r for r in ROWS if args.only is None or args.only in r[0]]
    jobs = [(name, config, overrides, Path(args.runs), seed, threads, args.reuse)
            for name, config, overrides in chosen for seed in range(args.seeds)]
    if args.jobs > 1:
        with concurrent.futures.ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(run, *zip(*jobs)))
    else:
        results = [run(*job) for job in jobs]
    done = [(name, config, overrides, results[i * args.seeds:(i + 1) * args.seeds])
            for i, (name, config, overrides) in enumerate(chosen)]
    text = table(done)
    stamp = (f"Measured by `python benchmarks/fidelity.py --jobs {args.jobs}` on torch "
             f"{torch.__version__}, {platform.machine()}, {args.jobs} run(s) at a time with "
             f"{threads} thread(s) each, {args.seeds} seed(s) a "
             f"row (mean +- std over seeds; a run's mismatch draws give it a mean and a std, "
             f"the std column averages the runs' stds)."
             + (" Finished runs of unchanged configs were read back (`--reuse`); each run's "
                "minutes are those it took when it ran." if args.reuse else ""))
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
