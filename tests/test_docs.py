"""The documentation site builds with warnings as errors, its runnable pages run, and the
built site holds together: every page is read for raw Sphinx roles and stray backslash-pipes,
and every image, link and anchor must resolve to a file of the site.

The site is built once per module (``built_site``), with ``NWAVE_DOCS_FAST=1`` so the
tutorials run their smaller experiments; the build still executes every page of the hook's
``EXECUTED`` list, draws every figure and writes the notebooks.
"""

from __future__ import annotations

import importlib.util
import json
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).parents[1]
HOOK = ROOT / "docs" / "hooks" / "nwave_docs.py"


def load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_site_builds_strict(built_site):
    site, _ = built_site
    assert (site / "reference" / "chips" / "index.html").is_file()
    assert (site / "index.html").is_file()


def test_the_build_draws_the_figures_and_writes_the_notebooks(built_site):
    site, _ = built_site
    hook = load(HOOK, "nwave_docs_hook")
    for name in ["scheduler_policies", "layers_membranes", "data_filter_bank", "data_spoken_yes",
                 "benchmarks_ratios", "surrogates", "analog_step_response",
                 "analog_trajectories", "tutorial_1_shapes", "tutorial_3_training"]:
        png = site / "img" / f"{name}.png"
        assert png.is_file() and png.stat().st_size > 5000, name
        assert not (ROOT / "docs" / "img" / f"{name}.png").exists(), \
            f"docs/img/{name}.png is drawn by the build: do not commit it"
    for page in hook.NOTEBOOKS:
        notebook = json.loads((site / page).with_suffix(".ipynb").read_text())
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        source = (ROOT / "docs" / page).read_text()
        assert len(code) == len(hook.PYTHON_BLOCK.findall(source)), page
        assert all(c["execution_count"] for c in code), f"{page}: a cell did not run"
        assert any(o.get("output_type") == "stream" for c in code for o in c["outputs"]), page
        figures = re.findall(r"!\[[^\]]*\]\(\.\./img/", source)
        attached = [c for c in notebook["cells"] if c.get("attachments")]
        assert len(attached) >= min(len(figures), 1), f"{page}: figures not embedded"
        html = (site / Path(page).with_suffix("") / "index.html").read_text()
        assert f'href="../{Path(page).stem}.ipynb"' in html, f"{page}: no download link"


def test_printed_output_is_shown_under_its_block(built_site):
    site, _ = built_site
    html = (site / "quickstart" / "index.html").read_text()
    shown = re.findall(r'<span class="filename">Output</span><pre><span></span><code>(.*?)</code>',
                       html, flags=re.S)
    assert len(shown) == 1 and re.fullmatch(r"accuracy \d\.\d\d\n?", shown[0]), shown
    home = (site / "index.html").read_text()
    assert re.search(r"Output</span>.*?epoch 15 +loss [\d.]+ +test accuracy", home, flags=re.S)


def test_the_notebook_converter_keeps_only_python_blocks_as_code():
    pytest.importorskip("mkdocs")
    hook = load(HOOK, "nwave_docs_hook")
    page = "# T\n\ntext\n\n```python\nx = 1\n```\n\n```bash\nnwave train c\n```\n\n" \
           "```py\nimport snntorch\n```\nmore\n```python\nprint(x)\n```\n"
    cells = hook.page_to_cells(page)
    assert [kind for kind, _ in cells] == ["markdown", "code", "markdown", "code"]
    assert cells[1][1] == "x = 1" and cells[3][1] == "print(x)"
    assert "nwave train c" in cells[2][1] and "import snntorch" in cells[2][1]


def test_a_failing_block_fails_the_build_naming_page_and_block():
    pytest.importorskip("nbclient")
    from mkdocs.exceptions import PluginError

    hook = load(HOOK, "nwave_docs_hook")
    page = "# T\n\n```python\nx = 1\n```\n\n```python\nraise ValueError('bad block')\n```\n"
    with pytest.raises(PluginError, match=r"docs/t\.md: python block 1 failed: .*bad block"):
        hook.execute("t.md", page)


def test_table_code_spans_lose_the_backslash_github_needs():
    pytest.importorskip("mkdocs")
    hook = load(HOOK, "nwave_docs_hook")
    text = '| `a="x"\\|"y"` | `\\|x\\|` | a \\| b |\nnot a `t\\|able` row'
    assert hook.unescape_table_code_pipes(text) == \
        '| `a="x"|"y"` | `|x|` | a \\| b |\nnot a `t\\|able` row'


# ---- the built site, page by page -----------------------------------------------------------

RAW_ROLE = re.compile(r":(?:py:)?(?:attr|meth|func|class|mod|data|exc|obj):`?[\w.~]")


