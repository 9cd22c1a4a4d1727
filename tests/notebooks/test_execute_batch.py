"""The topic notebook 08, the batch platform, on its own: the longest (test_execute.py says why they are split)."""
from __future__ import annotations

import pytest

from tests.notebooks.test_execute import OUT, notebooks, run_notebooks


@pytest.mark.timeout(600)
def test_notebook_08_executes_headless(local_cluster):
    run_notebooks(local_cluster.name, notebooks("third"), OUT / "third")
