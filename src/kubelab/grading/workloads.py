"""Checks on workloads: Deployments and StatefulSets rolled out and ready, Services that select ready pods."""
from __future__ import annotations

from types import SimpleNamespace

from .engine import CheckResult, Part, client, read, run

__all__ = ["deployment_ready", "env_from", "service_selects", "statefulset_ready"]

READY_TIMEOUT = 10.0  # several checks in one cell stay within nbgrader's cell timeout


def _replicas_part(what: str, replicas: int | None) -> list[Part]:
    if replicas is None:
        return []
    return [Part(lambda o: (o.spec.replicas or 0) == replicas,
                 lambda o: f"{what} asks for {o.spec.replicas} replicas, expected {replicas}",
                 f"set spec.replicas: {replicas}", static=True)]


def _ready_part(what: str, kind: str, name: str, namespace: str) -> Part:
    def ok(o) -> bool:
        s, want = o.status, o.spec.replicas or 0
        return ((s.observed_generation or 0) >= (o.metadata.generation or 0)
                and (s.ready_replicas or 0) == want and (s.updated_replicas or 0) == want)
    return Part(ok, lambda o: f"{what} has {o.status.ready_replicas or 0}/{o.spec.replicas} ready replicas",
                f"look at its pods: `kubectl get pods -n {namespace}` and "
                f"`kubectl describe {kind} {name} -n {namespace}`")


def _workload_ready(api, kind: str, method: str, name: str, namespace: str, replicas: int | None,
                    timeout: float) -> CheckResult:
    what = f"{kind} {name!r}"
    fetch = lambda: read(lambda: getattr(client(api, "AppsV1Api"), method)(name, namespace), what, namespace)
    parts = _replicas_part(what, replicas) + [_ready_part(what, kind.lower(), name, namespace)]
    return run(f"{kind.lower()}_ready", fetch, parts, f"{what} is ready", timeout=timeout)


def deployment_ready(api, name: str, namespace: str, replicas: int | None = None, *,
                     timeout: float = READY_TIMEOUT) -> CheckResult:
    """The Deployment exists, is rolled out and all its replicas are ready (and there are `replicas`)."""
    return _workload_ready(api, "Deployment", "read_namespaced_deployment", name, namespace, replicas, timeout)


def statefulset_ready(api, name: str, namespace: str, replicas: int | None = None, *,
                      timeout: float = READY_TIMEOUT) -> CheckResult:
    """The StatefulSet exists and all its replicas are ready and updated (and there are `replicas`)."""
    return _workload_ready(api, "StatefulSet", "read_namespaced_stateful_set", name, namespace, replicas,
                           timeout)


def service_selects(api, name: str, namespace: str, *, deployment: str,
                    timeout: float = READY_TIMEOUT) -> CheckResult:
    """The Service's selector matches the Deployment's pod labels (1) and it has ready endpoints (1)."""
    svc_what, dep_what = f"Service {name!r}", f"Deployment {deployment!r}"

    def fetch():
        core, apps = client(api, "CoreV1Api"), client(api, "AppsV1Api")
        svc = read(lambda: core.read_namespaced_service(name, namespace), svc_what, namespace)
        dep = read(lambda: apps.read_namespaced_deployment(deployment, namespace), dep_what, namespace)
        slices = read(lambda: client(api, "DiscoveryV1Api").list_namespaced_endpoint_slice(
            namespace, label_selector=f"kubernetes.io/service-name={name}").items, "EndpointSlices", namespace)
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
    return run("service_selects", fetch, parts, f"{svc_what} selects the ready pods of {dep_what}", timeout=timeout)


def _env_source(container, var: str) -> tuple[str, str | None, str | None] | None:
    """Where `var` comes from in a container: ("configMap"|"secret", object, key), ("value", None, None), or
    None. A later `env` entry wins over `envFrom`, as the kubelet resolves them."""
    for e in reversed(container.env or []):
        if e.name != var:
            continue
        ref = e.value_from
        if ref and ref.config_map_key_ref:
            return "configMap", ref.config_map_key_ref.name, ref.config_map_key_ref.key
        if ref and ref.secret_key_ref:
            return "secret", ref.secret_key_ref.name, ref.secret_key_ref.key
        return "value", None, None
    for src in reversed(container.env_from or []):
        prefix = src.prefix or ""
        if not var.startswith(prefix):
            continue
        if src.config_map_ref:
            return "configMap", src.config_map_ref.name, var[len(prefix):]
        if src.secret_ref:
            return "secret", src.secret_ref.name, var[len(prefix):]
    return None


def env_from(api, deployment: str, namespace: str, *, var: str, kind: str, name: str, key: str,
             timeout: float = READY_TIMEOUT) -> CheckResult:
    """Every container of the Deployment that sets `var` takes it from key `key` of the ConfigMap or
    Secret (`kind` "configMap" or "secret") `name`, by `valueFrom` or `envFrom` (1), at least one does (1),
    and the Deployment is ready: the kubelet resolved the reference (1). Reads no value."""
    what = f"Deployment {deployment!r}"
    want = (kind, name, key)
    label = f"{'ConfigMap' if kind == 'configMap' else 'Secret'} {name!r} key {key!r}"

    def fetch():
        dep = read(lambda: client(api, "AppsV1Api").read_namespaced_deployment(deployment, namespace), what, namespace)
        sources = [s for c in dep.spec.template.spec.containers if (s := _env_source(c, var))]
        return SimpleNamespace(dep=dep, sources=sources)

    def said(o) -> str:
        other = [s for s in o.sources if s != want]
        if not other:
            return f"no container of {what} sets {var}"
        k, n, kk = other[0]
        return (f"{var} in {what} is a literal value" if k == "value"
                else f"{var} in {what} comes from {'ConfigMap' if k == 'configMap' else 'Secret'} {n!r} key {kk!r}")

    parts = [
        Part(lambda o: bool(o.sources), lambda o: f"no container of {what} sets {var}",
             f"add {var} to the container's env (or envFrom)", static=True),
        Part(lambda o: bool(o.sources) and all(s == want for s in o.sources), said,
             f"take {var} from {label}: env: [{{name: {var}, valueFrom: {{{kind}KeyRef: "
             f"{{name: {name}, key: {key}}}}}}}]", static=True),
        Part(lambda o: _ready_part(what, "deployment", deployment, namespace).ok(o.dep),
             lambda o: _ready_part(what, "deployment", deployment, namespace).problem(o.dep),
             f"a reference the kubelet cannot resolve keeps the pod in CreateContainerConfigError: "
             f"`kubectl get pods -n {namespace}`"),
    ]
    return run("env_from", fetch, parts, f"{var} in {what} comes from {label}, and its pods are ready",
               timeout=timeout)
