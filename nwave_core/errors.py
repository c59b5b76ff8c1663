"""Exceptions raised by nwave for mistakes a user can fix.

Every error here carries a message meant to be read by a person: it names what was asked for,
what exists, and what to do about it. The CLI prints these messages without a traceback.
"""

from __future__ import annotations

__all__ = [
    "NwaveError",
    "UnknownNameError",
    "DuplicateNameError",
    "PluginLoadError",
    "NwavePluginWarning",
    "ConfigWarning",
]


class NwaveError(Exception):
    """Base class of the errors nwave raises for user mistakes."""


class UnknownNameError(NwaveError, LookupError):
    """A name that no registry entry (or alias) answers to."""

    def __init__(self, message: str, *, kind: str, name: str, suggestions: tuple[str, ...] = ()):
        super().__init__(message)
        self.kind = kind
        self.name = name
        self.suggestions = suggestions

    def __str__(self) -> str:  # LookupError would otherwise quote the message
        return self.args[0]


class DuplicateNameError(NwaveError, ValueError):
    """Two plugins provide the same name (or alias) for one kind."""


class PluginLoadError(NwaveError, RuntimeError):
    """A plugin could not be loaded and strict plugin loading is on."""


class NwavePluginWarning(UserWarning):
    """A plugin was skipped or looks wrong; the other plugins keep working."""


class ConfigWarning(UserWarning):
    """A config that is valid but most likely not what was meant (a schedule longer than the run)."""