class Page(HTMLParser):
    """Text (outside scripts and styles), ids, and the URLs of one HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.ids: set[str] = set()
        self.images: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key):
                self.ids.add(attrs[key])
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "link" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "script" and attrs.get("src"):
            self.links.append(attrs["src"])

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)


@pytest.fixture(scope="module")
def site_pages(built_site):
    site, _ = built_site
    pages = {}
    for path in sorted(site.rglob("*.html")):
        parser = Page()
        parser.feed(path.read_text(encoding="utf-8"))
        pages[path] = parser
    assert len(pages) > 20
    return site, pages


def resolve(site: Path, page: Path, url: str) -> tuple[Path, str] | None:
    """The file and fragment an in-site URL of ``page`` points to; None for other sites."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or url.startswith(("mailto:", "data:", "javascript:")):
        return None
    if not parts.path:
        return page, parts.fragment
    target = (page.parent / unquote(parts.path)).resolve()
    if target.is_dir() or parts.path.endswith("/"):
        target = target / "index.html"
    return target, parts.fragment


def in_site_pages(site_pages):
    site, pages = site_pages
    # 404.html is served at any depth, its relative links resolve from wherever it is shown
    return site, {p: v for p, v in pages.items() if p.name != "404.html"}


def test_no_raw_sphinx_roles_in_the_site(site_pages):
    site, pages = site_pages
    found = {str(p.relative_to(site)): sorted(set(RAW_ROLE.findall("".join(v.text))))[:3]
             for p, v in pages.items() if RAW_ROLE.search("".join(v.text))}
    assert not found, f"raw Sphinx roles rendered as text: {found}"


def test_no_literal_backslash_pipes_in_the_site(site_pages):
    site, pages = site_pages
    found = [str(p.relative_to(site)) for p, v in pages.items() if "\\|" in "".join(v.text)]
    assert not found, f"a literal \\| is shown on {found}"


def test_every_image_resolves(site_pages):
    site, pages = in_site_pages(site_pages)
    missing = []
    for page, parsed in pages.items():
        for src in parsed.images:
            where = resolve(site, page, src)
            if where is None:
                missing.append(f"{page.relative_to(site)}: external image {src}")
            elif not where[0].is_file():
                missing.append(f"{page.relative_to(site)}: {src}")
    assert not missing, missing


def test_every_link_and_anchor_resolves(site_pages):
    site, pages = in_site_pages(site_pages)
    ids = {p.resolve(): v.ids for p, v in site_pages[1].items()}
    broken = []
    for page, parsed in pages.items():
        for url in parsed.links:
            where = resolve(site, page, url)
            if where is None:
                continue
            target, fragment = where
            if not target.is_file():
                broken.append(f"{page.relative_to(site)}: {url} (no file)")
            elif fragment and target.suffix == ".html" and unquote(fragment) not in ids.get(
                    target.resolve(), set()):
                broken.append(f"{page.relative_to(site)}: {url} (no anchor)")
    assert not broken, broken


@pytest.mark.browser
def test_no_table_is_wider_than_its_column_in_chromium(built_site, tmp_path):
    """The headless-browser pass: docs/check_browser.py screenshots every page at a desktop
    width in Debian's chromium and measures every table against the content column."""
    check = load(ROOT / "docs" / "check_browser.py", "nwave_check_browser")
    reason = check.unavailable()
    if reason:
        pytest.skip(reason)
    site, _ = built_site
    report = check.check_site(site, tmp_path / "shots")
    assert len(report["pages"]) > 20
    assert all((tmp_path / "shots" / shot).is_file() for shot in report["screenshots"])
    assert not report["flagged"], check.format_report(report)


def test_every_nav_page_exists():
    nav = (ROOT / "mkdocs.yml").read_text()
    generated = {"reference/config.md"}  # written at build time by docs/hooks/config_reference.py
    for page in re.findall(r":\s*([\w/.-]+\.md)\s*$", nav, flags=re.M):
        assert (ROOT / "docs" / page).is_file() or page in generated, page


RUNNABLE = ["index.md", "quickstart.md", "surrogates.md", "data.md", "analog.md", "chips.md",
            "layers.md", "schedulers.md", "training.md", "plugins.md"]


def test_the_runnable_pages_are_the_executed_ones_outside_the_tutorials():
    pytest.importorskip("mkdocs")
    hook = load(HOOK, "nwave_docs_hook")
    assert RUNNABLE == [p for p in hook.EXECUTED if not p.startswith("tutorials/")]


@pytest.mark.parametrize("page", RUNNABLE)
def test_runnable_pages_run(page, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # what the pages write goes away
    monkeypatch.setenv("MPLBACKEND", "Agg")
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / page).read_text(), flags=re.S)
    assert blocks
    namespace: dict = {"__name__": f"docs.{page}"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/{page}[python block {i}]", "exec"), namespace)
