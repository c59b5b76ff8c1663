"""nwave models to and from NIR graphs.

NIR describes neurons in continuous time; every simulator discretises them itself. An nwave
neuron steps ``v[t] = beta * v[t-1] + I[t]`` (``beta = exp(-dt_layer / tau)``), and a NIR ``LIF``
is ``tau dv/dt = (v_leak - v) + r I``. The graph is written for a consumer that steps by ``dt``,
one consumer step being one nwave step, so that the consumer's update equals nwave's:

* ``"euler"`` (default; snnTorch, Norse and most NIR readers step with forward Euler,
  ``v += dt / tau * (v_leak - v + r I)``): ``tau = dt / (1 - beta)``, ``r = 1 / (1 - beta)``;
* ``"exact"`` (zero-order hold, ``v = beta v + (1 - beta)(v_leak + r I)``, for back ends that
  integrate the equation exactly): ``tau = -dt / ln(beta)``, ``r = 1 / (1 - beta)``. With
  ``dt`` equal to the layer's ``dt`` this gives back the layer's own taus.

In both, ``v_leak = 0``, ``v_reset = 0`` and ``v_threshold`` is the layer's threshold. What NIR
cannot say (a subtraction reset, a membrane floor, the chip, the surrogate, the raw weights of
a chip synapse) goes into each node's ``metadata["nwave"]`` (a JSON string) and
``metadata["nwave_weight"]`` (an array), so that [`from_nir`][nwave_core.interop.nir_graph.from_nir]
rebuilds the same model; other readers ignore it and say what they run
([`NirFidelityWarning`][nwave_core.interop.nir_graph.NirFidelityWarning] names each such layer).

The graph is the model as it runs now: effective weights of chip synapses (gain, transfer,
quantization and the current mismatch sample), ``neuron_params()`` of each layer.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import NwaveError

__all__ = ["to_nir", "from_nir", "write_nir", "read_nir", "NirFidelityWarning", "DISCRETIZATIONS",
           "nir_lif_params", "step_params"]

DISCRETIZATIONS: tuple[str, ...] = ("euler", "exact")
"""How a graph's continuous-time neurons become nwave's per-step update (module docstring)."""
#: the graph-level metadata key and format name nwave writes
FORMAT = "nwave-nir"
FORMAT_VERSION = 1


class NirFidelityWarning(UserWarning):
    """A layer has behaviour standard NIR cannot express; readers other than nwave differ."""


def _nir() -> Any:
    try:
        import nir
    except ImportError:
        raise NwaveError("NIR interchange needs the 'nir' package: pip install "
                         "'nwave-snn[nir]' (or: pip install nir)") from None
    return nir


def _check_discretization(value: str) -> str:
    if value not in DISCRETIZATIONS:
        raise ValueError(f"discretization must be one of {', '.join(map(repr, DISCRETIZATIONS))}, "
                         f"got {value!r}")
    return value


# -- the one mapping, both ways ----------------------------------------------------------------


def nir_lif_params(beta: np.ndarray, dt: float, discretization: str = "euler"
                   ) -> tuple[np.ndarray, np.ndarray]:
    """``(tau, r)`` of a NIR LIF whose step of ``dt`` is ``v = beta v + I``.

    Raises:
        ValueError: a decay outside ``(0, 1)`` (no finite, positive time constant).
    """
    beta = np.asarray(beta, dtype=np.float64)
    if not ((beta > 0) & (beta < 1)).all():
        raise ValueError(f"a NIR LIF needs a decay beta in (0, 1), got {beta.min():g}..{beta.max():g}")
    if _check_discretization(discretization) == "euler":
        tau = dt / (1 - beta)
    else:
        tau = -dt / np.log(beta)
    return tau, 1 / (1 - beta)


def step_params(tau: np.ndarray, r: np.ndarray, v_leak: np.ndarray, dt: float,
                discretization: str = "euler") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(beta, gain, bias)`` of the step ``v = beta v + gain * I + bias`` that ``dt`` makes of
    ``tau dv/dt = (v_leak - v) + r I`` (the inverse of
    [`nir_lif_params`][nwave_core.interop.nir_graph.nir_lif_params]).

    Raises:
        ValueError: forward Euler with ``dt >= tau`` (no decay in ``(0, 1)``).
    """
    tau, r, v_leak = (np.asarray(a, dtype=np.float64) for a in (tau, r, v_leak))
    if _check_discretization(discretization) == "euler":
        beta = 1 - dt / tau
        if not (beta > 0).all():
            raise ValueError(f"forward Euler with dt={dt:g} s and tau down to {tau.min():g} s "
                             f"gives a decay <= 0; pass the dt the graph was written for (snnTorch "
                             f"writes for 1e-4 s, Norse for 1e-3 s)")
    else:
        beta = np.exp(-dt / tau)
    return beta, r * (1 - beta), (1 - beta) * v_leak


