"""What is in the cluster, as tidy pandas DataFrames with stable column names.

    import kubelab as kl
    from kubelab import observe
    api = kl.connect()
    observe.pods(api, "default")          # one row per pod
    observe.nodes(api)                    # one row per node, with requested vs allocatable
    observe.events(api, "default", involved="Pod/trainer")

Lists are read with one API call each and parsed from raw JSON (the client's model deserialization is
what makes big lists slow), and the conversion to rows is a pure function (`pods_frame`, `nodes_frame`)
so it can be tested without a cluster.
"""
from __future__ import annotations

import time
from datetime import datetime

import pandas as pd

from .._k8s import raw
from .._k8s.apierrors import call
from .._k8s.names import GPU_PRODUCT_LABEL, POOL_LABEL, SIMULATED_LABEL, is_gpu_resource
from .._k8s.quantity import qty
from ..errors import NotFound

__all__ = ["EVENT_COLUMNS", "HISTORY_COLUMNS", "LOG_COLUMNS", "NODE_COLUMNS", "POD_COLUMNS", "STATUS_COLUMNS",
           "allocated_devices", "deployment_status", "events", "events_frame", "logs", "nodes", "nodes_frame",
           "pod_status", "pods", "pods_frame", "rollout_history", "rollout_history_frame"]

POD_COLUMNS = ["namespace", "pod", "phase", "status", "ready", "node", "pool", "restarts",
               "cpu_request", "cpu_limit", "mem_request", "mem_limit", "gpu_request", "gpu_resource",
               "dra_claims", "dra_devices", "age_s", "simulated"]
NODE_COLUMNS = ["node", "pool", "ready", "simulated", "gpu_product", "cpu_allocatable", "cpu_requested",
                "mem_allocatable", "mem_requested", "gpu_allocatable", "gpu_requested", "gpu_resource",
                "taints", "unschedulable"]
EVENT_COLUMNS = ["time", "type", "reason", "object", "message", "count"]
HISTORY_COLUMNS = ["revision", "replicaset", "images", "change_cause", "created", "ready", "replicas"]
LOG_COLUMNS = ["time", "pod", "container", "line", "simulated"]
STATUS_COLUMNS = ["deployment", "replicas", "updated", "ready", "available", "pods", "ready_pods", "simulated"]


