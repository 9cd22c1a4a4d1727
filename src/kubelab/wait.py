"""Waiting for objects like `kubectl wait` and `kubectl rollout status`, but failing early and clearly.

    kl.wait.rollout(api, "Deployment", "web", "team-a")             # all replicas updated and available
    kl.wait.wait_for(api, "Job", "train", "team-a", "condition=Complete")
    kl.wait.wait_for(api, "Pod", "p", "team-a", "jsonpath={.status.phase}=Running")
    kl.wait.wait_for(api, "Pod", "p", "team-a", "delete")

A wait does not sit out its timeout when the outcome is already known: a pod in ImagePullBackOff,
ErrImagePull or CrashLoopBackOff, a pod the scheduler keeps refusing (Unschedulable for longer than
`unschedulable_grace` seconds), a Deployment past its progress deadline, or a failed Job raise
RolloutFailed, with the reason and a fix. Running out of time raises WaitTimeout with the last state seen.
The object is polled (every POLL_S s): simpler than a watch, and as quick on a local cluster.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pandas as pd

from ._k8s import kinds
from ._k8s.apierrors import call, typed_errors
from ._k8s.poll import interactive, until
from ._k8s.raw import label_selector
from .errors import ApiError, NotFound, RolloutFailed, UsageError, WaitTimeout
from .observe.metrics import pod_usage
from .observe.network import endpoint_slices

__all__ = ["Condition", "endpoints", "job_complete", "parse_condition", "pod_failure", "pod_metrics", "pod_ready",
           "rollout", "rollout_state", "scheduled", "scheduler_answers", "scheduling_hint", "unschedulable", "wait_for"]

POLL_S = 0.5
UNSCHEDULABLE_GRACE_S = 5.0  # the scheduler retries; a refusal this old is not a passing state
ROLLOUT_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
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


# -- conditions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    """A parsed `kubectl wait --for` string."""
    form: str                   # "condition", "jsonpath" or "delete"
    name: str = ""              # the condition type, or the jsonpath (".status.phase")
    value: str | None = None    # the wanted status / value; None for a jsonpath: just present
    steps: tuple = ()           # the jsonpath, parsed


_STEP = re.compile(r"""\.(?P<key>(?:\\\.|[^.\[\\])+)"""
                   r"""|\[(?P<index>-?\d+)\]"""
                   r"""|\[\?\(@\.(?P<field>[\w.-]+)\s*==\s*(?P<q>["'])(?P<match>.*?)(?P=q)\)\]""")


def _bad(text: str, why: str) -> UsageError:
    return UsageError(f"cannot read the wait condition {text!r}: {why}. Write it as kubectl wait --for does: "
                      "'condition=Ready', 'condition=Ready=False', 'jsonpath={.status.phase}=Running' or 'delete'")


def parse_condition(text: str) -> Condition:
    """'condition=Type[=Status]', 'jsonpath={.path}[=value]' or 'delete' -> Condition; UsageError otherwise."""
    if not isinstance(text, str):
        raise _bad(str(text), "it is not a string")
    form, _, rest = text.strip().partition("=")
    form = form.lower()
    if form == "delete" and not rest:
        return Condition("delete")
    if form == "condition":
        name, _, status = rest.partition("=")
        if not re.fullmatch(r"[A-Za-z][\w.\-/]*", name):
            raise _bad(text, "a condition type (Ready, Available, Complete...) must follow 'condition='")
        return Condition("condition", name, status or "True")
    if form == "jsonpath":
        return _parse_jsonpath(text, rest)
    raise _bad(text, "it starts with neither 'condition=', 'jsonpath=' nor 'delete'")


def _parse_jsonpath(text: str, rest: str) -> Condition:
    m = re.fullmatch(r"\{(?P<path>[^{}]*)\}(?:=(?P<value>.*))?", rest) or \
        re.fullmatch(r"(?P<path>\.[^={}]*)(?:=(?P<value>.*))?", rest)
    if not m:
        raise _bad(text, "a jsonpath goes in braces, '{.status.phase}', then '=' and the wanted value")
    path = m["path"].strip()
    steps, pos = [], 0
    for step in _STEP.finditer(path):
        if step.start() != pos:
            break
        steps.append(_step(step))
        pos = step.end()
    if not steps or pos != len(path):
        raise _bad(text, f"{path!r} is not a jsonpath this reads (.field, [index], [?(@.field==\"value\")])")
    return Condition("jsonpath", path, m["value"], tuple(steps))


def _step(m: re.Match) -> tuple:
    if m["key"] is not None:
        return ("key", m["key"].replace("\\.", "."))
    if m["index"] is not None:
        return ("index", int(m["index"]))
    return ("filter", m["field"], m["match"])


def jsonpath_value(obj, steps):
    """The value at a parsed jsonpath of obj, or None where it does not exist."""
    for step in steps:
        if step[0] == "key":
            obj = obj.get(step[1]) if isinstance(obj, dict) else None
        elif step[0] == "index":
            obj = obj[step[1]] if isinstance(obj, list) and -len(obj) <= step[1] < len(obj) else None
        else:
            found = [x for x in obj or [] if isinstance(x, dict) and _text(jsonpath_value(
                x, [("key", k) for k in step[1].split(".")])) == step[2]] if isinstance(obj, list) else []
            obj = found[0] if found else None
        if obj is None:
            return None
    return obj


def _text(value) -> str:
    """A value as kubectl's jsonpath prints it (booleans in lower case)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def met(cond: Condition, obj: dict | None) -> tuple[bool, str]:
    """Whether obj satisfies cond, and its state in words."""
    if cond.form == "delete":
        return obj is None, "deleted" if obj is None else "still exists" + (
            " (being deleted)" if obj["metadata"].get("deletionTimestamp") else "")
    if obj is None:
        return False, "does not exist (yet)"
    if cond.form == "jsonpath":
        value = jsonpath_value(obj, cond.steps)
        if value is None:
            return False, f"has no {cond.name}"
        return (cond.value is None or _text(value) == cond.value), f"{cond.name} is {_text(value)!r}"
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type", "").lower() == cond.name.lower():
            detail = ": ".join(x for x in (c.get("reason"), c.get("message")) if x)
            state = f"condition {c['type']}={c.get('status')}" + (f" ({detail})" if detail else "")
            return str(c.get("status")).lower() == cond.value.lower(), state
    return False, f"no {cond.name} condition yet"


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


class _Failures:
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




# -- the loop --------------------------------------------------------------------------------------





def _loop(res, name: str, namespace: str | None, step, goal: str, timeout: float, progress):
    """Poll the object, feed it to step(obj) -> (done, state, counts), until done or timeout."""
    what = f"{res.kind}/{name}"
    where = f" in namespace {namespace}" if namespace else ""
    flag = f" -n {namespace}" if namespace else ""
    bar = _bar(progress, what)

    def poll():
        try:
            obj = call(res.get, name=name, namespace=namespace, what=what + where).to_dict()
        except NotFound:
            obj = None
        done, state, counts = step(obj)
        _show(bar, state, counts, done)
        return done, (obj if done else state)

    try:
        return until(poll, timeout, every=POLL_S, timeout_error=lambda state: WaitTimeout(
            f"{what}{where} is not {goal} after {timeout:g} s; last state: {state}",
            f"see why: `kubectl describe {res.name} {name}{flag}` and its events; or wait longer (timeout=...)"))
    finally:
        if bar is not None:
            bar.close()


def _bar(progress, what: str):
    if not (interactive() if progress is None else progress):
        return None
    from tqdm.auto import tqdm
    return tqdm(total=1, desc=what, bar_format="{desc} {bar} {n_fmt}/{total_fmt} ready [{elapsed}] {postfix}")


def _show(bar, state: str, counts, done: bool) -> None:
    if bar is None:
        return
    ready, total = counts if counts else (int(done), 1)
    bar.total, bar.n = max(total, 1), ready
    bar.set_postfix_str(state, refresh=True)


# -- the public waits --------------------------------------------------------------------------

@typed_errors
def wait_for(api, kind: str, name: str, namespace: str | None = None, condition="condition=Available",
             timeout: float = 120, progress: bool | None = None,
             unschedulable_grace: float | None = UNSCHEDULABLE_GRACE_S):
    """Wait until the object meets `condition` (a kubectl wait --for string, see parse_condition); returns
    it as a dict (None after 'delete'). Fails early (RolloutFailed, see the module doc), except for 'delete'.
    progress: a tqdm bar; None means on in a Jupyter kernel, off elsewhere."""
    cond = condition if isinstance(condition, Condition) else parse_condition(condition)
    res = kinds.resource(api, kind)
    namespace = kinds.namespace_for(res, namespace, name)
    failures = _Failures(api, namespace, unschedulable_grace)

    def step(obj):
        done, state = met(cond, obj)
        if not done and obj is not None and cond.form != "delete":
            failures.check(obj)
        return done, state, None

    goal = "deleted" if cond.form == "delete" else f"{cond.name}={cond.value or '<any value>'}"
    return _loop(res, name, namespace, step, goal, timeout, progress)


@typed_errors
def rollout(api, kind: str, name: str, namespace: str | None = None, timeout: float = 300,
            progress: bool | None = None, unschedulable_grace: float | None = UNSCHEDULABLE_GRACE_S) -> dict:
    """Wait like `kubectl rollout status` until a Deployment, StatefulSet or DaemonSet is fully rolled out
    (the latest spec seen, every replica updated and available); returns it. The bar counts ready replicas."""
    res = kinds.resource(api, kind)
    if res.kind not in ROLLOUT_KINDS:
        raise UsageError(f"rollout() waits for a {', '.join(ROLLOUT_KINDS)}, not a {res.kind}", "use wait_for()")
    namespace = kinds.namespace_for(res, namespace, name)
    failures = _Failures(api, namespace, unschedulable_grace)

    def step(obj):
        if obj is None:
            return False, "does not exist (yet)", None
        done, state, ready, want = rollout_state(obj)
        if not done:
            failures.check(obj)
        return done, state, (ready, want)

    return _loop(res, name, namespace, step, "rolled out", timeout, progress)


def job_complete(api, name: str, namespace: str, timeout: float = 300, progress: bool | None = None) -> dict:
    """Wait until a Job is Complete; RolloutFailed as soon as it has Failed."""
    return wait_for(api, "Job", name, namespace, "condition=Complete", timeout, progress)


def pod_ready(api, name: str, namespace: str, timeout: float = 120, progress: bool | None = None) -> dict:
    """Wait until a Pod is Ready; RolloutFailed as soon as it cannot get there by itself."""
    return wait_for(api, "Pod", name, namespace, "condition=Ready", timeout, progress)


def endpoints(api, service: str, namespace: str, *, ready: int = 1, pod: str | None = None,
              timeout: float = 30) -> pd.DataFrame:
    """Wait until Service `service` has at least `ready` ready endpoints in its EndpointSlices (the
    EndpointSlice controller fills them a moment after the Service or its pods change) and, with `pod`,
    lists that pod too, ready or not (a matching pod that is not ready is listed with ready false); returns
    `observe.network.endpoint_slices(api, namespace, service=service)`. WaitTimeout with what was seen."""
    def poll():
        df = endpoint_slices(api, namespace, service=service)
        return int(df["ready"].sum()) >= ready and (pod is None or pod in set(df["pod"])), df

    def timed_out(df):
        seen = f"{int(df['ready'].sum())} ready endpoints" + (f" and no endpoint for pod {pod}"
                                                               if pod and pod not in set(df["pod"]) else "")
        return WaitTimeout(
            f"Service {service} in namespace {namespace} has {seen} after {timeout:g} s, wanted {ready} ready"
            + (f" and pod {pod} listed" if pod else ""), f"check that its selector matches the pods: `kubectl get "
            f"pods -n {namespace} --show-labels` and `kubectl describe service {service} -n {namespace}`")

    return until(poll, timeout, timeout_error=timed_out)


def pod_metrics(api, namespace: str, *, pods, timeout: float = 90, every: float = 1.0) -> pd.DataFrame:
    """Wait until the metrics API (metrics-server) reports the usage of every pod named in `pods` (a new pod
    shows up after two scrapes, ~30-60 s after it started); returns `observe.metrics.pod_usage(api,
    namespace)`. A metrics API that is not ready yet (503) is asked again; one that is not installed (404)
    raises its ApiError at once. WaitTimeout names the pods still without metrics."""
    wanted = set(pods)

    def poll():
        try:
            usage = pod_usage(api, namespace)
        except ApiError as err:
            if err.code != 503:
                raise
            return False, err
        return wanted <= set(usage["pod"]), usage

    def timed_out(last):
        if isinstance(last, ApiError):
            return last
        missing = sorted(wanted - set(last["pod"]))
        return WaitTimeout(f"the metrics API has no usage for {len(missing)} of {len(wanted)} pods after "
                           f"{timeout:g} s: {', '.join(missing)}",
                           f"metrics-server reports a pod ~30-60 s after it starts: wait longer (timeout=...), "
                           f"or check it: `kubectl top pods -n {namespace}`")

    return until(poll, timeout, every=every, timeout_error=timed_out)


@typed_errors
def scheduled(api, namespace: str, *, selector: str, count: int, timeout: float = 120) -> int:
    """Wait until `count` pods match `selector` and the scheduler has decided on each (bound to a node, or
    PodScheduled=False: it tried and found no node); returns how many are bound to a node."""
    from kubernetes import client

    core = client.CoreV1Api(api)

    def poll():
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        decided = [p for p in pods if p.spec.node_name or any(
            c.type == "PodScheduled" and c.status == "False" for c in p.status.conditions or [])]
        done = len(pods) >= count and len(decided) == len(pods)
        return done, (sum(bool(p.spec.node_name) for p in pods) if done else len(decided))

    return until(poll, timeout, every=0.3, timeout_error=lambda decided: WaitTimeout(
        f"{decided} of {count} pods ({selector}) have a scheduling decision after {timeout:g} s",
        "look at the scheduler: `kubelab cluster logs kube-scheduler`"))


@typed_errors
def scheduler_answers(api, scheduler_name: str, namespace: str, *, timeout: float = 15) -> bool:
    """Whether a scheduler (profile) named `scheduler_name` runs on this cluster. There is no API that lists
    scheduler profiles, so this asks: a probe pod that fits no node gets PodScheduled=False within a
    second from a scheduler that exists, and nothing ever from one that does not. The probe is deleted."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    name = "scheduler-probe"
    core.create_namespaced_pod(namespace, {
        "metadata": {"name": name, "labels": {"kubelab.io/probe": "scheduler"}},
        "spec": {"schedulerName": scheduler_name, "nodeSelector": {"kubelab.io/probe": "no-such-node"},
                 "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}]}})
    try:
        def poll():
            pod = core.read_namespaced_pod(name, namespace)
            answered = bool(pod.spec.node_name) or any(c.type == "PodScheduled" for c in pod.status.conditions or [])
            return answered, answered
        return until(poll, timeout)
    finally:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)
