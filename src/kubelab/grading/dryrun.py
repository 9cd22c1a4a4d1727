"""Objects the checks send to the API server in dry runs (never created): pods and DRA ResourceClaims that a
guard rail should refuse or admit (`kl.grading.dryrun.pod`, `kl.grading.dryrun.claim`). Plain dicts, the same
for every learner. (Not health probes: those are readiness and liveness, graded in `workloads`.)"""
from __future__ import annotations

from .._k8s.names import DRA_DRIVER, GPU_RESOURCE
from ..errors import UsageError

__all__ = ["SIZED", "claim", "pod"]

# requests and limits of every resource a quota may make a pod state: a probe judged by another guard rail
# (Pod Security) is then not refused by a quota whose defaults are missing, so one mistake costs one check
SIZED = {"requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"},
         "limits": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "64Mi"}}
RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": True, "runAsUser": 10101, "seccompProfile": {"type": "RuntimeDefault"}}


def pod(name: str, *, privileged: bool = False, baseline: bool = False, resources: dict | None = None,
        gpus: int = 0) -> dict:
    """A dry-run pod. By default it follows the "restricted" Pod Security profile and asks for nothing
    (resources=None: a LimitRange fills in its defaults); privileged=True breaks every profile but "privileged";
    baseline=True has no securityContext at all: "baseline" admits it, "restricted" refuses it (privilege
    escalation allowed, capabilities kept, root allowed, no seccomp profile); gpus=N asks for N nvidia.com/gpu
    (with cpu and memory requests and limits, so that only the GPUs can exceed a quota)."""
    if privileged and baseline:
        raise UsageError("pod(privileged=True, baseline=True): pick one", "privileged breaks baseline too")
    security = {"privileged": True} if privileged else None if baseline else RESTRICTED_CONTAINER
    container = {"name": "probe", "image": "registry.k8s.io/pause:3.10"}
    if security:
        container["securityContext"] = security
    if gpus:
        resources = {"requests": {"cpu": "100m", "memory": "128Mi", GPU_RESOURCE: str(gpus)},
                     "limits": {"cpu": "100m", "memory": "128Mi", GPU_RESOURCE: str(gpus)}}
    if resources:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"probe-{name}", "labels": {"kubelab.io/probe": name}},
            "spec": {"containers": [container], "automountServiceAccountToken": False}}


def claim(name: str, *, devices: int, device_class: str = DRA_DRIVER) -> dict:
    """A dry-run DRA ResourceClaim asking for `devices` devices of `device_class`: what a
    `<class>.deviceclass.resource.k8s.io/devices` quota counts."""
    return {"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
            "metadata": {"name": f"probe-{name}", "labels": {"kubelab.io/probe": name}},
            "spec": {"devices": {"requests": [{"name": "gpus", "exactly": {
                "deviceClassName": device_class, "allocationMode": "ExactCount", "count": devices}}]}}}
