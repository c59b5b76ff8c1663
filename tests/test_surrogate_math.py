"""The surrogate catalogue of docs/surrogates.md typesets each gradient and primitive once, in
LaTeX; the code writes them once, as ``grad`` and ``primitive``. This test reads the LaTeX back
into numbers (a small translator for the subset the page uses) and holds it equal to the code at
the defaults, so the page and the code cannot disagree. It also checks the declared peak and area
and the parameters' defaults as the page lists them, and that the page's math is typeset.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

import nwave_core
from nwave_plugins import surrogates as S

ROOT = Path(__file__).parents[1]
PAGE = ROOT / "docs" / "surrogates.md"

# -- a translator from the page's LaTeX to a Python expression ---------------------------------

_TOKEN = re.compile(r"\\begin\{cases\}|\\end\{cases\}|\\operatorname\{(?P<op>\w+)\}"
                    r"|\\mathcal\{N\}|\\text\{(?P<text>[^}]*)\}|\\\\|\\[A-Za-z]+"
                    r"|\d+(?:\.\d+)?|[A-Za-z]|[{}()^_&+\-*/<>=,;\[\]]")
_SPACING = re.compile(r"\\left|\\right|\\[bB]igg?[lr]?|\\[,;!]|\\quad")
_FUNCTIONS = {r"\exp": "exp", r"\ln": "log", r"\tanh": "tanh", r"\arctan": "atan",
              r"\cos": "cos", r"\sin": "sin", r"\min": "minimum", r"\max": "maximum",
              r"\Phi": "ncdf", r"\mathcal{N}": "npdf", "erf": "erf", "sign": "sign",
              "sigmoid": "sigmoid"}
_SYMBOLS = {r"\alpha": "alpha", r"\beta": "beta", r"\sigma": "sigma", r"\ell": "ell",
            r"\pi": "pi"}
_COMPARE = {"<": "<", ">": ">", r"\le": "<=", r"\ge": ">="}


class _Parser:
    def __init__(self, tex: str) -> None:
        text = _SPACING.sub(" ", tex)
        self.tokens = []
        for match in _TOKEN.finditer(text):
            self.tokens.append(match.group("op") or (f"\\text{{{match.group('text')}}}"
                                                     if match.group("text") is not None
                                                     else match.group(0)))
        rest = _TOKEN.sub("", text).strip()
        assert not rest, f"untranslated LaTeX {rest!r} in {tex!r}"
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.tokens[self.i]
        assert expected is None or token == expected, f"expected {expected}, got {token}"
        self.i += 1
        return token

    def group(self) -> str:
        """A braced group, or one token."""
        if self.peek() == "{":
            self.take("{")
            inner = self.sequence({"}"})
            self.take("}")
            return f"({inner})"
        return f"({self.atom_of(self.take())})"

    def atom_of(self, token: str) -> str:
        if token in _SYMBOLS:
            return _SYMBOLS[token]
        assert re.fullmatch(r"[A-Za-z]|\d+(\.\d+)?", token), f"unexpected {token!r}"
        return token

    def sequence(self, stop: set[str]) -> str:
        """Tokens up to one of ``stop`` (not consumed) as a Python expression; operands side
        by side multiply."""
        items: list[tuple[str, str]] = []  # (kind, text): kind "operand" or "op"

        def operand(text: str) -> None:
            if items and items[-1][0] == "operand":
                items.append(("op", "*"))
            items.append(("operand", text))

        while self.peek() is not None and self.peek() not in stop:
            token = self.take()
            if token in ("{", "(", "["):
                close = {"{": "}", "(": ")", "[": "]"}[token]
                inner = self.sequence({close})
                self.take(close)
                operand(f"({inner})")
            elif token == r"\lvert":
                inner = self.sequence({r"\rvert"})
                self.take(r"\rvert")
                operand(f"abs({inner})")
            elif token in (r"\frac", r"\dfrac", r"\tfrac"):
                numerator, denominator = self.group(), self.group()
                operand(f"({numerator}/{denominator})")
            elif token == r"\sqrt":
                operand(f"sqrt({self.group()})")
            elif token == "^":
                items.append(("op", "**"))
                items.append(("operand", self.group()))
            elif token == r"\sum":
                self.take("_")
                self.take("{")
                index = self.take()
                self.take("=")
                first = self.take()
                self.take("}")
                self.take("^")
                last = self.group()
                body = self.sequence(stop)
                operand(f"total(lambda {index}: ({body}), {first}, {last})")
            elif token in _FUNCTIONS:
                self.take("(")
                inner = self.sequence({")"})
                self.take(")")
                operand(f"{_FUNCTIONS[token]}({inner})")
            elif token == r"\begin{cases}":
                operand(self.cases())
            elif token in ("+", "-", "*", "/", ","):
                items.append(("op", token))
            elif token == ";":
                items.append(("op", ","))
            elif token in _COMPARE or token == "=":
                items.append(("compare", _COMPARE.get(token, "==")))
            else:
                operand(self.atom_of(token))
        return self.join(items)

    @staticmethod
    def join(items: list[tuple[str, str]]) -> str:
        """Chained comparisons (``0 < x <= 1``) become an elementwise and."""
        parts, ops, current = [], [], []
        for kind, text in items:
            if kind == "compare":
                parts.append(" ".join(current))
                ops.append(text)
                current = []
            else:
                current.append(text)
        parts.append(" ".join(current))
        if not ops:
            return parts[0]
        return " & ".join(f"(({a}) {op} ({b}))" for a, op, b in zip(parts, ops, parts[1:]))

    def cases(self) -> str:
        rows = []
        while True:
            value = self.sequence({"&"})
            self.take("&")
            if self.peek() == r"\text{otherwise}":
                self.take()
                condition = "True"
            else:
                condition = self.sequence({r"\\", r"\end{cases}"})
            rows.append((value, condition))
            if self.take() == r"\end{cases}":
                break
        expression = rows[-1][0] if rows[-1][1] == "True" else "nan_like()"
        for value, condition in reversed(rows[:-1] if rows[-1][1] == "True" else rows):
            expression = f"where({condition}, {value}, {expression})"
        return f"({expression})"


def translate(tex: str) -> str:
    """The page's LaTeX as a Python expression in ``x`` and the parameters' symbols."""
    parser = _Parser(tex)
    expression = parser.sequence(set())
    assert parser.peek() is None, f"unparsed {parser.tokens[parser.i:]} in {tex!r}"
    return expression


def evaluate(tex: str, x: torch.Tensor, symbols: dict[str, float]) -> torch.Tensor:
    t = lambda v: torch.as_tensor(v, dtype=x.dtype)  # noqa: E731

    def total(body, first, last):
        return sum(body(i) for i in range(int(first), int(last) + 1))

    namespace = {
        "x": x, "pi": math.pi, **symbols,
        "exp": lambda v: torch.exp(t(v)), "log": lambda v: torch.log(t(v)),
        "tanh": lambda v: torch.tanh(t(v)), "atan": lambda v: torch.atan(t(v)),
        "cos": lambda v: torch.cos(t(v)), "sin": lambda v: torch.sin(t(v)),
        "sqrt": lambda v: torch.sqrt(t(v)), "erf": lambda v: torch.special.erf(t(v)),
        "sign": lambda v: torch.sign(t(v)), "sigmoid": lambda v: torch.sigmoid(t(v)),
        "minimum": lambda a, b: torch.minimum(t(a), t(b)),
        "maximum": lambda a, b: torch.maximum(t(a), t(b)),
        "npdf": lambda v, m, s: torch.exp(-((t(v) - m) / s) ** 2 / 2) / (s * math.sqrt(2 * math.pi)),
        "ncdf": lambda v, m, s: (1 + torch.special.erf((t(v) - m) / (s * math.sqrt(2)))) / 2,
        "where": lambda c, a, b: torch.where(t(c).bool(), t(a), t(b)),
        "nan_like": lambda: torch.full_like(x, math.nan), "total": total,
    }
    with torch.no_grad():
        value = eval(translate(tex), namespace)  # noqa: S307 - the page's own formulas
    return torch.broadcast_to(t(value), x.shape)


# -- the page -------------------------------------------------------------------------------------

_PARAM = re.compile(r"`(\w+)` \$([^$]+)\$ = ([-\d.e]+)")


def table(header: str) -> dict[str, list[str]]:
    """The rows of the page's table whose header starts with ``header``: name -> cells."""
    text = PAGE.read_text()
    start = text.index(header)
    rows = {}
    for line in text[start:].split("\n\n", 1)[0].splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        rows[cells[0].strip("`")] = cells[1:]
    return rows


