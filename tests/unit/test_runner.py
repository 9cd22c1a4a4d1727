"""`kubelab run`'s runner on tiny notebooks (no cluster): a failure is reported, not raised, and the rest run."""
from __future__ import annotations

import nbformat

from kubelab.course import runner


def notebook(path, *cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_a_failing_notebook_is_reported_and_the_next_one_still_runs(tmp_path, capfd):
    src = tmp_path / "src"
    src.mkdir()
    notebook(src / "a-fails.ipynb", "raise ValueError('model registry unreachable')")
    notebook(src / "b-works.ipynb", "import os\nprint(os.environ['KUBELAB_HEADLESS'], os.environ['KUBELAB_CLUSTER'])")
    results = runner.run([src], tmp_path / "out", cluster="demo")
    assert [(r.notebook, r.status) for r in results] == [("a-fails.ipynb", "failed"), ("b-works.ipynb", "ok")]
    assert "model registry unreachable" in results[0].error
    executed = nbformat.read(tmp_path / "out" / "b-works.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"].strip() == "1 demo"  # headless, pointed at the cluster
    assert "1/2 ok" in runner.table(results)
    assert "without encryption" not in capfd.readouterr().err  # ipykernel's TCP warning is silenced
