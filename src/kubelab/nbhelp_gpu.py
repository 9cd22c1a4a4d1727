"""Helpers of notebook 06 (GPU workloads): DRA devices as tables, and a pool of extra simulated GPU
nodes for the scale demo (add them, see how the scheduler places pods on them, remove them).

    from kubelab import nbhelp_gpu as gh
    gh.devices(api)                                   # every DRA device of every ResourceSlice
    gh.claim_devices(api, "lesson-06")                # what the scheduler allocated to each ResourceClaim
    pool = kl.pools.Pool(name="scale-h100", count=100, gpu=kl.pools.Gpu(...))
    gh.add_nodes(api, pool)                           # create the nodes, wait until Ready
    gh.wait_scheduled(api, "lesson-06", "app=sweep", 200)
    gh.remove_nodes(api, "scale-h100", namespace="lesson-06")
    gh.scheduler_answers(api, "lesson-06", "bin-packing")   # does a scheduler profile of that name run?
    gh.delete_now(api, "lesson-06", "app=sweep")          # those pods and their Deployments, gone at once

Extra nodes only make sense on the embedded cluster (KWOK simulates every node labelled
kwok.x-k8s.io/node=fake); `add_nodes` refuses to run on a cluster without simulated nodes.
"""
from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from .errors import KubelabError, WaitTimeout
from .observe import list_dra
from .pools import POOL_LABEL, SIMULATED_LABEL, Pool, nodes as pool_nodes

DEVICE_COLUMNS = ["node", "device", "productName", "architecture", "index", "uuid", "memory", "driver"]
CLAIM_COLUMNS = ["claim", "pod", "request", "node", "device", "productName", "uuid"]


def _attr(attributes: dict, name: str):
    value = attributes.get(name) or {}
    return next(iter(value.values()), None)


def devices(api) -> pd.DataFrame:
    """Every device of every ResourceSlice, one row each (columns DEVICE_COLUMNS): the node (or pool),
    device name, the attributes NVIDIA's DRA driver publishes, and the memory capacity."""
    rows = []
    for s in list_dra(api, "resourceslices"):
        spec = s["spec"]
        for d in spec.get("devices") or []:
            attrs = d.get("attributes") or {}
            rows.append({"node": spec.get("nodeName") or spec["pool"]["name"], "device": d["name"],
                         **{k: _attr(attrs, k) for k in ("productName", "architecture", "index", "uuid")},
                         "memory": ((d.get("capacity") or {}).get("memory") or {}).get("value", ""),
                         "driver": spec.get("driver", "")})
    return pd.DataFrame(rows, columns=DEVICE_COLUMNS)


def claim_devices(api, namespace: str) -> pd.DataFrame:
    """The devices allocated to each ResourceClaim of `namespace` (from the claim's status, written by the
    scheduler), joined with their ResourceSlice attributes. Columns: CLAIM_COLUMNS; a claim not yet
    allocated has one row with an empty device."""
    by_device = {(r.node, r.device): r for r in devices(api).itertuples()}
    rows = []
    for c in list_dra(api, "resourceclaims", namespace):
        status = c.get("status") or {}
        pods = ",".join(u.get("name", "") for u in status.get("reservedFor") or [])
        results = (((status.get("allocation") or {}).get("devices") or {}).get("results")) or [{}]
        for r in results:
            dev = by_device.get((r.get("pool"), r.get("device")))
            rows.append({"claim": c["metadata"]["name"], "pod": pods, "request": r.get("request", ""),
                         "node": r.get("pool", ""), "device": r.get("device", ""),
                         "productName": dev.productName if dev else "", "uuid": dev.uuid if dev else ""})
    return pd.DataFrame(rows, columns=CLAIM_COLUMNS)


# -- the scale demo: extra simulated GPU nodes --------------------------------------------------------

def _ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def add_nodes(api, pool: Pool, timeout: float = 120, workers: int = 8) -> float:
    """Create the simulated nodes of `pool` (named <pool>-<n>, see kubelab.pools.nodes) through the API and
    wait until all are Ready; returns the seconds it took. Existing nodes of the same name are kept."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)
    if not core.list_node(label_selector=f"{SIMULATED_LABEL}=true", limit=1).items:
        raise KubelabError("this cluster has no simulated (KWOK) nodes: extra simulated nodes would never be Ready",
                           "run this on the embedded cluster (`kubelab cluster up`)")
    start = time.monotonic()

    def create(body):
        try:
            core.create_node(body)
        except ApiException as err:
            if err.status != 409:  # already there (an earlier run): keep it
                raise

    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(create, pool_nodes([pool])))
    deadline = start + timeout
    while True:
        nodes = core.list_node(label_selector=f"{POOL_LABEL}={pool.name}").items
        ready = sum(map(_ready, nodes))
        if ready >= pool.count:
            return time.monotonic() - start
        if time.monotonic() > deadline:
            raise WaitTimeout(f"{ready} of {pool.count} nodes of pool {pool.name} are Ready after {timeout:g} s",
                              "check the kwok controller: `kubelab cluster logs kwok-controller`")
        time.sleep(0.2)


def wait_scheduled(api, namespace: str, selector: str, count: int, timeout: float = 120) -> int:
    """Wait until `count` pods match `selector` and the scheduler has decided on each (bound to a node, or
    PodScheduled=False: it tried and found no node); returns how many are bound to a node."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    deadline = time.monotonic() + timeout
    while True:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items
        decided = [p for p in pods if p.spec.node_name or any(
            c.type == "PodScheduled" and c.status == "False" for c in p.status.conditions or [])]
        if len(pods) >= count and len(decided) == len(pods):
            return sum(bool(p.spec.node_name) for p in pods)
        if time.monotonic() > deadline:
            raise WaitTimeout(f"{len(decided)} of {count} pods ({selector}) have a scheduling decision after "
                              f"{timeout:g} s", f"look at the scheduler: `kubelab cluster logs kube-scheduler`")
        time.sleep(0.3)