# -- export ------------------------------------------------------------------------------------


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    from ..neurons import NeuronLayerBase

    if isinstance(model, nn.Sequential):
        return [(str(name), module) for name, module in model.named_children()]
    if isinstance(model, NeuronLayerBase) or _is_synapse(model):
        return [("0", model)]
    raise TypeError(f"to_nir reads an nn.Sequential of synapses (LIFSynapse, ChipSynapse, "
                    f"nn.Linear) and neuron layers, got {type(model).__name__}; wrap the layers "
                    f"in torch.nn.Sequential")


def _is_synapse(module: nn.Module) -> bool:
    return isinstance(module, nn.Linear) or (
        isinstance(getattr(module, "weight", None), Tensor) and module.weight.dim() == 2)


def _np(tensor: Tensor) -> np.ndarray:
    return tensor.detach().cpu().double().numpy()


def _spec_dict(spec: Any) -> dict[str, Any]:
    return spec.to_dict()


def _surrogate_record(surrogate: Any) -> dict[str, Any]:
    name = getattr(surrogate, "name", "")
    param = getattr(surrogate, "param_name", None)
    record: dict[str, Any] = {"name": name}
    if param is not None and hasattr(surrogate, param):
        record["params"] = {param: float(getattr(surrogate, param))}
        for extra in getattr(surrogate, "extra_params", ()):
            record["params"][extra] = getattr(surrogate, extra)
    return record


def _meta(record: dict[str, Any], **arrays: np.ndarray) -> dict[str, Any]:
    return {"nwave": json.dumps(record), **{f"nwave_{k}": v for k, v in arrays.items()}}


def _class_name(module: nn.Module) -> str:
    return type(module).__name__


def _synapse_node(nir: Any, module: nn.Module) -> Any:
    from ..hardware import ChipSynapse

    if isinstance(module, nn.Linear):
        weight = _np(module.weight)
        raw = {"weight": weight.T.copy()}
        if module.bias is None:
            return nir.Linear(weight=weight, metadata=_meta({"class": "Linear"}, **raw))
        raw["bias"] = _np(module.bias)
        return nir.Affine(weight=weight, bias=_np(module.bias),
                          metadata=_meta({"class": "Linear"}, **raw))
    if isinstance(module, ChipSynapse):
        with torch.no_grad():
            effective = module.effective_weight()
        meta = _meta({"class": _class_name(module), "chip": _spec_dict(module.chip),
                      "stddev": module.stddev, "quantization_bits": module.quantization_bits,
                      "qat": module.qat},
                     weight=_np(module.weight))
        return nir.Linear(weight=_np(effective).T.copy(), metadata=meta)
    meta = _meta({"class": _class_name(module)}, weight=_np(module.weight))
    return nir.Linear(weight=_np(module.weight).T.copy(), metadata=meta)


def _neuron_record(module: Any) -> dict[str, Any]:
    from ..hardware import ChipFrontend, ChipLayer

    record: dict[str, Any] = {
        "class": _class_name(module), "n_neurons": module.n_neurons, "dt": module.dt,
        "reset": module.reset, "floor": module.floor, "detach_reset": bool(module.detach_reset),
        "topology": module.layer_topology, "spike_grad": _surrogate_record(module.spike_grad),
        "taus": _np(module.taus).tolist(),
    }
    if isinstance(module, ChipLayer):
        record.update(chip=_spec_dict(module.chip), ileak_mismatch=module.ileak_mismatch,
                      threshold_mismatch=module.threshold_mismatch, qat=module.qat,
                      thresholds=_np(module.thresholds).tolist(),
                      tau_scale=_np(module.tau_scale).tolist(),
                      threshold_scale=_np(module.threshold_scale).tolist(),
                      role="frontend" if isinstance(module, ChipFrontend) else "neurons")
    else:
        record.update(thresholds=_np(module.thresholds).tolist(),
                      learn_taus=bool(module.taus.requires_grad),
                      learn_thresholds=bool(module.thresholds.requires_grad))
    return record


