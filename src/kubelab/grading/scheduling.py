"""Checks on GPU workloads and their scheduling: what a pod asks for, where the scheduler put it, why a pod
pends (the scheduler's own PodScheduled=False message), whether a higher-priority pod preempted others,
what DRA devices a pod's claim was given, and the namespace's GPU quota."""
from __future__ import annotations

from types import SimpleNamespace

from .._k8s.names import DRA_DRIVER, GPU_PRESENT_LABEL, GPU_PRODUCT_LABEL, GPU_RESOURCE, GPU_TAINT, POOL_LABEL
from .._k8s.quantity import to_float
from ..errors import UsageError
from .engine import CheckResult, Missing, Part, client, read, run
from .workloads import READY_TIMEOUT

__all__ = ["PENDING_TIMEOUT", "claim_allocated", "pod_pending_because", "pod_requests_gpu", "pod_scheduled_on_pool",
           "preempted", "quota_caps_gpus", "unschedulable_message"]

PENDING_TIMEOUT = 15.0  # the scheduler retries an unschedulable pod within seconds of a change


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


def _expression_matches(e, value: str | None) -> bool:
    """One node selector requirement (In, NotIn, Exists, DoesNotExist, Gt, Lt) against a label's value (None:
    the node has no such label), as the scheduler's nodeaffinity plugin reads it."""
    op, values = e.operator, e.values or []
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and value.lstrip("-").isdigit() and values:
        return int(value) > int(values[0]) if op == "Gt" else int(value) < int(values[0])
    return False


def _may_land_on(pod_spec, node) -> bool:
    """The node satisfies the pod's nodeSelector and required node affinity (taints and resources aside): ANDed
    expressions within a term, ORed terms, as the scheduler evaluates them."""
    labels = node.metadata.labels or {}
    if any(labels.get(k) != v for k, v in (pod_spec.node_selector or {}).items()):
        return False
    required = (pod_spec.affinity and pod_spec.affinity.node_affinity
                and pod_spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution)
    terms = (required and required.node_selector_terms) or []
    fields = {"metadata.name": node.metadata.name}
    return not terms or any(
        all(_expression_matches(e, labels.get(e.key)) for e in t.match_expressions or [])
        and all(_expression_matches(e, fields.get(e.key)) for e in t.match_fields or [])
        for t in terms)


def _pinned_to(pod_spec, product: str, nodes) -> bool:
    """The pod can only land on nodes of `product`: of the cluster's nodes, those its nodeSelector and required
    node affinity admit are some, and all carry nvidia.com/gpu.product=product (however the selector is written:
    In, NotIn with Exists, the pool label ...)."""
    admitted = [n for n in nodes if _may_land_on(pod_spec, n)]
    return bool(admitted) and all((n.metadata.labels or {}).get(GPU_PRODUCT_LABEL) == product for n in admitted)


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
        spec = obj.spec if kind == "Pod" else obj.spec.template.spec
        # the nodes its selector admits decide whether it is pinned
        nodes = read(lambda: client(api, "CoreV1Api").list_node().items, "nodes") if product else []
        return SimpleNamespace(spec=spec, nodes=nodes)

    wanted = f"{count} nvidia.com/gpu" if count else "nvidia.com/gpu"
    parts = [
        Part(lambda s: any(_tolerates(t, GPU_TAINT) for t in s.spec.tolerations or []),
             f"{what} does not tolerate the GPU taint {taint}",
             f"add tolerations: [{{key: {GPU_TAINT['key']}, operator: Exists, effect: {GPU_TAINT['effect']}}}]"),
        Part(lambda s: _gpus(s.spec) == count if count else _gpus(s.spec) > 0,
             lambda s: f"{what} requests {_gpus(s.spec)} nvidia.com/gpu, expected {count or 'at least 1'}",
             f"set resources.limits: {{nvidia.com/gpu: {count or 1}}} on the container that needs {wanted}"),
    ]
    if product:
        parts.append(Part(lambda s: _pinned_to(s.spec, product, s.nodes),
                          f"{what} is not pinned to {GPU_PRODUCT_LABEL}={product}: its node selector and required "
                          "node affinity admit other nodes, or none",
                          f"add nodeSelector: {{{GPU_PRODUCT_LABEL}: {product}}} (or a required node affinity that "
                          "admits only those nodes)"))
    return run("pod_requests_gpu", fetch, parts, f"{what} requests {wanted} and tolerates the GPU taint")


