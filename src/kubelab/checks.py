"""Grading checks for nbgrader test cells: each verifies LIVE cluster state through the API.

In a test cell, call a check and let it raise: a failed check raises CheckFailed (an AssertionError)
with a short message and a hint, which nbgrader scores 0; a passed one returns its CheckResult.

    checks.deployment_ready(api, "web", ns, replicas=3)

For partial credit, collect results with raise_=False and end the cell with `credit(...)`: nbgrader
takes a number shown as a cell's result as its score (it must not exceed the cell's points, so
`credit` scales to `out_of`). Never end a test cell with a raise_=False result itself: nbgrader gives
full marks to any result that is not a number.

    results = [checks.pod_requests_gpu(api, "trainer", ns, count=2, raise_=False),
               checks.quota_caps_gpus(api, ns, 4, raise_=False)]
    checks.credit(results, out_of=3)

Checks never write to stderr (nbgrader scores a cell that does 0): the client's warnings and log
records are silenced while a check runs. Messages name objects and keys, never Secret values.
Readiness checks (ready, endpoints, scheduled) wait up to `timeout` s (default 10, so that a few fit
in nbgrader's 30 s cell timeout) for the state to be reached; the others read once.
"""
from __future__ import annotations

import contextlib
import logging
import time
import warnings
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Callable

from .errors import CheckFailed
from .pools import GPU_TAINT, POOL_LABEL
from .quantity import to_float

GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
READY_TIMEOUT = 10.0  # several checks in one cell stay within nbgrader's 30 s cell timeout


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    points: float
    max_points: float
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'} {self.name} ({self.points:g}/{self.max_points:g}): {self.message}"
        return f"{head}\n  hint: {self.hint}" if self.hint and not self.passed else head


def score(results) -> tuple[float, float]:
    """(points earned, points possible) over CheckResults."""
    results = list(results)
    return sum(r.points for r in results), sum(r.max_points for r in results)


def credit(results, out_of: float) -> float:
    """The earned share of `out_of` points: end an nbgrader test cell with it for partial credit."""
    points, possible = score(results)
    return round(out_of * points / possible, 4) if possible else 0.0


# -- the machinery: a check = fetch the live objects, then test independent parts (1 point each) ------

@dataclass(frozen=True)
class Part:
    ok: Callable[[Any], bool]
    problem: str | Callable[[Any], str]  # said when ok is False
    hint: str


class _Missing(Exception):
    """The object a check needs could not be read: every part fails with this message."""

    def __init__(self, problem: str, hint: str):
        self.problem, self.hint = problem, hint


@contextlib.contextmanager
def quiet():
    """No warnings and no client log records (urllib3 retries, kubernetes) while the block runs."""
    loggers = [logging.getLogger(name) for name in ("urllib3", "kubernetes")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.CRITICAL + 1)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels):
                lg.setLevel(level)


def evaluate(name: str, fetch: Callable[[], Any], parts: list[Part], success: str) -> CheckResult:
    """One look at the cluster: fetch, then score each part."""
    try:
        obj = fetch()
    except _Missing as m:
        return CheckResult(name, False, 0, len(parts), m.problem, m.hint)
    failed = [p for p in parts if not p.ok(obj)]
    if not failed:
        return CheckResult(name, True, len(parts), len(parts), success)
    problems = "; ".join(p.problem(obj) if callable(p.problem) else p.problem for p in failed)
    return CheckResult(name, False, len(parts) - len(failed), len(parts), problems, failed[0].hint)


def run(name: str, fetch, parts: list[Part], success: str, *, raise_: bool = True,
        timeout: float = 0) -> CheckResult:
    """Evaluate until it passes or `timeout` s have gone; raise CheckFailed on failure if raise_."""
    deadline = time.monotonic() + timeout
    with quiet():
        while True:
            result = evaluate(name, fetch, parts, success)
            if result.passed or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
    if raise_ and not result.passed:
        raise CheckFailed(result.message, result.hint)
    return result