def remove_nodes(api, pool_name: str, namespace: str | None = None, timeout: float = 120) -> int:
    """Delete the nodes of pool `pool_name` and, first, the pods on them in `namespace` (all namespaces if
    None), at once (grace period 0: no container runs on a simulated node). Returns how many nodes were
    deleted. Delete the Deployments or Jobs that own those pods before calling this, or they
    make new ones.

    Pods go first: a pod left bound to a deleted node stays Terminating until the pod garbage collector
    removes it (about 40 s later), and holds up the deletion of its namespace meanwhile."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    core = client.CoreV1Api(api)
    names = {n.metadata.name for n in core.list_node(label_selector=f"{POOL_LABEL}={pool_name}").items}
    deadline = time.monotonic() + timeout

    def delete(pod):
        try:
            core.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)
        except ApiException as err:
            if err.status != 404:
                raise

    while names:
        pods = (core.list_namespaced_pod(namespace) if namespace else core.list_pod_for_all_namespaces()).items
        on_pool = [p for p in pods if p.spec.node_name in names]
        if not on_pool:
            break
        if time.monotonic() > deadline:
            raise WaitTimeout(f"{len(on_pool)} pods are still on pool {pool_name} after {timeout:g} s",
                              "delete the Deployments or Jobs that own them first")
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(delete, on_pool))
        time.sleep(0.2)
    if names:
        core.delete_collection_node(label_selector=f"{POOL_LABEL}={pool_name}")
    while core.list_node(label_selector=f"{POOL_LABEL}={pool_name}").items:
        if time.monotonic() > deadline:
            raise WaitTimeout(f"nodes of pool {pool_name} still exist after {timeout:g} s",
                              "look for finalizers: `kubectl get nodes -o yaml`")
        time.sleep(0.2)
    return len(names)


def scheduler_answers(api, namespace: str, scheduler_name: str, timeout: float = 15) -> bool:
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
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pod = core.read_namespaced_pod(name, namespace)
            if pod.spec.node_name or any(c.type == "PodScheduled" for c in pod.status.conditions or []):
                return True
            time.sleep(0.2)
        return False
    finally:
        core.delete_namespaced_pod(name, namespace, grace_period_seconds=0)


def delete_now(api, namespace: str, selector: str, timeout: float = 60) -> int:
    """Delete the pods matching `selector` together with the ReplicaSets and Deployments that own them,
    at once (grace period 0: no container runs on a simulated node); returns when none of those pods is
    left. Returns how many owners were deleted."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    replica_sets = {ref.name for p in core.list_namespaced_pod(namespace, label_selector=selector).items
                    for ref in p.metadata.owner_references or [] if ref.kind == "ReplicaSet"}
    owners = []
    for rs in replica_sets:  # owners first, so that nothing recreates the pods deleted below
        with contextlib.suppress(ApiException):
            refs = apps.read_namespaced_replica_set(rs, namespace).metadata.owner_references or []
            owners += [("deployment", r.name) for r in refs if r.kind == "Deployment"] or [("replica_set", rs)]
    for kind, name in set(owners):
        with contextlib.suppress(ApiException):  # 404: already gone
            getattr(apps, f"delete_namespaced_{kind}")(name, namespace, propagation_policy="Background")
    deadline = time.monotonic() + timeout
    while core.list_namespaced_pod(namespace, label_selector=selector).items:
        if time.monotonic() > deadline:
            raise WaitTimeout(f"pods matching {selector} in {namespace} remain after {timeout:g} s",
                              f"look at them and their owners: `kubectl get all -n {namespace} -l {selector}`")
        core.delete_collection_namespaced_pod(namespace, label_selector=selector, grace_period_seconds=0)
        time.sleep(0.3)
    return len(set(owners))


__all__ = ["devices", "claim_devices", "add_nodes", "wait_scheduled", "remove_nodes", "scheduler_answers",
           "delete_now"]
