"""Every topic notebook follows the course anatomy and is stored clean (no cluster needed)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def cells(nb_path):
    return json.loads(nb_path.read_text())["cells"]


def code(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_seven_numbered_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_without_outputs(nb):
    for cell in cells(nb):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, code(cell)[:80]


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_anatomy(nb):
    cs = cells(nb)
    assert cs[0]["cell_type"] == "markdown" and code(cs[0]).startswith("# ")
    params = [c for c in cs if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged `parameters`"
    names = {t.id for node in ast.walk(ast.parse(code(params[0]))) if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    assert {"namespace", "context", "kubeconfig", "scale"} <= names
    source = "\n".join(code(c) for c in cs)
    assert "kl.connect(" in source and "kl.lesson.start(" in source
    assert any("## Self-check" in code(c) for c in cs if c["cell_type"] == "markdown")
    last_code = [c for c in cs if c["cell_type"] == "code"][-1]
    assert "kl.lesson.cleanup(" in code(last_code), "the last code cell cleans up"


def test_no_helper_function_is_defined_in_two_notebooks():
    defined = {}
    for nb in NOTEBOOKS:
        for c in cells(nb):
            if c["cell_type"] != "code":
                continue
            try:
                tree = ast.parse(code(c))
            except SyntaxError:  # IPython magics: not ours to parse
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef):
                    defined.setdefault(node.name, set()).add(nb.name)
    shared = {name: nbs for name, nbs in defined.items() if len(nbs) > 1}
    assert not shared, f"move these into the kubelab library: {shared}"