def _read(call: Callable[[], Any], what: str, namespace: str | None = None):
    """call(), with a missing or unreadable object turned into _Missing (a readable message)."""
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    where = f" in namespace {namespace!r}" if namespace else ""
    try:
        return call()
    except ApiException as err:
        if err.status == 404:
            raise _Missing(f"{what} not found{where}", f"create {what}{where} (check the name and namespace)")
        raise _Missing(f"cannot read {what}{where}: the API server answered {err.status} {err.reason}",
                       "check that the cluster is up and that you may read this object")
    except (HTTPError, OSError):
        raise _Missing(f"cannot reach the cluster to read {what}{where}",
                       "start it (`kubelab cluster up`) and run the cell again")


def _api(api, group: str):
    from kubernetes import client
    return getattr(client, group)(api)


# -- workloads -----------------------------------------------------------------------------------

def _replicas_part(what: str, replicas: int | None) -> list[Part]:
    if replicas is None:
        return []
    return [Part(lambda o: (o.spec.replicas or 0) == replicas,
                 lambda o: f"{what} asks for {o.spec.replicas} replicas, expected {replicas}",
                 f"set spec.replicas: {replicas}")]


def _ready_part(what: str, kind: str, name: str, namespace: str) -> Part:
    def ok(o) -> bool:
        s, want = o.status, o.spec.replicas or 0
        return ((s.observed_generation or 0) >= (o.metadata.generation or 0)
                and (s.ready_replicas or 0) == want and (s.updated_replicas or 0) == want)
    return Part(ok, lambda o: f"{what} has {o.status.ready_replicas or 0}/{o.spec.replicas} ready replicas",
                f"look at its pods: `kubectl get pods -n {namespace}` and "
                f"`kubectl describe {kind} {name} -n {namespace}`")


def _workload_ready(api, kind: str, read: str, name: str, namespace: str, replicas: int | None,
                    timeout: float, raise_: bool) -> CheckResult:
    what = f"{kind} {name!r}"
    fetch = lambda: _read(lambda: getattr(_api(api, "AppsV1Api"), read)(name, namespace), what, namespace)
    parts = _replicas_part(what, replicas) + [_ready_part(what, kind.lower(), name, namespace)]
    return run(f"{kind.lower()}_ready", fetch, parts, f"{what} is ready", raise_=raise_, timeout=timeout)


def deployment_ready(api, name: str, namespace: str, replicas: int | None = None, *,
                     timeout: float = READY_TIMEOUT, raise_: bool = True) -> CheckResult:
    """The Deployment exists, is rolled out and all its replicas are ready (and there are `replicas`)."""
    return _workload_ready(api, "Deployment", "read_namespaced_deployment", name, namespace, replicas, timeout, raise_)


def statefulset_ready(api, name: str, namespace: str, replicas: int | None = None, *,
                      timeout: float = READY_TIMEOUT, raise_: bool = True) -> CheckResult:
    """The StatefulSet exists and all its replicas are ready and updated (and there are `replicas`)."""
    return _workload_ready(api, "StatefulSet", "read_namespaced_stateful_set", name, namespace, replicas,
                           timeout, raise_)


def service_selects(api, service: str, deployment: str, namespace: str, *,
                    timeout: float = READY_TIMEOUT, raise_: bool = True) -> CheckResult:
    """The Service's selector matches the Deployment's pod labels (1) and it has ready endpoints (1)."""
    svc_what, dep_what = f"Service {service!r}", f"Deployment {deployment!r}"

    def fetch():
        core, apps = _api(api, "CoreV1Api"), _api(api, "AppsV1Api")
        svc = _read(lambda: core.read_namespaced_service(service, namespace), svc_what, namespace)
        dep = _read(lambda: apps.read_namespaced_deployment(deployment, namespace), dep_what, namespace)
        slices = _read(lambda: _api(api, "DiscoveryV1Api").list_namespaced_endpoint_slice(
            namespace, label_selector=f"kubernetes.io/service-name={service}").items, "EndpointSlices", namespace)
        ready = sum(1 for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready)
        return SimpleNamespace(selector=svc.spec.selector or {}, labels=dep.spec.template.metadata.labels or {},
                               ready=ready)

    parts = [
        Part(lambda o: bool(o.selector) and o.selector.items() <= o.labels.items(),
             lambda o: f"{svc_what} selects {o.selector or 'nothing'} but the pods of {dep_what} "
                       f"are labelled {o.labels}",
             f"make spec.selector of {svc_what} a subset of the Deployment's spec.template.metadata.labels"),
        Part(lambda o: o.ready > 0, f"{svc_what} has no ready endpoints",
             f"check the pods are ready and their labels match: `kubectl get endpointslices -n {namespace}`"),
    ]
    return run("service_selects", fetch, parts, f"{svc_what} selects the ready pods of {dep_what}",
               raise_=raise_, timeout=timeout)


