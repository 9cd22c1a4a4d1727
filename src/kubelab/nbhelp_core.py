"""Small helpers for the core notebooks (01 architecture, 02 core resources, 03 networking).

    from kubelab import nbhelp_core as nbh
    df = nbh.sample_rollout(api, "model-api", "lesson-02")     # ready/updated replicas every 0.3 s
    kl.plots.rollout_progress(df)
    nbh.endpoint_slices(api, "lesson-03")                        # one row per endpoint of every Service
    nbh.wait_endpoints(api, "lesson-03", "model", ready=3)       # ... once 3 of them are ready
    nbh.snapshots(transitions)                                   # a watch log -> input for plots.pods_by_phase
"""
from __future__ import annotations

import json
import time

import pandas as pd

from .errors import WaitTimeout
from .observe import _raw_items
from .wait import rollout_state

ROLLOUT_COLUMNS = ["t", "deployment", "replicas", "total", "updated", "ready", "available", "state", "done"]
ENDPOINT_COLUMNS = ["service", "slice", "address", "ready", "serving", "terminating", "pod", "node", "ports"]


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
    while True:
        obj = json.loads(read(name, namespace, _preload_content=False).data)
        obj["kind"] = kind
        if (obj.get("status") or {}).get("observedGeneration", 0) < obj["metadata"].get("generation", 0):
            if time.monotonic() - start > timeout:
                raise WaitTimeout(f"the controller has not seen the latest spec of {kind}/{name} after "
                                  f"{timeout:g} s", "check the kube-controller-manager (`kubelab cluster status`)")
            time.sleep(0.05)
            continue
        done, state, _, _ = rollout_state(obj)
        status = obj.get("status") or {}
        rows.append({"t": round(time.monotonic() - start, 3), "deployment": name,
                     "replicas": (obj.get("spec") or {}).get("replicas", 1),
                     "total": status.get("replicas") or 0, "updated": status.get("updatedReplicas") or 0,
                     "ready": status.get("readyReplicas") or 0, "available": status.get("availableReplicas") or 0,
                     "state": state, "done": done})
        if done:
            return pd.DataFrame(rows, columns=ROLLOUT_COLUMNS)
        if time.monotonic() - start > timeout:
            raise WaitTimeout(f"{kind}/{name} in namespace {namespace} is not rolled out after {timeout:g} s; "
                              f"last state: {state}", f"see why: `kubectl describe {kind.lower()} {name} "
                              f"-n {namespace}` and its events")
        time.sleep(max(0.0, rows[0]["t"] + start + len(rows) * every - time.monotonic()))


def endpoint_slices(api, namespace: str, service: str | None = None) -> pd.DataFrame:
    """The EndpointSlices of `namespace` (only those of `service` if given), one row per endpoint.

    Columns: service, slice, address (the pod IP), ready / serving / terminating (the endpoint's
    conditions), pod (targetRef), node, ports ("name:port/protocol", comma-joined)."""
    from kubernetes import client

    selector = f"kubernetes.io/service-name={service}" if service else None
    kw = {"label_selector": selector} if selector else {}
    rows = []
    for s in _raw_items(client.DiscoveryV1Api(api).list_namespaced_endpoint_slice, namespace, **kw):
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


def wait_endpoints(api, namespace: str, service: str, ready: int = 1, timeout: float = 30) -> pd.DataFrame:
    """Wait until Service `service` has at least `ready` ready endpoints in its EndpointSlices (the
    EndpointSlice controller fills them a moment after the Service or its pods change); returns
    `endpoint_slices(api, namespace, service)`. Raises WaitTimeout with the count last seen."""
    deadline = time.monotonic() + timeout
    while True:
        df = endpoint_slices(api, namespace, service)
        if int(df["ready"].sum()) >= ready:
            return df
        if time.monotonic() > deadline:
            raise WaitTimeout(f"Service {service} in namespace {namespace} has {int(df['ready'].sum())} ready "
                              f"endpoints after {timeout:g} s, not {ready}",
                              f"check that its selector matches ready pods: `kubectl get pods -n {namespace} "
                              f"--show-labels` and `kubectl describe service {service} -n {namespace}`")
        time.sleep(0.2)
