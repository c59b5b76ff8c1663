"""SignAnnealing: train weights whose sign blocks harden progressively, inside the chip's range.

Every synapse weight and recurrent weight (frontend gains skipped) is re-parametrized as

    W[i, j] = M[i, j] * tanh(alpha * l[block of (i, j)] + fade(alpha) * t[i, j])

with ``M = limit * sigmoid(m)`` a bounded magnitude (``limit`` the largest magnitude the
chip's weight range allows both signs, so ``W`` stays in the range at every step), ``l`` one sign
logit per block of the chip's ``sign_block`` rule for that weight (blocks of consecutive outputs
in an input row, or of consecutive inputs in an output column; size 1 without a rule), and ``t`` a
fixed per-weight offset that makes the parametrization reproduce the initial weights exactly
(clipped to the range). ``fade`` goes from 1 at ``alpha_start`` to 0 at ``alpha_end``
(geometrically, ``log(alpha_end / alpha) / log(alpha_end / alpha_start)``), so from the last
epoch on every block has one sign, the sign of ``l``. ``m`` and ``l``
are the trained parameters. ``alpha`` follows a registered policy (``exp`` by default) from
``alpha_start`` at epoch 1 to ``alpha_end`` at ``total_epochs``;
[`SignAnnealing.harden`][nwave_core.optim.sign_annealing.SignAnnealing.harden] folds the
parametrization into plain weights with exact block signs.
"""

from __future__ import annotations

import gc
import math
import weakref
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.optim.optimizer import register_optimizer_step_pre_hook

from ..constraints import block_view, harden_signs
from ..rules import chip_of, weight_sites

__all__ = ["SignAnnealing", "BlockSignParametrization"]

_EPS = 1e-6
#: |soft sign| given to a weight at construction where its magnitude allows (not a chip number)
_INITIAL_SOFT_SIGN = 0.9
# id(parameter) -> (weak reference, qualified name) of every weight SignAnnealing replaced;
# keyed by id because tensors compare elementwise, which a weak-key dict would trigger
_REPLACED: dict[int, tuple[weakref.ref, str]] = {}
_HOOK_INSTALLED = False


def _replaced_name(param: Tensor) -> str | None:
    entry = _REPLACED.get(id(param))
    return entry[1] if entry is not None and entry[0]() is param else None


def _remember_replaced(param: Tensor, name: str) -> None:
    key = id(param)
    _REPLACED[key] = (weakref.ref(param, lambda _ref: _REPLACED.pop(key, None)), name)


def _stale_parameters(optimizer: torch.optim.Optimizer) -> list[str]:
    names = [_replaced_name(p) for group in optimizer.param_groups for p in group["params"]]
    return [n for n in names if n is not None]


def _order_message(names: list[str]) -> str:
    shown = ", ".join(names[:3]) + (" ..." if len(names) > 3 else "")
    return (f"SignAnnealing was created after the optimizer: the optimizer holds {shown}, which "
            f"SignAnnealing replaced by sign logits and magnitudes, so its steps would not change "
            f"the model. Create SignAnnealing(net, ...) first, then the optimizer.")


