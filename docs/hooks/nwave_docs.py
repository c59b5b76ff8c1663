"""MkDocs hook: what the docs build makes from the code.

- **Figures**: every ``docs/figures/*.py`` (except ``_``-prefixed helpers) defines
  ``draw(out: Path) -> None``, writing PNGs into ``out``; they run in one subprocess
  (``python docs/figures/__init__.py OUT``) and each PNG is served as ``img/<name>.png``.
- **Executed pages**: the pages of ``EXECUTED`` become notebooks (markdown cells, and one code
  cell per fenced ```python block at the start of a line; other fences stay text), executed with
  nbclient from the repository root. What each block prints is shown under it on the page; a
  block that raises fails the build, naming the page and the block. Figures the pages write to
  ``$NWAVE_TUTORIAL_OUT`` are served as ``img/<name>.png``.
- **Notebooks**: the tutorials' executed notebooks are served next to their pages, and each
  tutorial page gets a download link.

``NWAVE_DOCS_EXECUTE=0`` skips the execution and the figures: a quick preview with
``mkdocs serve``, where links to the generated files are then reported at INFO level only.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

log = logging.getLogger("mkdocs.hooks.nwave_docs")

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "figures"

# pages whose python blocks run in the build, in order, one namespace per page
EXECUTED = [
    "index.md",
    "quickstart.md",
    "surrogates.md",
    "data.md",
    "analog.md",
    "chips.md",
    "layers.md",
    "schedulers.md",
    "training.md",
    "plugins.md",
    "tutorials/01_surrogate_gradients.md",
    "tutorials/02_h1v2_neuron_vs_lif.md",
    "tutorials/03_hardware_aware_training.md",
    "tutorials/04_writing_a_plugin.md",
]
# executed pages also offered as a notebook download
NOTEBOOKS = [p for p in EXECUTED if p.startswith("tutorials/")]

PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```[ \t]*\n?", flags=re.S | re.M)
NOTEBOOK_NOTE = ("*This notebook is generated from the page `docs/{page}` of nwave and was "
                 "executed when the documentation was built. Run it from the root of a clone of "
                 "the repository (it reads files by paths relative to it).*")

_state: dict = {}


def page_to_cells(markdown: str) -> list[tuple[str, str]]:
    """Split a page into ``("markdown" | "code", text)`` cells: one code cell per python block."""
    cells: list[tuple[str, str]] = []
    pos = 0
    for match in PYTHON_BLOCK.finditer(markdown):
        text = markdown[pos:match.start()].strip("\n")
        if text.strip():
            cells.append(("markdown", text))
        cells.append(("code", match.group(1).rstrip("\n")))
        pos = match.end()
    tail = markdown[pos:].strip("\n")
    if tail.strip():
        cells.append(("markdown", tail))
    return cells


def page_to_notebook(markdown: str, page: str):
    """The page as an nbformat v4 notebook (not executed)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells.append(nbformat.v4.new_markdown_cell(NOTEBOOK_NOTE.format(page=page)))
    for kind, text in page_to_cells(markdown):
        make = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
        nb.cells.append(make(text))
    return nb


def printed(cell) -> str:
    """What a code cell wrote to stdout."""
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def execute(page: str, markdown: str):
    """The page as a notebook executed from the repository root (the kernel inherits this
    process's environment: ``on_files`` sets where figures go).

    Raises:
        PluginError: a block raised; the message names the page, the block's index among the
            page's python blocks and the error.
    """
    import nbclient
    from nbclient.exceptions import CellExecutionError

    nb = page_to_notebook(markdown, page)
    client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    try:
        client.execute()
    except CellExecutionError as exc:
        code_cells = [c for c in nb.cells if c.cell_type == "code"]
        failed = next((i for i, c in enumerate(code_cells)
                       if any(o.get("output_type") == "error" for o in c.get("outputs", []))),
                      "?")
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise PluginError(f"docs/{page}: python block {failed} failed: {last}") from None
    return nb


IMAGE = re.compile(r"!\[([^\]]*)\]\((?:\.\./)*img/([\w.-]+\.png)\)")


def attach_images(nb, folders: list[Path]) -> None:
    """Embed the images the markdown cells show (``img/NAME.png``, looked up in ``folders``)
    as cell attachments, so that the downloaded notebook shows them."""
    import base64

    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        attachments = {}

        def embed(match: re.Match) -> str:
            name = match.group(2)
            found = next((f / name for f in folders if (f / name).is_file()), None)
            if found is None:
                return match.group(0)
            attachments[name] = {"image/png": base64.b64encode(found.read_bytes()).decode()}
            return f"![{match.group(1)}](attachment:{name})"

        cell.source = IMAGE.sub(embed, cell.source)
        if attachments:
            cell.attachments = attachments


def _env(out_dir: Path) -> dict:
    # TMPDIR: what the pages write to temporary folders goes with the build's folder
    scratch = out_dir.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    env = {"MPLBACKEND": "Agg", "NWAVE_TUTORIAL_OUT": str(out_dir), "PYTHONHASHSEED": "0",
           "OMP_NUM_THREADS": "1", "TMPDIR": str(scratch)}
    if os.environ.get("NWAVE_DOCS_FAST") == "1":   # the tests' build: smaller experiments
        env["NWAVE_TUTORIAL_FAST"] = "1"
    return env


