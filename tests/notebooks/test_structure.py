"""Every topic notebook follows the course anatomy and is stored clean (no cluster needed)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("[0-9][0-9]*-*.ipynb"))


def cells(nb_path):
    return json.loads(nb_path.read_text())["cells"]


def code(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_the_numbered_notebooks_in_module_order():
    # 00 starts; 02a (tenancy and security) and 02b (workload reliability) teach what Lab 1 and Lab 2 assume; 08 (the
    # batch platform) builds on 06
    assert [p.name.split("-")[0] for p in NOTEBOOKS] == ["00", "01", "02", "02a", "02b", "03", "04", "05", "06", "07", "08"]


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


def _trees(nb):
    for c in cells(nb):
        if c["cell_type"] == "code":
            try:
                yield ast.parse(code(c))
            except SyntaxError:  # IPython magics: not ours to parse
                continue


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_no_poll_loop_in_a_notebook(nb):
    # waiting is the library's job (kl.wait_for, kl.rollout, kl.wait.*): one loop, with a deadline
    loops = [ast.unparse(n).splitlines()[0] for t in _trees(nb) for n in ast.walk(t) if isinstance(n, ast.While)]
    assert loops == []


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_manifests_vary_one_way_templates_and_render(nb):
    # f-strings with {{ }} escapes and .replace() on YAML are the old ways; kl.render(TEMPLATE, ...) the one
    def yaml_text(node) -> bool:
        parts = node.values if isinstance(node, ast.JoinedStr) else [node]
        return any(isinstance(p, ast.Constant) and isinstance(p.value, str) and "apiVersion:" in p.value
                   for p in parts)
    found = []
    for tree in _trees(nb):
        for n in ast.walk(tree):
            if isinstance(n, ast.JoinedStr) and yaml_text(n):
                found.append("f-string manifest: " + ast.unparse(n)[:60])
            if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "replace"
                    and yaml_text(n.func.value)):
                found.append(".replace() on a manifest: " + ast.unparse(n)[:60])
    assert found == []


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_use_only_the_public_library(nb):
    imports = [ast.unparse(n) for t in _trees(nb) for n in ast.walk(t) if isinstance(n, (ast.Import, ast.ImportFrom))
               and any(part.startswith(("_", "nbhelp")) for a in n.names for part in
                       f"{getattr(n, 'module', '') or ''}.{a.name}".split(".") if part)]
    assert imports == []
