"""Helpers of the storage, Helm and troubleshooting notebooks (04, 05, 07) that the rest of kubelab lacks.

    from kubelab import nbhelp_ops as ops
    ops.pvcs(api, "lesson-04")                    # PersistentVolumeClaims as a DataFrame
    ops.pvs(api, selector="lesson=lesson-04")          # PersistentVolumes by label
    ops.deployment_status(api, "web", "lesson-07")   # one row, the columns plots.rollout_progress takes
    tl = ops.Timeline(status=lambda: ops.deployment_status(api, "web", ns))
    tl.watch(5, every=0.25, until=lambda s: s["status"]["ready"].iat[0] == 3)
    tl.mark("pods deleted"); tl["status"]      # snapshots with a `t` column, marks to draw with tl.annotate(ax)
    ops.helm_history(api, "sentiment", ns)        # `helm history -o json` as a DataFrame
    ops.release_secrets(api, ns)                  # Helm's release Secrets: names and labels, never the data
"""
from __future__ import annotations

import json
import time

import pandas as pd

from . import observe
from .observe import _plain
from .quantity import to_float
from .tools import helm

PVC_COLUMNS = ["pvc", "phase", "volume", "storage_class", "access_modes", "request_gib", "capacity_gib",
               "selected_node"]
PV_COLUMNS = ["pv", "phase", "capacity_gib", "access_modes", "reclaim_policy", "storage_class", "claim",
              "node_affinity", "source"]
STATUS_COLUMNS = ["deployment", "replicas", "updated", "ready", "available", "pods", "ready_pods", "simulated"]
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
    for c in map(_plain, items):
        meta, spec, status = c["metadata"], c.get("spec") or {}, c.get("status") or {}
        rows.append({"pvc": meta["name"], "phase": status.get("phase", ""), "volume": spec.get("volumeName") or "",
                     "storage_class": spec.get("storageClassName") or "",
                     "access_modes": _modes(spec.get("accessModes")),
                     "request_gib": _gib(((spec.get("resources") or {}).get("requests") or {}).get("storage")),
                     "capacity_gib": _gib((status.get("capacity") or {}).get("storage")),
                     "selected_node": (meta.get("annotations") or {}).get("volume.kubernetes.io/selected-node", "")})
    return pd.DataFrame(rows, columns=PVC_COLUMNS).sort_values("pvc", kind="stable").reset_index(drop=True)


def pvcs(api, namespace: str) -> pd.DataFrame:
    """The PersistentVolumeClaims of `namespace` (columns: see `pvcs_frame`)."""
    from kubernetes import client
    return pvcs_frame(observe._raw_items(client.CoreV1Api(api).list_namespaced_persistent_volume_claim, namespace))


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
    for v in map(_plain, items):
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


def pvs(api, selector: str | None = None) -> pd.DataFrame:
    """PersistentVolumes (cluster-scoped), optionally only those matching a label `selector`."""
    from kubernetes import client
    kw = {"label_selector": selector} if selector else {}
    return pvs_frame(observe._raw_items(client.CoreV1Api(api).list_persistent_volume, **kw))


