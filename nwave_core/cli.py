"""The ``nwave`` command line.

User mistakes (unknown names, broken configs, clashing plugins) print one message to stderr and
exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from collections.abc import Sequence

from . import __version__, plugin_host
from .entry import ParamInfo
from .errors import NwaveError, NwavePluginWarning
from .registry import KINDS

__all__ = ["main"]

USAGE_ERROR = 2


def _table(rows: list[list[str]], header: list[str] | None = None) -> str:
    rows = ([header] if header else []) + rows
    if not rows:
        return ""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _cmd_plugins(args: argparse.Namespace) -> int:
    rows = []
    for record in plugin_host().plugins():
        if record.status == "loaded":
            detail = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in record.provides.items())
            detail = detail or "(nothing)"
        elif record.status == "failed":
            detail = record.error
        else:
            detail = "blocked (NWAVE_DISABLE_PLUGINS or disable_plugins)"
        rows.append([record.name, record.distribution, record.version, record.status, detail])
        rows += [["", "", "", "", f"warning: {p}"] for p in record.problems]
    print(_table(rows, ["PLUGIN", "DISTRIBUTION", "VERSION", "STATUS", "PROVIDES"]))
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    reg = plugin_host().registry(args.kind)
    print(_table([[entry.name, entry.summary] for entry in reg]))
    return 0


def _param_line(param: ParamInfo) -> list[str]:
    default = "(required)" if param.required else f"= {param.default!r}"
    return [f"  {param.name}", default, param.doc]


def _cmd_show(args: argparse.Namespace) -> int:
    info = plugin_host().registry(args.kind).describe(args.name)
    print(f"{info.kind} {info.name!r}")
    if info.summary:
        print(f"  {info.summary}")
    if info.aliases:
        print(f"aliases: {', '.join(info.aliases)}")
    print(f"provider: {info.provider}")
    details = _details(info.kind, info.name)
    for label, value in details.items():
        print(f"{label}: {value}")
    if info.params:
        print("parameters:")
        print(_table([_param_line(p) for p in info.params]))
    elif details and info.kind == "chip":
        print(f"parameters: any field above, by keyword (nwave_core.create('chip', "
              f"{info.name!r}, weight_bits=6))")
    else:
        print("parameters: (none)")
    return 0


def _details(kind: str, name: str) -> dict[str, str]:
    """``details()`` of the component built with its defaults, when it offers them."""
    reg = plugin_host().registry(kind)
    if any(p.required for p in reg.describe(name).params):
        return {}
    try:
        component = reg.create(name)
    except Exception as exc:  # noqa: BLE001 - show what we can
        return {"note": f"building it with its defaults failed: {type(exc).__name__}: {exc}"}
    details = getattr(component, "details", None)
    return dict(details()) if callable(details) else {}


def _cmd_plot(args: argparse.Namespace) -> int:
    from .plots import plot_surrogates, require_matplotlib

    require_matplotlib()  # a clear message before any work
    reg = plugin_host().registry("surrogate")
    surrogates = [reg.create(name) for name in args.names]
    labels = [f"{reg.get(name).name}: {s!r}" if reg.get(name).name != s.name else repr(s)
              for name, s in zip(args.names, surrogates)]
    plot_surrogates(surrogates, args.output, labels=labels, xlim=args.xlim)
    print(f"wrote {args.output}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    import json

    from .export import load_export
    from .hardware import resolve_chip

    path = Path(args.file)
    if not path.is_file():
        raise NwaveError(f"no such file: {path}")
    try:
        model, spec = load_export(path)
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        raise NwaveError(f"{path} is not an nwave export file: {exc}") from None
    chip = resolve_chip(args.chip, "nwave check") if args.chip else spec
    report = chip.validate(model)
    print(report.to_json(indent=2) if args.json else report.table())
    return 0 if report.ok else 1


def _cmd_config_check(args: argparse.Namespace) -> int:
    from .config import load_config

    load_config(args.file)
    print(f"{args.file}: OK")
    return 0


def _cmd_config_fill(args: argparse.Namespace) -> int:
    from .config import dump_toml, fill_config, load_config

    text = dump_toml(fill_config(load_config(args.file)))
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .experiment import build
    from .runner import Interrupted, train

    experiment = build(args.config)
    try:
        result = train(experiment, args.out, resume=args.resume,
                       progress=False if args.no_progress else None)
    except Interrupted as exc:
        print(f"nwave: {exc}", file=sys.stderr)
        return 130
    except FileNotFoundError as exc:
        raise NwaveError(str(exc)) from None
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return 0
    last = result.history[-1] if result.history else {}
    print(f"trained {len(result.history)} epochs; outputs in {result.out}")
    if last:
        print(f"final loss {last['loss']:.4f}, test accuracy {last['test_accuracy']:.3f}")
    if result.report is not None:
        print(result.report.table())
    if result.hardened_accuracy is not None:
        print(f"test accuracy: float {result.float_accuracy:.3f}, hardened "
              f"{result.hardened_accuracy:.3f}; exported to {result.export_path}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_surrogates
    from .config import load_config

    config = load_config(args.config)
    out = Path(args.out or Path(config.out) / "compare")
    compare_surrogates(config, args.surrogates, out, progress=not args.no_progress)
    print((out / "comparison.md").read_text(), end="")
    print(f"plot: {out / 'comparison.png'}")
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .engine.native import diagnose

    info = diagnose()
    print(_table([[f"{key}:", value] for key, value in info.items()]))
    return 0 if info["loops"].startswith("compiled loop") else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nwave", description="Spiking neural networks for neuromorphic chips."
    )
    parser.add_argument("--version", action="version", version=f"nwave {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("plugins", help="list plugins, their status and what they provide")
    p.set_defaults(run=_cmd_plugins)

    p = sub.add_parser("list", help="list the names of one kind, with summaries")
    p.add_argument("kind", metavar="KIND", help=f"one of: {', '.join(KINDS)}")
    p.set_defaults(run=_cmd_list)

    p = sub.add_parser("show", help="provider and parameters of one component")
    p.add_argument("kind", metavar="KIND", help=f"one of: {', '.join(KINDS)}")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(run=_cmd_show)

    p = sub.add_parser("config", help="check a config, or write it with every default filled in")
    config_sub = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    q = config_sub.add_parser("check", help="report every problem of a config (exit 2 if any)")
    q.add_argument("file", metavar="FILE")
    q.set_defaults(run=_cmd_config_check)
    q = config_sub.add_parser("fill", help="print (or write) the config with every default")
    q.add_argument("file", metavar="FILE")
    q.add_argument("-o", "--output", help="write here instead of printing")
    q.set_defaults(run=_cmd_config_fill)

    p = sub.add_parser("train", help="train from a config (progress bar, checkpoints, report)")
    p.add_argument("config", metavar="CONFIG", help="a TOML or YAML config")
    p.add_argument("--out", help="output folder (default: the config's 'out')")
    p.add_argument("--resume", action="store_true", help="continue from the output folder's checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("compare", help="train once per surrogate; plot the loss curves")
    p.add_argument("config", metavar="CONFIG")
    p.add_argument("--surrogates", nargs="+", required=True, metavar="NAME")
    p.add_argument("--out", help="output folder (default: <config out>/compare)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(run=_cmd_compare)

    p = sub.add_parser("check", help="validate an exported model against a chip's rules "
                                     "(exit 1 when it breaks them)")
    p.add_argument("file", metavar="FILE", help="a file written by chip.export(model, path)")
    p.add_argument("--chip", help="check against this chip instead of the one it was exported for")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_cmd_check)

    p = sub.add_parser("plot", help="draw components (surrogate: step, primitive, gradient)")
    plot_sub = p.add_subparsers(dest="plot_kind", metavar="KIND", required=True)
    q = plot_sub.add_parser("surrogate", help="step, primitive and gradient side by side")
    q.add_argument("names", metavar="NAME", nargs="+")
    q.add_argument("-o", "--output", required=True, help="image file (.png, .svg, .pdf)")
    q.add_argument("--xlim", type=float, default=2.0, help="x spans [-XLIM, XLIM] (default 2)")
    q.set_defaults(run=_cmd_plot)

    p = sub.add_parser("doctor", help="which engine loop runs and why, and how to fix it "
                                      "(exit 1 on the pure-PyTorch fallback)")
    p.set_defaults(run=_cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nwave`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NwavePluginWarning)
        try:
            status = args.run(args)
        except NwaveError as exc:
            print(f"nwave: error: {exc}", file=sys.stderr)
            status = USAGE_ERROR
    for warning in caught:  # plugin problems as one line each, without a source location
        if issubclass(warning.category, NwavePluginWarning):
            print(f"nwave: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
