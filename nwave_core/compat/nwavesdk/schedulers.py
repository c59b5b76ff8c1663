"""The SDK's schedulers under the name of its documentation page ("Schedulers"); the same
objects as [`nwave_core.compat.nwavesdk.optim`][nwave_core.compat.nwavesdk.optim], where the SDK
imports them from."""

from .optim import SignAnnealing, SurrogateScheduler

__all__ = ["SignAnnealing", "SurrogateScheduler"]
