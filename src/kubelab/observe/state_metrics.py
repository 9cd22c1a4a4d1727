"""Object state as Prometheus metrics, with kube-state-metrics' names and labels, for the embedded cluster.

kube-state-metrics (the exporter every kube-prometheus-stack runs, and what its alerts and dashboards query) is
not available to build here, so the embedded cluster runs this subset of it as the `kubelab-state-metrics`
component (`kubelab.daemons.state_metrics`): the same metric and label names. On a real cluster the
same PromQL reads the real kube-state-metrics. Series of pods and nodes on simulated nodes carry
simulated="true" (their status comes from the simulated kubelet).

    kubelab-state-metrics --kubeconfig K --context C --port 8080

Metrics: kube_pod_info, kube_pod_status_phase, kube_pod_status_scheduled, kube_pod_container_status_restarts_total,
kube_pod_container_status_waiting_reason, kube_pod_container_status_running, kube_pod_container_status_ready,
kube_pod_container_resource_requests / _limits (resource, unit), kube_node_labels (the pool and GPU Feature
Discovery labels, as label_<name>), kube_node_status_allocatable, kube_endpointslice_endpoints (one series per
endpoint address: ready, serving, terminating, targetref_*, endpoint_nodename, address) and kube_endpointslice_labels
(the Service it belongs to and who manages it, as label_<name>: kube-state-metrics'
--metric-labels-allowlist=endpointslices=[kubernetes.io/service-name,endpointslice.kubernetes.io/managed-by]).
A Service's ready endpoints over time, as a rolling upgrade is judged (READY_ENDPOINTS):

    sum(kube_endpointslice_endpoints{namespace="ns", ready="true"} * on (namespace, endpointslice)
        group_left kube_endpointslice_labels{label_kubernetes_io_service_name="model-server",
                                             label_endpointslice_kubernetes_io_managed_by="endpointslice-controller.k8s.io"})
"""
from __future__ import annotations

import re

from .._k8s.names import POOL_LABEL, SIMULATED_LABEL
from .._k8s.quantity import to_float

__all__ = ["ENDPOINTSLICE_LABELS", "HELP", "NODE_LABELS", "PHASES", "READY_ENDPOINTS", "collect_families",
           "endpointslice_families", "node_families", "pod_families", "resource_label", "slim_endpointslice",
           "slim_node", "slim_pod"]

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
# the node labels kube_node_labels carries (kube-state-metrics' --metric-labels-allowlist=nodes=[...])
NODE_LABELS = (POOL_LABEL, SIMULATED_LABEL, "nvidia.com/gpu.product", "nvidia.com/gpu.count",
               "nvidia.com/gpu.sharing-strategy", "nvidia.com/mig.strategy")
# the EndpointSlice labels kube_endpointslice_labels carries: its Service, and who manages it (the Kubernetes
# endpointslice controller for a Service with a selector; anything else for a slice someone wrote by hand)
ENDPOINTSLICE_LABELS = ("kubernetes.io/service-name", "endpointslice.kubernetes.io/managed-by")
CONTROLLER = "endpointslice-controller.k8s.io"
# a Service's ready endpoint addresses, from the slices the controller made of its pods (not hand-written ones)
READY_ENDPOINTS = ('sum(kube_endpointslice_endpoints{{namespace="{namespace}", ready="true"}} '
                   '* on (namespace, endpointslice) group_left kube_endpointslice_labels{{namespace="{namespace}", '
                   'label_kubernetes_io_service_name="{service}", '
                   'label_endpointslice_kubernetes_io_managed_by="' + CONTROLLER + '"}})')


def _sanitize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def resource_label(name: str) -> tuple[str, str]:
    """kube-state-metrics' (resource, unit) for a resource name: cpu -> (cpu, core), nvidia.com/gpu ->
    (nvidia_com_gpu, integer)."""
    if name == "cpu":
        return "cpu", "core"
    if name in ("memory", "ephemeral-storage") or name.startswith("hugepages-"):
        return _sanitize(name), "byte"
    return _sanitize(name), "integer"


def _sim(simulated: bool) -> str:
    return "true" if simulated else ""


