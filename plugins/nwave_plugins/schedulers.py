"""Built-in schedulers, registered under kind ``scheduler``."""

from __future__ import annotations

from nwave_core import Entry, hookimpl
from nwave_core.optim import ParamScheduler, SurrogateScheduler


@hookimpl
def nwave_schedulers() -> list[Entry]:
    return [
        Entry("surrogate", SurrogateScheduler, summary="schedule the surrogates' alpha/slope",
              aliases=("SurrogateScheduler",)),
        Entry("param", ParamScheduler, summary="schedule any numeric attribute or buffer",
              aliases=("ParamScheduler",)),
    ]
