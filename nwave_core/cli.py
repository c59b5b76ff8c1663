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
from typing import Any

from . import __version__, plugin_host
from .entry import ParamInfo
from .errors import ConfigWarning, NwaveError, NwavePluginWarning
from .registry import KINDS

__all__ = ["main"]

#: exit statuses (docs/training.md lists them)
USAGE_ERROR = 2  # a config, checkpoint, plugin or name mistake: the message says what to fix
DIVERGED = 3  # training stopped on a non-finite input, loss or gradient
INTERRUPTED = 130  # Ctrl-C
BROKEN_PIPE = 141  # the reader of the output went away (nwave list ... | head)


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
            detail = "blocked (NWAVE_DISABLE_PLUGINS, --disable-plugin or disable_plugins)"
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
    """Exit 0: valid; 1: breaks the chip's rules; 2: unreadable or malformed (one line)."""
    from .export import check_export

    path = Path(args.file)
    if path.is_dir():
        raise NwaveError(f"{path} is a folder; expected a file written by chip.export")
    if not path.is_file():
        raise NwaveError(f"no such file: {path}")
    report, _, _ = check_export(path, args.chip)
    print(report.to_json(indent=2) if args.json else report.table())
    return 0 if report.ok else 1


def _overrides(args: argparse.Namespace) -> list[str]:
    """``--set`` settings, then the shortcuts ``--seed``, ``--device`` and ``--epochs``."""
    settings = list(getattr(args, "set", None) or [])
    for option, key in (("seed", "seed"), ("device", "train.device"), ("epochs", "train.epochs")):
        value = getattr(args, option, None)
        if value is not None:
            settings.append(f"{key}={value}" if option != "device" else f'{key}="{value}"')
    return settings


def _cmd_config_check(args: argparse.Namespace) -> int:
    from .config import load_config

    load_config(args.file, _overrides(args))
    print(f"{args.file}: OK")
    return 0


def _cmd_config_fill(args: argparse.Namespace) -> int:
    from .config import dump_toml, dump_yaml, fill_config, load_config

    config = fill_config(load_config(args.file, _overrides(args)))
    as_yaml = bool(args.output) and Path(args.output).suffix.lower() in (".yaml", ".yml")
    text = dump_yaml(config) if as_yaml else dump_toml(config)
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}")
    else:
        print(text, end="")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config
    from .experiment import build
    from .runner import Interrupted, metric_name, train

    config = load_config(args.config, _overrides(args))  # every check before anything is written
    try:
        experiment = build(config)
    except ConfigError as exc:  # found while building (the data's targets): name the file
        raise ConfigError(exc.errors, str(args.config)) from None
    except (ValueError, TypeError, LookupError) as exc:  # a mistake the checks did not foresee
        if isinstance(exc, NwaveError):
            raise
        raise NwaveError(f"{args.config}: building the experiment failed: {exc}") from None
    try:
        result = train(experiment, args.out, resume=args.resume, force=args.force,
                       progress=False if args.no_progress else None)
    except Interrupted as exc:
        print(f"nwave: {exc}", file=sys.stderr)
        return INTERRUPTED
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return 0
    last = result.history[-1] if result.history else {}
    what = metric_name(experiment).replace("_", " ")  # accuracy, or rate correlation
    print(f"trained {len(result.history)} epochs; outputs in {result.out}")
    if last:
        print(f"final loss {last['loss']:.4f}, test {what} {last['test_accuracy']:.3f}")
    if result.report is not None:
        print(result.report.table())
    if result.hardened_accuracy is not None:
        print(f"test {what}: float {result.float_accuracy:.3f}, hardened "
              f"{result.hardened_accuracy:.3f}; exported to {result.export_path}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from .runs import evaluate_run

    report = evaluate_run(args.run_dir, args.checkpoint, args.set)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{args.run_dir}: epoch {report['epoch']} ({report['checkpoint']} checkpoint), "
          f"{report['test_samples']} test samples")
    what = report["metric"].replace("_", " ")  # accuracy, or rate correlation
    print(f"float: test loss {report['float_test_loss']:.4f}, test {what} "
          f"{report['float_test_accuracy']:.3f}")
    if "hardened_test_accuracy" in report:
        for name, key in (("QAT", "qat"), ("hardened", "hardened"),
                          ("exported and reloaded", "exported")):
            print(f"{name}: test {what} {report[f'{key}_test_accuracy']:.3f}")
        if report.get("mismatch_draws"):
            print(f"mismatch ({report['mismatch_draws']} draws): test {what} "
                  f"{report['mismatch_test_accuracy_mean']:.3f} +- "
                  f"{report['mismatch_test_accuracy_std']:.3f}")
    elif "hardening" in report:
        print(f"hardened: not possible: {report['hardening']}")
    return 0


