"""Resource usage from the metrics API (metrics.k8s.io, served by metrics-server) as DataFrames.

On the embedded cluster the usage is simulated by KWOK (pod annotations kwok.x-k8s.io/usage-cpu and
kwok.x-k8s.io/usage-memory); every row says so in its `simulated` column.

    from kubelab import metrics
    metrics.pod_usage(api, "default")
    metrics.sample(metrics.pod_usage, every=5, duration=60, api=api, namespace="default")
"""
from __future__ import annotations

import math
import time

import pandas as pd

from .._k8s import raw
from .._k8s.apierrors import converted
from .._k8s.names import POOL_LABEL
from .._k8s.quantity import qty
from ..errors import ApiError, NotFound, UsageError

__all__ = ["GROUP", "NODE_USAGE_COLUMNS", "POD_USAGE_COLUMNS", "SOURCE", "VERSION", "node_usage",
           "node_usage_frame", "pod_usage", "pod_usage_frame", "sample"]

GROUP, VERSION = "metrics.k8s.io", "v1beta1"
SOURCE = "metrics.k8s.io"
POD_USAGE_COLUMNS = ["time", "namespace", "pod", "container", "node", "cpu", "memory", "source", "simulated"]
NODE_USAGE_COLUMNS = ["time", "node", "pool", "cpu", "memory", "source", "simulated"]


def _unavailable(err: ApiError) -> ApiError:
    status = err.code
    why = ("metrics-server is not installed (no such API)" if isinstance(err, NotFound)
           else f"metrics-server is not ready yet ({status} {err.reason or ''})".strip())
    return ApiError(f"metrics.k8s.io is not available: {why}",
                    "install metrics-server (the embedded cluster runs it); after a pod starts, the first "
                    "metrics take ~30-60 s (two scrapes): retry, e.g. with metrics.sample(...)", code=status)


def _list(api, plural: str, namespace: str | None = None) -> list[dict]:
    from kubernetes import client
    custom = client.CustomObjectsApi(api)
    try:
        with converted(f"{plural} metrics"):
            if namespace:
                return custom.list_namespaced_custom_object(GROUP, VERSION, namespace, plural)["items"]
            return custom.list_cluster_custom_object(GROUP, VERSION, plural)["items"]
    except ApiError as err:
        if err.code in (404, 503):
            raise _unavailable(err) from None
        raise


def pod_usage_frame(pod_metrics, pod_nodes: dict[tuple[str, str], str], nodes_by_name: dict) -> pd.DataFrame:
    """PodMetrics objects as one row per container (pure).

    pod_nodes: {(namespace, pod): node name}; nodes_by_name: {node name: Node dict}.
    Columns: time (UTC Timestamp of the sample), namespace, pod, container, node, cpu (cores),
    memory (bytes), source ("metrics.k8s.io"), simulated (bool: the pod's node is simulated).
    """
    rows = []
    for m in pod_metrics:
        meta = m["metadata"]
        node = pod_nodes.get((meta.get("namespace", ""), meta["name"]), "")
        for c in m.get("containers") or []:
            rows.append({"time": m.get("timestamp"), "namespace": meta.get("namespace", ""), "pod": meta["name"],
                         "container": c["name"], "node": node, "cpu": qty(c["usage"].get("cpu")),
                         "memory": qty(c["usage"].get("memory")), "source": SOURCE,
                         "simulated": raw.is_simulated(nodes_by_name.get(node))})
    return _with_times(pd.DataFrame(rows, columns=POD_USAGE_COLUMNS))


def node_usage_frame(node_metrics, nodes_by_name: dict) -> pd.DataFrame:
    """NodeMetrics objects as one row per node (pure). Columns: time, node, pool, cpu (cores), memory
    (bytes), source ("metrics.k8s.io"), simulated. Nodes running no pods have no metrics on KWOK."""
    rows = []
    for m in node_metrics:
        name = m["metadata"]["name"]
        node = nodes_by_name.get(name) or {}
        rows.append({"time": m.get("timestamp"), "node": name,
                     "pool": raw.labels(node).get(POOL_LABEL, ""),
                     "cpu": qty(m["usage"].get("cpu")), "memory": qty(m["usage"].get("memory")),
                     "source": SOURCE, "simulated": raw.is_simulated(node)})
    return _with_times(pd.DataFrame(rows, columns=NODE_USAGE_COLUMNS))


def _with_times(df: pd.DataFrame) -> pd.DataFrame:
    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601")
    return df


def pod_usage(api, namespace: str | None = None) -> pd.DataFrame:
    """CPU and memory use of each container of `namespace` (all if None) now, as `kubectl top pods
    --containers` shows it. Columns: see `pod_usage_frame`. An empty frame when no pod has metrics yet.
    Raises KubelabError when the metrics API is not installed or not ready."""
    items = _list(api, "pods", namespace)
    pod_nodes = {(p["metadata"]["namespace"], p["metadata"]["name"]): (p.get("spec") or {}).get("nodeName", "")
                 for p in raw.pods(api, namespace)} if items else {}
    return pod_usage_frame(items, pod_nodes, raw.nodes_by_name(api) if items else {})


def node_usage(api) -> pd.DataFrame:
    """CPU and memory use of each node, as `kubectl top nodes`. Columns: see `node_usage_frame`.
    Raises KubelabError when the metrics API is not installed or not ready."""
    return node_usage_frame(_list(api, "nodes"), raw.nodes_by_name(api))


def sample(fn, every: float = 5, duration: float = 60, progress: str | None = None, **kw) -> pd.DataFrame:
    """Call `fn(**kw)` (any function returning a DataFrame, e.g. `pod_usage` or `observe.pods`) every
    `every` seconds for `duration` seconds and stack the snapshots, with a `t` column of seconds since
    the start (the first call is at t=0). At most duration/every + 1 calls; never runs past
    `duration` (plus the last call's own time). With `progress` (a description), a tqdm bar counts the
    samples while a person watches (a notebook or a terminal; never in a headless run)."""
    if every <= 0 or duration < 0:
        raise UsageError(f"sample needs every > 0 and duration >= 0 (got every={every}, duration={duration})",
                         "for example sample(fn, every=5, duration=60, api=api)")
    # The epsilon keeps float division (0.3 / 0.1 = 2.999...) from dropping a sample.
    count = math.floor(duration / every + 1e-9) + 1
    start, frames = time.monotonic(), []
    with _bar(progress, count) as bar:
        for i in range(count):
            time.sleep(max(0.0, start + i * every - time.monotonic()))
            t = time.monotonic() - start
            frames.append(fn(**kw).assign(t=round(t, 3)))
            bar.update(1)
    out = pd.concat(frames, ignore_index=True)
    return out[["t", *[c for c in out.columns if c != "t"]]]


def _bar(desc: str | None, total: int):
    """A tqdm bar for `sample`, shown only with a description, several samples and a person watching."""
    import sys

    from tqdm import tqdm

    from .._k8s.poll import interactive
    show = bool(desc) and total > 1 and (interactive() or sys.stderr.isatty())
    return tqdm(total=total, desc=desc, unit="sample", disable=not show, file=sys.stderr, leave=False)
