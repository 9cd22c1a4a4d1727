"""The scenario catalogue: the fixed list of root-cause categories, the Scenario base class and the
registry that scenarios join with `@register`, and the seeded draw.

A scenario is one module of kubelab.exam.scenarios holding one class decorated with `@register`:

    @register
    class BadImageTag(Scenario):
        name = "bad-image-tag"; category = "image"; difficulty = 1
        ticket = "..."; evidence = ("ImagePullBackOff", "spec.template.spec.containers[0].image")
        manifests = '''...broken YAML...'''
        def repair(self, api, ns): ...          # the reference repair
        def check(self, api, ns): ...           # the live repair check (exam.checks)

Adding a scenario is adding such a module: the package is scanned on first use, nothing else changes.
"""
from __future__ import annotations

import importlib
import pkgutil
import random
import string
from typing import ClassVar

from ..errors import UsageError

__all__ = ["CATEGORIES", "Registry", "Scenario", "draw", "register", "registry"]

# The root-cause categories a diagnosis chooses from (fixed: the notebook, the rubric and the draw use them).
CATEGORIES = {
    "image": "the image reference does not exist (repository or tag): the pull fails",
    "startup": "the container starts and exits: its entrypoint lacks an env var, a mount or a command",
    "config-reference": "a ConfigMap, Secret or key the pod refers to does not exist",
    "resources": "a resource limit below what the process needs (memory: OOMKilled)",
    "scheduling": "no node fits the pod: GPUs, CPU, taints and tolerations, node selectors",
    "probes": "a health probe asks for a port or path the container does not serve",
    "service": "a Service does not reach the pods: selector or port",
    "network-policy": "a NetworkPolicy cuts off traffic that should flow",
    "storage": "a PersistentVolumeClaim is not bound: storage class, size, access mode",
    "rbac": "the workload's ServiceAccount lacks a permission it needs",
    "quota": "a ResourceQuota or LimitRange refuses what the workload asks for",
    "helm": "a Helm release is not deployed: a failed install, upgrade or rollback",
}
GENERIC_WRONG = {  # symptom-hiding repairs that apply to most scenarios (exam.tampering implements them)
    "delete-workload": "deleting the workload removes the symptom and the service with it",
    "scale-to-zero": "zero replicas cannot fail, and cannot serve either",
    "delete-pods": "the controller recreates the pods from the same broken spec",
    "second-object": "a fixed copy beside the broken object leaves the broken one broken (and the clients on it)",
}


class Scenario:
    """One broken workload: what is injected, what the learner is told, what the answer is, how the
    repair is verified on the live cluster. Subclasses set the class attributes and `check`/`repair`."""

    name: ClassVar[str]
    title: ClassVar[str]
    category: ClassVar[str]
    difficulty: ClassVar[int]                  # 1 (one field to read) .. 3 (several objects to relate)
    ticket: ClassVar[str]                      # the symptom, as a user reports it
    evidence: ClassVar[tuple[str, ...]]        # event reasons / field paths / messages that show the cause
    manifests: ClassVar[str]                   # the broken objects (YAML; $namespace is filled in)
    cause: ClassVar[str]
    fix: ClassVar[str]
    workload: ClassVar[tuple[str, str]]        # (kind, name) of the workload the generic wrong repairs act on
    wrong: ClassVar[dict[str, str]]            # wrong repair -> why it is wrong (GENERIC_WRONG names or own)
    alternatives: ClassVar[dict[str, str]] = {}  # other real repairs (methods alt_<name>) -> what they do
    check_timeout: ClassVar[float] = 30.0      # how long the live check waits for a repair to settle
    gpu_pool: ClassVar[str | None] = None      # the GPU pool its pods use (tests run few such at once)

    def render(self, text: str, namespace: str) -> str:
        return string.Template(text).safe_substitute(namespace=namespace)

    def inject(self, api, namespace: str) -> None:
        """Apply the broken objects into `namespace`."""
        from .. import manifests
        manifests.apply(api, self.render(self.manifests, namespace), namespace=namespace)

    def repair(self, api, namespace: str) -> None:  # pragma: no cover - every scenario defines it
        raise NotImplementedError

    def check(self, api, namespace: str):  # pragma: no cover - every scenario defines it
        """The live repair check: returns a passed CheckResult or raises CheckFailed."""
        raise NotImplementedError

    def tamper(self, api, namespace: str, wrong: str) -> None:
        """Apply the symptom-hiding repair `wrong` (one of self.wrong): a generic one, or the scenario's
        method wrong_<name with - as _>."""
        from . import tampering
        if wrong not in self.wrong:
            raise UsageError(f"{self.name} has no wrong repair {wrong!r}", f"pick one of {', '.join(self.wrong)}")
        own = getattr(self, "wrong_" + wrong.replace("-", "_"), None)
        if own is not None:
            own(api, namespace)
        else:
            tampering.GENERIC[wrong](api, namespace, *self.workload)

    def remove(self, api, namespace: str) -> None:
        """Delete the scenario's objects (the broken ones and those of the reference repair) from `namespace`."""
        from .. import manifests
        for text in (self.manifests, getattr(self, "fixed", "")):
            if text.strip():
                manifests.delete(api, self.render(text, namespace), namespace=namespace, wait=True)

    def repair_otherwise(self, api, namespace: str, alternative: str) -> None:
        """Apply the real repair `alternative` (one of self.alternatives) instead of the reference one."""
        if alternative not in self.alternatives:
            raise UsageError(f"{self.name} has no alternative repair {alternative!r}",
                             f"pick one of {', '.join(self.alternatives) or '(none)'}")
        getattr(self, "alt_" + alternative.replace("-", "_"))(api, namespace)

    def cleanup(self, api, namespace: str) -> None:
        """Remove what the scenario made outside the namespace (most make nothing)."""

    def answer(self) -> dict:
        return {"category": self.category, "evidence": self.evidence[0], "cause": self.cause, "fix": self.fix}