def quota_caps_gpus(api, namespace: str, *, gpus: int, device_class: str | None = None) -> CheckResult:
    """A ResourceQuota in the namespace sets requests.nvidia.com/gpu to exactly `gpus` (1) and, with `device_class`,
    one sets `<device_class>.deviceclass.resource.k8s.io/devices` to `gpus` too (1): a DRA ResourceClaim is not
    counted by requests.nvidia.com/gpu, so without the second cap GPUs claimed through DRA escape the quota.

    The cap must cover the namespace's workloads: a quota with no scope does; a scoped one (scopes or
    scopeSelector) only when the quota controller counts every GPU the namespace's live pods request (its
    status.used equals their sum, and there are some), so a scope that leaves pods out caps nothing."""
    keys = ["requests.nvidia.com/gpu"] + ([f"{device_class}.deviceclass.resource.k8s.io/devices"] if device_class else [])

    def fetch():
        quotas = read(lambda: client(api, "CoreV1Api").list_namespaced_resource_quota(namespace).items,
                      "ResourceQuotas", namespace)
        pods = read(lambda: client(api, "CoreV1Api").list_namespaced_pod(namespace).items, "pods", namespace)
        requested = sum(_gpus(p.spec) for p in pods if p.status.phase not in ("Succeeded", "Failed"))
        return SimpleNamespace(requested=requested, quotas=[SimpleNamespace(
            name=q.metadata.name, hard=q.spec.hard or {}, used=(q.status and q.status.used) or {},
            scoped=bool(q.spec.scopes or q.spec.scope_selector)) for q in quotas])

    def covers(q, key: str, s) -> bool:
        if not q.scoped:
            return True
        # the device count of DRA claims is the quota controller's to add up: a scoped devices cap is trusted only
        # where the GPUs it must cover are the extended-resource ones this check can count
        return key == keys[0] and s.requested > 0 and to_float(q.used.get(key, "0")) == s.requested

    def cap(s, key: str) -> float | None:
        # several quotas all hold (the API server refuses what any one would exceed): the namespace's cap is the
        # lowest of those that count every pod
        caps = [to_float(q.hard[key]) for q in s.quotas if key in q.hard and covers(q, key, s)]
        return min(caps) if caps else None

    def part(key: str) -> Part:
        def problem(s) -> str:
            set_ = [q for q in s.quotas if key in q.hard and not (to_float(q.hard[key]) == gpus and covers(q, key, s))]
            if not set_:
                return f"no ResourceQuota in namespace {namespace!r} sets {key}"
            return "; ".join(
                f"ResourceQuota {q.name!r} caps {key} at {q.hard[key]}, expected {gpus}" if to_float(q.hard[key]) != gpus
                else f"ResourceQuota {q.name!r} caps {key} at {gpus}, but its scope leaves pods out (it counts "
                     f"{q.used.get(key, '0')} of the {s.requested:g} GPU(s) the namespace's pods request)"
                for q in set_)
        return Part(lambda s: cap(s, key) == gpus,
                    problem, f"create a ResourceQuota with spec.hard: {{{key}: \"{gpus}\"}} and no scope (it must "
                             f"count every pod) in namespace {namespace}", static=True)

    return run("quota_caps_gpus", fetch, [part(k) for k in keys],
               f"namespace {namespace!r} caps {' and '.join(keys)} at {gpus}")


def _asks_gpu(pod_spec) -> bool:
    """The pod asks for a GPU: an nvidia.com/ extended resource (a GPU, a MIG profile, a time-sliced replica) or a
    DRA ResourceClaim."""
    from ..gpu.simulated import container_gpu_requests
    return bool(pod_spec.resource_claims) or any(container_gpu_requests(c) for c in pod_spec.containers or [])


def _node_named_in_spec(pod) -> bool:
    """spec.nodeName was written by a client (a field manager owns it), not set by the scheduler's binding (which
    records no managed field): the pod skipped scheduling."""
    return any("f:nodeName" in ((e.fields_v1 or {}).get("f:spec") or {})
               for e in pod.metadata.managed_fields or [] if not e.subresource)


