"""Two processes with DistributedDataParallel (gloo, CPU) train like one with the same global
batch, with SignAnnealing and a surrogate scheduler stepping identically on every rank."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from nwave_core.config import parse_config
from nwave_core.experiment import build
from nwave_core.runner import train

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")


def _config():
    return {
        "seed": 3,
        "model": {"chip": {"type": "h1v2"}, "surrogate": {"type": "atan"},
                  "layers": [{"type": "H1v2Synapse", "nb_inputs": 6, "nb_outputs": 10},
                             {"type": "H1v2Layer", "n_neurons": 10},
                             {"type": "H1v2Synapse", "nb_inputs": 10, "nb_outputs": 2},
                             {"type": "H1v2Layer", "n_neurons": 2}]},
        "data": {"type": "poisson_patterns", "n_samples": 40, "n_channels": 6, "n_steps": 15,
                 "rate": 0.3, "batch_size": 7, "test_fraction": 0.2},  # uneven shards
        "train": {"epochs": 3, "progress": False, "topology": 0.5},
        "optimizer": {"type": "SGD", "lr": 0.05},
        "schedulers": [{"type": "surrogate", "policy": "linear", "start_value": 1.0,
                        "end_value": 3.0, "total_steps": 3}],
        "sign_annealing": {"alpha_start": 0.5, "alpha_end": 5.0},
    }


def _worker(rank: int, world: int, port: int, out: str, results: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_default_dtype(torch.float64)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        exp = build(parse_config(_config()))
        result = train(exp, out)
        results[rank] = {"history": result.history,
                         "state": {k: v.clone() for k, v in exp.model.state_dict().items()}}
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    torch.set_default_dtype(torch.float64)
    try:
        single_exp = build(parse_config(_config()))
        single = train(single_exp, tmp_path / "single")
        single_state = single_exp.model.state_dict()
    finally:
        torch.set_default_dtype(torch.float32)
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(2, _free_port(), str(tmp_path / "ddp"), results), nprocs=2)
        results = dict(results)
    for rank in (0, 1):
        history = results[rank]["history"]
        assert [r["epoch"] for r in history] == [1, 2, 3]
        for ours, theirs in zip(history, single.history):
            for key in ("loss", "accuracy", "test_loss", "firing_rate", "surrogate", "alpha"):
                assert ours[key] == pytest.approx(theirs[key], rel=1e-9, abs=1e-12), key
    for key, value in single_state.items():
        torch.testing.assert_close(results[0]["state"][key], value)
        torch.testing.assert_close(results[1]["state"][key], value)
    assert (tmp_path / "ddp" / "checkpoint.pt").is_file()  # written by rank 0 only
