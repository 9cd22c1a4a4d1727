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

The package: `conditions` (the `--for` parser, pure), `diagnosis` (rollout progress and the states that fail a wait
early), `progress` (the bar a person sees); the waits themselves are here.
"""
from __future__ import annotations

import pandas as pd

from .._k8s import kinds
from .._k8s.apierrors import call, typed_errors
from .._k8s.poll import until
from ..errors import ApiError, NotFound, UsageError, WaitTimeout
from ..observe.metrics import pod_usage
from ..observe.network import endpoint_slices
from . import progress as bars
from .conditions import Condition, jsonpath_value, met, parse_condition
from .diagnosis import (CONTAINER_FAILURES, POD_OWNERS, SCHEDULING_HINTS, UNSCHEDULABLE_GRACE_S, Failures,
                        pod_failure, rollout_state, scheduling_hint, unschedulable)

__all__ = ["CONTAINER_FAILURES", "Condition", "POD_OWNERS", "SCHEDULING_HINTS", "UNSCHEDULABLE_GRACE_S", "endpoints",
           "job_complete", "jsonpath_value", "met", "parse_condition", "pod_failure", "pod_metrics", "pod_ready",
           "rollout", "rollout_state", "scheduled", "scheduler_answers", "scheduling_hint", "unschedulable", "wait_for"]

POLL_S = 0.5
ROLLOUT_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


# -- the loop --------------------------------------------------------------------------------------





def _loop(res, name: str, namespace: str | None, step, goal: str, timeout: float, progress):
    """Poll the object, feed it to step(obj) -> (done, state, counts), until done or timeout."""
    what = f"{res.kind}/{name}"
    where = f" in namespace {namespace}" if namespace else ""
    flag = f" -n {namespace}" if namespace else ""
    bar = bars.bar(progress, what)

    def poll():
        try:
            obj = call(res.get, name=name, namespace=namespace, what=what + where).to_dict()
        except NotFound:
            obj = None
        done, state, counts = step(obj)
        bars.show(bar, state, counts, done)
        return done, (obj if done else state)

    try:
        return until(poll, timeout, every=POLL_S, timeout_error=lambda state: WaitTimeout(
            f"{what}{where} is not {goal} after {timeout:g} s; last state: {state}",
            f"see why: `kubectl describe {res.name} {name}{flag}` and its events; or wait longer (timeout=...)"))
    finally:
        if bar is not None:
            bar.close()


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
    failures = Failures(api, namespace, unschedulable_grace)

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
    failures = Failures(api, namespace, unschedulable_grace)

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
