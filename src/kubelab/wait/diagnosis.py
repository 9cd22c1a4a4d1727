"""What a wait reads from the objects it polls: rollout progress (the logic of `kubectl rollout status`) and the
states an object or its pods will not leave by themselves (`Failures` raises RolloutFailed for them, with a fix)."""
from __future__ import annotations

import re
import time

from .._k8s.raw import label_selector
from ..errors import RolloutFailed

__all__ = ["CONTAINER_FAILURES", "Failures", "POD_OWNERS", "SCHEDULING_HINTS", "UNSCHEDULABLE_GRACE_S", "pod_failure",
           "rollout_state", "scheduling_hint", "unschedulable"]

UNSCHEDULABLE_GRACE_S = 5.0  # the scheduler retries; a refusal this old is not a passing state
POD_OWNERS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job")

_PULL_FIX = ("check the image name and tag (`kubectl describe pod {pod}` shows the pull error) and, for a "
             "private registry, the imagePullSecrets; then apply the fixed manifest")
CONTAINER_FAILURES = {  # container waiting reasons a pod does not leave by itself -> fix
    "ImagePullBackOff": _PULL_FIX,
    "ErrImagePull": _PULL_FIX,
    "InvalidImageName": _PULL_FIX,
    "CrashLoopBackOff": "the container starts and exits again: read its last output with `kubectl logs {pod} "
                        "--previous` and check its command, args, env and mounted config",
    "CreateContainerConfigError": "the pod refers to a ConfigMap, Secret or key that does not exist: "
                                  "`kubectl describe pod {pod}` names it; create it or fix the reference",
}

SCHEDULING_HINTS = [  # (pattern in the scheduler's message, hint)
    (r"untolerated taint", "add a toleration for nvidia.com/gpu (GPU nodes are tainted "
                           "nvidia.com/gpu=present:NoSchedule) if the pod needs a GPU node"),
    (r"Insufficient nvidia\.com/", "request fewer GPUs (no node has that many free), or free some: "
                                    "`kl.nodes(api)` shows gpu_requested per node"),
    (r"Insufficient (cpu|memory)", "request less cpu/memory, or free some: `kubectl describe nodes` shows "
                                   "what is allocated"),
    (r"node affinity|node selector", "check nodeSelector/affinity against `kubectl get nodes --show-labels`"),
    (r"persistentvolumeclaim|PersistentVolumeClaim", "check the pod's PVCs: `kubectl get pvc`"),
]


# -- rollouts (the logic of `kubectl rollout status`) ---------------------------------------------

def rollout_state(obj: dict) -> tuple[bool, str, int, int]:
    """(done, state in words, ready replicas, wanted replicas) of a Deployment, StatefulSet or DaemonSet."""
    spec, status, meta = obj.get("spec") or {}, obj.get("status") or {}, obj["metadata"]
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False, "waiting for the controller to see the latest spec", 0, 0
    return {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset}[obj["kind"]](spec, status)


def _deployment(spec: dict, status: dict):
    want = spec.get("replicas", 1)
    updated, replicas = status.get("updatedReplicas") or 0, status.get("replicas") or 0
    available, ready = status.get("availableReplicas") or 0, min(status.get("readyReplicas") or 0, updated)
    if updated < want:
        return False, f"{updated} of {want} new replicas updated", ready, want
    if replicas > updated:
        return False, f"{replicas - updated} old replicas pending termination", ready, want
    if available < updated:
        return False, f"{available} of {updated} updated replicas available", ready, want
    return True, f"{want} of {want} replicas available", ready, want


def _statefulset(spec: dict, status: dict):
    want, ready = spec.get("replicas", 1), status.get("readyReplicas") or 0
    if ready < want:
        return False, f"{ready} of {want} pods ready", ready, want
    partition = ((spec.get("updateStrategy") or {}).get("rollingUpdate") or {}).get("partition") or 0
    updated = status.get("updatedReplicas") or 0
    if partition and updated < want - partition:
        return False, f"{updated} of {want - partition} pods updated (partition {partition})", ready, want
    if not partition and status.get("updateRevision") != status.get("currentRevision"):
        return False, f"{updated} of {want} pods at the new revision", ready, want
    return True, f"{want} of {want} pods ready", ready, want


def _daemonset(spec: dict, status: dict):
    want = status.get("desiredNumberScheduled") or 0
    updated, available = status.get("updatedNumberScheduled") or 0, status.get("numberAvailable") or 0
    if updated < want:
        return False, f"{updated} of {want} updated pods scheduled", available, want
    if available < want:
        return False, f"{available} of {want} updated pods available", available, want
    return True, f"{want} of {want} pods available", available, want


# -- failing early ---------------------------------------------------------------------------------

