"""The graded assignments without a cluster: release/ is what source/ generates, and every test cell
follows the rules that keep a grade from being given by mistake."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from kubelab.course import assignments

ROOT = Path(__file__).parents[2]
NOTEBOOKS = sorted((ROOT / "source").glob("*/*.ipynb"))


def test_release_is_generated_from_source():
    # `kubelab course generate` (make release) rewrites release/ from source/; commit the result
    assert assignments.release_differences() == []


def _grade_cells(nb: Path):
    for cell in json.loads(nb.read_text())["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and cell["cell_type"] == "code":
            yield meta, "".join(cell["source"])


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_test_cells_say_what_they_check_and_partial_credit_fits_the_cell(nb):
    cells = list(_grade_cells(nb))
    assert cells, "an assignment without test cells grades nothing"
    for meta, source in cells:
        assert source.startswith("# "), f"{meta['grade_id']}: the first line says what the cell checks"
        tree = ast.parse(source.replace("### BEGIN HIDDEN TESTS", "").replace("### END HIDDEN TESTS", ""))
        outs = [kw.value.value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "Partial"
                for kw in n.keywords if kw.arg == "out_of"]
        # a partial score above the cell's points makes nbgrader fail the whole submission
        assert all(out == meta["points"] for out in outs), f"{meta['grade_id']}: Partial(out_of={outs}) != {meta['points']}"
        last = tree.body[-1]
        if outs:  # ends with the Partial itself, so the cell's result is its score
            assert isinstance(last, ast.Expr) and ast.unparse(last.value) in ("p", "p.score()"), meta["grade_id"]
        assert "print(" not in source, f"{meta['grade_id']}: a test cell prints nothing of its own"
