"""Every topic notebook runs top to bottom, twice in a row, against the project's real cluster."""
from __future__ import annotations

from pathlib import Path

from kubelab.course import runner

ROOT = Path(__file__).parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
OUT = ROOT / "out" / "executed"  # kept as CI artifacts (git-ignored)


def test_all_notebooks_execute_headless_and_rerun(local_cluster):
    first = runner.run([NOTEBOOK_DIR], OUT, cluster=local_cluster.name)
    (OUT / "summary.txt").write_text(runner.table(first) + "\n")  # seconds per notebook, for the CI log
    assert len(first) == 7
    assert all(r.status == "ok" for r in first), runner.table(first)
    # Each notebook cleans up after itself, so a second run starts from the same state and passes too.
    again = runner.run([NOTEBOOK_DIR / "02-core-resources.ipynb", NOTEBOOK_DIR / "06-gpu-workloads.ipynb"],
                       OUT / "rerun", cluster=local_cluster.name)
    assert all(r.status == "ok" for r in again), runner.table(again)
