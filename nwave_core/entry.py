"""What a plugin hands to nwave: one [`Entry`][nwave_core.entry.Entry] per named component.

A plugin's hook returns entries; the plugin host stamps each with the
[`Provider`][nwave_core.entry.Provider] it came from and files it in the registry of the hook's
kind.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["Entry", "Provider", "ParamInfo", "normalize_name", "entry_params"]

_NO_DEFAULT = inspect.Parameter.empty


def normalize_name(name: str) -> str:
    """The form names are compared in: surrounding whitespace dropped, lower case."""
    return name.strip().lower()


def _valid_name(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"Entry.{attribute.name} must be a non-empty string, got {value!r}")
    if value != value.strip():
        raise ValueError(f"Entry.{attribute.name} {value!r} has surrounding whitespace")


def _valid_aliases(instance: Any, attribute: attrs.Attribute, value: tuple[str, ...]) -> None:
    for alias in value:
        _valid_name(instance, attribute, alias)


def _valid_params(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if value is not None and not attrs.has(value):
        raise TypeError(f"Entry.params must be an attrs class or None, got {value!r}")


@attrs.frozen
class Provider:
    """Where an entry came from: the plugin (entry-point name) and its distribution."""

    plugin: str = attrs.field(metadata={"doc": "entry-point name of the plugin (what blocking uses)"})
    distribution: str = attrs.field(metadata={"doc": "distribution that installed it, e.g. 'nwave-snn'"})
    version: str = attrs.field(default="", metadata={"doc": "version of that distribution"})

    def __str__(self) -> str:
        dist = f"{self.distribution} {self.version}".strip()
        return f"{dist} (plugin {self.plugin!r})"


@attrs.frozen
class ParamInfo:
    """One parameter an entry's factory accepts, as ``describe`` reports it."""

    name: str
    default: Any = attrs.field(default=_NO_DEFAULT, metadata={"doc": "``inspect.Parameter.empty`` when required"})
    doc: str = ""
    annotation: str = ""

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT


@attrs.frozen
class Entry:
    """A named component a plugin provides.

    Attributes:
        name: the registry name (``"atan"``); compared case-insensitively.
        factory: a callable that builds the component from keyword parameters.
        summary: one line for ``nwave list``.
        aliases: other names the entry answers to; they share the namespace with names.
        params: optional attrs class that validates the factory's keyword parameters; without
            it, the parameters are read from the factory's signature.
        provider: stamped by the plugin host; plugins leave it ``None``.
    """

    name: str = attrs.field(validator=_valid_name)
    factory: Callable[..., Any] = attrs.field(validator=attrs.validators.is_callable())
    summary: str = ""
    aliases: tuple[str, ...] = attrs.field(default=(), converter=tuple, validator=_valid_aliases)
    params: type | None = attrs.field(default=None, validator=_valid_params)
    provider: Provider | None = attrs.field(default=None, eq=False)

    @property
    def keys(self) -> tuple[str, ...]:
        """The normalized name followed by the normalized aliases."""
        return tuple(normalize_name(n) for n in (self.name, *self.aliases))


def entry_params(entry: Entry) -> tuple[ParamInfo, ...]:
    """The keyword parameters of an entry's factory, with defaults and docs."""
    if entry.params is not None:
        return tuple(
            ParamInfo(
                name=f.alias or f.name,
                default=_attrs_default(f),
                doc=f.metadata.get("doc", ""),
                annotation=_annotation_text(f.type),
            )
            for f in attrs.fields(entry.params)
            if f.init
        )
    target = entry.factory
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):  # some builtins have no signature
        return ()
    docs = _arg_docs(target)
    return tuple(
        ParamInfo(p.name, p.default, docs.get(p.name, ""), _annotation_text(p.annotation))
        for p in signature.parameters.values()
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)
    )


def accepts_any_keyword(entry: Entry) -> bool:
    """True when the factory takes ``**kwargs`` (so nwave cannot check the keywords)."""
    if entry.params is not None:
        return False
    try:
        signature = inspect.signature(entry.factory)
    except (TypeError, ValueError):
        return True
    return any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())


def _attrs_default(field: attrs.Attribute) -> Any:
    default = field.default
    if default is attrs.NOTHING:
        return _NO_DEFAULT
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory() if not default.takes_self else _NO_DEFAULT
    return default


def _annotation_text(annotation: Any) -> str:
    if annotation is _NO_DEFAULT or annotation is None:
        return ""
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", repr(annotation))


_SECTION = re.compile(r"^\s*(Args|Arguments|Parameters|Params):\s*$")
_ITEM = re.compile(r"^(\s*)(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def _arg_docs(obj: Any) -> dict[str, str]:
    """Parameter docs from a Google-style ``Args:`` section (the class's or ``__init__``'s)."""
    docs: dict[str, str] = {}
    # base classes first, so a subclass's own docs win (SurrogateBase documents `spiking`)
    classes = reversed(inspect.getmro(obj)) if inspect.isclass(obj) else (obj,)
    for cls in classes:
        for source in (cls, getattr(cls, "__init__", None)):
            text = source.__dict__.get("__doc__") if inspect.isclass(source) else getattr(source, "__doc__", None)
            if text:
                docs.update(_parse_args_section(inspect.cleandoc(text)))
    return docs


def _parse_args_section(text: str) -> dict[str, str]:
    docs: dict[str, str] = {}
    lines = text.splitlines()
    inside, item_indent, current = False, None, None
    for line in lines:
        if _SECTION.match(line):
            inside, item_indent, current = True, None, None
            continue
        if not inside:
            continue
        if not line.strip():
            current = None
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:  # the next section starts
            inside = False
            continue
        match = _ITEM.match(line)
        if match and (item_indent is None or len(match.group(1)) == item_indent):
            item_indent = len(match.group(1))
            current = match.group(2).lstrip("*")
            docs[current] = match.group(3).strip()
        elif current is not None:
            docs[current] = (docs[current] + " " + line.strip()).strip()
    return docs
