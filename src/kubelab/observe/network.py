"""Networking as DataFrames: the endpoints of Services, from their EndpointSlices."""
from __future__ import annotations

import pandas as pd

from .._k8s import raw

__all__ = ["endpoint_slices"]

ENDPOINT_COLUMNS = ["service", "slice", "address", "ready", "serving", "terminating", "pod", "node", "ports"]


def endpoint_slices(api, namespace: str, *, service: str | None = None) -> pd.DataFrame:
    """The EndpointSlices of `namespace` (only those of `service` if given), one row per endpoint.

    Columns: service, slice, address (the pod IP), ready / serving / terminating (the endpoint's
    conditions), pod (targetRef), node, ports ("name:port/protocol", comma-joined)."""
    from kubernetes import client

    selector = f"kubernetes.io/service-name={service}" if service else None
    kw = {"label_selector": selector} if selector else {}
    rows = []
    for s in raw.items(client.DiscoveryV1Api(api).list_namespaced_endpoint_slice, namespace, **kw):
        svc = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name", "")
        ports = ",".join(f"{p.get('name') or '-'}:{p.get('port')}/{p.get('protocol', 'TCP')}"
                         for p in s.get("ports") or [])
        for e in s.get("endpoints") or []:
            cond = e.get("conditions") or {}
            for address in e.get("addresses") or []:
                rows.append({"service": svc, "slice": s["metadata"]["name"], "address": address,
                             "ready": bool(cond.get("ready")), "serving": bool(cond.get("serving")),
                             "terminating": bool(cond.get("terminating")),
                             "pod": (e.get("targetRef") or {}).get("name", ""), "node": e.get("nodeName", ""),
                             "ports": ports})
    df = pd.DataFrame(rows, columns=ENDPOINT_COLUMNS)
    return df.sort_values(["service", "pod"], kind="stable").reset_index(drop=True)
