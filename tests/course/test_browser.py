"""The learner's journey in a real browser: headless Chromium (Debian's, /usr/bin/chromium; `make setup` installs
it) driven by Playwright, against the real JupyterHub of jupyterhub_config.py on the session cluster.

A learner logs in on the hub's login form (a wrong password is refused first), their JupyterLab opens, Lab 1
(released by the instructor, fetched through nbgrader's exchange into their home, the reference manifests written
into its manifests/) runs from the JupyterLab menu (Run > Run All Cells): the page shows the checks' verdicts
("PASS ...") and the Partial cells' rendered scores; nbgrader's Assignments tab (Nbgrader > Assignment List)
lists the downloaded lab with its Submit button; the submission goes through nbgrader's exchange as the learner,
and the instructor's collect and autograde record 16/16 in the gradebook. Screenshots: out/browser/
(git-ignored; CI keeps it as an artifact).

The learner's kernel asks its RBAC checks' access reviews as LocalSubjectAccessReviews in its own namespace
(the sandbox grants them), so every cell passes in the learner's own JupyterLab as it does when graded; the
tab's Submit names the submission after the learner (the hook writes nbgrader's student id for the server).
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.course.hub_process import PASSWORD, Hub

REPO = Path(__file__).parents[2]
LAB = "lab1-cluster-manifests"
LEARNER = f"web-ann-{os.getpid()}"
SHOTS = REPO / "out" / "browser"
CHROMIUM = "/usr/bin/chromium"
# The machine's network is closed: no background requests, no component updates (each would be refused)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
SPAWN_MS = 150_000     # login -> JupyterLab: the hook's sandboxes and JupyterLab's first start on 2 cores
RUN_MS = 150_000       # Run All Cells on Lab 1, up to the RBAC cell where it stops (a guard, not a figure)


def _course(root: Path) -> Path:
    """A copy of the course (its own exchange and gradebook); the hub finds it through KUBELAB_ROOT, which
    needs cluster/ beside it (a link to the repository's)."""
    root.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", root)
    for folder in ("source", "solutions"):
        shutil.copytree(REPO / folder, root / folder)
    (root / "cluster").symlink_to(REPO / "cluster")
    return root


def _browser(playwright):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no browser at {CHROMIUM}: run `make setup` (as root it installs Debian's chromium and "
                    "chromium-driver), or `apt-get install chromium chromium-driver`")
    try:   # launch() gives the browser a new empty profile (user-data dir) of its own
        return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS, timeout=60_000)
    except Exception as err:
        pytest.fail(f"Chromium ({CHROMIUM}) did not start under Playwright: {str(err).strip()[:1500]}")


