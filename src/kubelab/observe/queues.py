"""Kueue's queues and what they decided, as DataFrames: the Workload of each queued Job (admitted? on which flavor?
evicted, preempted, finished?), the quotas of ClusterQueues, and the nodes Karpenter made for a NodePool.

Field names: sigs.k8s.io/kueue v0.17.0 apis/kueue/v1beta2 (workload_types.go: status.admission.podSetAssignments[]
.flavors, conditions QuotaReserved, Admitted, PodsReady, Evicted, Preempted, Requeued, Finished;
clusterqueue_types.go: spec.resourceGroups[].flavors[].resources[] nominalQuota, borrowingLimit, lendingLimit;
status.flavorsUsage, status.fairSharing.weightedShare).

    kl.observe.queues.workloads(api, "lesson-08")     # one row per Workload
    kl.observe.queues.jobs(api, "lesson-08")          # one row per queued Job, its state in one word
    kl.observe.queues.quotas(api, cohort="lesson-08") # one row per ClusterQueue, flavor and resource
"""
from __future__ import annotations

import pandas as pd

from .._k8s.apierrors import call, typed_errors

__all__ = ["GPU", "GROUP", "JOB_STATES", "VERSION", "condition", "job_state", "jobs", "jobs_frame", "nodes_of_pool", "pool_size",
           "quotas", "quotas_frame", "workloads", "workloads_frame"]

GROUP, VERSION = "kueue.x-k8s.io", "v1beta2"
GPU = "nvidia.com/gpu"
NODEPOOL_LABEL = "karpenter.sh/nodepool"
# A queued Job's life in one word, in order (the admission timeline's colors follow it)
JOB_STATES = ("Queued", "Admitted", "Running", "Evicted", "Finished")
WORKLOAD_COLUMNS = ["workload", "job", "queue", "cluster_queue", "priority_class", "priority", "pods", "gpus",
                    "flavors", "quota_reserved", "admitted", "evicted", "preempted", "finished", "evictions", "message",
                    "created", "admitted_at", "evicted_at", "finished_at"]


def condition(obj: dict, type_: str) -> dict | None:
    """The status condition `type_` of a Kueue object (a dict), or None."""
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


# Kueue's words for each preemption reason in the Preempted condition's message (pkg/scheduler/preemption, v0.17)
_PREEMPTION_WORDS = {"InClusterQueue": "prioritization in the ClusterQueue",
                     "InCohortReclaimWhileBorrowing": "reclamation within the cohort while borrowing",
                     "InCohortReclamation": "reclamation within the cohort",
                     "InCohortFairSharing": "Fair Sharing within the cohort"}


def last_preemption(wl: dict) -> str:
    """The reason of a Workload's (a dict's) last preemption (InClusterQueue, InCohortReclamation ...), or "" if Kueue
    never preempted it. Read from the Preempted condition while True; once Kueue re-admits the Workload it sets the
    condition False with the message "Previously: <old message>", which names the reason in words."""
    pre = condition(wl, "Preempted") or {}
    if pre.get("status") == "True":
        return pre.get("reason", "")
    message = pre.get("message", "")
    if not message.startswith("Previously: Preempted"):
        return ""
    return next((reason for reason, words in _PREEMPTION_WORDS.items() if f"due to {words};" in message), "")


def of_job(workloads: list[dict], *, name: str | None = None, uid: str | None = None) -> list[dict]:
    """The Workloads (dicts) that Kueue made for one Job, found by its owner reference: by the Job's `uid` (that very
    Job) or its `name` (any Job of that name, a deleted and recreated one too); newest first."""
    owned = [w for w in workloads if any(o.get("kind") == "Job" and (o.get("uid") == uid if uid else o.get("name") == name)
                                         for o in w["metadata"].get("ownerReferences") or [])]
    return sorted(owned, key=lambda w: w["metadata"].get("creationTimestamp") or "", reverse=True)


def _true(obj: dict, type_: str) -> bool:
    c = condition(obj, type_)
    return bool(c) and c.get("status") == "True"


def _owner_job(wl: dict) -> str:
    return next((o["name"] for o in wl["metadata"].get("ownerReferences") or [] if o.get("kind") == "Job"), "")


def _gpus(podset: dict) -> int:
    from .._k8s.quantity import to_float

    spec = (podset.get("template") or {}).get("spec") or {}
    per_pod = sum(to_float(((c.get("resources") or {}).get("limits") or {}).get(GPU, 0)) for c in spec.get("containers") or [])
    return int(per_pod * int(podset.get("count", 1)))