class Registry:
    """The scenarios by name, in the order of their names; filled by `register` as the modules of
    kubelab.exam.scenarios are imported (all of them, on first use)."""

    def __init__(self, package: str):
        self.package = package
        self._scenarios: dict[str, Scenario] = {}
        self._loaded = False

    def register(self, cls: type[Scenario]) -> type[Scenario]:
        problems = [a for a in ("name", "title", "category", "difficulty", "ticket", "evidence", "manifests",
                                "cause", "fix", "workload", "wrong") if not hasattr(cls, a)]
        if problems:
            raise UsageError(f"scenario {cls.__name__} lacks {', '.join(problems)}", "set them as class attributes")
        if cls.category not in CATEGORIES:
            raise UsageError(f"scenario {cls.name}: category {cls.category!r} is not one of the fixed list",
                             f"use one of {', '.join(CATEGORIES)}")
        if cls.name in self._scenarios and type(self._scenarios[cls.name]) is not cls:
            raise UsageError(f"two scenarios are named {cls.name!r}", "give each scenario its own name")
        self._scenarios[cls.name] = cls()
        return cls

    def _load(self) -> None:
        if not self._loaded:
            pkg = importlib.import_module(self.package)
            for info in pkgutil.iter_modules(pkg.__path__):
                importlib.import_module(f"{self.package}.{info.name}")
            self._loaded = True

    def all(self) -> list[Scenario]:
        self._load()
        return [self._scenarios[n] for n in sorted(self._scenarios)]

    def get(self, name: str) -> Scenario:
        self._load()
        if name not in self._scenarios:
            raise UsageError(f"no exam scenario named {name!r}", "`kubelab exam list` shows the catalogue")
        return self._scenarios[name]

    def names(self) -> list[str]:
        return [s.name for s in self.all()]


registry = Registry("kubelab.exam.scenarios")
register = registry.register


def draw(seed: int, count: int = 8, reg: Registry | None = None) -> list[Scenario]:
    """`count` scenarios for `seed`, the same for the same seed: the categories are shuffled and one
    scenario is taken from each in turn, so a draw repeats a category only after every category has
    appeared once. Order: the order of drawing (slot 1 first)."""
    reg = reg or registry
    scenarios = reg.all()
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise UsageError(f"seed must be an integer, not {seed!r}", "e.g. seed = 2026")
    if not 1 <= count <= len(scenarios):
        raise UsageError(f"count must be between 1 and {len(scenarios)} (the catalogue), not {count}",
                         "e.g. count = 8")
    rng = random.Random(seed)
    by_category = {c: [s for s in scenarios if s.category == c] for c in CATEGORIES}
    for pool in by_category.values():
        rng.shuffle(pool)
    order = [c for c in CATEGORIES if by_category[c]]
    rng.shuffle(order)
    picked: list[Scenario] = []
    while len(picked) < count:
        for c in order:
            if by_category[c] and len(picked) < count:
                picked.append(by_category[c].pop())
    return picked
