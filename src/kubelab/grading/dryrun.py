"""Objects the checks send to the API server in dry runs (never created): pods that a guard rail should
refuse or admit (`kl.grading.dryrun.pod`). Plain dicts, the same for every learner. (Not health probes: those are
readiness and liveness, graded in `workloads`.)"""
from __future__ import annotations

from .._k8s.names import GPU_RESOURCE

__all__ = ["pod"]

RESTRICTED_CONTAINER = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": True, "runAsUser": 10101, "seccompProfile": {"type": "RuntimeDefault"}}


def pod(name: str, *, privileged: bool = False, resources: dict | None = None, gpus: int = 0) -> dict:
    """A dry-run pod. By default it follows the "restricted" Pod Security profile and asks for nothing
    (resources=None: a LimitRange fills in its defaults); privileged=True breaks that profile; gpus=N asks
    for N nvidia.com/gpu (with cpu and memory requests and limits, so that only the GPUs can exceed a quota)."""
    security = {"privileged": True} if privileged else RESTRICTED_CONTAINER
    container = {"name": "probe", "image": "registry.k8s.io/pause:3.10", "securityContext": security}
    if gpus:
        resources = {"requests": {"cpu": "100m", "memory": "128Mi", GPU_RESOURCE: str(gpus)},
                     "limits": {"cpu": "100m", "memory": "128Mi", GPU_RESOURCE: str(gpus)}}
    if resources:
        container["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"probe-{name}", "labels": {"kubelab.io/probe": name}},
            "spec": {"containers": [container], "automountServiceAccountToken": False}}
