"""Scenario kinds that most of the catalogue shares: a broken Deployment (or Job) whose reference repair
is applying the fixed manifests, whose check is "the same workload, still asking for its replicas, all of
them ready" plus the scenario's own guard-rail parts."""
from __future__ import annotations

from typing import ClassVar

from .. import manifests
from ..grading.engine import Part
from . import tampering
from .checks import State, current_pods, deployment_parts, get, job_parts, same_program, verify
from .scenario_registry import GENERIC_WRONG, Scenario

__all__ = ["DeploymentScenario", "JobScenario"]


def injected(scenario: Scenario, kind: str, name: str) -> dict:
    """The broken workload as the scenario injects it (its manifests, parsed)."""
    return next(obj for obj, _ in manifests.load(scenario.render(scenario.manifests, "exam"))
                if obj["kind"] == kind and obj["metadata"]["name"] == name)


class DeploymentScenario(Scenario):
    """The Deployment `deployment` is broken; `fixed` (YAML) is the reference repair."""

    deployment: ClassVar[str]
    replicas: ClassVar[int] = 1
    fixed: ClassVar[str]
    own_wrong: ClassVar[dict[str, str]] = {}

    @property
    def workload(self):
        return ("deployment", self.deployment)

    @property
    def wrong(self):
        return {**{k: v for k, v in GENERIC_WRONG.items()}, **self.own_wrong}

    def repair(self, api, namespace: str) -> None:
        manifests.apply(api, self.render(self.fixed, namespace), namespace=namespace)

    def wrong_second_object(self, api, namespace: str) -> None:
        tampering.beside(api, namespace, self.render(self.fixed, namespace), "Deployment", self.deployment)

    def state(self, api, namespace: str) -> State:
        from kubernetes import client
        d = get(client.AppsV1Api(api).read_namespaced_deployment, self.deployment, namespace,
                what=f"Deployment {self.deployment!r}")
        return State(deployment=d, pods=current_pods(api, namespace, d), **self.more_state(api, namespace))

    def more_state(self, api, namespace: str) -> dict:
        """What else the check reads (the quota, the Service ...), by key."""
        return {}

    def guard_parts(self, namespace: str) -> list[Part]:
        """Spec parts: what the repair must keep (the probe, the limit, the quota ...)."""
        return []

    def live_parts(self, namespace: str) -> list[Part]:
        """Live parts beyond "every replica ready"."""
        return []

    def check(self, api, namespace: str):
        spec, live = deployment_parts(self.deployment, self.replicas)
        spec += [same_program(injected(self, "Deployment", self.deployment), "deployment")]
        return verify(self.name, lambda: self.state(api, namespace), spec=spec + self.guard_parts(namespace),
                      live=live + self.live_parts(namespace), timeout=self.check_timeout,
                      success=f"{self.deployment} runs {self.replicas} ready replica(s) and keeps its guard rails")


class JobScenario(Scenario):
    """The Job `job` never runs; `fixed` (YAML) is the reference repair (a Job's pod template is
    immutable: the fixed Job replaces it)."""

    job: ClassVar[str]
    fixed: ClassVar[str]
    own_wrong: ClassVar[dict[str, str]] = {}
    check_timeout: ClassVar[float] = 30.0

    @property
    def workload(self):
        return ("job", self.job)

    @property
    def wrong(self):
        return {"delete-workload": GENERIC_WRONG["delete-workload"],
                "scale-to-zero": "suspending the Job (a Job's scale to zero) runs nothing",
                "delete-pods": GENERIC_WRONG["delete-pods"], "replace-workload": GENERIC_WRONG["replace-workload"],
                **self.own_wrong}

    def repair(self, api, namespace: str) -> None:
        self.recreate(api, namespace, self.fixed)

    def recreate(self, api, namespace: str, text: str) -> None:
        """Delete the Job (its pods first) and apply `text` (YAML) in its place."""
        from .. import tools
        tools.kubectl(api, "delete", "job", self.job, "-n", namespace, "--wait=true", "--cascade=foreground")
        manifests.apply(api, self.render(text, namespace), namespace=namespace)

    def state(self, api, namespace: str) -> State:
        from kubernetes import client

        from .._k8s import raw
        job = get(client.BatchV1Api(api).read_namespaced_job, self.job, namespace, what=f"Job {self.job!r}")
        pods = raw.pods(api, namespace, selector=f"batch.kubernetes.io/controller-uid={job['metadata']['uid']}")
        return State(job=job, pods=pods)

    def guard_parts(self, namespace: str) -> list[Part]:
        return []

    def check(self, api, namespace: str):
        spec, live = job_parts(self.job)
        spec += [same_program(injected(self, "Job", self.job), "job")]   # recreated, but the same training program
        return verify(self.name, lambda: self.state(api, namespace), spec=spec + self.guard_parts(namespace),
                      live=live, timeout=self.check_timeout, success=f"Job {self.job} ran to completion")