def pod_families(pods: list[dict], simulated_nodes: set[str]) -> dict[str, list[tuple[dict, float]]]:
    """Pods (the API's JSON) as {metric: [(labels, value)]} (pure)."""
    out: dict[str, list[tuple[dict, float]]] = {k: [] for k in (
        "kube_pod_info", "kube_pod_status_phase", "kube_pod_status_scheduled",
        "kube_pod_container_status_restarts_total", "kube_pod_container_status_waiting_reason",
        "kube_pod_container_status_running", "kube_pod_container_status_ready",
        "kube_pod_container_resource_requests", "kube_pod_container_resource_limits")}
    for pod in pods:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        node = spec.get("nodeName") or ""
        base = {"namespace": meta["namespace"], "pod": meta["name"], "uid": meta.get("uid", ""),
                "simulated": _sim(node in simulated_nodes)}
        out["kube_pod_info"].append(({**base, "node": node, "pod_ip": status.get("podIP", ""),
                                      "created_by_kind": next((o["kind"] for o in meta.get("ownerReferences") or []
                                                               if o.get("controller")), "")}, 1.0))
        phase = status.get("phase") or "Unknown"
        for p in PHASES:
            out["kube_pod_status_phase"].append(({**base, "phase": p}, float(p == phase)))
        sched = next((c.get("status", "Unknown") for c in status.get("conditions") or []
                      if c.get("type") == "PodScheduled"), "Unknown").lower()
        for c in ("true", "false", "unknown"):
            out["kube_pod_status_scheduled"].append(({**base, "condition": c}, float(c == sched)))
        for cs in status.get("containerStatuses") or []:
            labels = {**base, "container": cs["name"]}
            out["kube_pod_container_status_restarts_total"].append((labels, float(cs.get("restartCount", 0))))
            state = cs.get("state") or {}
            if "waiting" in state:
                out["kube_pod_container_status_waiting_reason"].append(
                    ({**labels, "reason": state["waiting"].get("reason", "")}, 1.0))
            out["kube_pod_container_status_running"].append((labels, float("running" in state)))
            out["kube_pod_container_status_ready"].append((labels, float(bool(cs.get("ready")))))
        if phase in ("Succeeded", "Failed"):
            continue  # kube-state-metrics reports requests and limits of pods that hold them
        for c in spec.get("containers") or []:
            res = c.get("resources") or {}
            for kind in ("requests", "limits"):
                for name, q in (res.get(kind) or {}).items():
                    resource, unit = resource_label(name)
                    out[f"kube_pod_container_resource_{kind}"].append(
                        ({**base, "container": c["name"], "node": node, "resource": resource, "unit": unit},
                         to_float(q)))
    return out


def _some(d: dict, keys: tuple[str, ...]) -> dict:
    return {k: d[k] for k in keys if k in d}


def slim_pod(pod: dict) -> dict:
    """A pod (the API's JSON) cut to the fields `pod_families` reads: the same families, a fifth of the memory. What a
    cache of pods keeps (the informer's transform in `kubelab.daemons.state_metrics`)."""
    meta, spec, status = pod.get("metadata") or {}, pod.get("spec") or {}, pod.get("status") or {}
    out_meta = _some(meta, ("namespace", "name", "uid"))
    owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
    if owner is not None:
        out_meta["ownerReferences"] = [{"kind": owner["kind"], "controller": True}]
    out_spec = _some(spec, ("nodeName",))
    out_spec["containers"] = [{"name": c["name"], "resources": _some(c.get("resources") or {}, ("requests", "limits"))}
                              for c in spec.get("containers") or []]
    out_status = _some(status, ("phase", "podIP"))
    out_status["conditions"] = [_some(c, ("type", "status")) for c in status.get("conditions") or []
                                if c.get("type") == "PodScheduled"]
    out_status["containerStatuses"] = [
        {**_some(cs, ("name", "restartCount", "ready")),
         "state": {k: (_some(v or {}, ("reason",)) if k == "waiting" else {}) for k, v in (cs.get("state") or {}).items()}}
        for cs in status.get("containerStatuses") or []]
    return {"metadata": out_meta, "spec": out_spec, "status": out_status}


def slim_node(node: dict) -> dict:
    """A node cut to the fields `node_families` reads (its allowlisted labels, its allocatable)."""
    meta = node.get("metadata") or {}
    labels = meta.get("labels") or {}
    return {"metadata": {"name": meta.get("name", ""),
                         "labels": {k: labels[k] for k in (*NODE_LABELS, SIMULATED_LABEL) if k in labels}},
            "status": {"allocatable": dict((node.get("status") or {}).get("allocatable") or {})}}