def pod_scheduled_on_pool(api, name: str, namespace: str, *, pool: str, pool_label: str = POOL_LABEL,
                          kind: str = "Pod", timeout: float = READY_TIMEOUT) -> CheckResult:
    """The pod is bound to a node whose `pool_label` is `pool`; with kind="Job", the Job's pods (label
    batch.kubernetes.io/job-name, as the Job controller sets it) are, every one of them, and there is one."""
    if kind not in ("Pod", "Job"):
        raise UsageError(f"kind must be Pod or Job, not {kind!r}", 'pass kind="Job" for the pods of a Job')
    what = f"{kind} {name!r}" if kind == "Pod" else f"the pods of Job {name!r}"
    core = lambda: client(api, "CoreV1Api")

    def fetch():
        if kind == "Pod":
            pods = [read(lambda: core().read_namespaced_pod(name, namespace), what, namespace)]
        else:
            read(lambda: client(api, "BatchV1Api").read_namespaced_job(name, namespace), f"Job {name!r}", namespace)
            pods = [p for p in read(lambda: core().list_namespaced_pod(
                namespace, label_selector=f"batch.kubernetes.io/job-name={name}").items, what, namespace)
                    if not p.metadata.deletion_timestamp]
        labels = {n: core().read_node(n).metadata.labels or {} for n in {p.spec.node_name for p in pods if p.spec.node_name}}
        return [SimpleNamespace(pod=p.metadata.name, node=p.spec.node_name, phase=p.status.phase,
                                pool=labels.get(p.spec.node_name, {}).get(pool_label),
                                gpu_node=labels.get(p.spec.node_name, {}).get(GPU_PRESENT_LABEL) == "true",
                                asks_gpu=_asks_gpu(p.spec), named=_node_named_in_spec(p)) for p in pods]

    def problem(pods) -> str:
        if not pods:
            return f"Job {name!r} has no pod yet"
        o = next(o for o in pods if not (o.node and o.pool == pool and not o.named))
        if not o.node:
            return f"Pod {o.pod!r} is not scheduled ({o.phase}): no node fits it yet"
        if o.named:
            return (f"Pod {o.pod!r} was put on node {o.node} by spec.nodeName, not placed by the scheduler (no "
                    "resource, taint or quota was checked)")
        return f"Pod {o.pod!r} runs on node {o.node} of pool {o.pool!r}, expected pool {pool!r}"

    def gpus_problem(pods) -> str:
        o = next(o for o in pods if o.gpu_node and not o.asks_gpu)
        return (f"Pod {o.pod!r} sits on GPU node {o.node} without asking for any of its GPUs (no nvidia.com/... "
                "resource, no ResourceClaim): it holds a GPU node's place and cannot use a GPU")

    shown = f"pod -l batch.kubernetes.io/job-name={name}" if kind == "Job" else f"pod {name}"
    parts = [Part(lambda pods: bool(pods) and all(o.node and o.pool == pool and not o.named for o in pods), problem,
                  f"`kubectl describe {shown} -n {namespace}` shows why (events); select the pool with "
                  f"nodeSelector {{{pool_label}: {pool}}} and tolerate its taints (never spec.nodeName)"),
             Part(lambda pods: all(o.asks_gpu for o in pods if o.gpu_node), gpus_problem,
                  "ask for the pool's GPUs in resources.limits (nvidia.com/gpu, or the MIG profile the pool offers, "
                  "e.g. nvidia.com/mig-1g.10gb) or through a ResourceClaim")]
    return run("pod_scheduled_on_pool", fetch, parts, f"{what} run{'s' if kind == 'Pod' else ''} on pool {pool!r}",
               timeout=timeout)


def unschedulable_message(pod) -> str | None:
    """The scheduler's PodScheduled=False message of a pod (a client model), None if it has none."""
    for c in (pod.status and pod.status.conditions) or []:
        if c.type == "PodScheduled" and c.status == "False":
            return c.message or c.reason or ""
    return None


def _selector_text(selector) -> str | None:
    if isinstance(selector, dict):
        return ",".join(f"{k}={v}" for k, v in selector.items())
    return selector


