"""The second half of the topic notebooks (test_execute.py has the first and says why they are split)."""
from __future__ import annotations

import pytest

from tests.notebooks.test_execute import NOTEBOOK_DIR, OUT, notebooks, run_notebooks


def test_the_halves_together_are_every_notebook():
    assert sorted(notebooks(True) + notebooks(False)) == sorted(NOTEBOOK_DIR.glob("[0-9][0-9]*-*.ipynb"))
    assert notebooks(True) and notebooks(False)


@pytest.mark.timeout(600)   # five notebooks (~300 s in a full run) and one again
def test_the_second_half_of_the_notebooks_executes_headless_and_reruns(local_cluster):
    run_notebooks(local_cluster.name, notebooks(first_half=False), OUT / "rest",
                  NOTEBOOK_DIR / "06-gpu-workloads.ipynb")