def to_nir(model: nn.Module, dt: float | None = None, *, discretization: str = "euler",
           fold_r: bool = False) -> Any:
    """The model as a ``nir.NIRGraph``.

    Nodes: ``input``; per synapse (``LIFSynapse``, ``ChipSynapse``, ``nn.Linear``) a
    ``Linear`` (``Affine`` for an ``nn.Linear`` with bias) with the weight in NIR's
    ``[N_out, N_in]`` layout; per neuron layer a ``LIF`` named by its index in the
    ``nn.Sequential``, with a ``"<index>.rec"`` ``Linear`` on a loop for recurrent weights; a
    chip frontend as its own pair, ``"<index>.channels"`` (a diagonal ``Linear``: its per-channel
    weights) into ``"<index>"`` (its neurons), the chip spec in the metadata; ``output``.

    Args:
        model: an ``nn.Sequential`` of synapses and neuron layers (or one layer).
        dt: the step, in seconds, of the simulator that will run the graph; one of its steps is
            one nwave step. None: each layer's own ``dt`` (snnTorch's importer steps by 1e-4 s,
            Norse's by its ``dt=`` argument, default 1e-3 s).
        discretization: ``"euler"`` or ``"exact"`` (module docstring).
        fold_r: write ``r = 1`` and multiply the weights that feed each LIF (its incoming and
            recurrent weights) by its ``1 / (1 - beta)`` instead: the same dynamics, for readers
            that ignore ``r`` (Norse 1.1.0). Needs a weight node in front of every neuron layer.

    Returns:
        a ``nir.NIRGraph`` whose ``metadata["nwave"]`` records ``dt`` and ``discretization``.

    Raises:
        TypeError: a module that is neither a synapse nor a neuron layer.
        NwaveError: the ``nir`` package is missing.
    """
    from ..neurons import NeuronLayerBase
    from ..hardware import ChipFrontend

    nir = _nir()
    _check_discretization(discretization)
    if dt is not None and not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
        raise ValueError(f"to_nir: dt must be None or a number > 0 (seconds), got {dt!r}")
    layers = _layers(model)
    if not layers:
        raise ValueError("to_nir: the model has no layers")
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    previous, width = "input", None
    steps = set()
    for name, module in layers:
        if isinstance(module, NeuronLayerBase):
            step = float(module.dt if dt is None else dt)
            steps.add(step)
            n = module.n_neurons
            width = module.n_features() if width is None else width
            if isinstance(module, ChipFrontend):
                channels = f"{name}.channels"
                meta = _meta({"role": "frontend_channels"}, weight=_np(module.weight))
                nodes[channels] = nir.Linear(weight=np.diag(_np(module.weight)), metadata=meta)
                edges.append((previous, channels))
                previous = channels
            with torch.no_grad():
                beta, threshold = module.neuron_params()
            beta = np.broadcast_to(_np(beta), (n,)).copy()
            threshold = np.broadcast_to(_np(threshold), (n,)).copy()
            tau, r = nir_lif_params(beta, step, discretization)
            r_fold = r
            if fold_r:
                _fold(nir, nodes, previous, name, r)
                r = np.ones(n)
            record = _neuron_record(module)
            nodes[name] = nir.LIF(tau=tau, r=r, v_leak=np.zeros(n), v_threshold=threshold,
                                  v_reset=np.zeros(n), metadata=_meta(record))
            _warn_fidelity(name, module)
            edges.append((previous, name))
            recurrent = module.effective_recurrent()
            if recurrent is not None:
                rec = f"{name}.rec"
                raw = {"weight": _np(module.recurrent_weights)}
                weight = _np(recurrent).T * (r_fold[:, None] if fold_r else 1.0)
                nodes[rec] = nir.Linear(weight=weight.copy(),
                                        metadata=_meta({"role": "recurrent"}, **raw))
                edges += [(name, rec), (rec, name)]
            previous = name
        elif _is_synapse(module):
            node = _synapse_node(nir, module)
            width = node.weight.shape[1] if width is None else width
            nodes[name] = node
            edges.append((previous, name))
            previous = name
        else:
            raise TypeError(f"to_nir: layer {name} ({type(module).__name__}) is neither a synapse "
                            f"(LIFSynapse, ChipSynapse, nn.Linear) nor a neuron layer")
    out_width = nodes[previous].output_type["output"]
    nodes["input"] = nir.Input(input_type={"input": np.array([width])})
    nodes["output"] = nir.Output(output_type={"output": np.array(out_width)})
    edges.append((previous, "output"))
    meta = {"nwave": json.dumps({"format": FORMAT, "version": FORMAT_VERSION,
                                 "discretization": discretization, "fold_r": bool(fold_r),
                                 "dt": steps.pop() if len(steps) == 1 else None})}
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta)


