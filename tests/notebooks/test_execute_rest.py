"""The topic notebooks 06 and 07 (test_execute.py runs the first ones and says why they are split)."""
from __future__ import annotations

import pytest

from tests.notebooks.test_execute import NOTEBOOK_DIR, OUT, PARTS, notebooks, run_notebooks


def test_the_parts_together_are_every_notebook_once():
    every = [nb for part in PARTS for nb in notebooks(part)]
    assert sorted(every) == sorted(NOTEBOOK_DIR.glob("[0-9][0-9]*-*.ipynb")) and len(set(every)) == len(every)
    assert all(notebooks(part) for part in PARTS)


@pytest.mark.timeout(600)
def test_notebooks_06_and_07_execute_headless_and_06_reruns(local_cluster):
    run_notebooks(local_cluster.name, notebooks("second"), OUT / "second", NOTEBOOK_DIR / "06-gpu-workloads.ipynb")
