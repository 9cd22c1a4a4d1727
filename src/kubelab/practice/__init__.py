"""Exercises in the topic notebooks: a task the learner does on the live cluster (from the notebook or a
terminal with kubectl), and a check that reads the cluster and answers at once.

    kl.practice.start("02.config-env", api, namespace)   # only where an exercise needs a starting state
    ... the learner's cell: a manifest, a kubectl line, a few lines of Python ...
    kl.practice.check("02.config-env", api, namespace)   # PASS, or what the cluster shows and one hint

A check that fails prints what the cluster shows and the first hint; run again while it still fails, it
prints the next hint. It never raises for a wrong answer (the notebook stays green), never writes to
stderr and never shows a Secret's value. Practice is not graded: the checks are the grading engine's
(`kl.grading`), so what passes here is what the labs accept.

An exercise is one function in the module of its notebook's topic (practice/<topic>.py), decorated with
`@exercise`; it returns a `kl.grading.CheckResult` (a grading check, or `engine.evaluate` over Parts).
Ids are "<notebook number>.<slug>": "02a.least-privilege" belongs to notebooks/02a-*.ipynb. The scaffold
cell in the notebook is tagged `scaffold:<id>`, the answer in solutions/notebooks/ `answer:<id>`.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

from .._k8s.apierrors import quiet
from ..errors import CheckFailed, UsageError
from ..grading.engine import CheckResult, outcome

__all__ = ["Exercise", "OBJECTIVES", "all_of", "catalogue", "check", "deployment", "evaluate", "exercise", "get", "outcome",
           "progress", "start"]

# The module's five learning objectives (shared/MODULE.md), numbered as the module numbers them.
OBJECTIVES = {
    1: "Deploy, scale, and upgrade ML services on Kubernetes clusters",
    2: "Configure ingress, storage, and secrets management for production workloads",
    3: "Implement Helm-based packaging and release management for ML services",
    4: "Operate GPU workloads and optimize resource allocation in mixed clusters",
    5: "Troubleshoot and remediate common Kubernetes failures for ML deployments",
}


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    run: Callable[[Any, str], CheckResult]      # (api, namespace) -> the result; may raise CheckFailed
    hints: tuple[str, ...]                      # after the check's own hint, one per further failing run
    objectives: tuple[int, ...]
    setup: Callable[[Any, str], None] | None = None

    @property
    def notebook(self) -> str:
        """The notebook's number: "02a" for "02a.least-privilege"."""
        return self.id.split(".", 1)[0]


_REGISTRY: dict[str, Exercise] = {}
_hints_shown: dict[tuple[str, str], int] = {}   # (id, namespace) -> failing runs so far


def exercise(id: str, title: str, *, objectives: tuple[int, ...], hints: tuple[str, ...] = (),
             setup: Callable[[Any, str], None] | None = None):
    """Register the decorated check `fn(api, namespace) -> CheckResult` as exercise `id`."""
    if id in _REGISTRY:
        raise UsageError(f"exercise {id!r} is registered twice", "give each exercise its own id")
    if not objectives or not set(objectives) <= set(OBJECTIVES):
        raise UsageError(f"exercise {id!r}: objectives {objectives!r} are not among 1-5",
                         "name the module objectives (kl.practice.OBJECTIVES) the exercise practises")

    def register(fn):
        _REGISTRY[id] = Exercise(id, title, fn, tuple(hints), tuple(objectives), setup)
        return fn
    return register


def all_of(name: str, *checks: Callable[[], CheckResult]) -> CheckResult:
    """Several checks as one, in order: it passes when all pass; the first failure speaks (its problem and
    hint) and the checks after it are not run (no waiting for what cannot pass yet)."""
    results = []
    for check_fn in checks:
        results.append(outcome(check_fn))
        if not results[-1].passed:
            return CheckResult(name, False, 0, len(checks), results[-1].message, results[-1].hint)
    return CheckResult(name, True, len(checks), len(checks), "; ".join(r.message for r in results))


def deployment(name: str, image: str, replicas: int, *, container: str = "server", labels: str = "",
               annotations: str = "", pod_spec: str = "", extra: str = "") -> str:
    """The YAML of a setup's Deployment of one container, labelled app=<name> (itself, its selector, its pods).
    `labels`: more pod labels (", key: value"); `annotations`: the pods' annotations ("{key: value}"); `pod_spec`:
    more of the pod spec (indented 6); `extra`: more of the container (indented 8)."""
    meta = f"{{labels: {{app: {name}{labels}}}" + (f", annotations: {annotations}" if annotations else "") + "}"
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {meta}
    spec:
{pod_spec}      containers:
      - name: {container}
        image: {image}
{extra}"""


def _load() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def catalogue() -> list[Exercise]:
    """Every exercise, in notebook order."""
    _load()
    return sorted(_REGISTRY.values(), key=lambda e: (e.notebook, list(_REGISTRY).index(e.id)))


def get(id: str) -> Exercise:
    _load()
    if id not in _REGISTRY:
        same = [e for e in _REGISTRY if e.split(".", 1)[0] == id.split(".", 1)[0]]
        raise UsageError(f"no exercise {id!r}", f"this notebook's exercises are {', '.join(same)}" if same
                         else "use the id printed above the exercise, e.g. '02.config-env'")
    return _REGISTRY[id]


def start(id: str, api, namespace: str) -> None:
    """Make the exercise's starting state in `namespace` (what the task says is already there)."""
    ex = get(id)
    if ex.setup is not None:
        with quiet():
            ex.setup(api, namespace)
    _hints_shown.pop((id, namespace), None)
    print(f"Exercise {id}: {ex.title} (namespace {namespace})")


def evaluate(id: str, api, namespace: str) -> CheckResult:
    """One look at the cluster: the exercise's CheckResult, passed or not; nothing printed."""
    ex = get(id)
    with quiet():
        result = outcome(ex.run, api, namespace)
    if not isinstance(result, CheckResult):
        raise UsageError(f"exercise {id!r} returned {type(result).__name__}, not a CheckResult",
                         "an exercise returns a kl.grading check's result")
    return result


def check(id: str, api, namespace: str, *, strict: bool = False) -> None:
    """Print PASS, or what the cluster shows and a hint (the next one on each run that still fails).
    strict=True (the answers in solutions/notebooks/) raises CheckFailed instead of a hint."""
    ex = get(id)
    result = evaluate(id, api, namespace)
    key = (id, namespace)
    if result.passed:
        _hints_shown.pop(key, None)
        print(f"PASS {id}: {result.message}")
        return
    if strict:
        raise CheckFailed(f"{id}: {result.message}", result.hint, result=result)
    hints = [h for h in (result.hint, *ex.hints) if h]
    shown = _hints_shown.get(key, 0)
    _hints_shown[key] = shown + 1
    print(f"NOT YET {id}: the cluster shows: {result.message}")
    if hints:
        n = min(shown, len(hints) - 1)
        last = " (the last hint; the answer is in solutions/notebooks/)" if n == len(hints) - 1 and shown else ""
        print(f"  hint {n + 1} of {len(hints)}: {hints[n]}{last}")


def progress(api, namespace: str, notebook: str):
    """A DataFrame of the notebook's exercises and whether each passes now (one look each)."""
    import pandas as pd

    rows = [{"exercise": e.id, "task": e.title, "passes": evaluate(e.id, api, namespace).passed}
            for e in catalogue() if e.notebook == notebook]
    if not rows:
        raise UsageError(f"notebook {notebook!r} has no exercises", "pass the notebook's number, e.g. '02'")
    return pd.DataFrame(rows)
