"""Set-up and clean-up shared by every notebook: one fresh namespace, one line saying which cluster this is."""
from __future__ import annotations

import contextlib

from kubernetes import client

from ..._k8s.apierrors import call, typed_errors
from ..._k8s.names import LESSON_LABEL, SIMULATED_LABEL
from ..._k8s.poll import timeout as timed_out, until
from ...errors import ApiError
from ..isolation.sandbox import delete_namespace, wait_namespace_gone

__all__ = ["cleanup", "describe", "start"]


@typed_errors
def describe(api) -> str:
    """One line: which cluster this is, its version, and what on it is simulated."""
    version = client.VersionApi(api).get_code().git_version
    nodes = client.CoreV1Api(api).list_node().items
    simulated = sum((n.metadata.labels or {}).get(SIMULATED_LABEL) == "true" for n in nodes)
    where = api.configuration.host
    if simulated:
        return (f"Cluster {where}: Kubernetes {version}, real control plane (API server, scheduler, controllers, "
                f"RBAC, quotas); {simulated}/{len(nodes)} nodes SIMULATED by KWOK: no containers run, "
                "so logs, resource usage and GPU telemetry shown here are simulated.")
    return f"Cluster {where}: Kubernetes {version}, {len(nodes)} real nodes."


@typed_errors
def start(api, namespace: str, timeout: float = 120) -> str:
    """(Re)create the lesson's namespace empty, so a notebook can run twice in a row. Prints `describe()`."""
    delete_namespace(api, namespace)
    wait_namespace_gone(api, namespace, timeout)
    core = client.CoreV1Api(api)
    core.create_namespace({"metadata": {"name": namespace, "labels": {LESSON_LABEL: "true"}}})
    # Pods are refused until the namespace's default ServiceAccount exists (a controller adds it).
    until(lambda: (bool(core.list_namespaced_service_account(
        namespace, field_selector="metadata.name=default").items), None), timeout,
          timeout_error=timed_out(f"namespace {namespace} has no default ServiceAccount after {timeout:.0f} s",
                                  "check the kube-controller-manager (`kubelab cluster status`)"))
    line = describe(api)
    print(line)
    print(f"Namespace {namespace} is ready (empty).")
    return line


@typed_errors
def cleanup(api, namespace: str, wait: bool = False, timeout: float = 120) -> None:
    """Delete the lesson's namespace (and, with wait=True, wait until it is gone).

    Not waiting saves the namespace controller's fixed ~5 s; `start()` waits for a namespace that is
    still going away, so running the notebook again at once still works.

    Workloads and pods go first, pods without a grace period: the namespace controller otherwise
    re-checks a namespace with terminating pods only after half their 30 s grace period."""
    apps, batch, core = client.AppsV1Api(api), client.BatchV1Api(api), client.CoreV1Api(api)
    for delete in (apps.delete_collection_namespaced_deployment, apps.delete_collection_namespaced_stateful_set,
                   apps.delete_collection_namespaced_daemon_set, batch.delete_collection_namespaced_job,
                   apps.delete_collection_namespaced_replica_set):
        with contextlib.suppress(ApiError):
            call(delete, namespace, propagation_policy="Background")
    with contextlib.suppress(ApiError):
        call(core.delete_collection_namespaced_pod, namespace, grace_period_seconds=0)
    delete_namespace(api, namespace)
    if wait:
        wait_namespace_gone(api, namespace, timeout)
    print(f"Namespace {namespace} {'deleted' if wait else 'is being deleted (gone in ~5 s)'}.")
