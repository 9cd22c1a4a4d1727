"""Every topic notebook runs top to bottom, twice in a row, against the project's real cluster; so do the
answers to their exercises (solutions/notebooks/), whose checks are strict: a wrong answer fails the run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import kubelab as kl
from kubelab.course import runner

ROOT = Path(__file__).parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
ANSWERS_DIR = ROOT / "solutions" / "notebooks"
OUT = ROOT / "out" / "executed"  # kept as CI artifacts (git-ignored)


@pytest.mark.timeout(600)   # seven notebooks (~220 s on an idle 2-core machine) and two again
def test_all_notebooks_execute_headless_and_rerun(local_cluster):
    first = runner.run([NOTEBOOK_DIR], OUT, cluster=local_cluster.name)
    (OUT / "summary.txt").write_text(runner.table(first) + "\n")  # seconds per notebook, for the CI log
    assert len(first) == len(list(NOTEBOOK_DIR.glob("[0-9][0-9]*-*.ipynb")))
    assert all(r.status == "ok" for r in first), runner.table(first)
    # On the embedded cluster every section runs: a notebook that prints "skipped" has lost one.
    skipped = {r.notebook: lines for r in first if (lines := _printed_lines(r.output, "skipped"))}
    assert skipped == {}, skipped
    # Each notebook cleans up after itself, so a second run starts from the same state and passes too.
    again = runner.run([NOTEBOOK_DIR / "02-core-resources.ipynb", NOTEBOOK_DIR / "06-gpu-workloads.ipynb"],
                       OUT / "rerun", cluster=local_cluster.name)
    assert all(r.status == "ok" for r in again), runner.table(again)


def _printed_lines(notebook: Path, word: str) -> list[str]:
    """The output lines of an executed notebook that contain `word` (any case)."""
    cells = json.loads(notebook.read_text())["cells"]
    lines = []
    for cell in cells:
        for out in cell.get("outputs", []):
            text = out.get("text", []) if "text" in out else out.get("data", {}).get("text/plain", [])
            # each output on its own: a result's text has no final newline to end its last line
            lines += "".join(text).splitlines()
    return [line.strip() for line in lines if word in line.lower()]


@pytest.mark.timeout(600)
def test_the_answers_to_every_exercise_pass_their_checks(local_cluster):
    done = runner.run([ANSWERS_DIR], OUT / "answers", cluster=local_cluster.name)
    (OUT / "answers" / "summary.txt").write_text(runner.table(done) + "\n")
    assert done and all(r.status == "ok" for r in done), runner.table(done)
    passed = sum(line.startswith("PASS ") for r in done for line in _printed_lines(r.output, "pass "))
    assert passed == len(kl.practice.catalogue()), f"{passed} PASS lines for {len(kl.practice.catalogue())} exercises"
