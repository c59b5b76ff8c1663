"""MkDocs hook: LaTeX math typeset as MathML when the site is built, so it renders offline.

Pages write ``$...$`` (inline) and ``$$...$$`` (display) math. ``pymdownx.arithmatex`` in
generic mode wraps each as ``<span class="arithmatex">\\(...\\)</span>`` or
``<div class="arithmatex">\\[...\\]</div>`` and leaves the TeX alone; this hook replaces each
with the MathML that ``latex2mathml`` converts it to. Browsers render MathML natively (Chromium
since version 109, Firefox, Safari): no script, no font download, no CDN. A formula that
``latex2mathml`` cannot convert fails the build, naming the page and the formula.

Registered in ``mkdocs.yml`` under ``hooks:``.
"""

from __future__ import annotations

import html
import re
from typing import Any

INLINE = re.compile(r'<span class="arithmatex">\\\((.*?)\\\)</span>', re.S)
DISPLAY = re.compile(r'<div class="arithmatex">\\\[(.*?)\\\]</div>', re.S)


def to_mathml(tex: str, display: bool = False, where: str = "") -> str:
    """One formula as a ``<math>`` element; a formula that does not convert raises."""
    from latex2mathml.converter import convert

    try:
        return convert(tex, display="block" if display else "inline")
    except Exception as exc:  # noqa: BLE001 - any parser error is the formula's fault
        raise ValueError(f"{where}: cannot typeset ${tex}$: {exc}") from None


def typeset(text: str, where: str = "") -> str:
    """Every arithmatex span and div of ``text`` replaced by MathML."""
    text = DISPLAY.sub(lambda m: to_mathml(html.unescape(m.group(1)), True, where), text)
    return INLINE.sub(lambda m: to_mathml(html.unescape(m.group(1)), False, where), text)


def on_config(config: Any) -> Any:
    try:
        import latex2mathml  # noqa: F401
    except ImportError:
        from mkdocs.exceptions import PluginError

        raise PluginError("the docs typeset their math with latex2mathml, which is not "
                          "installed: pip install -e '.[docs]'") from None
    return config


def on_page_content(content: str, page: Any, config: Any, files: Any) -> str:
    try:
        return typeset(content, page.file.src_uri)
    except ValueError as exc:  # a formula of the page: one line, no traceback
        from mkdocs.exceptions import PluginError

        raise PluginError(str(exc)) from None
