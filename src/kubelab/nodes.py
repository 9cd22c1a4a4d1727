"""Node summaries (the library issue grows this into DataFrames)."""
from __future__ import annotations

from .pools import POOL_LABEL


def node_rows(api_client) -> list[dict]:
    from kubernetes import client

    rows = []
    for n in client.CoreV1Api(api_client).list_node().items:
        labels, alloc = n.metadata.labels or {}, n.status.allocatable or {}
        gpus = sum(int(v) for k, v in alloc.items() if k == "nvidia.com/gpu" or k.startswith("nvidia.com/mig-"))
        rows.append({
            "node": n.metadata.name, "pool": labels.get(POOL_LABEL, "-"),
            "ready": any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or []),
            "cpu": alloc.get("cpu", "-"), "memory": alloc.get("memory", "-"), "gpu": gpus,
            "gpu_product": labels.get("nvidia.com/gpu.product", ""),
        })
    return rows