def node_families(nodes: list[dict]) -> dict[str, list[tuple[dict, float]]]:
    """Nodes (the API's JSON) as {metric: [(labels, value)]} (pure)."""
    out: dict[str, list[tuple[dict, float]]] = {"kube_node_labels": [], "kube_node_status_allocatable": []}
    for node in nodes:
        meta = node["metadata"]
        labels = meta.get("labels") or {}
        sim = _sim(labels.get(SIMULATED_LABEL) == "true")
        out["kube_node_labels"].append(({"node": meta["name"], "simulated": sim,
                                         **{f"label_{_sanitize(k)}": labels.get(k, "") for k in NODE_LABELS}}, 1.0))
        for name, q in ((node.get("status") or {}).get("allocatable") or {}).items():
            resource, unit = resource_label(name)
            out["kube_node_status_allocatable"].append(
                ({"node": meta["name"], "resource": resource, "unit": unit, "simulated": sim}, to_float(q)))
    return out


def slim_endpointslice(eps: dict) -> dict:
    """An EndpointSlice cut to the fields `endpointslice_families` reads."""
    meta = eps.get("metadata") or {}
    labels = meta.get("labels") or {}
    return {"metadata": {**_some(meta, ("namespace", "name")), "labels": _some(labels, ENDPOINTSLICE_LABELS)},
            "endpoints": [_some(e, ("addresses", "conditions", "hostname", "targetRef", "nodeName", "zone"))
                          for e in eps.get("endpoints") or []]}


def _flag(value) -> str:
    return "" if value is None else str(bool(value)).lower()


def endpointslice_families(slices: list[dict], simulated_nodes: set[str]) -> dict[str, list[tuple[dict, float]]]:
    """EndpointSlices (the API's JSON) as {metric: [(labels, value)]} (pure): kube-state-metrics' series, and
    simulated="true" on an endpoint whose node is simulated (its readiness comes from the simulated kubelet)."""
    out: dict[str, list[tuple[dict, float]]] = {"kube_endpointslice_endpoints": [], "kube_endpointslice_labels": []}
    for eps in slices:
        meta = eps["metadata"]
        base = {"endpointslice": meta["name"], "namespace": meta["namespace"]}
        labels = meta.get("labels") or {}
        out["kube_endpointslice_labels"].append(
            ({**base, **{f"label_{_sanitize(k)}": labels.get(k, "") for k in ENDPOINTSLICE_LABELS}}, 1.0))
        for e in eps.get("endpoints") or []:
            cond, ref = e.get("conditions") or {}, e.get("targetRef") or {}
            point = {**base, "ready": _flag(cond.get("ready")), "serving": _flag(cond.get("serving")),
                     "terminating": _flag(cond.get("terminating")), "hostname": e.get("hostname", ""),
                     "targetref_kind": ref.get("kind", ""), "targetref_name": ref.get("name", ""),
                     "targetref_namespace": ref.get("namespace", ""), "endpoint_nodename": e.get("nodeName", ""),
                     "endpoint_zone": e.get("zone", ""), "simulated": _sim(e.get("nodeName") in simulated_nodes)}
            for address in e.get("addresses") or []:
                out["kube_endpointslice_endpoints"].append(({**point, "address": address}, 1.0))
    return out


HELP = {"kube_pod_info": "Information about pod.", "kube_pod_status_phase": "The pods current phase.",
         "kube_pod_status_scheduled": "Describes the status of the scheduling process for the pod.",
         "kube_pod_container_status_restarts_total": "The number of container restarts per container.",
         "kube_pod_container_status_waiting_reason": "Describes the reason the container is currently in waiting state.",
         "kube_pod_container_status_running": "Describes whether the container is currently in running state.",
         "kube_pod_container_status_ready": "Describes whether the containers readiness check succeeded.",
         "kube_pod_container_resource_requests": "The number of requested request resource by a container.",
         "kube_pod_container_resource_limits": "The number of requested limit resource by a container.",
         "kube_node_labels": "Kubernetes labels converted to Prometheus labels.",
         "kube_node_status_allocatable": "The allocatable for different resources of a node.",
         "kube_endpointslice_endpoints": "Endpoints attached to the endpointslice.",
         "kube_endpointslice_labels": "Kubernetes labels converted to Prometheus labels."}


def collect_families(api) -> dict[str, list[tuple[dict, float]]]:
    """Every metric, read from the API now (three list calls)."""
    from kubernetes import client

    from .._k8s.raw import items

    core = client.CoreV1Api(api)
    nodes = items(core.list_node)
    simulated = {n["metadata"]["name"] for n in nodes if (n["metadata"].get("labels") or {}).get(SIMULATED_LABEL) == "true"}
    slices = items(client.DiscoveryV1Api(api).list_endpoint_slice_for_all_namespaces)
    return {**pod_families(items(core.list_pod_for_all_namespaces), simulated), **node_families(nodes),
            **endpointslice_families(slices, simulated)}
