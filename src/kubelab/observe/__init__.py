"""What is in the cluster, read through the API, as pandas DataFrames with stable column names.

One module per concept: `core` (pods, nodes, events, logs, rollouts), `storage` (PVCs, PVs), `network`
(EndpointSlices), `helm` (releases), `dra` (devices and claims), `metrics` (metrics.k8s.io usage),
`prometheus` (PromQL results, scrape targets, alerts: Prometheus's HTTP API), `routes` (Gateway API
Gateways and routes: the status their controller wrote, backends and weights).
A new thing to observe goes into the module of its concept, as a pure `<thing>_frame(objects)` that
turns plain objects into rows (unit-testable) and a `<thing>(api, ...)` that lists them. Read-only:
nothing here changes the cluster. Errors are kubelab's (ApiError, Forbidden), never the client's.

    import kubelab as kl
    kl.observe.pods(api, "team-a")            # one row per pod
    kl.observe.nodes(api)                     # one row per node, requested vs allocatable
    kl.observe.storage.pvcs(api, "team-a")
"""
from . import dra, helm, metrics, network, prometheus, queues, routes, state_metrics, storage
from .core import (deployment_status, events, events_frame, logs, nodes, nodes_frame, pod_status, pods, pods_frame,
                   rollout_history, rollout_history_frame)

__all__ = ["dra", "helm", "metrics", "network", "prometheus", "queues", "routes", "state_metrics", "storage", "deployment_status", "events", "events_frame", "logs", "nodes", "nodes_frame", "pod_status", "pods",
           "pods_frame", "rollout_history", "rollout_history_frame"]
