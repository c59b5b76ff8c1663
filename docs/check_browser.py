"""The headless-browser pass over a built site: every page in Debian's chromium at a desktop
width, a full-page screenshot of each, and every table measured against the content column.

    mkdocs build --strict -d site
    python docs/check_browser.py site --out shots      # exit 1 when a table is flagged

A table is flagged when its ``scrollWidth`` (the width its content needs) exceeds the content
column's inner width (``clientWidth`` of Material's ``article.md-content__inner`` less its
padding): the reader would have to scroll it sideways. Code blocks that scroll sideways are
counted in the report, not flagged (long lines of code are expected now and then). Needs ``chromium`` and
``chromium-driver`` (Debian: ``apt-get install chromium chromium-driver``) and the ``browser``
extra (selenium); ``tests/test_docs.py`` runs it when they are there and skips otherwise.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import shutil
import sys
import threading
from pathlib import Path

WIDTH, HEIGHT = 1280, 900          # a common desktop viewport
MAX_HEIGHT = 16000                 # full-page screenshots are cut here

MEASURE = """
const column = document.querySelector('article.md-content__inner') || document.body;
const style = getComputedStyle(column);
const inner = column.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
const tables = Array.from(column.querySelectorAll('table')).map((t, i) => {
  const head = t.querySelector('tr');
  return {index: i, scrollWidth: t.scrollWidth, clientWidth: t.clientWidth,
          first_row: head ? head.innerText.replace(/\\s+/g, ' ').slice(0, 80) : ''};
});
const code = Array.from(column.querySelectorAll('pre > code'))
  .filter(c => c.scrollWidth > c.clientWidth + 1).length;
return {column: inner, tables: tables, wide_code: code,
        height: document.documentElement.scrollHeight, title: document.title};
"""


def chromium_paths() -> tuple[str | None, str | None]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return browser, driver


def unavailable() -> str | None:
    """Why the pass cannot run here, or None."""
    browser, driver = chromium_paths()
    if browser is None or driver is None:
        return ("chromium and chromedriver are not installed (Debian: apt-get install chromium "
                "chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[browser]')"
    return None


def _serve(site: Path) -> tuple[http.server.ThreadingHTTPServer, str]:
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _driver():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = chromium_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={WIDTH},{HEIGHT}", "--hide-scrollbars"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def check_site(site: Path, out: Path, only: list[str] | None = None) -> dict:
    """Visit every page of ``site``; screenshots go to ``out``. Returns ``{"pages": [...],
    "screenshots": [...], "flagged": [{"page", "table", "first_row", "scrollWidth",
    "column"}]}``."""
    site, out = Path(site), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                   if p.name != "404.html")
    if only:
        pages = [p for p in pages if any(word in p for word in only)]
    server, base = _serve(site)
    driver = _driver()
    report: dict = {"width": WIDTH, "pages": [], "screenshots": [], "flagged": []}
    try:
        for page in pages:
            driver.get(base + page)
            measured = driver.execute_script(MEASURE)
            height = min(int(measured["height"]), MAX_HEIGHT)
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1}})
            name = page.replace("/", "__").removesuffix(".html") + ".png"
            (out / name).write_bytes(base64.b64decode(shot["data"]))
            report["pages"].append({"page": page, "tables": len(measured["tables"]),
                                    "column": round(measured["column"]),
                                    "wide_code": measured["wide_code"]})
            report["screenshots"].append(name)
            for table in measured["tables"]:
                if table["scrollWidth"] > measured["column"] + 1:
                    report["flagged"].append({"page": page, "table": table["index"],
                                              "first_row": table["first_row"],
                                              "scrollWidth": table["scrollWidth"],
                                              "column": round(measured["column"])})
    finally:
        driver.quit()
        server.shutdown()
    return report


def format_report(report: dict) -> str:
    lines = [f"{len(report['pages'])} pages at {report['width']} px:"]
    for entry in report["pages"]:
        wide = (f", {entry['wide_code']} code block(s) scroll sideways (not flagged)"
                if entry.get("wide_code") else "")
        lines.append(f"  {entry['page']}: {entry['tables']} table(s), column {entry['column']} px"
                     f"{wide}")
    if report["flagged"]:
        lines.append("tables wider than the content column:")
        for f in report["flagged"]:
            lines.append(f"  {f['page']} table {f['table']} ({f['first_row']!r}): "
                         f"{f['scrollWidth']} px > {f['column']} px")
    else:
        lines.append("no table is wider than the content column")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=Path, help="a built site (mkdocs build -d SITE)")
    parser.add_argument("--out", type=Path, default=Path("browser-shots"),
                        help="where the screenshots go (default: browser-shots)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--only", nargs="+", metavar="WORD",
                        help="only the pages whose path contains one of these words")
    args = parser.parse_args(argv)
    reason = unavailable()
    if reason:
        print(f"check_browser: {reason}", file=sys.stderr)
        return 77
    if not (args.site / "index.html").is_file():
        print(f"check_browser: {args.site} is not a built site (no index.html): run "
              "mkdocs build -d SITE first", file=sys.stderr)
        return 2
    report = check_site(args.site, args.out, args.only)
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 1 if report["flagged"] else 0


if __name__ == "__main__":
    sys.exit(main())