def _check_optimizer(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    stale = _stale_parameters(optimizer)
    if stale:
        raise RuntimeError(_order_message(stale))


class BlockSignParametrization(nn.Module):
    """The parametrization SignAnnealing attaches to one weight (see the module doc)."""

    def __init__(self, limit: float, block: int, shape: tuple[int, int], alpha_start: float,
                 alpha_end: float, axis: str = "outputs") -> None:
        super().__init__()
        self.limit, self.block, self.axis = float(limit), int(block), axis
        self.length = int(shape[1] if axis == "outputs" else shape[0])
        self.alpha_start, self.alpha_end = float(alpha_start), float(alpha_end)
        self.register_buffer("alpha", torch.tensor(float(alpha_start)))
        self.register_buffer("offsets", torch.zeros(0))

    def fade(self) -> Tensor:
        """Weight of the per-weight offsets: 1 at alpha_start, 0 at alpha_end and beyond."""
        if self.alpha_end == self.alpha_start:
            return torch.ones_like(self.alpha)
        span = math.log(self.alpha_end / self.alpha_start)
        return (torch.log(self.alpha_end / self.alpha) / span).clamp(0.0, 1.0)

    def _spread(self, per_block: Tensor) -> Tensor:
        """``[lines, n_blocks]`` -> the weight's shape, each block's value on its entries."""
        lines = per_block.repeat_interleave(self.block, dim=1)[:, : self.length]
        return lines if self.axis == "outputs" else lines.transpose(0, 1)

    def forward(self, magnitude_logits: Tensor, sign_logits: Tensor) -> Tensor:
        magnitude = self.limit * torch.sigmoid(magnitude_logits)
        sign = torch.tanh(self.alpha * self._spread(sign_logits) + self.fade() * self.offsets)
        return magnitude * sign

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            w = weight.detach().double().clamp(-self.limit * (1 - 2 * _EPS), self.limit * (1 - 2 * _EPS))
            # a clear soft sign where the magnitude allows, the exact ratio near the limit
            magnitude = (w.abs() / _INITIAL_SOFT_SIGN).clamp(self.limit * _EPS,
                                                             self.limit * (1 - _EPS))
            soft_sign = w / magnitude
            z = torch.atanh(soft_sign)  # pre-activation at alpha_start
            blocks = block_view(z, self.block, self.axis)
            counts = block_view(torch.ones_like(z), self.block, self.axis).sum(-1)
            logits = blocks.sum(-1) / counts / self.alpha_start
            offsets = z - self.alpha_start * self._spread(logits)
            ratio = magnitude / self.limit
            magnitude_logits = torch.log(ratio) - torch.log1p(-ratio)
            dtype = weight.dtype
            self.offsets = offsets.to(dtype)
            self.alpha.fill_(self.alpha_start)
            return magnitude_logits.to(dtype), logits.to(dtype)


class SignAnnealing:
    """Sign-block annealing for a chip (original signature plus ``chip`` and ``policy``).

    Create it **before** the optimizer: it replaces each weight by new parameters. An optimizer
    built earlier is detected (now, or at its first step) and raises.

    Args:
        net: the model; every synapse and recurrent weight is re-parametrized (frontend gains
            skipped), with the block size and axis of the chip's sign_block rule for it.
        total_epochs: epochs the alpha schedule spans (epoch 1 .. total_epochs).
        alpha_start: initial sharpness (soft signs).
        alpha_end: final sharpness (nearly hard signs).
        chip: a chip name or ChipSpec; None: the chip of the net's hardware layers.
        policy: the alpha schedule, a policy registry name ("exp": geometric).
        fix_signs_at: from this epoch on, alpha jumps to ``alpha_end`` (every block takes the
            sign of its logit) and the sign logits stop training: only the magnitudes learn
            (sign-aware training with signs fixed early). None: anneal to the end.
    """

    def __init__(self, net: nn.Module, total_epochs: int, alpha_start: float = 0.5,
                 alpha_end: float = 10.0, chip: Any = None, policy: str = "exp",
                 fix_signs_at: int | None = None) -> None:
        from nwave_core import create

        if fix_signs_at is not None and (isinstance(fix_signs_at, bool)
                                         or not isinstance(fix_signs_at, int) or fix_signs_at < 1):
            raise ValueError(f"SignAnnealing: fix_signs_at must be None or an epoch >= 1, got "
                             f"{fix_signs_at!r}")
        self.fix_signs_at = fix_signs_at
        self._sign_logits: list[Tensor] = []

        global _HOOK_INSTALLED
        if isinstance(total_epochs, bool) or not isinstance(total_epochs, int) or total_epochs < 1:
            raise ValueError(f"SignAnnealing: total_epochs must be an integer >= 1, got {total_epochs!r}")
        for label, value in (("alpha_start", alpha_start), ("alpha_end", alpha_end)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"SignAnnealing: {label} must be a number > 0, got {value!r}")
        self.chip = chip_of(net, chip, "SignAnnealing")
        self.total_epochs = total_epochs
        self.alpha_start, self.alpha_end = float(alpha_start), float(alpha_end)
        self.policy_name = policy
        self.policy = create("policy", policy)
        self.alpha_at(1)  # a policy's complaint surfaces now
        targets = [(s.where, s.module, s.attribute, s.role) for s in weight_sites(net)
                   if s.value.dim() == 2 and s.module is not None]
        if not targets:
            raise ValueError("SignAnnealing: the net has no synapse or recurrent weights to anneal")
        stale = [name for name, module, attribute, _ in targets
                 if any(getattr(module, attribute) is p for opt in _live_optimizers()
                        for group in opt.param_groups for p in group["params"])]
        if stale:
            raise RuntimeError(_order_message(stale))
        self.net = net
        self._parametrizations: list[BlockSignParametrization] = []
        for name, module, attribute, role in targets:
            if parametrize.is_parametrized(module, attribute):
                raise ValueError(f"SignAnnealing: {name} is already parametrized (a second "
                                 f"SignAnnealing on the same net?)")
            original = getattr(module, attribute)
            rule = self._parametrization(name, role, tuple(original.shape))
            parametrize.register_parametrization(module, attribute, rule)
            self._sign_logits.append(module.parametrizations[attribute].original1)
            if isinstance(original, nn.Parameter):
                _remember_replaced(original, name)
            self._parametrizations.append(rule)
        if not _HOOK_INSTALLED:
            register_optimizer_step_pre_hook(_check_optimizer)
            _HOOK_INSTALLED = True
        self.epoch = 0
        self.alpha = self.alpha_start

    def _parametrization(self, name: str, role: str, shape: tuple[int, int]
                         ) -> BlockSignParametrization:
        blocks = [r for r in self.chip.rules_of("sign_block") if r.governs(role)]
        size, axis = (blocks[0].size, blocks[0].axis) if blocks else (1, "outputs")
        length = shape[1] if axis == "outputs" else shape[0]
        bounds = self.chip.weight_bounds(role)
        limit = None if bounds is None else min(-bounds[0], bounds[1])
        if limit is None or limit <= 0:
            raise ValueError(f"SignAnnealing: chip {self.chip.name!r} declares no weight range "
                             f"allowing both signs for {role} weights ({name}); declare a "
                             f"weight_range rule")
        return BlockSignParametrization(limit, min(size, length), shape, self.alpha_start,
                                        self.alpha_end, axis)

    def alpha_at(self, epoch: int) -> float:
        """Alpha at ``epoch`` (1-based): ``alpha_start`` at 1, ``alpha_end`` at total_epochs
        (a single epoch is the last one: ``alpha_end``; from ``fix_signs_at`` on too)."""
        if self.total_epochs == 1 or (self.fix_signs_at is not None and epoch >= self.fix_signs_at):
            return self.alpha_end
        return self.policy.value(epoch - 1, self.alpha_start, self.alpha_end, self.total_epochs - 1)

    def step(self, net: nn.Module | None = None, epoch: int | None = None) -> float:
        """Set alpha for ``epoch`` (default: the next epoch); returns it."""
        if net is not None and net is not self.net:
            raise ValueError("SignAnnealing.step: net is not the model this SignAnnealing was "
                             "created for")
        self.epoch = self.epoch + 1 if epoch is None else int(epoch)
        self.alpha = self.alpha_at(self.epoch)
        self._apply()
        return self.alpha

    @property
    def signs_fixed(self) -> bool:
        """From ``fix_signs_at`` on, every block has its final sign and only magnitudes train."""
        return self.fix_signs_at is not None and self.epoch >= self.fix_signs_at

    def _apply(self) -> None:
        if self.signs_fixed:
            self.alpha = self.alpha_end
        for rule in self._parametrizations:
            rule.alpha.fill_(self.alpha)
        for logits in self._sign_logits:
            logits.requires_grad_(not self.signs_fixed)
            if self.signs_fixed:
                logits.grad = None

    def harden(self) -> nn.Module:
        """Fold the parametrizations into plain weights with exact block signs (the block's
        signed mass kept); returns the net. Range and grid: ``chip.harden(net)``."""
        for module, attribute in [(s.module, s.attribute) for s in weight_sites(self.net)]:
            if module is not None and parametrize.is_parametrized(module, attribute):
                rule = module.parametrizations[attribute][0]
                parametrize.remove_parametrizations(module, attribute, leave_parametrized=True)
                with torch.no_grad():
                    weight = getattr(module, attribute)
                    weight.copy_(harden_signs(weight, rule.block, rule.axis))
        self._parametrizations = []
        return self.net

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "alpha": self.alpha, "alpha_start": self.alpha_start,
                "alpha_end": self.alpha_end, "total_epochs": self.total_epochs,
                "policy": self.policy_name, "chip": self.chip.name,
                "fix_signs_at": self.fix_signs_at}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.alpha = float(state["alpha"])
        self._apply()

    def __repr__(self) -> str:
        return (f"SignAnnealing(chip={self.chip.name!r}, weights={len(self._parametrizations)}, "
                f"alpha={self.alpha:g}, epoch={self.epoch}/{self.total_epochs})")


def _live_optimizers() -> list[torch.optim.Optimizer]:
    # type(), not isinstance(): some lazy objects warn when their __class__ is read
    return [obj for obj in gc.get_objects() if issubclass(type(obj), torch.optim.Optimizer)]
