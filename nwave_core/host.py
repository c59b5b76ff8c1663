"""The plugin host: finds plugins through entry points, loads them safely, fills the registries.

Plugins are discovered in the entry-point group ``nwave.plugins``; each entry point names a
module (or object) holding hook implementations. Loading is lazy: nothing is imported until a
registry is first asked for. A plugin that fails to import, whose hook raises, or whose hook
returns something other than entries is named in a
[`NwavePluginWarning`][nwave_core.errors.NwavePluginWarning] and skipped (or, in strict mode, raises
[`PluginLoadError`][nwave_core.errors.PluginLoadError]); the other plugins keep working. Two plugins
providing the same name disable that name only (both providers are named in a warning and in
any lookup of it); strict mode makes the clash a
[`DuplicateNameError`][nwave_core.errors.DuplicateNameError] at load time. A blocked name that no
plugin has is warned about (it is most likely misspelled).

Environment:
    NWAVE_DISABLE_PLUGINS: comma-separated entry-point names of plugins not to load.
    NWAVE_STRICT_PLUGINS: ``1`` turns every plugin problem into an error.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

import attrs
import pluggy

from . import hookspecs
from .entry import Entry, Provider
from .errors import NwavePluginWarning, PluginLoadError, UnknownNameError
from .registry import KINDS, Registry
from .suggest import close_matches, did_you_mean

__all__ = ["ENTRY_POINT_GROUP", "PluginHost", "PluginRecord", "LOCAL_DISTRIBUTION"]

ENTRY_POINT_GROUP = "nwave.plugins"
"""The entry-point group plugins declare themselves in (``[project.entry-points."nwave.plugins"]``
in their pyproject.toml)."""
LOCAL_DISTRIBUTION = "<registered in code>"
"""The distribution shown for a plugin added with ``register_plugin`` rather than installed."""
#: the distribution that ships the built-in plugins (the name in pyproject.toml)
BUILTIN_DISTRIBUTION = "nwave-snn"
_TRUE = {"1", "true", "yes", "on"}


@attrs.define
class PluginRecord:
    """One plugin as ``nwave plugins`` shows it."""

    name: str = attrs.field(metadata={"doc": "entry-point name (what blocking uses)"})
    distribution: str
    version: str
    status: str = attrs.field(metadata={"doc": "'loaded', 'failed' or 'blocked'"})
    error: str = ""
    problems: list[str] = attrs.Factory(list)
    provides: dict[str, tuple[str, ...]] = attrs.Factory(dict)

    @property
    def provider(self) -> Provider:
        return Provider(self.name, self.distribution, self.version)


@attrs.frozen
class _Candidate:
    name: str
    load: Callable[[], Any]
    distribution: str
    version: str


class PluginHost:
    """Discovers, loads and blocks plugins, and owns the registries (one per kind).

    Args:
        group: entry-point group to discover plugins in.
        strict: make every plugin problem an error; ``None`` reads ``NWAVE_STRICT_PLUGINS``.
        discover: look for entry points at all (``False`` leaves only plugins registered with
            [`register`][nwave_core.host.PluginHost.register]).
    """

    def __init__(self, group: str = ENTRY_POINT_GROUP, *, strict: bool | None = None,
                 discover: bool = True) -> None:
        self.group = group
        self._strict = strict
        self._discover = discover
        self._blocked: set[str] = set()
        self._local: list[_Candidate] = []
        self._lock = threading.RLock()
        self._registries: dict[str, Registry] | None = None
        self._records: list[PluginRecord] = []

    # -- configuration ---------------------------------------------------------------------

    @property
    def strict(self) -> bool:
        if self._strict is not None:
            return self._strict
        return os.environ.get("NWAVE_STRICT_PLUGINS", "").strip().lower() in _TRUE

    def blocked(self) -> set[str]:
        """Plugin names blocked through the API or ``NWAVE_DISABLE_PLUGINS``."""
        from_env = os.environ.get("NWAVE_DISABLE_PLUGINS", "")
        return self._blocked | {n.strip() for n in from_env.split(",") if n.strip()}

    def block(self, *names: str) -> None:
        """Do not load the plugins with these entry-point names (takes effect at once)."""
        with self._lock:
            self._blocked.update(names)
            self.reload()

    def unblock(self, *names: str) -> None:
        """Undo [`block`][nwave_core.host.PluginHost.block] for these names
        (``NWAVE_DISABLE_PLUGINS`` still applies)."""
        with self._lock:
            self._blocked.difference_update(names)
            self.reload()

    def register(self, plugin: Any, name: str | None = None, *,
                 distribution: str = LOCAL_DISTRIBUTION, version: str = "") -> str:
        """Add a plugin object (e.g. a module) without installing it; returns its name.

        Useful in notebooks and tests. It is loaded, checked and blockable like an installed one.
        """
        name = name or getattr(plugin, "__name__", None) or f"plugin-{id(plugin):x}"
        with self._lock:
            self._local.append(_Candidate(name, lambda: plugin, distribution, version))
            self.reload()
        return name

    def unregister(self, name: str) -> None:
        """Remove a plugin added with [`register`][nwave_core.host.PluginHost.register]."""
        with self._lock:
            self._local = [c for c in self._local if c.name != name]
            self.reload()

    def reload(self) -> None:
        """Forget what was loaded; the next registry access discovers and loads again."""
        with self._lock:
            self._registries = None
            self._records = []

    # -- access ----------------------------------------------------------------------------

    def registry(self, kind: str) -> Registry:
        """The registry of ``kind`` (one of [`KINDS`][nwave_core.registry.KINDS])."""
        if kind not in KINDS:
            raise UnknownNameError(
                f"unknown kind {kind!r}.{did_you_mean(kind, KINDS)} Available: {', '.join(KINDS)}.",
                kind="kind", name=kind, suggestions=tuple(close_matches(kind, KINDS)),
            )
        return self._load()[kind]

    def plugins(self) -> list[PluginRecord]:
        """Every plugin found, loaded or not, with its status and what it provides."""
        self._load()
        return list(self._records)

    # -- loading ---------------------------------------------------------------------------

    def _load(self) -> dict[str, Registry]:
        with self._lock:
            if self._registries is not None:
                return self._registries
            records, entries = self._load_plugins()
            failures = tuple(
                f"{r.name!r} ({r.distribution} {r.version}".rstrip() + f"): {r.error}"
                for r in records if r.status == "failed"
            )
            blocked = tuple(f"{r.name!r} ({r.distribution} {r.version}".rstrip() + ")"
                            for r in records if r.status == "blocked")
            registries = {kind: Registry(kind, failures, blocked) for kind in KINDS}
            by_name = {r.name: r for r in records}
            for kind, entry in entries:
                if self.strict:
                    registries[kind].add(entry)  # a clash raises DuplicateNameError
                    continue
                clash = registries[kind].add_contained(entry)
                if clash is not None:  # only the clashing names are disabled
                    record = by_name[entry.provider.plugin] if entry.provider else None
                    if record is not None:
                        record.problems.append(clash)
                    warnings.warn(clash, NwavePluginWarning, stacklevel=3)
            self._records, self._registries = records, registries
            return registries

    def _candidates(self) -> list[_Candidate]:
        found: list[_Candidate] = []
        if self._discover:
            seen: set[tuple[str, str]] = set()
            for ep in metadata.entry_points(group=self.group):
                dist = getattr(ep, "dist", None)
                dist_name = dist.metadata["Name"] if dist is not None else "<unknown>"
                version = dist.version if dist is not None else ""
                if (ep.name, dist_name) in seen:
                    continue
                seen.add((ep.name, dist_name))
                found.append(_Candidate(ep.name, ep.load, dist_name, version))
            found.sort(key=lambda c: (c.distribution != BUILTIN_DISTRIBUTION, c.distribution, c.name))
        return found + self._local

    def _load_plugins(self) -> tuple[list[PluginRecord], list[tuple[str, Entry]]]:
        manager = pluggy.PluginManager(hookspecs.PROJECT)
        manager.add_hookspecs(hookspecs)
        blocked = self.blocked()
        records: list[PluginRecord] = []
        entries: list[tuple[str, Entry]] = []
        loaded: dict[str, str] = {}  # plugin name -> "distribution version"
        candidates = self._candidates()
        self._warn_unknown_blocks(blocked, [c.name for c in candidates])
        for candidate in candidates:
            record = PluginRecord(candidate.name, candidate.distribution, candidate.version, "loaded")
            records.append(record)
            if candidate.name in blocked:
                record.status = "blocked"
                continue
            if candidate.name in loaded:
                self._fail(record, f"another plugin named {candidate.name!r} is already loaded, "
                                   f"from {loaded[candidate.name]}")
                continue
            try:
                plugin = candidate.load()
            except Exception as exc:  # noqa: BLE001 - any import failure must not spread
                self._fail(record, f"{type(exc).__name__}: {exc}")
                continue
            for problem in _hook_name_problems(manager, plugin):
                record.problems.append(problem)
                self._warn(record, problem)
            try:
                manager.register(plugin, name=candidate.name)
            except Exception as exc:  # noqa: BLE001 - e.g. a hook with the wrong arguments
                self._fail(record, f"{type(exc).__name__}: {exc}")
                continue
            try:
                provided = list(_collect(manager, plugin, record.provider))
            except _HookFailed as exc:
                manager.unregister(plugin)
                self._fail(record, str(exc))
                continue
            loaded[candidate.name] = f"{candidate.distribution} {candidate.version}".rstrip()
            for kind, entry in provided:
                record.provides.setdefault(kind, ())
                record.provides[kind] += (entry.name,)
            entries.extend(provided)
        return records, entries

    def _warn_unknown_blocks(self, blocked: set[str], names: list[str]) -> None:
        """A blocked name that no plugin has is most likely a typo: say so."""
        for name in sorted(blocked - set(names)):
            message = (f"no nwave plugin is named {name!r}, so blocking it (NWAVE_DISABLE_PLUGINS "
                       f"or --disable-plugin) does nothing.{did_you_mean(name, names)} Plugins: "
                       f"{', '.join(sorted(names)) or '(none)'}.")
            if self.strict:
                raise PluginLoadError(message)
            warnings.warn(message, NwavePluginWarning, stacklevel=5)

    def _fail(self, record: PluginRecord, reason: str) -> None:
        record.status = "failed"
        record.error = reason
        message = (f"nwave plugin {record.name!r} ({record.distribution} {record.version}"
                   .rstrip() + f") failed to load and was skipped: {reason}")
        if self.strict:
            raise PluginLoadError(message)
        warnings.warn(message, NwavePluginWarning, stacklevel=4)

    def _warn(self, record: PluginRecord, problem: str) -> None:
        message = (f"nwave plugin {record.name!r} ({record.distribution} {record.version}"
                   .rstrip() + f"): {problem}")
        if self.strict:
            raise PluginLoadError(message)
        warnings.warn(message, NwavePluginWarning, stacklevel=4)


class _HookFailed(Exception):
    pass


def _collect(manager: pluggy.PluginManager, plugin: Any,
             provider: Provider) -> Iterable[tuple[str, Entry]]:
    """Call each hook of one plugin and stamp the entries it returns."""
    for kind, hook_name in hookspecs.HOOK_OF_KIND.items():
        caller = getattr(manager.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            try:
                returned = impl.function()
                items = list(returned) if returned is not None else []
            except Exception as exc:  # noqa: BLE001
                raise _HookFailed(f"hook {hook_name} raised {type(exc).__name__}: {exc}") from exc
            for item in items:
                if not isinstance(item, Entry):
                    raise _HookFailed(
                        f"hook {hook_name} returned {item!r} ({type(item).__name__}); "
                        f"expected nwave_core.Entry objects"
                    )
                yield kind, attrs.evolve(item, provider=provider)


def _hook_name_problems(manager: pluggy.PluginManager, plugin: Any) -> list[str]:
    """Misspelled hooks (marked, unknown name) and real hook names left unmarked."""
    known = list(hookspecs.HOOK_OF_KIND.values())
    problems = []
    for attr in dir(plugin):
        if attr.startswith("_"):
            continue
        try:
            opts = manager.parse_hookimpl_opts(plugin, attr)
        except Exception:  # noqa: BLE001 - odd attributes are not our business
            continue
        if opts is not None:
            hook_name = opts.get("specname") or attr
            if hook_name not in known:
                problems.append(
                    f"function {attr!r} is marked as an nwave hook but no hook is named "
                    f"{hook_name!r}.{did_you_mean(hook_name, known)} It is ignored. "
                    f"Known hooks: {', '.join(known)}."
                )
        elif attr in known and callable(getattr(plugin, attr, None)):
            problems.append(
                f"function {attr!r} is not marked with @nwave_core.hookimpl, so it is ignored."
            )
    return problems
