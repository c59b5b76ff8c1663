"""``nwavesdk.optim``: ``SignAnnealing`` and ``SurrogateScheduler`` (nwave's own, same
signatures and policies as the SDK documents)."""

from nwave_core.optim import SignAnnealing, SurrogateScheduler

__all__ = ["SignAnnealing", "SurrogateScheduler"]
