"""The layout rules of ARCHITECTURE.md that import-linter cannot state: no module imports another
module's `_` names, every public module says what it exports, and the top level shows its names."""
from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import kubelab

SRC = Path(kubelab.__file__).parent


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def test_no_module_imports_another_modules_private_names():
    offenders = []
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("kubelab")):
                offenders += [f"{path.relative_to(SRC)}: from {'.' * node.level}{node.module or ''} import {a.name}"
                              for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
    assert offenders == []


def test_no_module_reaches_into_another_through_an_attribute():
    # `observe._plain(...)`, `plots._axes(...)`: a private name of an imported kubelab module
    offenders = []
    for path, tree in _modules():
        imported = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and
                    (n.level or (n.module or "").startswith("kubelab")) for a in n.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and isinstance(node.value, ast.Name) and node.value.id in imported):
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert offenders == []


def test_every_public_module_has_all_and_a_docstring():
    missing = []
    for info in pkgutil.walk_packages(kubelab.__path__, "kubelab."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        module = importlib.import_module(info.name)
        if not module.__doc__:
            missing.append(f"{info.name}: docstring")
        if info.name.split(".")[-1] not in ("__main__",) and not hasattr(module, "__all__"):
            missing.append(f"{info.name}: __all__")
    assert missing == []


def test_tab_completion_shows_the_public_names():
    names = dir(kubelab)
    for name in ("connect", "apply", "render", "pods", "rollout", "grading", "observe", "exam", "KubelabError"):
        assert name in names
    assert all(not n.startswith("_") for n in names)
    assert all(hasattr(kubelab, n) for n in kubelab.__all__)


def test_the_layers_hold():
    # import-linter's contracts live in pyproject.toml; `make test` runs the same command first.
    proc = subprocess.run([str(Path(sys.executable).parent / "lint-imports"), "--config",
                           str(SRC.parents[1] / "pyproject.toml")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_the_kubernetes_client_imports_no_schema_validator():
    """Every kernel imports the client: with kubernetes-validate importable, `import kubernetes` imports it (the
    dynamic client's optional validation) and jsonschema's format checkers, ~1.5 s per kernel start. Its schemas
    live in the cache instead (kubelab.tools.schema_package); an environment that still has the package
    installed: `pip uninstall kubernetes-validate`."""
    code = "import sys, kubernetes.dynamic; print(sorted({'kubernetes_validate', 'jsonschema'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"
