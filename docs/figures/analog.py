"""The device step responses and the weight trajectories of docs/analog.md, drawn by the
functions of ``benchmarks/analog_report.py`` (the script that measures that page's table)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

REPORT = Path(__file__).resolve().parents[2] / "benchmarks" / "analog_report.py"


def draw(out: Path) -> None:
    spec = importlib.util.spec_from_file_location("nwave_analog_report", REPORT)
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                     # as the script runs
    try:
        report.step_response(out / "analog_step_response.png")
        report.trajectories(out / "analog_trajectories.png")
    finally:
        torch.set_num_threads(threads)