def on_config(config):
    on_post_build(None)  # under `mkdocs serve`, a previous build's folder
    _state.clear()
    _state["enabled"] = os.environ.get("NWAVE_DOCS_EXECUTE", "1") != "0"
    if not _state["enabled"]:
        # a preview: the generated images and notebooks are missing, which is expected
        config.validation.links.not_found = logging.INFO
        return config
    import importlib.util

    missing = [m for m in ("nbclient", "nbformat", "ipykernel", "matplotlib")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise PluginError(f"the docs build runs the pages and draws figures, which needs "
                          f"{', '.join(missing)}: pip install -e '.[docs]' (or preview the text "
                          f"alone with NWAVE_DOCS_EXECUTE=0)")
    return config


def on_files(files, config):
    if not _state.get("enabled"):
        log.info("NWAVE_DOCS_EXECUTE=0: no executed pages, notebooks or figures")
        return files
    tmp = Path(tempfile.mkdtemp(prefix="nwave-docs-"))
    _state["tmp"] = tmp
    img = tmp / "img"
    img.mkdir()
    started = time.monotonic()
    saved = {k: os.environ.get(k) for k in _env(img)}
    os.environ.update(_env(img))
    figures = None
    try:
        figures = subprocess.Popen([sys.executable, str(FIGURES / "__init__.py"), str(img)],
                                   cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True)
        outputs: dict[str, list[str]] = {}
        nb_dir = tmp / "notebooks"

        def run(page: str):
            began = time.monotonic()
            nb = execute(page, (ROOT / "docs" / page).read_text(encoding="utf-8"))
            log.info("nwave docs: executed docs/%s in %.1f s", page, time.monotonic() - began)
            return nb

        # two kernels at a time, one torch thread each (the pages' networks are small)
        with ThreadPoolExecutor(max_workers=2) as pool:
            notebooks = dict(zip(EXECUTED, pool.map(run, EXECUTED), strict=True))
        for page, nb in notebooks.items():
            outputs[page] = [printed(c) for c in nb.cells if c.cell_type == "code"]
            if page in NOTEBOOKS:
                import nbformat

                attach_images(nb, [img, ROOT / "docs" / "img"])
                path = nb_dir / Path(page).with_suffix(".ipynb")
                path.parent.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, str(path))
                files.append(File.generated(config, Path(page).with_suffix(".ipynb").as_posix(),
                                            abs_src_path=str(path)))
        log_text, _ = figures.communicate()
        if figures.returncode != 0:
            raise PluginError(f"docs/figures failed (exit {figures.returncode}):\n{log_text}")
    finally:
        if figures is not None and figures.poll() is None:    # a page failed first
            figures.kill()
            figures.wait()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    _state["outputs"] = outputs
    for png in sorted(img.glob("*.png")):
        uri = f"img/{png.name}"
        stale = files.get_file_from_path(uri)
        if stale is not None:            # left in docs/img by running a page by hand
            log.info("docs/%s is replaced by the one the build drew", uri)
            files.remove(stale)
        files.append(File.generated(config, uri, abs_src_path=str(png)))
    log.info("nwave docs: %d pages executed, %d figures, in %.0f s", len(EXECUTED),
             len(list(img.glob("*.png"))), time.monotonic() - started)
    return files


def output_block(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f'\n{fence}text title="Output"\n{text.rstrip()}\n{fence}\n'


CODE_SPAN = re.compile(r"`[^`\n]*`")


def unescape_table_code_pipes(markdown: str) -> str:
    """``\\|`` inside a code span of a table row becomes ``|``.

    GitHub needs the backslash there (its tables split on any unescaped pipe and drop the
    backslash in the code span); Python-Markdown does not split inside code spans and would show
    the backslash.
    """
    def fix(line: str) -> str:
        if not line.lstrip().startswith("|") or "\\|" not in line:
            return line
        return CODE_SPAN.sub(lambda m: m.group(0).replace("\\|", "|"), line)

    return "\n".join(fix(line) for line in markdown.split("\n"))


def on_page_markdown(markdown, page, config, files):
    markdown = unescape_table_code_pipes(markdown)
    src = page.file.src_uri
    outputs = _state.get("outputs", {}).get(src)
    if outputs is not None:
        blocks = iter(outputs)

        def add_output(match: re.Match) -> str:
            text = next(blocks, "")
            block = match.group(0) if match.group(0).endswith("\n") else match.group(0) + "\n"
            return block + output_block(text) if text.strip() else block

        markdown = PYTHON_BLOCK.sub(add_output, markdown)
    if src in NOTEBOOKS and _state.get("enabled"):
        name = Path(src).with_suffix(".ipynb").name
        link = (f'\n\n!!! tip "Run this page as a notebook"\n    '
                f'[Download {name}]({name}){{: download }}, executed when this site was built '
                f'(with its outputs); run it from the root of a clone of the repository.\n\n')
        first_break = markdown.find("\n")
        markdown = markdown[:first_break] + link + markdown[first_break + 1:]
    return markdown


def on_post_build(config):
    tmp = _state.pop("tmp", None)
    if tmp is not None:
        shutil.rmtree(tmp, ignore_errors=True)


def on_build_error(error):
    """A failed build (mkdocs then skips ``on_post_build``) removes the build's folder too."""
    on_post_build(None)
