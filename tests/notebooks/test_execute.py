"""Every topic notebook runs top to bottom against the project's real cluster, and two of them twice in a row (the
answers to their exercises run in test_answers.py)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubelab.course import runner

ROOT = Path(__file__).parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
OUT = ROOT / "out" / "executed"  # kept as CI artifacts (git-ignored)


# The topic notebooks in three parts, each in its own file (test_execute_rest.py, test_execute_batch.py), so that
# `make test`'s workers run them at once: one after another they took 501 s of the 600 s allowed in a full run.
# Parts by measured time (seconds in a full run): 00-05 ~190, 06-07 ~180 (and 06 again), 08 ~200.
PARTS = {"first": ("00", "01", "02-", "02a", "02b", "03", "04", "05"), "second": ("06", "07"), "third": ("08",)}


def notebooks(part: str) -> list[Path]:
    return [nb for nb in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]*-*.ipynb")) if nb.name.startswith(PARTS[part])]


def run_notebooks(cluster: str, paths: list[Path], out: Path, rerun: Path | None = None) -> None:
    """Every notebook of `paths` runs ok and prints no "skipped" line; then `rerun` runs ok a second time."""
    first = runner.run(paths, out, cluster=cluster)
    (out / "summary.txt").write_text(runner.table(first) + "\n")  # seconds per notebook, for the CI log
    assert len(first) == len(paths)
    assert all(r.status == "ok" for r in first), runner.table(first)
    # On the embedded cluster every section runs: a notebook that prints "skipped" has lost one.
    skipped = {r.notebook: lines for r in first if (lines := _printed_lines(r.output, "skipped"))}
    assert skipped == {}, skipped
    # Each notebook cleans up after itself, so a second run starts from the same state and passes too.
    if rerun is not None:
        again = runner.run([rerun], out / "rerun", cluster=cluster)
        assert all(r.status == "ok" for r in again), runner.table(again)


@pytest.mark.timeout(600)
def test_the_first_notebooks_execute_headless_and_02_reruns(local_cluster):
    run_notebooks(local_cluster.name, notebooks("first"), OUT / "first", NOTEBOOK_DIR / "02-core-resources.ipynb")


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