def workloads_frame(objs: list[dict]) -> pd.DataFrame:
    """Workloads (dicts) -> one row each. `flavors`: "resource=flavor" of the admission (every pod set), "" when not
    admitted; `preempted`: the Preempted condition's reason (InClusterQueue, InCohortReclamation ...) while True;
    `evicted`: the Evicted condition's reason (Preempted, PodsReadyTimeout ...) while True; `evictions`: how many
    times Kueue evicted it (status.schedulingStats)."""
    rows = []
    for wl in objs:
        status, spec = wl.get("status") or {}, wl.get("spec") or {}
        admission = status.get("admission") or {}
        flavors = sorted({f"{r}={f}" for a in admission.get("podSetAssignments") or []
                          for r, f in (a.get("flavors") or {}).items()})
        ev, pre, fin, adm = (condition(wl, t) for t in ("Evicted", "Preempted", "Finished", "Admitted"))
        reserved = condition(wl, "QuotaReserved")
        stats = (status.get("schedulingStats") or {}).get("evictions") or []
        rows.append({
            "workload": wl["metadata"]["name"], "job": _owner_job(wl), "queue": spec.get("queueName", ""),
            "cluster_queue": admission.get("clusterQueue", ""), "priority_class": spec.get("priorityClassName") or "",
            "priority": spec.get("priority"), "pods": sum(int(p.get("count", 1)) for p in spec.get("podSets") or []),
            "gpus": sum(_gpus(p) for p in spec.get("podSets") or []), "flavors": ", ".join(flavors),
            "quota_reserved": _true(wl, "QuotaReserved"), "admitted": _true(wl, "Admitted"),
            "evicted": ev["reason"] if ev and ev.get("status") == "True" else "",
            "preempted": pre["reason"] if pre and pre.get("status") == "True" else "",
            "finished": _true(wl, "Finished"), "evictions": sum(int(s.get("count", 0)) for s in stats),
            "message": (reserved or {}).get("message", "") if not _true(wl, "Admitted") else "",
            "created": pd.Timestamp(wl["metadata"]["creationTimestamp"]),
            "admitted_at": pd.Timestamp(adm["lastTransitionTime"]) if adm and adm.get("status") == "True" else pd.NaT,
            "evicted_at": pd.Timestamp(ev["lastTransitionTime"]) if ev and ev.get("status") == "True" else pd.NaT,
            "finished_at": pd.Timestamp(fin["lastTransitionTime"]) if fin and fin.get("status") == "True" else pd.NaT,
        })
    return pd.DataFrame(rows, columns=WORKLOAD_COLUMNS)


@typed_errors
def workloads(api, namespace: str) -> pd.DataFrame:
    """The Workloads of `namespace` (`kubectl get workloads -n <ns>`), one row each (see workloads_frame)."""
    from kubernetes import client
    items = call(client.CustomObjectsApi(api).list_namespaced_custom_object, GROUP, VERSION, namespace,
                 "workloads")["items"]
    return workloads_frame(items)


def job_state(wl: dict | None, running: int, succeeded: int) -> str:
    """One word for a queued Job (a row of workloads_frame, or None when Kueue made no Workload yet) and the count of
    its running and succeeded pods: Finished, Evicted (evicted and not yet admitted again), Running (admitted, a pod
    runs), Admitted (quota reserved, pods not running yet), else Queued."""
    if wl is None:
        return "Queued"
    if wl["finished"]:
        return "Finished"
    if wl["admitted"]:
        return "Running" if running else "Admitted"
    if wl["evicted"] or wl["preempted"]:
        return "Evicted"
    return "Queued"


def jobs_frame(wls: pd.DataFrame, pods: list[dict]) -> pd.DataFrame:
    """A workloads_frame and the namespace's pods (dicts with `job`, `phase`) -> one row per queued Job: job, state
    (job_state), flavors, cluster_queue, pods (of the Workload), running, preempted, evictions."""
    rows = []
    for wl in wls.to_dict("records"):
        mine = [p for p in pods if p["job"] == wl["job"]]
        running = sum(p["phase"] == "Running" for p in mine)
        succeeded = sum(p["phase"] == "Succeeded" for p in mine)
        rows.append({"job": wl["job"], "state": job_state(wl, running, succeeded), "flavors": wl["flavors"],
                     "cluster_queue": wl["cluster_queue"], "priority_class": wl["priority_class"], "pods": wl["pods"],
                     "running": running, "preempted": wl["preempted"], "evictions": wl["evictions"]})
    return pd.DataFrame(rows, columns=["job", "state", "flavors", "cluster_queue", "priority_class", "pods", "running",
                                       "preempted", "evictions"])