def pod_pending_because(api, namespace: str, *, reason: str, selector: str | dict | None = None,
                        name: str | None = None, count: int | None = None, not_reasons: tuple[str, ...] = (),
                        timeout: float = PENDING_TIMEOUT) -> CheckResult:
    """Pods (`name`, or those matching `selector`) that the scheduler has not placed pend for `reason`:
    some pend (exactly `count` if given) (1), the PodScheduled=False message of each contains `reason`
    (1) and none of `not_reasons` (1), e.g. reason="Insufficient nvidia.com/gpu",
    not_reasons=("untolerated taint",). Pods that are being deleted do not count."""
    if (name is None) == (selector is None):
        raise UsageError("pass either name= or selector= (not both)", 'e.g. selector={"app": "embed-workers"}')
    what = f"Pod {name!r}" if name else f"pods matching {_selector_text(selector)!r}"

    def fetch():
        core = client(api, "CoreV1Api")
        if name:
            pods = [read(lambda: core.read_namespaced_pod(name, namespace), what, namespace)]
        else:
            pods = read(lambda: core.list_namespaced_pod(namespace, label_selector=_selector_text(selector)).items,
                        what, namespace)
            if not pods:
                raise Missing(f"no pod in namespace {namespace!r} matches {_selector_text(selector)!r}",
                              "apply the workload (check its labels)")
        pending = [p for p in pods if not p.spec.node_name and not p.metadata.deletion_timestamp]
        return {p.metadata.name: unschedulable_message(p) for p in pending}

    def said(msgs: dict) -> str:
        return "; ".join(f"{n}: {m!r}" for n, m in msgs.items())

    wanted = f"exactly {count}" if count is not None else "at least one"
    parts = [
        Part(lambda msgs: len(msgs) == count if count is not None else bool(msgs),
             lambda msgs: f"{len(msgs)} of {what} pend(s), expected {wanted}",
             "`kubectl get pods -n {ns} -o wide` shows which ran; a pod pends only when no node fits it".format(ns=namespace)),
        Part(lambda msgs: bool(msgs) and all(m and reason in m for m in msgs.values()),
             lambda msgs: f"the scheduler does not say {reason!r} for {what}: {said(msgs) or 'none pend'}",
             f"`kubectl describe pod -n {namespace}` shows the scheduler's message (Events: FailedScheduling)"),
        Part(lambda msgs: bool(msgs) and not any(r in (m or "") for m in msgs.values() for r in not_reasons),
             lambda msgs: f"{what} pend(s) for another reason: {said(msgs) or 'none pend'}",
             "a pod that does not tolerate a node's taint never gets there: add the toleration"),
    ]
    return run("pod_pending_because", fetch, parts, f"{what} pend(s) because {reason!r}", timeout=timeout)


def _priority_of_class(api, name: str | None) -> int:
    if not name:
        return 0
    pc = read(lambda: client(api, "SchedulingV1Api").read_priority_class(name), f"PriorityClass {name!r}")
    return pc.value or 0


def preempted(api, namespace: str, *, by: str, victims: str, timeout: float = PENDING_TIMEOUT) -> CheckResult:
    """Pod `by` preempted a pod of the Deployment (or any workload named) `victims`: `by` is bound to a node
    (1), the scheduler's Preempted event on a pod named `victims-...` names `by` (its UID) (1), and the
    priority of `by` is higher than that of the victims' pod template (1)."""
    what = f"Pod {by!r}"

    def fetch():
        core = client(api, "CoreV1Api")
        pod = read(lambda: core.read_namespaced_pod(by, namespace), what, namespace)
        events = read(lambda: core.list_namespaced_event(namespace, field_selector="reason=Preempted").items,
                      "events", namespace)
        hits = [e for e in events if (e.involved_object.name or "").startswith(f"{victims}-")
                and pod.metadata.uid in (e.message or "")]
        workload = read(lambda: client(api, "AppsV1Api").read_namespaced_deployment(victims, namespace),
                        f"Deployment {victims!r}", namespace)
        template = workload.spec.template.spec
        victim_priority = template.priority if template.priority is not None else \
            _priority_of_class(api, template.priority_class_name)
        return SimpleNamespace(node=pod.spec.node_name, priority=pod.spec.priority or 0, hits=hits,
                               victim_priority=victim_priority, others=len(events))

    parts = [
        Part(lambda o: bool(o.node), f"{what} is not scheduled",
             f"give {by} a PriorityClass above the victims' and let it ask for the GPUs they hold"),
        Part(lambda o: bool(o.hits),
             lambda o: f"no Preempted event on a pod of {victims!r} names {what} ({o.others} Preempted event(s) in all)",
             f"start {victims} first (all GPUs of the pool taken), then {by}; its priority must allow preemption "
             "(preemptionPolicy is not Never)"),
        Part(lambda o: o.priority > o.victim_priority,
             lambda o: f"{what} has priority {o.priority}, not above {victims!r}'s {o.victim_priority}",
             "set priorityClassName on both: a higher value for inference than for batch training"),
    ]
    return run("preempted", fetch, parts, f"{what} preempted a pod of {victims!r}", timeout=timeout)


