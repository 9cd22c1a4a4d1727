"""The docs site (docs/, Jupyter Book 2): docs/build.sh builds it into a temporary folder (offline: the book theme
is built from docs/_theme, cached under the venv), every internal link and anchor of every page resolves, and two
pages (the learner guide and a topic notebook) open in headless Chromium (Debian's, /usr/bin/chromium, driven by
Playwright as in tests/course/test_browser.py) with their heading visible.

Needs jupyter-book (the `docs` extra: `pip install -e '.[test,docs]'`) and Node.js >= 20 with npm; the first run
builds the theme (`npm ci` and a Remix build, about a minute on 2 cores), later ones take seconds."""
from __future__ import annotations

import functools
import http.server
import re
import subprocess
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytestmark = pytest.mark.docs

REPO = Path(__file__).parents[2]
JUPYTER_BOOK = REPO / ".venv" / "bin" / "jupyter-book"
CHROMIUM = "/usr/bin/chromium"
# The machine's network is closed: no background requests, no component updates (each would be refused)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
PAGES = 17   # docs/myst.yml's toc: index, 7 guides, 7 notebooks, contributor, architecture


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if not JUPYTER_BOOK.exists():
        pytest.fail(f"no {JUPYTER_BOOK.relative_to(REPO)}: install the docs extra, "
                    "`.venv/bin/pip install -e '.[test,docs]'`")
    out = tmp_path_factory.mktemp("docs")
    run = subprocess.run([str(REPO / "docs" / "build.sh"), str(out)], cwd=REPO, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "docs: notebooks from" in run.stdout   # the one line saying which notebooks it took
    return out / "html"


class _Page(HTMLParser):
    """The ids of a page and the internal references (href/src) it makes."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        for key in ("href", "src"):
            value = a.get(key)
            if value and not re.match(r"^[a-z][a-z0-9+.-]*:", value):   # not https:, mailto:, data:, ...
                self.refs.append(value)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _target(html: Path, page: Path, ref: str) -> Path | None:
    """The file an internal reference of `page` points at (the site links from its root: BASE_URL is empty)."""
    path = unquote(urlsplit(ref).path)
    if not path:
        return page
    base = html if path.startswith("/") else page.parent
    target = (base / path.lstrip("/")).resolve()
    for candidate in (target, target / "index.html", target.with_suffix(".html")):
        if candidate.is_file():
            return candidate
    return None


def test_every_page_built(site):
    pages = sorted(site.rglob("index.html"))
    assert len(pages) == PAGES, [str(p.relative_to(site)) for p in pages]
    for slug in ("learner", "instructor", "grading", "kubelet", "node-pools", "monitoring", "versions",
                 "contributor", "architecture", "notebooks/architecture", "notebooks/gpu-workloads"):
        assert (site / slug / "index.html").is_file(), slug


def test_no_broken_internal_link(site):
    parsed = {p: _parse(p) for p in site.rglob("*.html")}
    broken = []
    for page, content in parsed.items():
        for ref in content.refs:
            target = _target(site, page, ref)
            anchor = unquote(urlsplit(ref).fragment)
            if target is None:
                broken.append(f"{page.relative_to(site)}: {ref} (no such file)")
            elif anchor and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if anchor not in ids and not anchor.startswith("skip-to-"):   # the theme's skip links: ids added by JS
                    broken.append(f"{page.relative_to(site)}: {ref} (no #{anchor} there)")
    assert not broken, "\n".join(broken)


@pytest.fixture(scope="module")
def served(site):
    """The site over HTTP on a free 127.0.0.1 port (its links start at the root)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_two_pages_in_chromium(served):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: `make browser` (as root), or `apt-get install chromium chromium-driver`")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                             timeout=60_000)
        try:
            page = browser.new_page()
            # the learner guide: its title and a section
            page.goto(f"{served}/learner/", wait_until="domcontentloaded")
            sync_api.expect(page.get_by_role("heading", name="Learner guide", level=1)).to_be_visible(timeout=30_000)
            sync_api.expect(page.get_by_role("heading", name="The two commands")).to_be_visible()
            # a topic notebook: its title (the notebook's first heading) and code cells
            page.goto(f"{served}/notebooks/architecture/", wait_until="domcontentloaded")
            title = page.locator("h1").first
            sync_api.expect(title).to_be_visible(timeout=30_000)
            assert "architecture" in title.inner_text().lower(), title.inner_text()
            assert page.locator("pre").count() > 0   # the notebook's code cells are on the page
        finally:
            browser.close()
