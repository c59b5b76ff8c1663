"""An example nwave plugin: a surrogate and a schedule policy."""

from .plugin import Triangle, WarmupLinear

__all__ = ["Triangle", "WarmupLinear"]
