"""Dynamic Resource Allocation as DataFrames: the devices the ResourceSlices publish and what the
scheduler allocated to each ResourceClaim."""
from __future__ import annotations

import pandas as pd

from .._k8s.raw import list_dra

__all__ = ["claims", "devices"]

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


def claims(api, namespace: str) -> pd.DataFrame:
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
