"""Two mistakes that would otherwise pass in silence or fail far from their cause.

* **An SDK-style unpack of a layer's output.** nwave's neuron layers return the spikes only (so
  they compose in ``nn.Sequential``); the original SDK's return ``(spk, mem)``. Ported as is,
  ``spk, mem = layer(cur)`` raises nothing at batch size 2: it unpacks row 0 of the spikes as
  ``spk`` and row 1 as ``mem``. A tensor cannot refuse to be unpacked, so
  [`check_not_unpacked`][nwave_core.guards.check_not_unpacked] looks at the call site instead: when
  the statement that called the layer unpacks its result into exactly two names (``UNPACK_SEQUENCE
  2`` right after the call), it raises a ``TypeError`` saying what to write. Only direct calls are
  looked at (a layer inside an ``nn.Sequential`` is called by torch, not by the unpacking line), and
  the decision is cached per call site, so a loop pays a dictionary lookup per call.
* **State kept across batches after ``backward()``.** A layer keeps its membrane until
  [`prepare_net`][nwave_core.neurons.prepare_net]; without it, the next batch starts from a membrane
  whose graph ``backward()`` has already freed, and autograd fails later, inside
  ``loss.backward()``, with "Trying to backward through the graph a second time".
  [`check_state_is_live`][nwave_core.guards.check_state_is_live] finds the freed graph when the
  state is reused and names the call that was forgotten.
"""

from __future__ import annotations

import dis
import sys
from collections import deque
from types import CodeType, FrameType
from typing import Any

import torch
from torch import Tensor

from .errors import NwaveError

__all__ = ["check_not_unpacked", "check_state_is_live", "StaleStateError"]

_TORCH_MODULE_FILE = sys.modules[torch.nn.Module.__module__].__file__
_is_compiling = getattr(getattr(torch, "compiler", None), "is_compiling", lambda: False)
_UNPACKS: dict[tuple[CodeType, int], bool] = {}


class StaleStateError(NwaveError, RuntimeError):
    """A layer's kept state belongs to a batch whose graph ``backward()`` already freed."""


def _unpacks_two(frame: FrameType) -> bool:
    key = (frame.f_code, frame.f_lasti)
    hit = _UNPACKS.get(key)
    if hit is None:
        hit = False
        for instruction in dis.get_instructions(frame.f_code):
            if instruction.offset > frame.f_lasti:  # the first instruction after the call
                hit = instruction.opname == "UNPACK_SEQUENCE" and instruction.arg == 2
                break
        _UNPACKS[key] = hit
    return hit


def check_not_unpacked(owner: str, depth: int = 2) -> None:
    """Raise ``TypeError`` when the caller of a layer unpacks its spikes into two names.

    Args:
        owner: the layer's name, for the message.
        depth: frames between this function and the layer's ``forward`` caller (2: called from
            ``forward`` itself).
    """
    if _is_compiling():  # no frames to look at inside a compiled graph
        return
    frame = sys._getframe(depth)
    while frame is not None and frame.f_code.co_filename == _TORCH_MODULE_FILE:
        frame = frame.f_back  # nn.Module.__call__ and its helpers
    if frame is not None and _unpacks_two(frame):
        raise TypeError(
            f"{owner} returns the spikes only, so `spk, mem = layer(x)` would split the batch "
            f"into two rows; write `spk, mem = layer(x, return_mem=True)`, or use the original "
            f"SDK's layers from nwave_core.compat.nwavesdk.layers, which return (spk, mem)")


def _saved_names(node: Any) -> tuple[str, ...]:
    attributes = dir(node)  # not hasattr: reading a freed saved tensor raises RuntimeError
    names = [n for n in attributes if n.startswith("_saved_") and "_sym_" not in n]
    if "saved_tensors" in attributes:  # a custom autograd.Function's backward node
        names.append("saved_tensors")
    return tuple(names)


_SAVED: dict[type, tuple[str, ...]] = {}


def check_state_is_live(owner: str, state: Tensor | None, limit: int = 8) -> None:
    """Raise [`StaleStateError`][nwave_core.guards.StaleStateError] when ``state`` hangs on a graph
    ``backward()`` freed.

    Looks at the last ``limit`` nodes of the graph behind ``state`` (breadth first). Once
    ``backward()`` has gone through a node, reading its saved tensors raises. The step's spike
    function (a custom autograd function, among those nodes) always keeps the membrane, so it
    decides alone when it is found; otherwise every node's saved values are read, since some
    (constants) stay readable after backward and no single one proves the graph live.
    """
    if state is None or state.grad_fn is None or not torch.is_grad_enabled():
        return
    pending, nodes = deque([state.grad_fn]), []
    while pending and len(nodes) < limit:
        node = pending.popleft()
        names = _SAVED.get(type(node))
        if names is None:
            names = _SAVED[type(node)] = _saved_names(node)
        if "saved_tensors" in names:  # a custom function: live or freed, it tells
            _read(owner, node, ("saved_tensors",))
            return
        nodes.append((node, names))
        pending.extend(fn for fn, _ in node.next_functions if fn is not None)
    for node, names in nodes:
        _read(owner, node, names)


def _read(owner: str, node: Any, names: tuple[str, ...]) -> None:
    for name in names:
        try:
            getattr(node, name)
        except RuntimeError as exc:
            if "freed" in str(exc) or "second time" in str(exc):
                raise StaleStateError(
                    f"{owner}: its kept state comes from a batch that backward() has "
                    f"already gone through; call nwave_core.prepare_net(model) before each "
                    f"batch (or layer.reset_state()), so that a batch starts from rest") from None
            raise
