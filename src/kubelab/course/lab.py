"""A graded lab's working state: the learner's own namespace, emptied at the start of every run, and the
learner's manifest files applied into it.

    ns = kl.course.lab.start(api, "lab1")            # <learner>-lab1, empty: this notebook recreates it all
    kl.course.lab.apply_files(api, "manifests", ns)  # the learner's files, $namespace filled in

Grading = reset the namespace -> execute the submission (its own cells and files recreate the objects)
-> the test cells read the live state. So a grade never depends on what an earlier run left behind, and
a fix made only in a terminal is not graded. The learner comes from sandbox.learner_name (the grading
run sets KUBELAB_LEARNER).
"""
from __future__ import annotations

import string
from pathlib import Path

from .. import manifests
from ..errors import ManifestError
from . import sandbox

__all__ = ["apply_files", "files", "start"]


def start(api, lab: str, learner: str | None = None) -> str:
    """Empty (or create) the learner's namespace for `lab` and return its name."""
    box = sandbox.reset(api, lab, learner)
    print(f"Your namespace for {lab}: {box.namespace} (emptied: what is graded is what this notebook creates)")
    return box.namespace


def files(folder: str | Path) -> list[Path]:
    """The manifest files of a lab folder, sorted (*.yaml, *.yml)."""
    return sorted(p for p in Path(folder).iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def apply_files(api, folder: str | Path, namespace: str) -> list[str]:
    """Apply every manifest file of `folder` into `namespace`, each with `$namespace` filled in (so a
    Namespace object can name the lab's namespace); returns "Kind/name" of what was applied."""
    applied = []
    for path in files(folder):
        # safe_substitute: a `$VAR` of a shell command in the file stays as written
        text = string.Template(path.read_text()).safe_substitute(namespace=namespace)
        try:
            applied += [f"{o['kind']}/{o['metadata']['name']}" for o in manifests.apply(api, text, namespace=namespace)]
        except ManifestError as err:
            err.problem = f"{path}: {err.problem}"
            err.args = (err.problem,)
            raise
    return applied