# -- deployments over time --------------------------------------------------------------------------
def deployment_status(api, name: str, namespace: str) -> pd.DataFrame:
    """One row on Deployment `name` now: replicas (desired), updated, ready, available (the Deployment's
    status, as its controller last wrote it), pods and ready_pods (its pods not terminating, and those of
    them ready, counted now: the status lags a deletion by a moment), simulated (any of its pods on a
    simulated node). The columns are those `plots.rollout_progress` takes; a Deployment that does not
    exist gives a row of zeros."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException
    try:
        dep = client.AppsV1Api(api).read_namespaced_deployment(name, namespace)
    except ApiException as err:
        if err.status != 404:
            raise
        return pd.DataFrame([dict.fromkeys(STATUS_COLUMNS, 0) | {"deployment": name, "simulated": False}],
                            columns=STATUS_COLUMNS)
    selector = ",".join(f"{k}={v}" for k, v in (dep.spec.selector.match_labels or {}).items())
    pods = observe.pods(api, namespace, selector or None)
    alive = pods[pods["status"] != "Terminating"]
    s = dep.status
    row = {"deployment": name, "replicas": dep.spec.replicas or 0, "updated": s.updated_replicas or 0,
           "ready": s.ready_replicas or 0, "available": s.available_replicas or 0, "pods": len(alive),
           "ready_pods": int(alive["ready"].sum()),
           "simulated": bool(pods["simulated"].any()) if len(pods) else False}
    return pd.DataFrame([row], columns=STATUS_COLUMNS)


def settled(snapshot: dict) -> bool:
    """For `Timeline.watch(until=...)` with a `deployment_status` source: every replica is updated, ready
    and available, and the Deployment has exactly that many pods, all ready (no old pod left terminating)."""
    s = snapshot["status"].iloc[0]
    return s["replicas"] == s["updated"] == s["ready"] == s["available"] == s["pods"] == s["ready_pods"]


class Timeline:
    """Snapshots of one or more DataFrame sources on one clock, with labelled marks between actions.

        tl = Timeline(pods=lambda: kl.pods(api, ns), status=lambda: deployment_status(api, "web", ns))
        tl.watch(3)                 # a snapshot of every source every 0.5 s for 3 s
        tl.mark("delete pods")      # a labelled moment + a snapshot (a vertical line in tl.annotate(ax))
        tl.watch(10, until=lambda s: s["status"]["ready"].iat[0] == 3)   # stop as soon as it holds
        tl.during("drain", kl.kubectl, "drain", node, api=api)   # snapshots while a blocking command runs
        tl["pods"]                  # every snapshot of `pods`, with a `t` column (seconds since Timeline())

    The snapshots are bounded by `duration`: a watch never runs longer (plus one snapshot's own time)."""

    def __init__(self, **sources):
        if not sources:
            raise ValueError("Timeline needs at least one source, e.g. Timeline(pods=lambda: kl.pods(api, ns))")
        self.sources = sources
        self.start = time.monotonic()
        self.marks: list[tuple[float, str]] = []
        self._frames: dict[str, list[pd.DataFrame]] = {k: [] for k in sources}

    def now(self) -> float:
        return round(time.monotonic() - self.start, 3)

    def snapshot(self) -> dict[str, pd.DataFrame]:
        """Call every source once; returns the frames just taken (by source name)."""
        t = self.now()
        latest = {}
        for name, fn in self.sources.items():
            df = fn()
            latest[name] = df
            self._frames[name].append(df.assign(t=t))
        return latest

    def watch(self, duration: float, every: float = 0.5, until=None) -> bool:
        """Snapshot every `every` s for at most `duration` s; with `until` (a function of the latest
        snapshots, by source name), stop as soon as it returns True. Returns whether `until` held."""
        deadline = time.monotonic() + duration
        while True:
            latest = self.snapshot()
            if until is not None and until(latest):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return until is None
            time.sleep(min(every, left))

    def during(self, label: str | None, fn, *args, every: float = 0.25, **kw):
        """Mark `label` (unless None), run fn(*args, **kw) in a thread and take snapshots until it returns,
        so that a blocking command (`helm upgrade --wait`, `kubectl drain`, `kl.rollout`) is watched while
        it works. Returns what fn returned; re-raises what it raised."""
        import threading

        result: dict = {}

        def target():
            try:
                result["value"] = fn(*args, **kw)
            except BaseException as err:  # handed to the caller below
                result["error"] = err

        if label is not None:
            self.mark(label)
        worker = threading.Thread(target=target, daemon=True)
        worker.start()
        while worker.is_alive():
            worker.join(every)
            self.snapshot()
        if "error" in result:
            raise result["error"]
        return result.get("value")

    def mark(self, label: str, snapshot: bool = True) -> None:
        """Record a labelled moment (call it just before an action); with `snapshot`, also take a snapshot
        then, so that a chart shows the state right before the action rather than a ramp across the gap."""
        self.marks.append((self.now(), label))
        if snapshot:
            self.snapshot()

    def __getitem__(self, name: str) -> pd.DataFrame:
        frames = self._frames[name]
        if not frames:
            return pd.DataFrame(columns=["t"])
        out = pd.concat(frames, ignore_index=True)
        return out[["t", *[c for c in out.columns if c != "t"]]]

    def annotate(self, ax) -> None:
        """Draw each mark as a dotted vertical line with its label on `ax`."""
        for t, label in self.marks:
            ax.axvline(t, linestyle=":", color="dimgray", linewidth=1)
            ax.annotate(label, (t, 1), xycoords=("data", "axes fraction"), xytext=(3, -3),
                        textcoords="offset points", rotation=90, va="top", fontsize="small", color="dimgray")


# -- charts ----------------------------------------------------------------------------------------
PHASE_COLORS = {"Bound": "#2a9d8f", "Available": "#8ecae6", "Released": "#adb5bd", "Lost": "#d62828"}


def state_timeline(df: pd.DataFrame, key: str = "pod", state: str = "status", ax=None, title: str | None = None):
    """Swimlanes: one row per `key` (pod, pvc...), colored by its `state` between snapshots.

    Input: snapshots with a `t` column (e.g. Timeline()[...]); each row's state lasts until the next
    snapshot. The title gets "(simulated)" when a `simulated` column has a True value."""
    from matplotlib.patches import Patch

    from . import plots
    ax = plots._axes(ax)
    times = sorted(df["t"].unique()) if len(df) else []
    step = float(pd.Series(times).diff().median()) if len(times) > 1 else 0.5
    ends = dict(zip(times, times[1:] + [times[-1] + step] if times else []))
    keys = list(dict.fromkeys(df.sort_values("t")[key])) if len(df) else []
    colors = {**plots.STATE_COLORS, **PHASE_COLORS}
    seen = {}
    for y, k in enumerate(reversed(keys)):
        rows = df[df[key] == k].sort_values("t")
        for t, s in zip(rows["t"], rows[state]):
            color = colors.get(s, "#495057")
            ax.broken_barh([(t, ends[t] - t)], (y - 0.35, 0.7), color=color)
            seen.setdefault(s, color)
    ax.set_yticks(range(len(keys)), list(reversed(keys)))
    ax.set_xlabel("seconds since start")
    ax.set_xlim(left=0)
    if seen:
        ax.legend(handles=[Patch(color=c, label=s) for s, c in seen.items()], title=state, fontsize="small",
                  loc="upper left", bbox_to_anchor=(1.01, 1))
    plots._title(ax, title or f"{key} {state} over time", df)
    return ax


# -- Helm -----------------------------------------------------------------------------------------
HISTORY_COLUMNS = ["revision", "updated", "status", "chart", "app_version", "description"]


def helm_history(api, release: str, namespace: str) -> pd.DataFrame:
    """`helm history RELEASE -o json` as a DataFrame (columns: HISTORY_COLUMNS), oldest revision first."""
    rows = json.loads(helm("history", release, "--namespace", namespace, "-o", "json", api=api) or "[]")
    df = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    df["updated"] = pd.to_datetime(df["updated"], utc=True, format="ISO8601")
    return df.sort_values("revision").reset_index(drop=True)


def helm_values(api, release: str, namespace: str, revision: int | None = None) -> dict:
    """The computed values (chart defaults merged with -f/--set) of a release revision, as a dict.
    Values may hold secrets in other charts: print only the keys you need."""
    args = ["get", "values", release, "--namespace", namespace, "--all", "-o", "json"]
    if revision is not None:
        args += ["--revision", str(revision)]
    return json.loads(helm(*args, api=api) or "{}")


def release_secrets(api, namespace: str) -> pd.DataFrame:
    """The Secrets Helm keeps its releases in (type helm.sh/release.v1): name, release, revision, status
    and the data KEYS. The values (the gzipped release, with every value given) are never read out."""
    from kubernetes import client
    items = client.CoreV1Api(api).list_namespaced_secret(namespace, field_selector="type=helm.sh/release.v1").items
    rows = [{"secret": s.metadata.name, "type": s.type, "release": (s.metadata.labels or {}).get("name", ""),
             "revision": int((s.metadata.labels or {}).get("version", 0)),
             "status": (s.metadata.labels or {}).get("status", ""), "keys": sorted((s.data or {}).keys())}
            for s in items]
    df = pd.DataFrame(rows, columns=["secret", "type", "release", "revision", "status", "keys"])
    return df.sort_values("revision").reset_index(drop=True)