GRADIENTS = table("| name | parameters | gradient $g(x)$ |")
PRIMITIVES = table("| name | primitive $P(x)$ |")
PEAKS = table("| name | peak | area |")
POINTS = torch.tensor([-3.1, -1.3, -0.7, -0.21, -0.013, 0.0, 0.017, 0.23, 0.6, 1.45, 2.7],
                      dtype=torch.float64)


def symbols_of(name: str) -> dict[str, str]:
    """The page's symbol (as a Python name) -> the parameter it stands for."""
    found = {}
    for param, symbol, _default in _PARAM.findall(GRADIENTS[name][0]):
        found[_SYMBOLS.get(symbol.strip(), symbol.strip())] = param
    return found


def test_the_translator_reads_what_the_page_writes():
    x = torch.tensor([-2.0, 0.5, 2.0], dtype=torch.float64)
    got = evaluate(r"\begin{cases} \dfrac{1}{2 w} & \lvert x \rvert < w \\ c & \text{otherwise} "
                   r"\end{cases} + \sum_{i=1}^{n} i x^{2}", x, {"w": 1.0, "c": 0.5, "n": 2})
    torch.testing.assert_close(got, torch.tensor([0.5 + 12, 0.5 + 0.75, 0.5 + 12],
                                                 dtype=torch.float64))
    assert translate(r"0 < x \le 1") == "((0) < (x)) & ((x) <= (1))"