def pod_failure(pod: dict) -> tuple[str, str] | None:
    """(reason, message) when a container of the pod waits in a state it will not leave by itself."""
    status = pod.get("status") or {}
    for cs in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in CONTAINER_FAILURES:
            return waiting["reason"], f"container {cs.get('name')}: {waiting.get('message') or waiting['reason']}"
    return None


def unschedulable(pod: dict) -> str | None:
    """The scheduler's message while it refuses the pod (PodScheduled=False, reason Unschedulable)."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False" and c.get("reason") == "Unschedulable":
            return c.get("message") or "no node fits"
    return None


def scheduling_hint(message: str) -> str:
    hints = [hint for pattern, hint in SCHEDULING_HINTS if re.search(pattern, message)]
    return "; ".join(hints) or "read the scheduler's reasons in `kubectl describe pod` (Events)"


class Failures:
    """Raises RolloutFailed when an object, or one of its pods, is in a state it will not leave by itself."""

    def __init__(self, api, namespace: str, grace: float | None):
        from kubernetes import client
        self.apps, self.core = client.AppsV1Api(api), client.CoreV1Api(api)
        self.namespace, self.grace = namespace, grace
        self.refused_since: dict[str, float] = {}  # pod uid -> when we first saw it Unschedulable

    def check(self, obj: dict) -> None:
        what = f"{obj['kind']}/{obj['metadata']['name']}"
        self._object(obj, what)
        seen = (obj.get("status") or {}).get("observedGeneration")
        if seen is not None and seen < obj["metadata"].get("generation", 0) and obj["kind"] != "Pod":
            return  # the controller has not acted on the latest spec: the pods may be the old, broken ones
        if obj["kind"] in POD_OWNERS:
            for pod in self._pods(obj):
                self._pod(pod, what, own=pod is obj)

    def _object(self, obj: dict, what: str) -> None:
        for c in (obj.get("status") or {}).get("conditions") or []:
            stuck = obj["kind"] == "Deployment" and c.get("type") == "Progressing" and \
                c.get("reason") == "ProgressDeadlineExceeded"
            failed = obj["kind"] == "Job" and c.get("type") == "Failed" and c.get("status") == "True"
            if stuck or failed:
                reason = c.get("reason") or c["type"]
                raise RolloutFailed(f"{what} failed: {reason}: {c.get('message', '')}",
                                    f"look at its pods: `kubectl describe {obj['kind'].lower()} "
                                    f"{obj['metadata']['name']}` and `kubectl logs` of a failed pod",
                                    reason=reason, obj=what)

    def _pods(self, obj: dict) -> list[dict]:
        if obj["kind"] == "Pod":
            return [obj]
        selector = label_selector((obj.get("spec") or {}).get("selector"))
        if obj["kind"] == "Deployment":  # only the newest ReplicaSet's pods: old ones may be the broken ones
            selector = self._newest_replicaset(obj, selector)
        if not selector:
            return []
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=selector).items
        return [self.core.api_client.sanitize_for_serialization(p) for p in pods]

    def _newest_replicaset(self, deployment: dict, selector: str) -> str | None:
        revision = (deployment["metadata"].get("annotations") or {}).get("deployment.kubernetes.io/revision")
        for rs in self.apps.list_namespaced_replica_set(self.namespace, label_selector=selector).items:
            if revision and (rs.metadata.annotations or {}).get("deployment.kubernetes.io/revision") == revision:
                return f"{selector},pod-template-hash={rs.metadata.labels['pod-template-hash']}"
        return None

    def _pod(self, pod: dict, what: str, own: bool) -> None:
        name = pod["metadata"]["name"]
        on = "" if own else f" (pod {name})"
        failure = pod_failure(pod)
        if failure:
            reason, message = failure
            raise RolloutFailed(f"{what}{on} is in {reason}: {message}",
                                CONTAINER_FAILURES[reason].format(pod=name), reason=reason, obj=what)
        status = pod.get("status") or {}
        if own and status.get("phase") == "Failed":  # a Job's failed pods are retried: only a bare Pod ends here
            reason = status.get("reason") or "Failed"
            raise RolloutFailed(f"{what} has failed ({reason}): {status.get('message') or 'its containers exited'}",
                                f"read its output with `kubectl logs {name}`; a failed pod is not restarted",
                                reason=reason, obj=what)
        message, uid = unschedulable(pod), pod["metadata"].get("uid", name)
        if message is None or self.grace is None:
            self.refused_since.pop(uid, None)
            return
        since = self.refused_since.setdefault(uid, time.monotonic())
        if time.monotonic() - since >= self.grace:
            raise RolloutFailed(f"{what}{on} cannot be scheduled (Unschedulable): {message}",
                                scheduling_hint(message), reason="Unschedulable", obj=what)