# -- GPUs ----------------------------------------------------------------------------------------

WORKLOADS = {"Pod": ("CoreV1Api", "read_namespaced_pod"),
             "Deployment": ("AppsV1Api", "read_namespaced_deployment"),
             "StatefulSet": ("AppsV1Api", "read_namespaced_stateful_set"),
             "Job": ("BatchV1Api", "read_namespaced_job")}


def _tolerates(t, taint: dict) -> bool:
    # The API server's matching rule: an empty key with Exists tolerates every taint.
    if t.effect and t.effect != taint["effect"]:
        return False
    if not t.key:
        return t.operator == "Exists"
    return t.key == taint["key"] and ((t.operator or "Equal") == "Exists" or (t.value or "") == taint["value"])


def _gpus(pod_spec) -> int:
    from .gpu import GPU_RESOURCE, container_gpu_requests
    return sum(container_gpu_requests(c).get(GPU_RESOURCE, 0) for c in pod_spec.containers)


def _pinned_to(pod_spec, product: str) -> bool:
    """nodeSelector or required node affinity keeps the pod on nodes of `product` only."""
    if (pod_spec.node_selector or {}).get(GPU_PRODUCT_LABEL) == product:
        return True
    required = (pod_spec.affinity and pod_spec.affinity.node_affinity
                and pod_spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution)
    terms = (required and required.node_selector_terms) or []
    return bool(terms) and all(
        any(e.key == GPU_PRODUCT_LABEL and e.operator == "In" and set(e.values or []) == {product}
            for e in t.match_expressions or [])
        for t in terms)


def pod_requests_gpu(api, name: str, namespace: str, count: int | None = None, product: str | None = None, *,
                     kind: str = "Pod", raise_: bool = True) -> CheckResult:
    """A Pod (or the pod template of a Deployment, StatefulSet or Job) tolerates the GPU taint (1),
    requests nvidia.com/gpu - `count` of them if given (1) - and, if `product` is given, is pinned to
    that nvidia.com/gpu.product by nodeSelector or node affinity (1)."""
    if kind not in WORKLOADS:
        raise ValueError(f"kind must be one of {', '.join(WORKLOADS)}, not {kind!r}")
    what = f"{kind} {name!r}"
    group, method = WORKLOADS[kind]
    taint = f"{GPU_TAINT['key']}={GPU_TAINT['value']}:{GPU_TAINT['effect']}"

    def fetch():
        obj = _read(lambda: getattr(_api(api, group), method)(name, namespace), what, namespace)
        return obj.spec if kind == "Pod" else obj.spec.template.spec

    wanted = f"{count} nvidia.com/gpu" if count else "nvidia.com/gpu"
    parts = [
        Part(lambda s: any(_tolerates(t, GPU_TAINT) for t in s.tolerations or []),
             f"{what} does not tolerate the GPU taint {taint}",
             f"add tolerations: [{{key: {GPU_TAINT['key']}, operator: Exists, effect: {GPU_TAINT['effect']}}}]"),
        Part(lambda s: _gpus(s) == count if count else _gpus(s) > 0,
             lambda s: f"{what} requests {_gpus(s)} nvidia.com/gpu, expected {count or 'at least 1'}",
             f"set resources.limits: {{nvidia.com/gpu: {count or 1}}} on the container that needs {wanted}"),
    ]
    if product:
        parts.append(Part(lambda s: _pinned_to(s, product), f"{what} is not pinned to {GPU_PRODUCT_LABEL}={product}",
                          f"add nodeSelector: {{{GPU_PRODUCT_LABEL}: {product}}}"))
    return run("pod_requests_gpu", fetch, parts, f"{what} requests {wanted} and tolerates the GPU taint",
               raise_=raise_)


