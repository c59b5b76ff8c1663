"""A learnable surrogate parameter under DistributedDataParallel (gloo, CPU, two processes)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from nwave_core import prepare_net
from nwave_plugins.layers import LIFLayer, LIFSynapse
from nwave_plugins.surrogates import atan

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")


def _data():
    gen = torch.Generator().manual_seed(4)
    x = (torch.rand(8, 20, 5, generator=gen) < 0.4).double()
    return x, torch.randint(0, 3, (8,), generator=gen)


def _net():
    torch.manual_seed(2)
    return nn.Sequential(LIFSynapse(5, 6), LIFLayer(6, spike_grad=atan(alpha=2.0, learnable=True)),
                         LIFSynapse(6, 3), LIFLayer(3)).double()


def _train(net, x, y, steps=3):
    optimizer = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(steps):
        optimizer.zero_grad()
        prepare_net(net)
        nn.functional.cross_entropy(net(x).sum(1), y).backward()
        optimizer.step()


def _worker(rank, port, results):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        x, y = _data()
        model = nn.parallel.DistributedDataParallel(_net())
        _train(model, x[rank * 4:(rank + 1) * 4], y[rank * 4:(rank + 1) * 4])
        results[rank] = {k: v.detach().clone() for k, v in model.module.state_dict().items()}
    finally:
        dist.destroy_process_group()


def test_a_learnable_alpha_trains_identically_under_ddp():
    """Two ranks with half the batch each end equal to one process with the whole batch."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    single = _net()
    _train(single, *_data())
    assert single[1].spike_grad.alpha.item() != 2.0  # alpha trained
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_worker, args=(port, results), nprocs=2)
        results = dict(results)
    for key, value in single.state_dict().items():
        for rank in (0, 1):
            torch.testing.assert_close(results[rank][key], value, msg=lambda m, k=key: f"{k}: {m}")
