"""The learner's JupyterLab as `make run` opens it: the Makefile's own command (`make -n -o up run` prints it, the
cluster left out), started on a free port and looked at in headless Chromium (Playwright, as test_browser.py).

It opens on notebooks/00-start-here.ipynb and shows a learner's tools only: nbgrader's menu holds the Assignment
List alone, no Create Assignment panel, no formgrader (its server extension answers 404), no Jupyter news
pop-up. The instructor's plain `jupyter lab` in the same folder, started beside it, still has every one of them:
the learner's config (cluster/learner-lab/) is read by `make run` only. No cluster is needed: no cell runs.
"""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.course.test_browser import _browser

REPO = Path(__file__).parents[2]
LEARNER_LAB = REPO / "cluster" / "learner-lab"
TOKEN = "learner-lab-test"
START = "00-start-here.ipynb"
# JupyterLab plugins a learner does not get: the instructor's nbgrader panels and Jupyter's news (and update) check
INSTRUCTOR_ONLY = {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:course-list",
                   "@jupyterlab/apputils-extension:announcements"}
NEWS = "Would you like to get notified about official Jupyter news?"


def _run_recipe() -> str:
    """The shell command of the Makefile's `run` target, variables expanded (`-o up`: without starting the cluster)."""
    return subprocess.run(["make", "-s", "-n", "-o", "up", "run"], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_the_learner_config_names_plugins_the_installed_packages_have():
    # a misspelt id would disable nothing, silently: each must be a plugin id in the installed bundles
    from jupyter_core.paths import jupyter_path

    page = json.loads((LEARNER_LAB / "labconfig" / "page_config.json").read_text())
    assert set(page["disabledExtensions"]) == INSTRUCTOR_ONLY and all(page["disabledExtensions"].values())
    bundles = [p for d in jupyter_path() for sub in ("labextensions/@jupyter/nbgrader/static", "lab/static")
               for p in (Path(d) / sub).glob("*.js")]
    text = "".join(p.read_text(errors="replace") for p in bundles)
    assert {name for name in INSTRUCTOR_ONLY if f'"{name}"' in text} == INSTRUCTOR_ONLY
    assert f"JUPYTER_CONFIG_PATH={LEARNER_LAB}" in _run_recipe() and "jupyter lab notebooks/" in _run_recipe()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def _jupyterlab(command: str, tmp: Path):
    """`command` (a JupyterLab start as a shell line) on a free loopback port, without a browser, with its own
    empty user config, settings and workspaces (the machine's are neither read nor written); yields its URL."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_"))}
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"))
    tmp.mkdir(parents=True)
    log = tmp / "jupyterlab.log"
    line = (f"{command} --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 "
            f"--IdentityProvider.token={TOKEN}")
    # its own session: the shell and the JupyterLab it starts are stopped together
    proc = subprocess.Popen(["bash", "-c", line], cwd=REPO, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={TOKEN}", timeout=2)
                break
            except (urllib.error.URLError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start ({line}):\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _get(url: str) -> tuple[int, str, str]:
    """(status, Location, body) of a GET, redirects not followed."""
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None
    try:
        with urllib.request.build_opener(NoRedirect).open(url, timeout=10) as r:
            return r.status, r.headers.get("Location", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Location", ""), ""


def _page_config(url: str) -> dict:
    body = _get(f"{url}/lab?token={TOKEN}")[2]
    return json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', body,
                                re.S).group(1))


def _open(page, url: str) -> list[str]:
    """Open `url` as the learner's browser would; return the items of the Nbgrader menu."""
    from playwright.sync_api import expect

    page.goto(f"{url}/?token={TOKEN}")
    nbgrader = page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Nbgrader$"))
    expect(nbgrader).to_be_visible(timeout=60_000)
    nbgrader.click()
    items = page.locator(".lm-Menu-item:visible .lm-Menu-itemLabel")
    expect(items.first).to_be_visible()
    menu = [t.strip() for t in items.all_inner_texts()]
    page.keyboard.press("Escape")
    return menu


def _panels(page) -> list[str]:
    return [t.get_attribute("title") or "" for t in page.locator(".jp-SideBar .lm-TabBar-tab").all()]


@pytest.mark.timeout(240)
def test_make_run_opens_start_here_with_a_learners_tools_and_the_instructor_keeps_them(tmp_path):
    from playwright.sync_api import expect, sync_playwright

    shots = REPO / "out" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    before = (REPO / "notebooks" / START).stat().st_mtime
    plain = f"{REPO}/.venv/bin/jupyter lab notebooks/" + (" --allow-root" if os.geteuid() == 0 else "")
    with sync_playwright() as playwright, _jupyterlab(_run_recipe(), tmp_path / "learner") as learner, \
            _jupyterlab(plain, tmp_path / "instructor") as instructor:
        # the server: `/` leads to 00, the page config disables the instructor's plugins, no formgrader is served
        assert _get(f"{learner}/?token={TOKEN}")[1].startswith(f"/lab/tree/{START}")
        assert INSTRUCTOR_ONLY <= set(_page_config(learner)["disabledExtensions"])
        assert _get(f"{learner}/formgrader?token={TOKEN}")[0] == 404
        assert not INSTRUCTOR_ONLY & set(_page_config(instructor)["disabledExtensions"])

        browser = _browser(playwright)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.set_default_timeout(30_000)
            # the instructor first: the news question and the nbgrader panels appear there (what the learner's
            # page must not show, so the assertions below can see them)
            menu, opened = _open(page, instructor), time.monotonic()
            expect(page.get_by_text(NEWS)).to_be_visible(timeout=30_000)
            news_after = time.monotonic() - opened
            assert "Nbgrader Create Assignment" in _panels(page)
            assert {"Assignment List", "Formgrader", "Create assignment", "Course List"} <= set(menu), menu
            page.screenshot(path=shots / "learner-lab-instructor.png")

            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            menu, opened = _open(page, learner), time.monotonic()
            assert menu == ["Assignment List"], menu   # the learner's nbgrader tool stays
            expect(page.locator("#jp-main-dock-panel .lm-TabBar-tabLabel")).to_have_text([START])
            expect(page.locator(".jp-NotebookPanel .jp-RenderedMarkdown h1").first).to_contain_text("00 · Start here")
            assert not any("Create Assignment" in p for p in _panels(page)), _panels(page)
            # as long again as the instructor's question took to come, and a little more
            page.wait_for_timeout(1000 * max(0.0, news_after + 2 - (time.monotonic() - opened)))
            expect(page.get_by_text(NEWS)).to_have_count(0)
            page.screenshot(path=shots / "learner-lab.png")
        finally:
            browser.close()
    assert (REPO / "notebooks" / START).stat().st_mtime == before, "opening the notebook must not write it"
