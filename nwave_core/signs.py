"""Sign-aware training aids: regroup hidden neurons so that sign blocks hold like-signed
weights, without changing what the network computes.

A chip's ``sign_block`` rule makes the weights of one block share a sign; hardening a trained
float network to it zeroes each block's minority sign and costs accuracy. The hidden neurons of
a layer can be put in any order, provided every tensor indexed by them follows (the columns of
the incoming synapse, the rows of the outgoing one, both axes of the recurrent weights, the
per-neuron taus and thresholds). [`group_signs`][nwave_core.signs.group_signs] picks that order so
that each block groups neurons whose weights agree in sign: the network computes the same function,
and the sign blocks cost less. Use it on a float-trained model, before SignAnnealing or hardening.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .constraints import SignBlock, deployment_of
from .rules import chip_of

__all__ = ["block_cost", "group_signs"]


def block_cost(lines: Tensor) -> Tensor:
    """The minority mass of sign blocks: for ``lines [L, k]`` (k weights of one block on each
    of L lines), ``sum over lines of min(positive mass, negative mass)``."""
    positive = torch.relu(lines).sum(-1)
    negative = torch.relu(-lines).sum(-1)
    return torch.minimum(positive, negative).sum()


def _signatures(neurons: int, pieces: list[Tensor]) -> Tensor:
    """``[n, L]``: for each neuron, its weights on every line that a block of neurons spans."""
    return torch.cat([p.reshape(neurons, -1) for p in pieces], dim=1)


def _cost(signatures: Tensor, size: int) -> float:
    """Minority mass of the blocks of ``size`` consecutive neurons (rows of ``signatures``)."""
    n = signatures.shape[0]
    pad = (-n) % size
    if pad:
        signatures = torch.cat([signatures, signatures.new_zeros(pad, signatures.shape[1])])
    blocks = signatures.reshape(-1, size, signatures.shape[1]).transpose(1, 2)  # [B, L, k]
    return float(block_cost(blocks.reshape(-1, size)))


def _greedy_blocks(signatures: Tensor, size: int) -> list[int]:
    """An order of the neurons: blocks of ``size`` built greedily, each seeded by the strongest
    neuron left and grown by the neuron that adds the least minority mass."""
    left = list(range(signatures.shape[0]))
    strength = signatures.abs().sum(1)
    order: list[int] = []
    while left:
        seed = max(left, key=lambda j: float(strength[j]))
        block = [seed]
        left.remove(seed)
        while len(block) < size and left:
            current = signatures[block].T  # [L, len(block)]
            candidates = signatures[left]  # [m, L]
            pos = torch.relu(current).sum(1) + torch.relu(candidates)
            neg = torch.relu(-current).sum(1) + torch.relu(-candidates)
            cost = torch.minimum(pos, neg).sum(1)
            best = left[int(cost.argmin())]
            block.append(best)
            left.remove(best)
        order += block
    return order


def _permute_layer(layer: nn.Module, order: Tensor) -> None:
    """Every per-neuron tensor of the layer (1-D, length n) and its recurrent weights."""
    n = layer.n_neurons
    for name, tensor in list(layer.named_parameters(recurse=False)) + list(layer.named_buffers(recurse=False)):
        if name == "recurrent_weights":
            tensor.copy_(tensor[order][:, order])
        elif tensor.dim() == 1 and tensor.shape[0] == n:
            tensor.copy_(tensor[order])


@torch.no_grad()
def group_signs(model: nn.Module, chip: Any = None) -> dict[str, list[int]]:
    """Reorder the hidden neurons of every layer that sits between two synapses so that the
    chip's sign blocks group like-signed weights; function-preserving.

    Args:
        model: an ``nn.Sequential``-like model (registration order is the data flow), not yet
            parametrized by SignAnnealing.
        chip: a chip spec or name; None: the chip of the model's hardware layers.

    Returns:
        The new order of each regrouped layer (``order[i]`` is the old index of neuron ``i``).

    Raises:
        ValueError: the weights are parametrized (fold SignAnnealing first), or the chip has no
            sign-block rule.
    """
    from torch.nn.utils import parametrize

    spec = chip_of(model, chip, "group_signs")
    rules = [r for r in spec.rules_of("sign_block") if isinstance(r, SignBlock) and r.size > 1]
    if not rules:
        raise ValueError(f"group_signs: chip {spec.name!r} declares no sign blocks")
    if any(parametrize.is_parametrized(m) for m in model.modules()):
        raise ValueError("group_signs: the model is parametrized (SignAnnealing); regroup before "
                         "creating SignAnnealing, or call its harden() first")
    stages = deployment_of(model).stages
    done: dict[str, list[int]] = {}
    for index in range(1, len(stages) - 1):
        before, stage, after = stages[index - 1], stages[index], stages[index + 1]
        if stage.kind != "neurons" or before.kind != "synapse" or after.kind != "synapse":
            continue
        n = stage.n_out
        w_in, w_out = before.weights[0].value, after.weights[0].value
        recurrent = next((s.value for s in stage.weights if s.role == "recurrent"), None)
        pieces: list[Tensor] = []
        size = 0
        for rule in rules:
            if rule.axis == "outputs":
                # blocks of neurons along the columns of the incoming (and recurrent) weights
                if rule.governs("synapse"):
                    pieces.append(w_in.T)
                if recurrent is not None and rule.governs("recurrent"):
                    pieces.append(recurrent.T)
            else:
                # blocks of neurons along the rows of the outgoing (and recurrent) weights
                if rule.governs("synapse"):
                    pieces.append(w_out)
                if recurrent is not None and rule.governs("recurrent"):
                    pieces.append(recurrent)
            size = max(size, rule.size)
        if not pieces:
            continue
        signatures = _signatures(n, [p.detach().double() for p in pieces])
        order = torch.tensor(_greedy_blocks(signatures, size))
        if _cost(signatures[order], size) >= _cost(signatures, size):
            continue  # the present order is as good: leave the layer alone
        before.weights[0].value.copy_(w_in[:, order])
        after.weights[0].value.copy_(w_out[order])
        _permute_layer(stage.module, order)
        done[stage.where] = order.tolist()
    return done