@pytest.mark.timeout(300)
def test_a_learner_runs_lab1_in_the_browser_and_the_instructor_grades_it(api, local_cluster, tmp_path, monkeypatch):
    from playwright.sync_api import expect, sync_playwright

    from kubelab.course import exchange, instructor, sandbox

    start = time.monotonic()
    course = _course(tmp_path / "course")
    (tmp_path / "roster.csv").write_text(f"id,first_name,last_name\n{LEARNER},Ann,Browser\n")
    assert instructor.import_roster(tmp_path / "roster.csv", course) == [LEARNER]
    instructor.release(LAB, course)
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()

    hub = playwright = browser = None
    try:
        with monkeypatch.context() as env:   # the hub (and its hook) use the copy's nbgrader_config.py
            env.setenv("KUBELAB_ROOT", str(course))
            hub = Hub(tmp_path, local_cluster.name)
        home = hub.dir / "homes" / LEARNER
        home.mkdir(parents=True)
        work = exchange.fetch(LAB, LEARNER, home, course)   # what the Assignments tab's Fetch does
        # the learner's answer: the reference files in the fetched manifests/ (Lab 1's notebook has no cells to write)
        for f in (REPO / "solutions" / LAB / "manifests").glob("*.yaml"):
            shutil.copy(f, work / "manifests" / f.name)

        playwright = sync_playwright().start()
        browser = _browser(playwright)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})
        page.set_default_timeout(30_000)

        # 1. the login form; a wrong password is refused on the page
        page.goto(f"{hub.url}/hub/login")
        page.fill("#username_input", LEARNER)
        page.fill("#password_input", "not-the-password")
        page.click("#login_submit")
        expect(page.locator(".login_error")).to_contain_text("Invalid username or password")
        page.fill("#username_input", LEARNER)
        page.fill("#password_input", PASSWORD)
        page.screenshot(path=SHOTS / "1-login.png")
        page.click("#login_submit")

        # 2. the hub spawns the learner's JupyterLab (the hook's sandboxes first) and the browser lands in it
        expect(page).to_have_url(re.compile(f"/user/{LEARNER}/lab"), timeout=SPAWN_MS)
        expect(page.locator("#jp-main-dock-panel")).to_be_visible(timeout=SPAWN_MS)

        # 3. Lab 1 from the file browser's URL; Run > Run All Cells from the menu bar
        page.goto(f"{hub.url}/user/{LEARNER}/lab/tree/{LAB}/lab1.ipynb")
        notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
        cells = notebook.locator(".jp-CodeCell")
        expect(cells).to_have_count(10, timeout=60_000)
        # the kernel connected (Run All before that would clear the cells and run nothing)
        expect(page.get_by_role("button", name=re.compile(r"Python 3 \(ipykernel\) \| Idle"))).to_be_visible(timeout=60_000)
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-item:visible", has_text=re.compile(r"^Run All Cells")).click()

        # every cell ran as the learner in their own namespace and passed: verdicts and scores on the page
        stderr = "[data-mime-type='application/vnd.jupyter.stderr']"
        expect(cells.nth(9)).to_contain_text("PASS unreachable", timeout=RUN_MS)   # the last cell: NetworkPolicy
        prompts = cells.locator(".jp-InputArea-prompt")
        assert all(re.fullmatch(r"\[\d+\]:", p) for p in prompts.all_text_contents()), prompts.all_text_contents()
        outputs = cells.locator(".jp-OutputArea-output")
        expect(cells.nth(0)).to_contain_text(f"Your namespace for lab1: {sandbox.namespace_name('lab1', LEARNER)}")
        expect(cells.nth(1)).to_contain_text("16 objects applied:")
        expect(cells.nth(2)).to_contain_text("PASS admission_accepts (1/1)")
        expect(cells.nth(3)).to_contain_text("PASS quota_caps_gpus (1/1)")
        expect(cells.nth(4)).to_contain_text("PASS limitrange_defaults (2/2)")
        expect(cells.nth(5)).to_contain_text("PASS request_as")    # data-scientist: access reviews and a real request
        expect(cells.nth(6)).to_contain_text("PASS request_as")    # auditor
        expect(cells.nth(7)).to_contain_text("PASS kube_score_clean")
        for i in range(10):
            expect(cells.nth(i).locator(stderr)).to_have_count(0)
            expect(cells.nth(i)).not_to_contain_text("FAIL")
        # the Partial cells' scores, rendered by JupyterLab as cell results (Out[n]): full marks, 2.0 each
        scores = notebook.locator(".jp-OutputArea-executeResult")
        expect(scores).to_have_count(4)
        assert [re.sub(r"^\[\d+\]:", "", s).strip() for s in scores.all_text_contents()] == ["2.0"] * 4
        shown = outputs.filter(has_text="PASS admission_accepts").first
        shown.scroll_into_view_if_needed()
        page.screenshot(path=SHOTS / "2-lab1-after-run-all.png")
        cells.nth(5).scroll_into_view_if_needed()
        page.screenshot(path=SHOTS / "2b-lab1-rbac-cells.png")

        # 4. nbgrader's Assignments tab (Nbgrader > Assignment List) lists the downloaded lab with Submit
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Nbgrader$")).click()
        page.locator(".lm-Menu-item:visible", has_text=re.compile(r"^Assignment List")).click()
        tab = page.locator("#nbgrader-assignment-list")
        fetched = tab.locator("#fetched_assignments_list")
        expect(fetched).to_contain_text(LAB, timeout=60_000)
        page.screenshot(path=SHOTS / "3-assignments-tab.png")
        fetched.get_by_role("button", name="Submit").click()   # the learner submits from the tab
        expect(tab.locator("#submitted_assignments_list")).to_contain_text(LAB, timeout=60_000)
        page.screenshot(path=SHOTS / "4-submitted.png")
        browser.close()
        browser = None

        # 5. the submission is in the learner's own exchange folder (their server sees no other), not the shared inbound
        own = exchange.private_root(course / "exchange", LEARNER) / "k8s-ml-fundamentals" / "inbound"
        assert [p.name.split("+")[0] for p in own.iterdir()] == [LEARNER]
        assert not any((course / "exchange" / "k8s-ml-fundamentals" / "inbound").glob("*"))
        # the instructor collects it (named after the learner, not the OS user) and grades it
        assert instructor.collect(LAB, course) == [LEARNER]
        result = instructor.autograde_class(LAB, root=course, env={"KUBELAB_CLUSTER": local_cluster.name}, api=api)
        assert result.failed == {} and result.identity == "learner", result.summary()
        assert f"{LEARNER}: 16/16" in result.summary(), result.summary()
        frame = instructor.grades_frame(course)
        mine = frame[(frame.student_id == LEARNER) & (frame.assignment == LAB)]
        assert mine.submitted.all() and (mine.score.sum(), mine.max_score.sum()) == (16, 16), mine.to_string()
        print(f"browser journey: {time.monotonic() - start:.1f} s; screenshots in {SHOTS}")
    except BaseException:
        if browser is not None:   # what the page showed when it failed
            try:
                browser.contexts[0].pages[0].screenshot(path=SHOTS / "failed.png")
            except Exception:
                pass
        if hub is not None:
            print(f"hub log ({hub.log}):\n{hub.log.read_text()[-4000:]}")
        raise
    finally:
        if browser is not None:
            browser.close()
        if playwright is not None:
            playwright.stop()
        if hub is not None:
            hub.stop()
        sandbox.cleanup(api, LEARNER)