def _fold(nir: Any, nodes: dict[str, Any], previous: str, name: str, r: np.ndarray) -> None:
    node = nodes.get(previous)
    if not isinstance(node, (nir.Linear, nir.Affine)):
        raise ValueError(f"to_nir(fold_r=True): layer {name} has no weight node in front of it to "
                         f"take its input gain r")
    node.weight = node.weight * r[:, None]
    if isinstance(node, nir.Affine):
        node.bias = node.bias * r


def _warn_fidelity(name: str, module: Any) -> None:
    lost = []
    if module.reset != "zero":
        lost.append(f"reset {module.reset!r} (NIR resets to v_reset = 0)")
    if module.floor is not None:
        lost.append(f"the membrane floor {module.floor:g}")
    if lost:
        warnings.warn(f"to_nir: layer {name} ({type(module).__name__}) has {' and '.join(lost)}; "
                      f"nwave's from_nir restores it from the node metadata, other NIR readers "
                      f"run a zero reset without a floor", NirFidelityWarning, stacklevel=3)


def write_nir(model: nn.Module, path: str | os.PathLike[str], dt: float | None = None, *,
              discretization: str = "euler", fold_r: bool = False) -> Path:
    """Write ``to_nir(model, dt, ...)`` to a ``.nir`` (HDF5) file; returns the path."""
    nir = _nir()
    graph = to_nir(model, dt, discretization=discretization, fold_r=fold_r)
    nir.write(str(path), graph)
    return Path(path)


def read_nir(path: str | os.PathLike[str], dt: float | None = None, *,
             discretization: str | None = None) -> nn.Sequential:
    """``from_nir`` of the graph in a ``.nir`` file."""
    nir = _nir()
    path = Path(path)
    if not path.is_file():
        raise NwaveError(f"no such file: {path}")
    try:
        graph = nir.read(str(path))
    except (OSError, KeyError, ValueError) as exc:
        raise NwaveError(f"{path} is not a NIR file: {exc}") from None
    return from_nir(graph, dt, discretization=discretization)


# -- import ------------------------------------------------------------------------------------


def _record(node: Any) -> dict[str, Any] | None:
    text = getattr(node, "metadata", {}).get("nwave") if isinstance(
        getattr(node, "metadata", None), dict) else None
    if text is None:
        return None
    if isinstance(text, bytes):
        text = text.decode()
    return json.loads(str(text))


def _chain(nir: Any, graph: Any) -> list[tuple[str, Any, Any]]:
    """``(name, node, recurrent node or None)`` from input to output."""
    nodes = dict(graph.nodes)
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in graph.edges:
        for end in (a, b):
            if end not in nodes:
                raise NwaveError(f"from_nir: an edge names node {end!r}, which the graph lacks")
        succ[a].append(b)
        pred[b].append(a)
    loops: dict[str, Any] = {}
    for name, node in nodes.items():  # a weight node on a loop: lif -> w -> lif
        if isinstance(node, (nir.Linear, nir.Affine)) and len(succ[name]) == 1 and \
                pred[name] == succ[name] and isinstance(nodes[succ[name][0]], (nir.LIF, nir.CubaLIF)):
            loops[succ[name][0]] = (name, node)
    inputs = [k for k, v in nodes.items() if isinstance(v, nir.Input)]
    if len(inputs) != 1:
        raise NwaveError(f"from_nir reads graphs with one input node, found {len(inputs)}")
    chain, current, seen = [], inputs[0], set()
    while True:
        nxt = [s for s in succ[current] if s not in {v[0] for v in loops.values()}]
        if not nxt:
            break
        if len(nxt) > 1:
            raise NwaveError(f"from_nir reads a chain of layers (recurrent loops allowed); node "
                             f"{current!r} feeds {len(nxt)} nodes: {', '.join(nxt)}")
        current = nxt[0]
        if current in seen:
            raise NwaveError(f"from_nir: a cycle through {current!r} that is not a recurrent "
                             f"weight loop on one LIF node")
        seen.add(current)
        if len([p for p in pred[current] if p not in {v[0] for v in loops.values()}]) > 1:
            raise NwaveError(f"from_nir reads a chain of layers; node {current!r} has several inputs")
        node = nodes[current]
        if isinstance(node, nir.NIRGraph):  # snnTorch's recurrent subgraph: input, lif, w, output
            chain.append(_subgraph(nir, current, node))
        elif not isinstance(node, nir.Output):
            chain.append((current, node, loops.get(current, (None, None))[1]))
    return chain


