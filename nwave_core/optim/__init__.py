"""Schedulers stepped during training: surrogate sharpness, any numeric parameter, and (with
the chips) sign annealing. Each implements [`nwave_core.Scheduler`][nwave_core.protocols.Scheduler],
so its position is saved with ``state_dict()`` and a resumed run continues the same sequence of
values."""

from .schedulers import ParamScheduler, SurrogateScheduler
from .sign_annealing import SignAnnealing

__all__ = ["SurrogateScheduler", "ParamScheduler", "SignAnnealing"]
