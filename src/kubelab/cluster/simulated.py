"""Extra simulated nodes, added to and removed from a running cluster through the API (the scale demo of
notebook 06). They only make sense on the embedded cluster: KWOK simulates every node labelled
kwok.x-k8s.io/node=fake, so `add_nodes` refuses a cluster without simulated nodes."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from .._k8s.apierrors import create_or_exists, delete_if_present, typed_errors
from .._k8s.names import POOL_LABEL, SIMULATED_LABEL
from .._k8s.poll import timeout as timed_out, until
from ..errors import UsageError, WaitTimeout
from .pools import Pool, nodes as pool_nodes

__all__ = ["add_nodes", "remove_nodes"]


def _ready(node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


@typed_errors
def add_nodes(api, pool: Pool, *, timeout: float = 120, workers: int = 8) -> float:
    """Create the simulated nodes of `pool` (named <pool>-<n>, see kubelab.cluster.pools.nodes) through the API
    and wait until all are Ready; returns the seconds it took. Existing nodes of the same name are kept."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    if not core.list_node(label_selector=f"{SIMULATED_LABEL}=true", limit=1).items:
        raise UsageError("this cluster has no simulated (KWOK) nodes: extra simulated nodes would never be Ready",
                         "run this on the embedded cluster (`kubelab cluster up`)")
    start = time.monotonic()

    def create(body):
        create_or_exists(core.create_node, body)  # already there (an earlier run): keep it

    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(create, pool_nodes([pool])))

    def ready():
        count = sum(map(_ready, core.list_node(label_selector=f"{POOL_LABEL}={pool.name}").items))
        return count >= pool.count, count

    until(ready, timeout, timeout_error=lambda count: WaitTimeout(
        f"{count} of {pool.count} nodes of pool {pool.name} are Ready after {timeout:g} s",
        "check the kwok controller: `kubelab cluster logs kwok-controller`"))
    return time.monotonic() - start


@typed_errors
def remove_nodes(api, pool_name: str, namespace: str | None = None, *, timeout: float = 120) -> int:
    """Delete the nodes of pool `pool_name` and, first, the pods on them in `namespace` (all namespaces if
    None), at once (grace period 0: no container runs on a simulated node). Returns how many nodes were
    deleted. Delete the Deployments or Jobs that own those pods before calling this, or they make new ones.

    Pods go first: a pod left bound to a deleted node stays Terminating until the pod garbage collector
    removes it (about 40 s later), and holds up the deletion of its namespace meanwhile."""
    from kubernetes import client

    core = client.CoreV1Api(api)
    selector = f"{POOL_LABEL}={pool_name}"
    names = {n.metadata.name for n in core.list_node(label_selector=selector).items}
    deadline = time.monotonic() + timeout

    def delete(pod):
        delete_if_present(core.delete_namespaced_pod, pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0)

    def pods_gone():
        pods = (core.list_namespaced_pod(namespace) if namespace else core.list_pod_for_all_namespaces()).items
        on_pool = [p for p in pods if p.spec.node_name in names]
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(delete, on_pool))
        return not on_pool, len(on_pool)

    if names:
        until(pods_gone, timeout, timeout_error=lambda left: WaitTimeout(
            f"{left} pods are still on pool {pool_name} after {timeout:g} s",
            "delete the Deployments or Jobs that own them first"))
        core.delete_collection_node(label_selector=selector)
    until(lambda: (not core.list_node(label_selector=selector).items, None), max(0.0, deadline - time.monotonic()),
          timeout_error=timed_out(f"nodes of pool {pool_name} still exist after {timeout:g} s",
                                  "look for finalizers: `kubectl get nodes -o yaml`"))
    return len(names)