def _subgraph(nir: Any, name: str, graph: Any) -> tuple[str, Any, Any]:
    lifs = [n for n in graph.nodes.values() if isinstance(n, (nir.LIF, nir.CubaLIF))]
    weights = [n for n in graph.nodes.values() if isinstance(n, (nir.Linear, nir.Affine))]
    if len(lifs) != 1 or len(weights) != 1 or len(graph.nodes) != 4:
        raise NwaveError(f"from_nir: subgraph {name!r} is not a recurrent layer (input, LIF, "
                         f"recurrent weight, output)")
    return name, lifs[0], weights[0]


def _vector(value: Any, n: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(value, dtype=np.float64), (n,)).copy()


def _surrogate(record: dict[str, Any]) -> Any:
    from .. import registry

    spec = record.get("spike_grad") or {}
    try:
        return registry("surrogate").create(spec["name"], **spec.get("params", {}))
    except Exception:  # noqa: BLE001 - a surrogate this install lacks: the default one
        warnings.warn(f"from_nir: surrogate {spec.get('name')!r} is not available here; the layer "
                      f"gets the default surrogate", NirFidelityWarning, stacklevel=4)
        return None


def _layer_class(name: str, fallback: type) -> type:
    from .. import registry

    layers = registry("layer")
    cls = layers.get(name).factory if name in layers else fallback
    return cls if isinstance(cls, type) and issubclass(cls, fallback) else fallback


def _chip_spec(record: dict[str, Any]) -> Any:
    from ..chip import ChipSpec

    return ChipSpec.from_dict(record["chip"])


def _nwave_neurons(record: dict[str, Any], node: Any, recurrent: Any, channels: Any) -> nn.Module:
    """The layer nwave wrote, rebuilt from its metadata (exact parameters)."""
    from ..hardware import ChipFrontend, ChipLayer
    from ..neurons import LIFNeurons

    n, topology = record["n_neurons"], record["topology"]
    spike_grad = _surrogate(record)
    if "chip" in record:
        spec = _chip_spec(record)
        if record.get("role") == "frontend":
            cls = _layer_class(record["class"], ChipFrontend)
            layer = cls(n, taus=record["taus"], dt=record["dt"],
                        ileak_mismatch=record["ileak_mismatch"], spike_grad=spike_grad, chip=spec,
                        qat=record.get("qat"))
            if channels is not None:
                layer.weight.data.copy_(torch.as_tensor(_raw(channels)))
        else:
            cls = _layer_class(record["class"], ChipLayer)
            layer = cls(n, taus=record["taus"], dt=record["dt"],
                        ileak_mismatch=record["ileak_mismatch"], spike_grad=spike_grad,
                        layer_topology=topology, threshold_mismatch=record["threshold_mismatch"],
                        chip=spec, qat=record.get("qat"))
        layer.taus.copy_(torch.as_tensor(record["taus"]))  # exact, not snapped again
        if "thresholds" in record:
            layer.thresholds.copy_(torch.as_tensor(record["thresholds"]))
        layer.tau_scale.copy_(torch.as_tensor(record["tau_scale"]))
        layer.threshold_scale.copy_(torch.as_tensor(record["threshold_scale"]))
        if recurrent is not None:  # the effective recurrent weights are what the graph holds
            _set_recurrent_raw(layer, recurrent)
    else:
        cls = _layer_class(record["class"], LIFNeurons)
        layer = cls(n, taus=record["taus"], thresholds=record["thresholds"],
                    reset_mechanism=record["reset"], dt=record["dt"], spike_grad=spike_grad,
                    learn_taus=record["learn_taus"], learn_thresholds=record["learn_thresholds"],
                    layer_topology=topology)
        if recurrent is not None:
            _set_recurrent_raw(layer, recurrent)
    layer.reset, layer.floor = record["reset"], record["floor"]
    layer.detach_reset = record["detach_reset"]
    return layer