def _timestamp(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


# -- pods ------------------------------------------------------------------------------------------
def _resource_totals(spec: dict, kind: str) -> dict[str, float]:
    """Effective pod requests or limits, as the scheduler counts them (k8s.io/component-helpers resource
    PodRequests/PodLimits): app containers and sidecars (restartable init containers) add up; a classic
    init container counts with the sidecars started before it, and the pod needs the largest of those
    peaks; pod-level `spec.resources` (cpu, memory) override the container sums; `spec.overhead` is added
    (to limits only where a limit is set). A request left out defaults to its limit."""
    def of(container) -> dict[str, float]:
        res = container.get("resources") or {}
        values = dict(res.get("limits") or {}) if kind == "requests" else {}
        values.update(res.get(kind) or {})
        return {k: qty(v) for k, v in values.items()}

    def add(a: dict, b: dict) -> dict:
        return {k: a.get(k, 0.0) + b.get(k, 0.0) for k in a.keys() | b.keys()}

    total: dict[str, float] = {}
    for c in spec.get("containers") or []:
        total = add(total, of(c))
    sidecars: dict[str, float] = {}
    init_peak: dict[str, float] = {}
    for c in spec.get("initContainers") or []:
        own = of(c)
        if c.get("restartPolicy") == "Always":  # a sidecar: runs beside everything started after it
            total, sidecars = add(total, own), add(sidecars, own)
            peak = sidecars
        else:
            peak = add(own, sidecars)
        init_peak = {k: max(init_peak.get(k, 0.0), peak.get(k, 0.0)) for k in init_peak.keys() | peak.keys()}
    total = {k: max(total.get(k, 0.0), init_peak.get(k, 0.0)) for k in total.keys() | init_peak.keys()}
    # pod-level resources have a container's shape
    total.update({k: v for k, v in of(spec).items() if k in ("cpu", "memory")})
    for k, v in (spec.get("overhead") or {}).items():
        if kind == "requests" or total.get(k):
            total[k] = total.get(k, 0.0) + qty(v)
    return total


def pod_status(pod: dict) -> str:
    """The STATUS column of `kubectl get pods`: a waiting/terminated reason, Terminating, or the phase."""
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "Terminating"
    for c in status.get("initContainerStatuses") or []:
        waiting = (c.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
    for c in reversed(status.get("containerStatuses") or []):
        state = c.get("state") or {}
        reason = (state.get("waiting") or {}).get("reason") or (state.get("terminated") or {}).get("reason")
        if reason:
            return reason
    return status.get("reason") or status.get("phase") or "Unknown"


def _pod_claim_names(pod: dict) -> list[str]:
    """Names of the ResourceClaim objects a pod uses (direct, or generated from a template)."""
    generated = {s["name"]: s.get("resourceClaimName")
                 for s in (pod.get("status") or {}).get("resourceClaimStatuses") or []}
    names = []
    for ref in (pod.get("spec") or {}).get("resourceClaims") or []:
        name = ref.get("resourceClaimName") or generated.get(ref.get("name"))
        if name:
            names.append(name)
    return names


def allocated_devices(claim: dict) -> list[str]:
    """Allocated devices of a ResourceClaim as "pool/device" (the pool is the node for node-local GPUs)."""
    results = (((claim.get("status") or {}).get("allocation") or {}).get("devices") or {}).get("results") or []
    return [f"{r.get('pool')}/{r.get('device')}" for r in results]


def pods_frame(pods, nodes_by_name=None, claims=None, now: float | None = None) -> pd.DataFrame:
    """Pods as one row each (pure: no API calls).

    pods: Pod objects as JSON dicts (camelCase, as the API returns them) or kubernetes client models.
    nodes_by_name: {node name: Node} (dicts or models), for the pool and simulated columns.
    claims: ResourceClaim objects (dicts or models), for dra_devices.
    now: the epoch seconds age_s is measured from (default: the current time).

    Columns: namespace, pod, phase, status (as `kubectl get pods` shows it: a waiting reason such as
    ContainerCreating, CrashLoopBackOff or ImagePullBackOff, else the phase), ready (bool), node ("" if
    unscheduled), pool (the node's kubelab.io/pool label or ""), restarts, cpu_request and cpu_limit
    (cores), mem_request and mem_limit (bytes), gpu_request (count of nvidia.com/gpu plus MIG devices),
    gpu_resource (e.g. "nvidia.com/gpu", "nvidia.com/mig-1g.10gb", "" for none; comma-joined if several),
    dra_claims (list of ResourceClaim names), dra_devices (list of allocated "pool/device", e.g.
    "h100-0/gpu-3"), age_s (seconds since creation), simulated (bool: on a kubelab.io/simulated=true node).
    """
    now = time.time() if now is None else now
    nodes = {name: raw.plain(n) for name, n in (nodes_by_name or {}).items()}
    devices_by_claim = {(c["metadata"].get("namespace"), c["metadata"]["name"]): allocated_devices(c)
                        for c in map(raw.plain, claims or [])}
    cols = {c: [] for c in POD_COLUMNS}
    with raw.gc_paused():
        for pod in pods:
            for k, v in _pod_row(raw.plain(pod), nodes, devices_by_claim, now).items():
                cols[k].append(v)
    return pd.DataFrame(cols, columns=POD_COLUMNS)


def _pod_row(pod: dict, nodes: dict, devices_by_claim: dict, now: float) -> dict:
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    node_name = spec.get("nodeName") or ""
    node = nodes.get(node_name)
    requests, limits = _resource_totals(spec, "requests"), _resource_totals(spec, "limits")
    gpus = sorted(k for k, v in requests.items() if is_gpu_resource(k) and v)
    claim_names = _pod_claim_names(pod)
    created = _timestamp(meta.get("creationTimestamp"))
    return {
        "namespace": meta.get("namespace", ""), "pod": meta["name"], "phase": status.get("phase", ""),
        "status": pod_status(pod),
        "ready": raw.is_ready(status),
        "node": node_name, "pool": raw.labels(node).get(POOL_LABEL, ""),
        "restarts": sum(c.get("restartCount", 0) for c in status.get("containerStatuses") or []),
        "cpu_request": requests.get("cpu", 0.0), "cpu_limit": limits.get("cpu", 0.0),
        "mem_request": requests.get("memory", 0.0), "mem_limit": limits.get("memory", 0.0),
        "gpu_request": sum((requests[k] for k in gpus), 0.0), "gpu_resource": ",".join(gpus),
        "dra_claims": claim_names,
        "dra_devices": [d for n in claim_names for d in devices_by_claim.get((meta.get("namespace"), n), [])],
        "age_s": now - created.timestamp() if created else float("nan"),
        "simulated": raw.is_simulated(node),
    }










def pods(api, namespace: str | None = None, selector: str | None = None) -> pd.DataFrame:
    """Pods of `namespace` (all namespaces if None), optionally filtered by a label `selector`
    ("app=web"). One row per pod; the columns are those of `pods_frame`."""
    items = raw.pods(api, namespace, selector)
    uses_dra = any((p.get("spec") or {}).get("resourceClaims") for p in items)
    return pods_frame(items, raw.nodes_by_name(api), raw.list_dra(api, "resourceclaims", namespace, empty_on=(403, 404)) if uses_dra else [])


# -- nodes -----------------------------------------------------------------------------------------
def _taint(t: dict) -> str:
    return f"{t['key']}={t['value']}:{t['effect']}" if t.get("value") else f"{t['key']}:{t['effect']}"


def nodes_frame(nodes_list, pods_df: pd.DataFrame | None = None) -> pd.DataFrame:
    """Nodes as one row each (pure: no API calls).

    nodes_list: Node objects (dicts or models). pods_df: a `pods_frame` of the pods to count as requested
    (pass only non-terminated pods, as the scheduler does).

    Columns: node, pool (kubelab.io/pool or ""), ready (bool), simulated (bool), gpu_product (the GPU
    Feature Discovery label nvidia.com/gpu.product or ""), cpu_allocatable and cpu_requested (cores),
    mem_allocatable and mem_requested (bytes), gpu_allocatable and gpu_requested (nvidia.com/gpu plus MIG
    devices), gpu_resource (the GPU resources the node offers, comma-joined, or ""), taints (list of
    "key=value:Effect"), unschedulable (bool, cordoned).
    """
    requested = pd.DataFrame(columns=["cpu_request", "mem_request", "gpu_request"], dtype=float)
    if pods_df is not None and len(pods_df):
        requested = pods_df[pods_df["node"] != ""].groupby("node")[list(requested.columns)].sum()
    rows = []
    for n in nodes_list:
        n = raw.plain(n)
        name, labels = n["metadata"]["name"], raw.labels(n)
        spec, status = n.get("spec") or {}, n.get("status") or {}
        alloc = status.get("allocatable") or {}
        offered = sorted(k for k, v in alloc.items() if is_gpu_resource(k) and qty(v))
        used = requested.loc[name] if name in requested.index else {}
        rows.append({
            "node": name, "pool": labels.get(POOL_LABEL, ""),
            "ready": raw.is_ready(status),
            "simulated": labels.get(SIMULATED_LABEL) == "true",
            "gpu_product": labels.get(GPU_PRODUCT_LABEL, ""),
            "cpu_allocatable": qty(alloc.get("cpu")), "cpu_requested": float(used.get("cpu_request", 0.0)),
            "mem_allocatable": qty(alloc.get("memory")), "mem_requested": float(used.get("mem_request", 0.0)),
            "gpu_allocatable": sum(qty(alloc[k]) for k in offered),
            "gpu_requested": float(used.get("gpu_request", 0.0)),
            "gpu_resource": ",".join(offered),
            "taints": [_taint(t) for t in spec.get("taints") or []],
            "unschedulable": bool(spec.get("unschedulable")),
        })
    return pd.DataFrame(rows, columns=NODE_COLUMNS)


def nodes(api) -> pd.DataFrame:
    """Every node with what is allocatable and what non-terminated pods request on it (columns: see
    `nodes_frame`)."""
    by_name = raw.nodes_by_name(api)
    running = raw.pods(api, None, field_selector="status.phase!=Succeeded,status.phase!=Failed")
    return nodes_frame(by_name.values(), pods_frame(running, by_name))


# -- events ----------------------------------------------------------------------------------------
def _event_time(ev: dict):
    return (ev.get("lastTimestamp") or ((ev.get("series") or {}).get("lastObservedTime"))
            or ev.get("eventTime") or ev.get("firstTimestamp") or ev["metadata"].get("creationTimestamp"))


def events_frame(events_list) -> pd.DataFrame:
    """Events as rows sorted by time. Columns: time (UTC Timestamp of the last occurrence), type
    (Normal/Warning), reason, object ("Kind/name"), message, count."""
    rows = []
    for ev in map(raw.plain, events_list):
        inv = ev.get("involvedObject") or {}
        rows.append({"time": _event_time(ev), "type": ev.get("type", ""), "reason": ev.get("reason", ""),
                     "object": f"{inv.get('kind', '')}/{inv.get('name', '')}",
                     "message": (ev.get("message") or "").strip(),
                     "count": ev.get("count") or (ev.get("series") or {}).get("count") or 1})
    df = pd.DataFrame(rows, columns=EVENT_COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    return df.sort_values("time", kind="stable").reset_index(drop=True)


def events(api, namespace: str | None = None, involved: str | None = None) -> pd.DataFrame:
    """Events of `namespace` (all if None), optionally only those about `involved` ("Pod/trainer" or
    just a name), oldest first. Columns: see `events_frame`."""
    from kubernetes import client
    selector = None
    if involved:
        kind, _, name = involved.rpartition("/")
        selector = f"involvedObject.name={name}" + (f",involvedObject.kind={kind}" if kind else "")
    core = client.CoreV1Api(api)
    kw = {"field_selector": selector} if selector else {}
    items = (raw.items(core.list_namespaced_event, namespace, **kw) if namespace
             else raw.items(core.list_event_for_all_namespaces, **kw))
    return events_frame(items)


# -- deployments -----------------------------------------------------------------------------------
def rollout_history_frame(deployment, replicasets) -> pd.DataFrame:
    """The revisions of a Deployment from its ReplicaSets (pure). Columns: revision (int), replicaset,
    images (comma-joined container images), change_cause (the kubernetes.io/change-cause annotation or
    ""), created (UTC Timestamp), ready (ready replicas now), replicas (replicas now)."""
    uid = raw.plain(deployment)["metadata"]["uid"]
    rows = []
    for rs in map(raw.plain, replicasets):
        meta = rs["metadata"]
        if not any(o.get("uid") == uid for o in meta.get("ownerReferences") or []):
            continue
        ann = meta.get("annotations") or {}
        containers = ((rs.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
        status = rs.get("status") or {}
        rows.append({"revision": int(ann.get("deployment.kubernetes.io/revision", 0)),
                     "replicaset": meta["name"], "images": ",".join(c.get("image", "") for c in containers),
                     "change_cause": ann.get("kubernetes.io/change-cause", ""),
                     "created": meta.get("creationTimestamp"),
                     "ready": status.get("readyReplicas", 0), "replicas": status.get("replicas", 0)})
    df = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    df["created"] = pd.to_datetime(df["created"], utc=True, format="ISO8601")
    return df.sort_values("revision").reset_index(drop=True)


def rollout_history(api, name: str, namespace: str) -> pd.DataFrame:
    """Like `kubectl rollout history deployment/NAME`, one row per revision (columns: see
    `rollout_history_frame`)."""
    from kubernetes import client
    apps = client.AppsV1Api(api)
    dep = raw.read(apps.read_namespaced_deployment, name, namespace)
    selector = ",".join(f"{k}={v}" for k, v in dep["spec"]["selector"].get("matchLabels", {}).items())
    kw = {"label_selector": selector} if selector else {}
    return rollout_history_frame(dep, raw.items(apps.list_namespaced_replica_set, namespace, **kw))


# -- a Deployment now ----
def deployment_status(api, name: str, namespace: str) -> pd.DataFrame:
    """One row on Deployment `name` now: replicas (desired), updated, ready, available (the Deployment's
    status, as its controller last wrote it), pods and ready_pods (its pods not terminating, and those of
    them ready, counted now: the status lags a deletion by a moment), simulated (any of its pods on a
    simulated node). The columns are those `plots.rollout_progress` takes; a Deployment that does not
    exist gives a row of zeros."""
    from kubernetes import client
    try:
        dep = call(client.AppsV1Api(api).read_namespaced_deployment, name, namespace,
                   what=f"Deployment {name} in namespace {namespace}")
    except NotFound:
        return pd.DataFrame([dict.fromkeys(STATUS_COLUMNS, 0) | {"deployment": name, "simulated": False}],
                            columns=STATUS_COLUMNS)
    selector = ",".join(f"{k}={v}" for k, v in (dep.spec.selector.match_labels or {}).items())
    pods_df = pods(api, namespace, selector or None)
    alive = pods_df[pods_df["status"] != "Terminating"]
    s = dep.status
    row = {"deployment": name, "replicas": dep.spec.replicas or 0, "updated": s.updated_replicas or 0,
           "ready": s.ready_replicas or 0, "available": s.available_replicas or 0, "pods": len(alive),
           "ready_pods": int(alive["ready"].sum()),
           "simulated": bool(pods_df["simulated"].any()) if len(pods_df) else False}
    return pd.DataFrame([row], columns=STATUS_COLUMNS)


# -- logs ------------------------------------------------------------------------------------------
def logs(api, name: str, namespace: str, container: str | None = None, tail: int | None = None) -> pd.DataFrame:
    """A pod's log lines (the last `tail` only, if given). Columns: time (UTC Timestamp the runtime
    recorded), pod, container (as kubectl picks it when not given: the kubectl.kubernetes.io/default-container
    annotation, else the first container), line, simulated (True when the pod runs on a KWOK node: the
    lines were generated, no container ran)."""
    from kubernetes import client
    core = client.CoreV1Api(api)
    obj = raw.read(core.read_namespaced_pod, name, namespace)
    container = container or ((obj["metadata"].get("annotations") or {}).get(
        "kubectl.kubernetes.io/default-container") or obj["spec"]["containers"][0]["name"])
    kw = {"tail_lines": tail} if tail is not None else {}
    # Raw bytes: the client's own decoding returns "b'...'" text for this endpoint.
    text = call(core.read_namespaced_pod_log, name, namespace, container=container, timestamps=True,
                _preload_content=False, what=f"the logs of pod {namespace}/{name}",
                **kw).data.decode("utf-8", errors="replace")
    node = raw.node(api, obj["spec"].get("nodeName"))
    stamps, lines = [], []
    for entry in text.splitlines():
        stamp, _, line = entry.partition(" ")
        stamps.append(stamp)
        lines.append(line)
    return pd.DataFrame({"time": pd.to_datetime(stamps, utc=True, format="ISO8601"), "pod": name,
                         "container": container, "line": lines, "simulated": raw.is_simulated(node)},
                        columns=LOG_COLUMNS)