@typed_errors
def jobs(api, namespace: str) -> pd.DataFrame:
    """The queued Jobs of `namespace` and their state now (jobs_frame): a source for kl.Timeline."""
    from kubernetes import client
    pods = call(client.CoreV1Api(api).list_namespaced_pod, namespace, label_selector="batch.kubernetes.io/job-name").items
    plain = [{"job": p.metadata.labels.get("batch.kubernetes.io/job-name", ""), "phase": p.status.phase}
             for p in pods if not p.metadata.deletion_timestamp]
    return jobs_frame(workloads(api, namespace), plain)


def quotas_frame(cluster_queues: list[dict], resource: str = GPU) -> pd.DataFrame:
    """ClusterQueues (dicts) -> one row per queue and flavor for `resource`: nominal, borrowing_limit and
    lending_limit (None: not set, i.e. no limit), used and borrowed now (status.flavorsUsage), the queue's cohort and
    its fair-sharing weighted share (status.fairSharing.weightedShare; 0 when it uses no more than its nominal)."""
    rows = []
    for cq in cluster_queues:
        spec, status = cq.get("spec") or {}, cq.get("status") or {}
        usage = {(f["name"], r["name"]): r for f in status.get("flavorsUsage") or [] for r in f.get("resources") or []}
        for group in spec.get("resourceGroups") or []:
            for flavor in group.get("flavors") or []:
                for r in flavor.get("resources") or []:
                    if r["name"] != resource:
                        continue
                    used = usage.get((flavor["name"], resource)) or {}
                    rows.append({"cluster_queue": cq["metadata"]["name"], "cohort": spec.get("cohortName", ""),
                                 "flavor": flavor["name"], "nominal": str(r.get("nominalQuota", 0)),
                                 "borrowing_limit": r.get("borrowingLimit"), "lending_limit": r.get("lendingLimit"),
                                 "used": str(used.get("total", 0)), "borrowed": str(used.get("borrowed", 0)),
                                 "weighted_share": (status.get("fairSharing") or {}).get("weightedShare")})
    return pd.DataFrame(rows, columns=["cluster_queue", "cohort", "flavor", "nominal", "borrowing_limit",
                                       "lending_limit", "used", "borrowed", "weighted_share"])


@typed_errors
def quotas(api, cohort: str | None = None, resource: str = GPU) -> pd.DataFrame:
    """The ClusterQueues' quotas for `resource` (`kubectl get clusterqueues -o yaml`), those of `cohort` only when
    given (quotas_frame)."""
    from kubernetes import client
    items = call(client.CustomObjectsApi(api).list_cluster_custom_object, GROUP, VERSION, "clusterqueues")["items"]
    if cohort is not None:
        items = [cq for cq in items if (cq.get("spec") or {}).get("cohortName") == cohort]
    return quotas_frame(items, resource)


@typed_errors
def nodes_of_pool(api, node_pool: str) -> pd.DataFrame:
    """The nodes Karpenter made for NodePool `node_pool` (label karpenter.sh/nodepool): node, instance_type, gpus
    (allocatable), ready, simulated. A source for kl.Timeline: count and GPUs over time."""
    from kubernetes import client
    from .._k8s.quantity import to_float

    nodes = call(client.CoreV1Api(api).list_node, label_selector=f"{NODEPOOL_LABEL}={node_pool}").items
    rows = [{"node": n.metadata.name, "instance_type": (n.metadata.labels or {}).get("node.kubernetes.io/instance-type", ""),
             "gpus": int(to_float((n.status.allocatable or {}).get(GPU, 0))),
             "ready": any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or []),
             "simulated": (n.metadata.labels or {}).get("kubelab.io/simulated") == "true"} for n in nodes]
    return pd.DataFrame(rows, columns=["node", "instance_type", "gpus", "ready", "simulated"])


def pool_size(api, node_pool: str) -> pd.DataFrame:
    """One row: how many nodes NodePool `node_pool` has now and their GPUs (a kl.Timeline source; 0 when none)."""
    nodes = nodes_of_pool(api, node_pool)
    return pd.DataFrame([{"node_pool": node_pool, "nodes": len(nodes), "gpus": int(nodes["gpus"].sum()),
                          "simulated": True}])
