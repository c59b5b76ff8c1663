"""One registry per kind of component: names -> entries, with clash and typo reports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from .entry import Entry, ParamInfo, Provider, accepts_any_keyword, entry_params, normalize_name
from .errors import DuplicateNameError, UnknownNameError
from .suggest import close_matches, did_you_mean

__all__ = ["KINDS", "Registry", "Description"]

KINDS: tuple[str, ...] = ("surrogate", "policy", "layer", "scheduler", "chip", "constraint",
                          "dataset", "device")
"""The kinds of component, each with its own registry and plugin hook."""


@attrs.frozen
class Description:
    """What ``Registry.describe`` reports about one entry."""

    kind: str
    name: str
    summary: str
    aliases: tuple[str, ...]
    provider: Provider | None
    params: tuple[ParamInfo, ...]


class Registry:
    """The entries of one kind, looked up by normalized name or alias.

    Iterating a registry yields its entries in name order; ``names()`` gives the names.
    ``failures`` lists plugins that failed to load and ``blocked`` those that were not loaded on
    purpose, so a lookup error can mention them.
    """

    def __init__(self, kind: str, failures: tuple[str, ...] = (),
                 blocked: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.failures = failures
        self.blocked = blocked
        self._entries: dict[str, Entry] = {}  # normalized name -> entry
        self._keys: dict[str, str] = {}  # normalized name or alias -> normalized name
        self._clashes: dict[str, str] = {}  # disabled normalized name or alias -> why

    def add(self, entry: Entry) -> None:
        """File ``entry`` under its name and aliases.

        Raises:
            DuplicateNameError: another entry already answers to one of its names. Adding an
                entry equal to the present one (same factory, aliases, params) does nothing.
        """
        own = normalize_name(entry.name)
        present = self._entries.get(own)
        if present is not None and present == entry:
            return
        for key in entry.keys:
            if key in self._keys:
                other = self._entries[self._keys[key]]
                raise DuplicateNameError(_clash_message(self.kind, key, other, entry))
        if len(set(entry.keys)) != len(entry.keys):
            raise DuplicateNameError(
                f"{self.kind} {entry.name!r} from {entry.provider} lists the same name twice "
                f"among its name and aliases {entry.keys}"
            )
        if any(key in self._clashes for key in entry.keys):
            key = next(key for key in entry.keys if key in self._clashes)
            raise DuplicateNameError(f"{entry.provider} also provides {self.kind} name "
                                     f"{key!r}, which is disabled by a clash: "
                                     f"{self._clashes[key]}")
        self._entries[own] = entry
        for key in entry.keys:
            self._keys[key] = own

    def add_contained(self, entry: Entry) -> str | None:
        """Like [`add`][nwave_core.registry.Registry.add], but a clash disables the clashing names
        instead of raising.

        Both entries that answer to a clashing name are withdrawn (with their aliases), and a
        lookup of any of their names raises
        [`DuplicateNameError`][nwave_core.errors.DuplicateNameError] naming both providers;
        every other entry stays usable.

        Returns:
            ``None`` when the entry was added, else the clash message.
        """
        try:
            self.add(entry)
            return None
        except DuplicateNameError as exc:
            message = str(exc)
        clashing = [key for key in entry.keys if key in self._keys or key in self._clashes]
        withdrawn = {self._keys[key] for key in clashing if key in self._keys}
        keys = set(entry.keys)
        for own in withdrawn:
            keys.update(self._entries.pop(own).keys)
        names = ", ".join(repr(k) for k in sorted(keys))
        message += (f" Until then, {self.kind} {names} {'is' if len(keys) == 1 else 'are'} "
                    f"disabled; everything else works.")
        for key in keys:
            self._keys.pop(key, None)
            self._clashes.setdefault(key, message)
        return message
    def get(self, name: str) -> Entry:
        """The entry answering to ``name`` (or an alias), compared case-insensitively.

        Raises:
            UnknownNameError: with suggestions, the available names and failed plugins.
        """
        if not isinstance(name, str):
            raise TypeError(f"{self.kind} name must be a string, got {type(name).__name__}")
        key = normalize_name(name)
        try:
            return self._entries[self._keys[key]]
        except KeyError:
            if key in self._clashes:
                raise DuplicateNameError(self._clashes[key]) from None
            raise self._unknown(name) from None

    def names(self) -> list[str]:
        """The entries' names (not aliases), sorted."""
        return sorted(entry.name for entry in self._entries.values())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalize_name(name) in self._keys

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: normalize_name(e.name)))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<Registry {self.kind!r}: {', '.join(self.names()) or 'empty'}>"

    def describe(self, name: str) -> Description:
        """Provider, aliases, summary and parameters (with defaults and docs) of an entry."""
        entry = self.get(name)
        return Description(
            kind=self.kind,
            name=entry.name,
            summary=entry.summary,
            aliases=entry.aliases,
            provider=entry.provider,
            params=entry_params(entry),
        )

    def create(self, name: str, /, **params: Any) -> Any:
        """Build the component called ``name`` from keyword parameters.

        Raises:
            UnknownNameError: no such name.
            TypeError: a keyword the component does not accept (the message lists those it does).
        """
        entry = self.get(name)
        if entry.params is not None:
            self._check_keywords(entry, params)
            validated = entry.params(**params)
            return entry.factory(**{f.alias or f.name: getattr(validated, f.name)
                                    for f in attrs.fields(entry.params) if f.init})
        if not accepts_any_keyword(entry):
            self._check_keywords(entry, params)
        return entry.factory(**params)

    def _check_keywords(self, entry: Entry, params: dict[str, Any]) -> None:
        accepted = [p.name for p in entry_params(entry)]
        unknown = [k for k in params if k not in accepted]
        if unknown:
            hints = "".join(did_you_mean(k, accepted) for k in unknown)
            raise TypeError(
                f"{self.kind} {entry.name!r} got unexpected parameter"
                f"{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}.{hints} "
                f"Accepted parameters: {', '.join(accepted) or '(none)'}."
            )

    def _unknown(self, name: str) -> UnknownNameError:
        suggestions = tuple(close_matches(normalize_name(name), self._keys))
        message = f"unknown {self.kind} {name!r}."
        if suggestions:
            canonical = [self._entries[self._keys[s]].name for s in suggestions]
            message += " Did you mean " + " or ".join(repr(s) for s in dict.fromkeys(canonical)) + "?"
        message += f" Available: {', '.join(self.names()) or '(none registered)'}."
        if self.failures:
            message += " Plugins that failed to load: " + "; ".join(self.failures) + "."
        if self.blocked:
            message += (" Blocked plugins (NWAVE_DISABLE_PLUGINS or --disable-plugin), which may "
                        "provide it: " + "; ".join(self.blocked) + ".")
        return UnknownNameError(message, kind=self.kind, name=name, suggestions=suggestions)


def _clash_message(kind: str, key: str, first: Entry, second: Entry) -> str:
    return (
        f"{kind} name {key!r} is provided twice: by {first.provider} and by {second.provider}. "
        f"Uninstall one of them or block one with NWAVE_DISABLE_PLUGINS="
        f"{second.provider.plugin if second.provider else '<plugin>'}"
        f" (or --disable-plugin {second.provider.plugin if second.provider else '<plugin>'})."
    )
