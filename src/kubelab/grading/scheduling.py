"""Checks on GPU workloads and their scheduling: what a pod asks for, where the scheduler put it, and
the namespace's GPU quota."""
from __future__ import annotations

from types import SimpleNamespace

from .._k8s.names import GPU_PRODUCT_LABEL, GPU_RESOURCE, GPU_TAINT, POOL_LABEL
from .._k8s.quantity import to_float
from ..errors import UsageError
from .engine import CheckResult, Part, client, read, run
from .workloads import READY_TIMEOUT

__all__ = ["pod_requests_gpu", "pod_scheduled_on_pool", "quota_caps_gpus"]


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
    from ..gpu.simulated import container_gpu_requests
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


def pod_requests_gpu(api, name: str, namespace: str, *, count: int | None = None, product: str | None = None,
                     kind: str = "Pod") -> CheckResult:
    """A Pod (or the pod template of a Deployment, StatefulSet or Job) tolerates the GPU taint (1),
    requests nvidia.com/gpu - `count` of them if given (1) - and, if `product` is given, is pinned to
    that nvidia.com/gpu.product by nodeSelector or node affinity (1)."""
    if kind not in WORKLOADS:
        raise UsageError(f"kind must be one of {', '.join(WORKLOADS)}, not {kind!r}", "pass kind=\"Deployment\" etc.")
    what = f"{kind} {name!r}"
    group, method = WORKLOADS[kind]
    taint = f"{GPU_TAINT['key']}={GPU_TAINT['value']}:{GPU_TAINT['effect']}"

    def fetch():
        obj = read(lambda: getattr(client(api, group), method)(name, namespace), what, namespace)
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
    return run("pod_requests_gpu", fetch, parts, f"{what} requests {wanted} and tolerates the GPU taint")


def quota_caps_gpus(api, namespace: str, *, gpus: int) -> CheckResult:
    """A ResourceQuota in the namespace sets requests.nvidia.com/gpu to exactly `gpus`."""
    key = "requests.nvidia.com/gpu"
    fetch = lambda: {q.metadata.name: (q.spec.hard or {}).get(key) for q in read(
        lambda: client(api, "CoreV1Api").list_namespaced_resource_quota(namespace).items, "ResourceQuotas", namespace)}

    def problem(caps: dict) -> str:
        set_ = {n: v for n, v in caps.items() if v is not None}
        if not set_:
            return f"no ResourceQuota in namespace {namespace!r} sets {key}"
        return "; ".join(f"ResourceQuota {n!r} caps {key} at {v}, expected {gpus}" for n, v in set_.items())

    parts = [Part(lambda caps: any(v is not None and to_float(v) == gpus for v in caps.values()), problem,
                  f"create a ResourceQuota with spec.hard: {{{key}: \"{gpus}\"}} in namespace {namespace}")]
    return run("quota_caps_gpus", fetch, parts, f"namespace {namespace!r} caps {key} at {gpus}")


def pod_scheduled_on_pool(api, name: str, namespace: str, *, pool: str, pool_label: str = POOL_LABEL,
                          timeout: float = READY_TIMEOUT) -> CheckResult:
    """The pod is bound to a node whose `pool_label` is `pool`."""
    what = f"Pod {name!r}"
    core = lambda: client(api, "CoreV1Api")

    def fetch():
        p = read(lambda: core().read_namespaced_pod(name, namespace), what, namespace)
        node = p.spec.node_name
        labels = (core().read_node(node).metadata.labels or {}) if node else {}
        return SimpleNamespace(node=node, pool=labels.get(pool_label), phase=p.status.phase)

    def problem(o) -> str:
        if not o.node:
            return f"{what} is not scheduled ({o.phase}): no node fits it yet"
        return f"{what} runs on node {o.node} of pool {o.pool!r}, expected pool {pool!r}"

    parts = [Part(lambda o: o.node is not None and o.pool == pool, problem,
                  f"`kubectl describe pod {name} -n {namespace}` shows why (events); select the pool with "
                  f"nodeSelector {{{pool_label}: {pool}}} and tolerate its taints")]
    return run("pod_scheduled_on_pool", fetch, parts, f"{what} runs on pool {pool!r}", timeout=timeout)
