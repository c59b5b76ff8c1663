""""Did you mean" suggestions for mistyped names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["close_matches", "did_you_mean"]


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Return up to ``n`` candidates close to ``word``, best first (case-insensitive)."""
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    hits = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.6)
    # a prefix is a strong hint even when difflib's ratio is low ("fast" -> "fast_sigmoid")
    for lower in by_lower:
        if len(hits) < n and word and lower.startswith(word.lower()) and lower not in hits:
            hits.append(lower)
    return [by_lower[h] for h in hits]


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` (or ``'x' or 'y'``), or an empty string when nothing is close."""
    hits = close_matches(word, candidates)
    if not hits:
        return ""
    return " Did you mean " + " or ".join(repr(h) for h in hits) + "?"