def claim_allocated(api, pod: str, namespace: str, *, product: str | None = None, devices: int | None = None,
                    device_class: str = DRA_DRIVER, timeout: float = READY_TIMEOUT) -> CheckResult:
    """The pod's ResourceClaims are allocated (the scheduler picked devices) (1), each request asks for
    DeviceClass `device_class` (1), if `product` is given, every device allocated is that productName
    in its ResourceSlice (e.g. "NVIDIA H100 80GB HBM3") (1), and, if `devices` is given, the pod holds that many
    devices in all (1): a claim with allocationMode All, or a count above the task's, holds GPUs it was not given."""
    from ..observe import dra

    what = f"Pod {pod!r}"

    def fetch():
        p = read(lambda: client(api, "CoreV1Api").read_namespaced_pod(pod, namespace), what, namespace)
        names = {s.name: s.resource_claim_name for s in (p.status.resource_claim_statuses or [])}
        claim_names = [rc.resource_claim_name or names.get(rc.name) for rc in p.spec.resource_claims or []]
        if not claim_names:
            raise Missing(f"{what} uses no ResourceClaim", "add spec.resourceClaims (from a ResourceClaimTemplate) "
                          "and resources.claims in the container")
        from .._k8s.raw import list_dra
        claims = {c["metadata"]["name"]: c for c in read(lambda: list_dra(api, "resourceclaims", namespace),
                                                         "ResourceClaims", namespace)}
        products = {(r.node, r.device): r.productName for r in read(lambda: dra.devices(api), "ResourceSlices").itertuples()}
        found = [claims.get(n) for n in claim_names]
        results = [r for c in found if c for r in (((c.get("status") or {}).get("allocation") or {}).get("devices") or {}).get("results") or []]
        classes = [(r.get("exactly") or r).get("deviceClassName") for c in found if c
                   for r in ((c.get("spec") or {}).get("devices") or {}).get("requests") or []]
        return SimpleNamespace(allocated=bool(found) and all(found) and all(
            (c.get("status") or {}).get("allocation") for c in found), classes=classes,
            products=[products.get((r.get("pool"), r.get("device")), "") for r in results])

    parts = [
        Part(lambda o: o.allocated, f"the ResourceClaim of {what} is not allocated (yet)",
             f"`kubectl describe resourceclaims -n {namespace}` and the pod's events say why"),
        Part(lambda o: bool(o.classes) and all(c == device_class for c in o.classes),
             lambda o: f"the claim of {what} asks for DeviceClass {o.classes}, expected {device_class!r}",
             f"spec.devices.requests[].exactly.deviceClassName: {device_class}"),
    ]
    if product:
        parts.append(Part(lambda o: bool(o.products) and all(x == product for x in o.products),
                          lambda o: f"{what} was given {o.products or 'no device'}, expected {product!r}",
                          f"select the product with a CEL selector: device.attributes[\"{device_class}\"]"
                          f".productName == \"{product}\""))
    if devices is not None:
        parts.append(Part(lambda o: o.allocated and len(o.products) == devices,
                          lambda o: f"{what} holds {len(o.products)} device(s) through its claims, expected {devices}",
                          f"ask for exactly {devices}: allocationMode ExactCount (the default) with count: {devices}"))
    return run("claim_allocated", fetch, parts, f"{what} holds {product or device_class} devices through DRA",
               timeout=timeout)
