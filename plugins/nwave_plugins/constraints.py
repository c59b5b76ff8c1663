"""The built-in chip rules, registered as the ``constraint`` kind.

The classes live in [`nwave_core.constraints`][nwave_core.constraints] (``ChipSpec``'s shorthand
builds them); this plugin makes them available by kind name to configs, export files and
``nwave list constraint``, exactly as a third party registers its own rules.
"""

from __future__ import annotations

from nwave_core import Entry, hookimpl
from nwave_core.constraints import BUILTIN_CONSTRAINTS


def _summary(cls: type) -> str:
    return " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())


@hookimpl
def nwave_constraints() -> list[Entry]:
    return [Entry(cls.kind, cls, summary=_summary(cls), params=cls) for cls in BUILTIN_CONSTRAINTS]