def quota_caps_gpus(api, namespace: str, gpus: int, *, raise_: bool = True) -> CheckResult:
    """A ResourceQuota in the namespace sets requests.nvidia.com/gpu to exactly `gpus`."""
    key = "requests.nvidia.com/gpu"
    fetch = lambda: {q.metadata.name: (q.spec.hard or {}).get(key) for q in _read(
        lambda: _api(api, "CoreV1Api").list_namespaced_resource_quota(namespace).items, "ResourceQuotas", namespace)}

    def problem(caps: dict) -> str:
        set_ = {n: v for n, v in caps.items() if v is not None}
        if not set_:
            return f"no ResourceQuota in namespace {namespace!r} sets {key}"
        return "; ".join(f"ResourceQuota {n!r} caps {key} at {v}, expected {gpus}" for n, v in set_.items())

    parts = [Part(lambda caps: any(v is not None and to_float(v) == gpus for v in caps.values()), problem,
                  f"create a ResourceQuota with spec.hard: {{{key}: \"{gpus}\"}} in namespace {namespace}")]
    return run("quota_caps_gpus", fetch, parts, f"namespace {namespace!r} caps {key} at {gpus}", raise_=raise_)


def pod_scheduled_on_pool(api, pod: str, namespace: str, pool: str, *, pool_label: str = POOL_LABEL,
                          timeout: float = READY_TIMEOUT, raise_: bool = True) -> CheckResult:
    """The pod is bound to a node whose `pool_label` is `pool`."""
    what = f"Pod {pod!r}"
    core = lambda: _api(api, "CoreV1Api")

    def fetch():
        p = _read(lambda: core().read_namespaced_pod(pod, namespace), what, namespace)
        node = p.spec.node_name
        labels = (core().read_node(node).metadata.labels or {}) if node else {}
        return SimpleNamespace(node=node, pool=labels.get(pool_label), phase=p.status.phase)

    def problem(o) -> str:
        if not o.node:
            return f"{what} is not scheduled ({o.phase}): no node fits it yet"
        return f"{what} runs on node {o.node} of pool {o.pool!r}, expected pool {pool!r}"

    parts = [Part(lambda o: o.node is not None and o.pool == pool, problem,
                  f"`kubectl describe pod {pod} -n {namespace}` shows why (events); select the pool with "
                  f"nodeSelector {{{pool_label}: {pool}}} and tolerate its taints")]
    return run("pod_scheduled_on_pool", fetch, parts, f"{what} runs on pool {pool!r}", raise_=raise_, timeout=timeout)


# -- RBAC ----------------------------------------------------------------------------------------

def _access_review(api, verb: str, resource: str, namespace: str, as_user: str):
    """A SubjectAccessReview: may `as_user` do `verb` on `resource` ("secrets", "deployments.apps", "pods/log")?"""
    resource, _, subresource = resource.partition("/")
    resource, _, group = resource.partition(".")
    groups = ["system:authenticated"]
    parts = as_user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        # What the authenticator adds to a ServiceAccount token: RBAC bound to these groups counts too.
        groups += ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": as_user, "groups": groups,
                     "resourceAttributes": {"namespace": namespace, "verb": verb, "resource": resource,
                                            "group": group, "subresource": subresource}}}
    review = _read(lambda: _api(api, "AuthorizationV1Api").create_subject_access_review(body),
                   "a SubjectAccessReview")
    return review.status


def _access(api, verb, resource, namespace, as_user, *, allowed: bool, raise_: bool) -> CheckResult:
    action = f"{as_user} {'can' if allowed else 'cannot'} {verb} {resource} in namespace {namespace!r}"
    fetch = lambda: _access_review(api, verb, resource, namespace, as_user)

    def problem(status) -> str:
        why = f" ({status.reason})" if status.reason else ""
        return f"{as_user} {'cannot' if allowed else 'CAN'} {verb} {resource} in namespace {namespace!r}{why}"

    hint = ("grant it with a Role and RoleBinding for this subject" if allowed else
            "narrow the Role/ClusterRole bound to this subject (no wildcard verbs or resources)")
    parts = [Part(lambda s: bool(s.allowed) == allowed, problem, hint)]
    return run("can" if allowed else "cannot", fetch, parts, action, raise_=raise_)


def can(api, verb: str, resource: str, namespace: str, as_user: str, *, raise_: bool = True) -> CheckResult:
    """`as_user` (e.g. "system:serviceaccount:ns:sa") may `verb` `resource` in `namespace`."""
    return _access(api, verb, resource, namespace, as_user, allowed=True, raise_=raise_)