def test_every_catalogue_class_has_its_formulas_on_the_page():
    names = [cls.name for cls in S.CATALOGUE]
    assert list(GRADIENTS) == names
    assert list(PRIMITIVES) == names
    assert list(PEAKS) == names


@pytest.mark.parametrize("cls", S.CATALOGUE, ids=lambda c: c.name)
def test_the_page_formulas_are_the_code(cls):
    surrogate = nwave_core.create("surrogate", cls.name).double()
    symbols = {sym: float(getattr(surrogate, param)) for sym, param in symbols_of(cls.name).items()}
    assert set(symbols_of(cls.name).values()) == {cls.param_name, *cls.extra_params}, \
        f"{cls.name}: the page lists other parameters"
    gradient = evaluate(GRADIENTS[cls.name][1].strip("$"), POINTS, symbols)
    torch.testing.assert_close(gradient, surrogate.grad(POINTS), rtol=1e-9, atol=1e-12,
                               msg=f"{cls.name}: g(x) on the page differs from grad")
    primitive = evaluate(PRIMITIVES[cls.name][0].strip("$"), POINTS, symbols)
    torch.testing.assert_close(primitive, surrogate.primitive(POINTS), rtol=1e-9, atol=1e-12,
                               msg=f"{cls.name}: P(x) on the page differs from primitive")


@pytest.mark.parametrize("cls", S.CATALOGUE, ids=lambda c: c.name)
def test_the_page_lists_the_defaults_peak_and_area(cls):
    surrogate = nwave_core.create("surrogate", cls.name)
    for param, _symbol, default in _PARAM.findall(GRADIENTS[cls.name][0]):
        assert float(getattr(surrogate, param)) == pytest.approx(float(default)), \
            f"{cls.name}: the page says {param} = {default}"
    assert PEAKS[cls.name] == [f"`{cls.peak}`", f"`{cls.area}`"]


def test_no_literal_backslash_pipes_in_the_catalogue():
    assert "\\|" not in PAGE.read_text().split("## Catalogue", 1)[1].split("### Where", 1)[0]


def test_math_is_typeset_as_mathml():
    import importlib.util

    pytest.importorskip("latex2mathml")
    spec = importlib.util.spec_from_file_location("mathml", ROOT / "docs" / "hooks" / "mathml.py")
    mathml = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mathml)
    html = mathml.typeset('<p><span class="arithmatex">\\(\\alpha &lt; x\\)</span></p>'
                          '<div class="arithmatex">\\[g(x) = \\dfrac{1}{2}\\]</div>')
    assert "arithmatex" not in html
    assert html.count("<math") == 2 and 'display="block"' in html and "&#x0003C;" in html
    with pytest.raises(ValueError, match="cannot typeset"):
        mathml.typeset('<span class="arithmatex">\\(x^\\)</span>', "page.md")