def _raw(node: Any) -> np.ndarray:
    """The nwave-layout weight nwave stored beside a node's (possibly transferred or folded)
    NIR weight."""
    raw = node.metadata.get("nwave_weight") if isinstance(node.metadata, dict) else None
    if raw is None:
        raise NwaveError("from_nir: a node written by nwave lacks its weights (metadata "
                         "'nwave_weight'); was the graph edited?")
    return np.array(raw, dtype=np.float64)


def _set_recurrent_raw(layer: Any, node: Any) -> None:
    layer.recurrent_weights.data.copy_(torch.as_tensor(_raw(node)))


def _nwave_synapse(record: dict[str, Any], node: Any) -> nn.Module:
    from ..hardware import ChipSynapse

    if "chip" in record:
        cls = _layer_class(record["class"], ChipSynapse)
        n_out, n_in = node.weight.shape
        syn = cls(n_in, n_out, stddev=record["stddev"],
                  quantization_bits=record["quantization_bits"], chip=_chip_spec(record),
                  qat=record.get("qat"))
        syn.weight.data.copy_(torch.as_tensor(_raw(node)))
        return syn
    bias = node.metadata.get("nwave_bias")
    return _plain_synapse(_raw(node), None if bias is None else np.asarray(bias), record.get("class"))


def _plain_synapse(weight_in_out: np.ndarray, bias: np.ndarray | None,
                   cls_name: str | None = None) -> nn.Module:
    """An ``LIFSynapse`` (no bias) or an ``nn.Linear`` (with bias) holding ``weight_in_out``."""
    from nwave_plugins.layers import LIFSynapse

    n_in, n_out = weight_in_out.shape
    if bias is None and cls_name in (None, "LIFSynapse"):
        syn = LIFSynapse(n_in, n_out)
        syn.weight.data.copy_(torch.as_tensor(weight_in_out))
        return syn
    linear = nn.Linear(n_in, n_out, bias=bias is not None)
    linear.weight.data.copy_(torch.as_tensor(weight_in_out.T.copy()))
    if bias is not None:
        linear.bias.data.copy_(torch.as_tensor(bias))
    return linear


def _foreign_neurons(nir: Any, name: str, node: Any, pending: list[Any], recurrent: Any,
                     dt: float, discretization: str) -> list[nn.Module]:
    """A NIR LIF / CubaLIF of another library: LIFLayer with zero reset, gains folded into the
    incoming (and recurrent) weights."""
    from nwave_plugins.layers import LIFLayer

    if isinstance(node, nir.CubaLIF):
        tau, r, v_leak = node.tau_mem, node.r, node.v_leak
        if discretization != "euler" or not np.allclose(np.asarray(node.tau_syn), dt, rtol=1e-6):
            raise NwaveError(f"from_nir: CubaLIF {name!r} has a synaptic current (tau_syn "
                             f"{np.min(node.tau_syn):g} s, not the step {dt:g} s under Euler); "
                             f"nwave neurons have no current state, so only a CubaLIF with an "
                             f"instantaneous synapse (snnTorch Synaptic with alpha=0) maps")
        extra_gain = np.asarray(node.w_in, dtype=np.float64) * dt / np.asarray(node.tau_syn)
    elif isinstance(node, nir.LIF):
        tau, r, v_leak = node.tau, node.r, node.v_leak
        extra_gain = 1.0
    else:
        raise NwaveError(f"from_nir: node {name!r} is a {type(node).__name__}; nwave reads Input, "
                         f"Output, Linear, Affine, LIF and CubaLIF (instantaneous synapse)")
    n = int(np.asarray(node.v_threshold).size)
    if not np.allclose(np.asarray(node.v_reset), 0):
        raise NwaveError(f"from_nir: node {name!r} resets to v_reset != 0; nwave resets to zero or "
                         f"by subtraction only")
    beta, gain, bias = step_params(_vector(tau, n), _vector(r, n), _vector(v_leak, n), dt,
                                   discretization)
    gain = gain * _vector(extra_gain, n)
    modules: list[nn.Module] = []
    needs_fold = not np.allclose(gain, 1.0, rtol=1e-12, atol=0) or bool(np.any(bias != 0))
    if pending:
        weight, w_bias = pending
        weight = weight * gain[None, :]
        w_bias = None if w_bias is None and not np.any(bias) else (
            (np.zeros(n) if w_bias is None else w_bias * gain) + bias)
        modules.append(_plain_synapse(weight, w_bias))
    elif needs_fold:
        raise NwaveError(f"from_nir: node {name!r} scales its input by r * dt / tau != 1 but no "
                         f"weight node precedes it to take that gain")
    layer = LIFLayer(n, taus=-dt / np.log(beta), thresholds=_vector(node.v_threshold, n),
                     reset_mechanism="zero", dt=dt,
                     layer_topology="FF" if recurrent is None else "RC")
    if recurrent is not None:
        w_rec = np.asarray(recurrent.weight, dtype=np.float64).T * gain[None, :]
        if isinstance(recurrent, nir.Affine) and np.any(recurrent.bias):
            raise NwaveError(f"from_nir: the recurrent weights of {name!r} have a bias, which nwave "
                             f"recurrent weights do not")
        layer.recurrent_weights.data.copy_(torch.as_tensor(w_rec))
    modules.append(layer)
    return modules