def _cmd_plot_run(args: argparse.Namespace) -> int:
    from .plots import require_matplotlib
    from .runs import plot_run

    require_matplotlib()  # a clear message before any work
    output = args.output or str(Path(args.run_dir) / "run.png")
    plot_run(args.run_dir, output, args.checkpoint, args.sample)
    print(f"wrote {output}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from .compare import compare_surrogates
    from .config import load_config

    config = load_config(args.config, _overrides(args))
    out = Path(args.out or Path(config.out) / "compare")
    compare_surrogates(config, args.surrogates, out, progress=not args.no_progress)
    print((out / "comparison.md").read_text(), end="")
    print(f"plot: {out / 'comparison.png'}")
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .interop import NirFidelityWarning, write_nir

    from .runs import load_run

    model = load_run(args.run_dir)[0].model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", NirFidelityWarning)
        try:
            path = write_nir(model, args.output, args.dt, discretization=args.discretization,
                             fold_r=args.fold_r)
        except (TypeError, ValueError) as exc:
            raise NwaveError(f"cannot export {args.run_dir} to NIR: {exc}") from None
    for warning in caught:  # what other NIR readers will run differently, one line each
        if issubclass(warning.category, NirFidelityWarning):
            print(f"nwave: warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(warning.message, warning.category, warning.filename,
                                 warning.lineno)
    print(f"wrote {path} (NIR, {args.discretization} discretisation)")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from .interop import read_nir

    model = read_nir(args.file, args.dt, discretization=args.discretization)
    for index, module in enumerate(model):
        print(f"{index}: {module.__class__.__name__}({module.extra_repr()})")
    if args.output:
        import torch

        torch.save(model, args.output)
        print(f"wrote {args.output} (torch.save of the nn.Sequential; torch.load(path, "
              f"weights_only=False) reads it)")
    return 0


def _add_overrides(parser: argparse.ArgumentParser, run: bool = False) -> None:
    parser.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                        help="change one config value, checked like the file (repeatable): "
                             "--set train.epochs=3 --set model.layers[1].n_neurons=32")
    if run:
        parser.add_argument("--seed", type=int, help="same as --set seed=N")
        parser.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps (same as --set "
                                             "train.device=...)")
        parser.add_argument("--epochs", type=int, help="same as --set train.epochs=N")


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
    parser.add_argument("--disable-plugin", action="append", default=[], metavar="NAME",
                        help="do not load the plugin with this entry-point name (repeatable; "
                             "like NWAVE_DISABLE_PLUGINS)")
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
    _add_overrides(q)
    q.set_defaults(run=_cmd_config_check)
    q = config_sub.add_parser("fill", help="print (or write) the config with every default")
    q.add_argument("file", metavar="FILE")
    q.add_argument("-o", "--output", help="write here instead of printing (.yaml/.yml: YAML, "
                                          "else TOML)")
    _add_overrides(q)
    q.set_defaults(run=_cmd_config_fill)

    p = sub.add_parser("train", help="train from a config (progress bar, checkpoints, report)")
    p.add_argument("config", metavar="CONFIG", help="a TOML or YAML config")
    p.add_argument("--out", help="output folder (default: the config's 'out')")
    p.add_argument("--resume", action="store_true", help="continue from the output folder's checkpoint")
    p.add_argument("--force", action="store_true",
                   help="with --resume: continue even though the config changed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_overrides(p, run=True)
    p.set_defaults(run=_cmd_train)

    p = sub.add_parser("compare", help="train once per surrogate; plot the loss curves")
    p.add_argument("config", metavar="CONFIG")
    p.add_argument("--surrogates", nargs="+", required=True, metavar="NAME")
    p.add_argument("--out", help="output folder (default: <config out>/compare)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    _add_overrides(p, run=True)
    p.set_defaults(run=_cmd_compare)

    p = sub.add_parser("evaluate", help="test accuracy of a run's model (float, and hardened "
                                        "for a chip)")
    p.add_argument("run_dir", metavar="RUN", help="the output folder of nwave train")
    p.add_argument("--checkpoint", choices=("last", "best"), default="last",
                   help="the last epoch (checkpoint.pt, default) or the best (best.pt)")
    p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="change the run's config, e.g. other data: --set data.seed=7")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_cmd_evaluate)

    p = sub.add_parser("check", help="validate every value of an exported model against a "
                                     "chip's rules (exit 0: valid, 1: violations, 2: unreadable "
                                     "or malformed file)")
    p.add_argument("file", metavar="FILE", help="a file written by chip.export(model, path)")
    p.add_argument("--chip", help="check against this chip (default: the installed chip of the "
                                  "file's name, else the file's own declaration)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_cmd_check)

    p = sub.add_parser("plot", help="draw components (surrogate: step, primitive, gradient)")
    plot_sub = p.add_subparsers(dest="plot_kind", metavar="KIND", required=True)
    q = plot_sub.add_parser("surrogate", help="step, primitive and gradient side by side")
    q.add_argument("names", metavar="NAME", nargs="+")
    q.add_argument("-o", "--output", required=True, help="image file (.png, .svg, .pdf)")
    q.add_argument("--xlim", type=float, default=2.0, help="x spans [-XLIM, XLIM] (default 2)")
    q.set_defaults(run=_cmd_plot)
    q = plot_sub.add_parser("run", help="a run's curves, and the spike raster and membrane "
                                        "traces of one test sample")
    q.add_argument("run_dir", metavar="RUN", help="the output folder of nwave train")
    q.add_argument("-o", "--output", help="image file (default: RUN/run.png)")
    q.add_argument("--checkpoint", choices=("last", "best"), default="last")
    q.add_argument("--sample", type=int, default=0, help="index in the test set (default 0)")
    q.set_defaults(run=_cmd_plot_run)

    p = sub.add_parser("export", help="write a trained run's model in an interchange format (NIR)")
    p.add_argument("run_dir", metavar="RUN", help="an output folder of 'nwave train'")
    p.add_argument("--format", choices=("nir",), default="nir", help="the format (default: nir)")
    p.add_argument("-o", "--output", required=True, help="the file to write, e.g. net.nir")
    p.add_argument("--dt", type=float, help="step (s) of the simulator that will run the graph "
                                            "(default: each layer's dt; snnTorch reads at 1e-4)")
    p.add_argument("--discretization", choices=("euler", "exact"), default="euler",
                   help="how the reader steps the NIR equations (default: euler)")
    p.add_argument("--fold-r", action="store_true",
                   help="write r = 1 and fold it into the weights (for readers that ignore r)")
    p.set_defaults(run=_cmd_export)

    p = sub.add_parser("import", help="build an nwave model from a NIR file and list its layers")
    p.add_argument("file", metavar="FILE", help="a .nir file (written by nwave, snnTorch, ...)")
    p.add_argument("--dt", type=float, help="the step the graph was written for (required for "
                                            "graphs nwave did not write)")
    p.add_argument("--discretization", choices=("euler", "exact"),
                   help="default: what nwave recorded, else euler")
    p.add_argument("-o", "--output", help="also torch.save the model here")
    p.set_defaults(run=_cmd_import)

    p = sub.add_parser("doctor", help="which engine loop runs and why, and how to fix it "
                                      "(exit 1 on the pure-PyTorch fallback)")
    p.set_defaults(run=_cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``nwave`` console script; returns the exit status.

    Exit statuses: 0 success; 1 ``nwave check`` found rule violations; 2 a mistake to fix
    (config, checkpoint, plugin, name; one message, no traceback); 3 training stopped on a
    non-finite value; 130 Ctrl-C; 141 the output's reader went away (a broken pipe).
    """
    try:
        status = _main(argv)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's final flush
        return status
    except KeyboardInterrupt:
        _quiet_print("nwave: interrupted", sys.stderr)
        return INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return BROKEN_PIPE


def _quiet_print(text: str, stream: Any) -> None:
    try:
        print(text, file=stream)
    except (BrokenPipeError, ValueError, OSError):
        pass


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests)
        pass


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    with warnings.catch_warnings():
        warnings.simplefilter("always", NwavePluginWarning)
        warnings.showwarning = _show_warning  # at once, not after the command
        host = plugin_host()
        added = [n for n in dict.fromkeys(args.disable_plugin) if n not in host.blocked()]
        try:
            if added:
                host.block(*added)
            status = args.run(args)
        except NwaveError as exc:
            _quiet_print(f"nwave: error: {exc}", sys.stderr)
            status = getattr(exc, "exit_code", USAGE_ERROR)
        except OSError as exc:
            if exc.filename is None:  # not a path the user named (a broken pipe, ...)
                raise
            # a folder or file the user named that cannot be read or written
            _quiet_print(f"nwave: error: {exc.filename}: {exc.strerror or exc}", sys.stderr)
            status = USAGE_ERROR
        finally:
            if added:
                host.unblock(*added)
    return status


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """Plugin problems as one line each, without a source location; others as Python shows them."""
    if issubclass(category, (NwavePluginWarning, ConfigWarning)):
        text = f"nwave: warning: {message}\n"
    else:
        text = warnings.formatwarning(message, category, filename, lineno, line)
    try:
        (file or sys.stderr).write(text)
    except OSError:  # stderr closed (a broken pipe): nothing useful to do
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
