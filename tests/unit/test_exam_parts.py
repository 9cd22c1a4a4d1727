"""The exam's generic spec parts on plain objects: a repaired workload must be the one the scenario injected
(same containers, same image repositories), whatever the scenario; the reference repair always keeps it."""
from __future__ import annotations

import copy

import pytest

from kubelab import manifests
from kubelab.exam.base import DeploymentScenario, JobScenario, injected
from kubelab.exam.checks import State, same_program
from kubelab.exam.scenario_registry import registry

pytestmark = pytest.mark.unit

WORKLOADS = [s for s in registry.all() if isinstance(s, (DeploymentScenario, JobScenario))]


def _workload(s):
    kind, name = ("Deployment", s.deployment) if isinstance(s, DeploymentScenario) else ("Job", s.job)
    return kind, name, injected(s, kind, name)


@pytest.mark.parametrize("s", WORKLOADS, ids=lambda s: s.name)
def test_the_reference_repair_runs_the_same_program(s):
    kind, name, broken = _workload(s)
    fixed = next((o for o, _ in manifests.load(s.render(s.fixed, "exam")) if o["kind"] == kind
                  and o["metadata"]["name"] == name), broken)   # a repair elsewhere leaves the workload as it was
    part = same_program(broken, "w")
    assert part.ok(State(w=fixed)), part.problem(State(w=fixed))


@pytest.mark.parametrize("s", WORKLOADS, ids=lambda s: s.name)
def test_a_replaced_program_or_a_dropped_container_fails(s):
    kind, name, broken = _workload(s)
    part = same_program(broken, "w")
    other = copy.deepcopy(broken)
    first = other["spec"]["template"]["spec"]["containers"][0]
    for image in ("busybox:1.36", "docker.io/library/alpine", "registry.k8s.io/pause:3.10"):
        first["image"] = image
        assert not part.ok(State(w=other)) and "not the workload you were given" in part.problem(State(w=other))
    other["spec"]["template"]["spec"]["containers"][0]["name"] = "renamed"
    assert not part.ok(State(w=other))


def test_a_tag_or_the_registry_spelt_out_is_the_same_program():
    broken = {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": "python:3.11"}]}}}}
    part = same_program(broken, "w")
    for image in ("python:3.12-slim", "docker.io/library/python:3.12", "python@sha256:" + "a" * 64, "python"):
        fixed = {"spec": {"template": {"spec": {"containers": [{"name": "api", "image": image}]}}}}
        assert part.ok(State(w=fixed)), image