def from_nir(graph: Any, dt: float | None = None, *, discretization: str | None = None
             ) -> nn.Sequential:
    """An ``nn.Sequential`` of nwave layers that runs ``graph`` (a ``nir.NIRGraph``).

    A graph nwave wrote comes back as the same classes with the same parameters (from the node
    metadata). A graph from another library becomes ``LIFSynapse`` / ``nn.Linear`` (Affine)
    and ``LIFLayer`` (zero reset, NIR's ``v_reset = 0``): each neuron's input gain
    ``r dt / tau`` (Euler) and leak ``v_leak`` fold into the weights (and bias) that feed it, so
    the membrane equals the other library's. A ``CubaLIF`` maps where its synapse is
    instantaneous (``tau_syn == dt`` under Euler: snnTorch's ``Synaptic`` with ``alpha=0``).

    Args:
        graph: a ``nir.NIRGraph``: a chain from its ``Input`` to its ``Output``, with recurrent
            weight loops on LIF nodes (as edges, or as snnTorch's 4-node subgraphs).
        dt: the step the graph is meant to run at; None: the step nwave recorded in the graph.
            Required for other libraries' graphs (snnTorch writes for 1e-4 s, Norse for 1e-3 s).
        discretization: ``"euler"`` or ``"exact"``; None: what nwave recorded, else ``"euler"``.

    Raises:
        NwaveError: a graph shape or node nwave cannot run, or a missing ``dt``.
    """
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise TypeError(f"from_nir needs a nir.NIRGraph, got {type(graph).__name__} "
                        f"(read a file with nwave_core.interop.read_nir)")
    info = _record(graph) or {}
    if info.get("format") not in (None, FORMAT):
        info = {}
    method = _check_discretization(discretization or info.get("discretization", "euler"))
    step = dt if dt is not None else info.get("dt")
    modules: list[nn.Module] = []
    pending: list[Any] | None = None       # a foreign weight waiting for its neurons' gain
    channels = None                         # a frontend's diagonal, waiting for its neurons
    for name, node, recurrent in _chain(nir, graph):
        record = _record(node)
        if isinstance(node, nir.Input):
            continue
        if record is not None and record.get("role") == "frontend_channels":
            channels = node
            continue
        if isinstance(node, (nir.Linear, nir.Affine)):
            if pending is not None:
                modules.append(_plain_synapse(*pending))
                pending = None
            if record is not None and "class" in record:
                modules.append(_nwave_synapse(record, node))
            else:
                bias = np.asarray(node.bias, dtype=np.float64) if isinstance(node, nir.Affine) else None
                pending = [np.asarray(node.weight, dtype=np.float64).T.copy(), bias]
            continue
        if record is not None and "n_neurons" in record:
            if pending is not None:
                modules.append(_plain_synapse(*pending))
                pending = None
            modules.append(_nwave_neurons(record, node, recurrent, channels))
            channels = None
            continue
        if step is None:
            raise NwaveError("from_nir: this graph was not written by nwave; pass dt= (nwave "
                             "import --dt) the step it was written for (snnTorch: 1e-4, Norse: "
                             "its dt, default 1e-3)")
        modules += _foreign_neurons(nir, name, node, pending or [], recurrent, float(step), method)
        pending = None
    if pending is not None:
        modules.append(_plain_synapse(*pending))
    if not modules:
        raise NwaveError("from_nir: the graph has no layers")
    return nn.Sequential(*modules)
