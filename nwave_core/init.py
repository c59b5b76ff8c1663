"""Chip-aware initialisation: fluctuation-driven weights, frontend gains for a firing rate.

[`fluct_init`][nwave_core.init.fluct_init] follows Rossbroich, Gygax & Zenke (2022,
arXiv:2206.10226) as the original SDK adapts it to hardware layers. For each synapse feeding a
neuron layer it sets the weights so that the layer's *free* membrane (no spikes, no reset) sits
``xi`` standard deviations below the threshold, ``xi = (theta - mu_U) / sigma_U`` (median over the
layer's neurons): close enough to pass surrogate gradient from the first step. Instead of the
paper's closed form it measures ``mu_U`` and ``sigma_U`` by running the layer's real dynamics on
real input (the synapse's transfer and QAT projection, the chip's leak, floor and thresholds) and
searches the scale of each neuron's incoming weights until that neuron's ``xi`` is the target (our
decision: per neuron, so that few inputs, as on small chips, do not leave neurons far from
threshold); a neuron that stays silent on the batch, or cannot reach the target, gets one more
excitatory input (a whole sign block on a chip with sign blocks), stronger excitatory weights, and a
new search. Weights stay in the chip's range (its ``weight_range`` rules), and on a chip with sign
blocks every block draws one sign. No chip number is written here: everything is read from the
layers and their chip's rules.

[`frontend_firing_init`][nwave_core.init.frontend_firing_init] sets each frontend channel's gain,
within the chip's bounds, for a target firing rate. [`init_weights`][nwave_core.init.init_weights]
is the plain uniform initialisation within the range.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import attrs
import torch
from torch import Tensor, nn

from .constraints import SignBlock, deployment_of
from .engine import lif_sequence
from .neurons import NeuronLayerBase, prepare_net

__all__ = ["LayerInit", "fluct_init", "measure_xi", "frontend_firing_init", "init_weights"]

_BURN_IN = 0.2  # the first fifth of each sequence is left out of the membrane statistics


@attrs.frozen
class LayerInit:
    """What [`fluct_init`][nwave_core.init.fluct_init] did to one synapse and its neuron layer."""

    synapse: str = attrs.field(metadata={"doc": "the synapse, by qualified name"})
    layer: str = attrs.field(metadata={"doc": "the neuron layer it feeds"})
    xi: float = attrs.field(metadata={"doc": "median xi measured after initialisation"})
    scale: float = attrs.field(metadata={"doc": "median over neurons of the weight scale found"})
    mean_shift: float = attrs.field(metadata={"doc": "mean over neurons of the excitatory shift, "
                                                     "in units of the scale"})
    dead: float = attrs.field(metadata={"doc": "fraction of the layer's neurons silent on the batch"})
    rate: float = attrs.field(metadata={"doc": "mean spikes per neuron and step afterwards"})


def _chip(module: nn.Module) -> Any:
    return getattr(module, "chip", None)


def _bounds(module: nn.Module, role: str) -> tuple[float, float] | None:
    chip = _chip(module)
    return chip.weight_bounds(role) if chip is not None else None


def _sign_block(module: nn.Module, role: str) -> SignBlock | None:
    chip = _chip(module)
    if chip is None:
        return None
    blocks = [r for r in chip.rules_of("sign_block") if r.governs(role) and r.size > 1]
    return blocks[0] if blocks else None


def _pairs(model: nn.Module) -> Iterator[tuple[str, nn.Module, str, nn.Module]]:
    """``(synapse name, synapse, layer name, layer)`` in data-flow order, plus the modules that
    run in between (frontends), as ``(name, module, "", None)``."""
    pending = None
    for stage in deployment_of(model).stages:
        if stage.kind == "synapse":
            pending = stage
        elif stage.kind == "frontend":
            yield stage.where, stage.module, "", None
        elif pending is not None:
            yield pending.where, pending.module, stage.where, stage.module
            pending = None


def _free_membrane(layer: NeuronLayerBase, current: Tensor) -> Tensor:
    """The layer's membrane on ``current`` ``[B, T, N]`` without spikes (threshold at
    infinity): its leak and floor, no reset."""
    beta, threshold = layer.neuron_params()
    never = torch.full_like(torch.as_tensor(threshold, dtype=current.dtype), math.inf)
    _, mem = lif_sequence(current, beta, never, layer.spike_grad, reset="none", floor=layer.floor)
    return mem


def _xi(layer: NeuronLayerBase, current: Tensor) -> Tensor:
    """Per-neuron ``(theta - mu_U) / sigma_U`` of the free membrane (inf where it is flat)."""
    mem = _free_membrane(layer, current)
    mem = mem[:, int(mem.shape[1] * _BURN_IN):].reshape(-1, mem.shape[-1]).double()
    mu, sigma = mem.mean(0), mem.std(0)
    theta = layer.neuron_params()[1].detach().double()
    return torch.where(sigma > 0, (theta - mu) / sigma.clamp(min=1e-12),
                       torch.full_like(mu, math.inf))


def _draw(shape: tuple[int, ...], block: SignBlock | None, generator: torch.Generator | None
          ) -> tuple[Tensor, Tensor]:
    """Standard normal magnitudes and signs; with a sign-block rule, one sign per block."""
    z = torch.randn(shape, generator=generator, dtype=torch.float64)
    if block is None:
        return z.abs(), torch.sign(z)
    lines = shape[1] if block.axis == "outputs" else shape[0]
    other = shape[0] if block.axis == "outputs" else shape[1]
    n_blocks = -(-lines // block.size)
    signs = torch.sign(torch.randn(other, n_blocks, generator=generator, dtype=torch.float64))
    spread = signs.repeat_interleave(block.size, dim=1)[:, :lines]
    return z.abs(), spread if block.axis == "outputs" else spread.transpose(0, 1)


def _excite(signs: Tensor, neuron: int, block: SignBlock | None,
            generator: torch.Generator | None) -> None:
    """Turn one inhibitory input of ``neuron`` excitatory (its whole sign block, if any)."""
    rows = (signs[:, neuron] < 0).nonzero().reshape(-1)
    if not rows.numel():
        return
    row = int(rows[torch.randint(rows.numel(), (1,), generator=generator)])
    if block is None:
        signs[row, neuron] = 1.0
    elif block.axis == "inputs":
        start = row - row % block.size
        signs[start:start + block.size, neuron] = 1.0
    else:
        start = neuron - neuron % block.size
        signs[row, start:start + block.size] = 1.0


def _weights(magnitude: Tensor, signs: Tensor, scale: Tensor, shift: Tensor,
             bounds: tuple[float, float] | None) -> Tensor:
    """``scale[n] * sign * (|z| + shift[n])`` for the weights into neuron ``n`` (the shift
    strengthens only the excitatory weights, so signs, and sign blocks, are kept)."""
    w = scale * signs * (magnitude + shift * (signs > 0))
    if bounds is not None:
        w = w.clamp(*bounds)
    return w


def _set(parameter: Tensor, value: Tensor) -> None:
    with torch.no_grad():
        parameter.copy_(value.to(parameter.dtype))


def _search(synapse: nn.Module, layer: NeuronLayerBase, x: Tensor, magnitude: Tensor,
            signs: Tensor, shift: Tensor, xi_target: float, bounds: Any) -> tuple[Tensor, Tensor]:
    """Per-neuron bisection on the log of the weight scale so that each neuron's xi reaches the
    target; returns ``(scale [N], xi [N])``."""
    n = magnitude.shape[1]
    top = 1e2 if bounds is None else 4 * max(abs(bounds[0]), abs(bounds[1]))
    low = torch.full((n,), 1e-4, dtype=torch.float64)
    high = torch.full((n,), top, dtype=torch.float64)

    def xi_at(scale: Tensor) -> Tensor:
        _set(synapse.weight, _weights(magnitude, signs, scale, shift, bounds))
        return _xi(layer, synapse(x))

    for _ in range(18):  # the ratio high / low ends below 1.0001
        middle = torch.sqrt(low * high)
        quiet = xi_at(middle) > xi_target  # too far below threshold: larger weights
        low = torch.where(quiet, middle, low)
        high = torch.where(quiet, high, middle)
    # on a weight grid xi moves in steps: take the side of the step nearer the target
    xi_low, xi_high = xi_at(low), xi_at(high)
    nearer_low = (xi_low - xi_target).abs() < (xi_high - xi_target).abs()
    scale = torch.where(nearer_low, low, high)
    return scale, xi_at(scale)


@torch.no_grad()
def measure_xi(model: nn.Module, data: Tensor) -> dict[str, float]:
    """Median ``xi`` of each neuron layer fed by a synapse, measured on ``data`` ``[B, T, C]``
    as [`fluct_init`][nwave_core.init.fluct_init] measures it (the free membrane after a burn-in of
    the first fifth)."""
    prepare_net(model)
    x, found = data, {}
    for name, synapse, layer_name, layer in _pairs(model):
        if layer is None:
            x = synapse(x)
            continue
        current = synapse(x)
        xi = _xi(layer, current)
        finite = xi[torch.isfinite(xi)]
        found[layer_name] = float(finite.median()) if finite.numel() else math.inf
        x = layer(current)
    return found


@torch.no_grad()
def fluct_init(model: nn.Module, data: Tensor, xi_target: float = 2.0, alpha: float = 1.0, *,
               max_dead: float = 0.0, generator: torch.Generator | None = None
               ) -> list[LayerInit]:
    """Fluctuation-driven initialisation of every synapse feeding a neuron layer.

    Args:
        model: an ``nn.Sequential``-like model whose modules in registration order are the data
            flow (frontends, synapses, neuron layers), chip layers or LIF layers.
        data: a representative input batch ``[B, T, C]``.
        xi_target: the median ``(theta - mu_U) / sigma_U`` each layer's free membrane should
            have (larger: quieter; the original uses a higher target for H1v2's weaker
            synapses).
        alpha: the share of the membrane variance from the feed-forward weights (1: all); a
            recurrent layer's own weights get the rest, scaled by the layer's measured rate.
        max_dead: the largest fraction of a layer's neurons that may stay silent on ``data``;
            above it the weights' mean is raised and the scale searched again.
        generator: a seeded ``torch.Generator`` makes the draw reproducible.

    Returns:
        One [`LayerInit`][nwave_core.init.LayerInit] per synapse and layer.

    Raises:
        ValueError: ``alpha`` outside ``(0, 1]``, ``xi_target`` not positive, or a model
            without a synapse feeding a neuron layer.
    """
    if not (isinstance(alpha, (int, float)) and 0 < alpha <= 1):
        raise ValueError(f"fluct_init: alpha must be in (0, 1], got {alpha!r}")
    if not (isinstance(xi_target, (int, float)) and math.isfinite(xi_target) and xi_target > 0):
        raise ValueError(f"fluct_init: xi_target must be a number > 0, got {xi_target!r}")
    prepare_net(model)
    x = data
    report: list[LayerInit] = []
    for name, synapse, layer_name, layer in _pairs(model):
        if layer is None:
            x = synapse(x)
            continue
        weight = synapse.weight
        bounds = _bounds(synapse, "synapse")
        block = _sign_block(synapse, "synapse")
        magnitude, signs = _draw(tuple(weight.shape), block, generator)
        target = xi_target / math.sqrt(alpha)  # the feed-forward share of the variance
        shift = torch.zeros(weight.shape[1], dtype=torch.float64)
        for _ in range(8):
            scale, xi = _search(synapse, layer, x, magnitude, signs, shift, target, bounds)
            layer.reset_state()
            spikes = layer(synapse(x))
            silent = (spikes.sum((0, 1)) == 0) | ~(xi <= target * 1.05)
            if float(silent.double().mean()) <= max_dead:
                break
            shift = shift + 0.5 * silent.double()
            for neuron in silent.nonzero().reshape(-1).tolist():
                _excite(signs, neuron, block, generator)
        dead = float((spikes.sum((0, 1)) == 0).double().mean())
        layer.reset_state()
        if layer.recurrent_weights is not None and alpha < 1:
            _recurrent(layer, x, synapse, spikes, alpha, generator)
            layer.reset_state()
            spikes = layer(synapse(x))
        finite = xi[torch.isfinite(xi)]
        median = float(finite.median()) * math.sqrt(alpha) if finite.numel() else math.inf
        report.append(LayerInit(name, layer_name, median, float(scale.median()),
                                float(shift.mean()), dead, float(spikes.mean())))
        layer.reset_state()
        x = spikes
    if not report:
        raise ValueError("fluct_init: the model has no synapse feeding a neuron layer")
    prepare_net(model)
    return report


def _recurrent(layer: NeuronLayerBase, x: Tensor, synapse: nn.Module, spikes: Tensor,
               alpha: float, generator: torch.Generator | None) -> None:
    """Recurrent weights carrying ``1 - alpha`` of the variance: per unit of input, the
    feed-forward variance is ``N_in * rate_in * var(w_ff)``; the recurrent one
    ``N * rate_self * var(w_rec)``."""
    n = layer.n_neurons
    rate_in = float((x != 0).double().mean()) or 1.0
    rate_self = float(spikes.double().mean()) or rate_in
    ff_var = float(synapse.weight.double().var()) * synapse.weight.shape[0] * rate_in
    rec_std = math.sqrt(ff_var * (1 - alpha) / alpha / (n * rate_self))
    magnitude, signs = _draw((n, n), _sign_block(layer, "recurrent"), generator)
    _set(layer.recurrent_weights, _weights(magnitude, signs, rec_std, 0.0,
                                           _bounds(layer, "recurrent")))


@torch.no_grad()
def frontend_firing_init(model: nn.Module, data: Tensor, target_rate: float = 0.1,
                         ) -> dict[str, Tensor]:
    """Set each frontend channel's gain so that its neuron fires ``target_rate`` spikes per
    step on ``data`` (bisection per channel, within the chip's frontend and weight bounds; a
    channel that cannot reach the rate gets the bound). Returns the gains by frontend name."""
    if not (isinstance(target_rate, (int, float)) and 0 < target_rate < 1):
        raise ValueError(f"frontend_firing_init: target_rate must be in (0, 1), got {target_rate!r}")
    gains: dict[str, Tensor] = {}
    for stage in deployment_of(model).stages:
        if stage.kind != "frontend":
            continue
        frontend = stage.module
        chip = _chip(frontend)
        ones = torch.ones_like(frontend.weight)
        low = 0.0
        high_value = chip.project(ones * 1e6, "frontend").detach() if chip is not None else ones * 1e2
        high = high_value.clone()
        for _ in range(40):
            middle = (low + high) / 2
            _set(frontend.weight, middle)
            frontend.reset_state()
            rate = frontend(data).double().mean((0, 1))
            high = torch.where(rate > target_rate, middle, high)
            low = torch.where(rate > target_rate, low, middle)
        _set(frontend.weight, high)
        frontend.reset_state()
        gains[stage.where] = frontend.weight.detach().clone()
        break  # the frontend is the first stage
    return gains


@torch.no_grad()
def init_weights(model: nn.Module, generator: torch.Generator | None = None) -> nn.Module:
    """Uniform weights in ``[-b, b]``, ``b = min(bound, 1 / sqrt(N_in))`` with ``bound`` the
    largest magnitude the chip's range allows (no bound for plain layers); one sign per block on
    a chip with sign blocks. Returns the model."""
    for site in deployment_of(model).weights(("synapse", "recurrent")):
        if site.module is None:
            continue
        bounds = _bounds(site.module, site.role)
        limit = 1.0 / math.sqrt(site.value.shape[0])
        if bounds is not None:
            limit = min(limit, -bounds[0], bounds[1])
        shape = tuple(site.value.shape)
        u = torch.rand(shape, generator=generator, dtype=torch.float64) * limit
        _, signs = _draw(shape, _sign_block(site.module, site.role), generator)
        _set(getattr(site.module, site.attribute), u * signs)
    return model
