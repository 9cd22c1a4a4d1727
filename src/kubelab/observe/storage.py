"""Storage as DataFrames: PersistentVolumeClaims and PersistentVolumes (one row each)."""
from __future__ import annotations

import pandas as pd

from .._k8s import raw
from .._k8s.quantity import to_float

__all__ = ["pvcs", "pvcs_frame", "pvs", "pvs_frame"]

PVC_COLUMNS = ["pvc", "phase", "volume", "storage_class", "access_modes", "request_gib", "capacity_gib",
               "selected_node"]
PV_COLUMNS = ["pv", "phase", "capacity_gib", "access_modes", "reclaim_policy", "storage_class", "claim",
              "node_affinity", "source"]
GIB = 2**30
SHORT_MODES = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}


def _gib(quantity) -> float:
    return to_float(quantity) / GIB if quantity else float("nan")


def _modes(modes) -> str:
    return ",".join(SHORT_MODES.get(m, m) for m in modes or [])


# -- storage ---------------------------------------------------------------------------------------
def pvcs_frame(items) -> pd.DataFrame:
    """PersistentVolumeClaims as rows (pure). Columns: pvc, phase (Pending/Bound/Lost), volume (the bound
    PV or ""), storage_class ("" for none), access_modes ("RWO,ROX"), request_gib, capacity_gib (of the
    bound volume; NaN while unbound), selected_node (the node the scheduler picked for a
    WaitForFirstConsumer claim, or "")."""
    rows = []
    for c in map(raw.plain, items):
        meta, spec, status = c["metadata"], c.get("spec") or {}, c.get("status") or {}
        rows.append({"pvc": meta["name"], "phase": status.get("phase", ""), "volume": spec.get("volumeName") or "",
                     "storage_class": spec.get("storageClassName") or "",
                     "access_modes": _modes(spec.get("accessModes")),
                     "request_gib": _gib(((spec.get("resources") or {}).get("requests") or {}).get("storage")),
                     "capacity_gib": _gib((status.get("capacity") or {}).get("storage")),
                     "selected_node": (meta.get("annotations") or {}).get("volume.kubernetes.io/selected-node", "")})
    return pd.DataFrame(rows, columns=PVC_COLUMNS).sort_values("pvc", kind="stable").reset_index(drop=True)


def pvcs(api, namespace: str | None = None) -> pd.DataFrame:
    """The PersistentVolumeClaims of `namespace` (all namespaces for None; columns: see `pvcs_frame`)."""
    from kubernetes import client
    core = client.CoreV1Api(api)
    if namespace:
        return pvcs_frame(raw.items(core.list_namespaced_persistent_volume_claim, namespace))
    return pvcs_frame(raw.items(core.list_persistent_volume_claim_for_all_namespaces))


def _affinity(spec: dict) -> str:
    terms = ((spec.get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms") or []
    return " or ".join(" and ".join(f"{e['key']} {e['operator']} {','.join(e.get('values') or [])}".strip()
                                    for e in t.get("matchExpressions") or []) for t in terms)


SOURCES = ("hostPath", "local", "csi", "nfs", "iscsi", "fc", "awsElasticBlockStore", "gcePersistentDisk",
           "azureDisk", "azureFile", "cephfs", "rbd")


def pvs_frame(items) -> pd.DataFrame:
    """PersistentVolumes as rows (pure). Columns: pv, phase (Available/Bound/Released/Failed), capacity_gib,
    access_modes, reclaim_policy, storage_class, claim ("namespace/name" from spec.claimRef, or ""),
    node_affinity (the required node selector in words, or ""), source (hostPath, local, csi:<driver>, ...)."""
    rows = []
    for v in map(raw.plain, items):
        spec, status = v.get("spec") or {}, v.get("status") or {}
        ref = spec.get("claimRef") or {}
        source = next((s for s in SOURCES if s in spec), "")
        if source == "csi":
            source = f"csi:{spec['csi'].get('driver', '')}"
        rows.append({"pv": v["metadata"]["name"], "phase": status.get("phase", ""),
                     "capacity_gib": _gib((spec.get("capacity") or {}).get("storage")),
                     "access_modes": _modes(spec.get("accessModes")),
                     "reclaim_policy": spec.get("persistentVolumeReclaimPolicy", ""),
                     "storage_class": spec.get("storageClassName") or "",
                     "claim": f"{ref.get('namespace', '')}/{ref['name']}" if ref.get("name") else "",
                     "node_affinity": _affinity(spec), "source": source})
    return pd.DataFrame(rows, columns=PV_COLUMNS).sort_values("pv", kind="stable").reset_index(drop=True)


def pvs(api, *, selector: str | None = None) -> pd.DataFrame:
    """PersistentVolumes (cluster-scoped), optionally only those matching a label `selector`."""
    from kubernetes import client
    kw = {"label_selector": selector} if selector else {}
    return pvs_frame(raw.items(client.CoreV1Api(api).list_persistent_volume, **kw))