def cannot(api, verb: str, resource: str, namespace: str, as_user: str, *, raise_: bool = True) -> CheckResult:
    """`as_user` may NOT `verb` `resource` in `namespace` (e.g. a ServiceAccount can't list secrets)."""
    return _access(api, verb, resource, namespace, as_user, allowed=False, raise_=raise_)


# -- objects and their keys ------------------------------------------------------------------------

def _find_resource(api, kind: str, api_version: str | None):
    from kubernetes.dynamic import DynamicClient

    want = kind.lower()
    search = lambda: DynamicClient(api).resources.search(**({"api_version": api_version} if api_version else {}))
    for r in _read(search, "the cluster's resource kinds"):
        if "/" not in (r.name or "/") and want in (r.kind.lower(), r.name, r.singular_name, *(r.short_names or [])):
            return r
    raise _Missing(f"the cluster has no resource kind {kind!r}", "check the spelling (e.g. Deployment, ConfigMap)")


def resource_exists(api, kind: str, name: str, namespace: str | None = None, *, api_version: str | None = None,
                    raise_: bool = True) -> CheckResult:
    """An object of `kind` (Deployment, deploy, configmaps, a CRD kind ...) named `name` exists."""
    what = f"{kind} {name!r}"

    def fetch():
        res = _find_resource(api, kind, api_version)
        return _read(lambda: res.get(name=name, namespace=namespace if res.namespaced else None), what, namespace)

    return run("resource_exists", fetch, [Part(lambda o: True, "", "")], f"{what} exists", raise_=raise_)


def _has_keys(kind: str, read, name: str, namespace: str, keys, fields: tuple[str, ...], raise_: bool) -> CheckResult:
    what = f"{kind} {name!r}"
    def fetch():
        obj = _read(read, what, namespace)  # one read for all fields
        return {k for f in fields for k in (getattr(obj, f) or {})}

    wanted = list(keys)
    # Only key names ever reach a message: a Secret's values are never decoded.
    parts = [Part(lambda have: set(wanted) <= have,
                  lambda have: f"{what} lacks key(s): {', '.join(k for k in wanted if k not in have)}",
                  f"add the missing key(s) to {what} in namespace {namespace}")]
    return run(f"{kind.lower()}_has_keys", fetch, parts, f"{what} has key(s) {', '.join(wanted)}", raise_=raise_)


def configmap_has_keys(api, name: str, namespace: str, keys, *, raise_: bool = True) -> CheckResult:
    """The ConfigMap has every key in `keys` (in data or binaryData)."""
    read = lambda: _api(api, "CoreV1Api").read_namespaced_config_map(name, namespace)
    return _has_keys("ConfigMap", read, name, namespace, keys, ("data", "binary_data"), raise_)


def secret_has_keys(api, name: str, namespace: str, keys, *, raise_: bool = True) -> CheckResult:
    """The Secret has every key in `keys`; values are never read into messages."""
    read = lambda: _api(api, "CoreV1Api").read_namespaced_secret(name, namespace)
    return _has_keys("Secret", read, name, namespace, keys, ("data",), raise_)


def helm_release_deployed(api, name: str, namespace: str, *, timeout: float = 0, raise_: bool = True) -> CheckResult:
    """The newest revision of Helm release `name` has status deployed (from Helm's release Secrets'
    labels owner=helm, name, status, version; their data is never decoded)."""
    what = f"Helm release {name!r}"

    def fetch():
        secrets = _read(lambda: _api(api, "CoreV1Api").list_namespaced_secret(
            namespace, label_selector=f"owner=helm,name={name}").items, f"the Secrets of {what}", namespace)
        if not secrets:
            raise _Missing(f"{what} not found in namespace {namespace!r}",
                           f"install it: `helm install {name} <chart> -n {namespace}`")
        return max((s.metadata.labels for s in secrets), key=lambda lb: int(lb.get("version", "0")))

    parts = [Part(lambda lb: lb.get("status") == "deployed",
                  lambda lb: f"revision {lb.get('version')} of {what} is {lb.get('status')!r}, not 'deployed'",
                  f"`helm status {name} -n {namespace}` and `helm history {name} -n {namespace}` show what went wrong")]
    return run("helm_release_deployed", fetch, parts, f"{what} is deployed", raise_=raise_, timeout=timeout)
