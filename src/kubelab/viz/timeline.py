"""Recording the cluster over time: a Timeline of DataFrame snapshots with labelled marks between actions,
a rollout sampled as `kubectl rollout status` sees it, and a log of changes turned into snapshots. The
results are the inputs of the time charts in `plots` (rollout_progress, pods_by_phase, state_timeline)."""
from __future__ import annotations

import time

import pandas as pd

from .._k8s import poll, raw
from ..errors import UsageError, WaitTimeout
from ..wait import rollout_state

__all__ = ["ROLLOUT_COLUMNS", "Timeline", "sample_rollout", "settled", "snapshots"]

ROLLOUT_COLUMNS = ["t", "deployment", "replicas", "total", "updated", "ready", "available", "state", "done"]


def sample_rollout(api, name: str, namespace: str, kind: str = "Deployment", every: float = 0.3,
                   timeout: float = 120) -> pd.DataFrame:
    """Read a Deployment's (or StatefulSet's) status every `every` s until its rollout is complete, as
    `kubectl rollout status` decides it; start it right after changing the object. Samples are recorded
    from the moment the controller has seen the latest spec (before that the counts describe the old one).

    Columns (the input of `plots.rollout_progress`): t (s since the call), deployment (the name),
    replicas (desired, spec.replicas), total (pods of every revision, status.replicas), updated (pods of
    the newest template), ready, available, state (the rollout state in words), done (bool).
    Raises WaitTimeout, with what was seen, when the rollout is not done after `timeout` s."""
    from kubernetes import client

    apps = client.AppsV1Api(api)
    read = {"Deployment": apps.read_namespaced_deployment_status,
            "StatefulSet": apps.read_namespaced_stateful_set_status}[kind]
    start, rows = time.monotonic(), []

    def read_obj() -> dict:
        return {**raw.read(read, name, namespace), "kind": kind}

    def observed():  # before this, the counts describe the old spec
        obj = read_obj()
        return (obj.get("status") or {}).get("observedGeneration", 0) >= obj["metadata"].get("generation", 0), obj

    def sample():
        obj = read_obj()
        done, state, _, _ = rollout_state(obj)
        status = obj.get("status") or {}
        rows.append({"t": round(time.monotonic() - start, 3), "deployment": name,
                     "replicas": (obj.get("spec") or {}).get("replicas", 1),
                     "total": status.get("replicas") or 0, "updated": status.get("updatedReplicas") or 0,
                     "ready": status.get("readyReplicas") or 0, "available": status.get("availableReplicas") or 0,
                     "state": state, "done": done})
        return done, state

    poll.until(observed, timeout, every=0.05, timeout_error=poll.timeout(
        f"the controller has not seen the latest spec of {kind}/{name} after {timeout:g} s",
        "check the kube-controller-manager (`kubelab cluster status`)"))
    poll.until(sample, max(0.0, start + timeout - time.monotonic()), every=every,
               timeout_error=lambda state: WaitTimeout(
                   f"{kind}/{name} in namespace {namespace} is not rolled out after {timeout:g} s; last state: "
                   f"{state}", f"see why: `kubectl describe {kind.lower()} {name} -n {namespace}` and its events"))
    return pd.DataFrame(rows, columns=ROLLOUT_COLUMNS)


def snapshots(transitions: pd.DataFrame, key: str = "pod", t: str = "t", every: float | None = None) -> pd.DataFrame:
    """A log of state changes (one row per change: `t`, `key` and state columns, e.g. recorded from a watch)
    as snapshots, the shape `plots.pods_by_phase` and `metrics.sample` use: at each time, one row per `key`
    seen so far with its latest state. Times: those of the log, or with `every` a regular grid from 0 to
    the last change (plots then show sharp steps instead of ramps between far-apart changes). Keys with a
    row whose `type` is "DELETED" leave the snapshots from that time on."""
    log = transitions.sort_values(t, kind="stable")
    if not len(log):
        return transitions.copy()
    if every:
        times = [round(i * every, 6) for i in range(int(log[t].max() // every) + 2)]
    else:
        times = sorted(set(log[t]))
    records, i, state, frames = log.to_dict("records"), 0, {}, []
    for now in times:
        while i < len(records) and records[i][t] <= now + 1e-9:
            row, i = records[i], i + 1
            if row.get("type") == "DELETED":
                state.pop(row[key], None)
            else:
                state[row[key]] = row
        if state:
            frames.append(pd.DataFrame(list(state.values())).assign(**{t: now}))
    if not frames:
        return transitions.iloc[0:0].copy()
    return pd.concat(frames, ignore_index=True)


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
        tl.during("drain", kl.kubectl, api, "drain", node)       # snapshots while a blocking command runs
        tl["pods"]                  # every snapshot of `pods`, with a `t` column (seconds since Timeline())

    The snapshots are bounded by `duration`: a watch never runs longer (plus one snapshot's own time)."""

    def __init__(self, **sources):
        if not sources:
            raise UsageError("Timeline needs at least one source", "e.g. Timeline(pods=lambda: kl.pods(api, ns))")
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
        def step():
            latest = self.snapshot()
            held = until is not None and bool(until(latest))
            return held, held

        return poll.until(step, duration, every=every) or until is None

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
