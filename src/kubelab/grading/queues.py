"""Checks of the batch platform (kubelab.batch): what Kueue decided for a Job (its Workload's admission, flavor and
PodsReady, quota borrowed from the cohort, preemption to reclaim lent quota), and what Karpenter did for it (a node
of the learner's NodePool, gone once empty).

Kueue's Workload (kueue.x-k8s.io/v1beta2): conditions QuotaReserved, Admitted, PodsReady (waitForPodsReady: reason
Started once every pod of the admitted Workload is ready), Finished, Evicted; status.admission.clusterQueue and
.podSetAssignments[].flavors (resource -> ResourceFlavor); spec.podSets[].count (the pods admitted as one).
"""
from __future__ import annotations

import time
from types import SimpleNamespace

from .._k8s.quantity import to_float
from .._k8s.raw import is_ready
from ..batch import API, GPU, NODEPOOL_LABEL, QUEUE_LABEL
from ..observe.queues import last_preemption, of_job, quotas_frame
from .engine import CheckResult, Missing, Part, client, read, run

__all__ = ["job_admitted", "job_borrowed", "job_gang_admitted", "job_node_provisioned", "job_reclaimed"]

ADMIT_TIMEOUT = 30.0     # Kueue admits within a second or two of the Job's create
# a gang is ready when all its pods are scheduled, started, counted ready by the Job controller and seen by Kueue:
# a few seconds on a quiet machine, past 30 s on a loaded one (in a full test run, 30 s once ended before Kueue saw all 4 pods ready)
GANG_TIMEOUT = 90.0
PROVISION_TIMEOUT = 150.0  # Karpenter's node (~3-12 s), the Job's run, and its consolidation (>= ~30 s after empty)


def _condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def _true(obj: dict, kind: str) -> bool:
    return _condition(obj, kind).get("status") == "True"


def _workload(api, job: str, namespace: str) -> dict:
    """The Workload Kueue made for Job `job` (owner reference), newest first. None yet for a Job that names a
    LocalQueue: a stand-in that is not admitted (Kueue makes the Workload after the Job, seconds later on a busy
    machine), so the check waits for it; Missing when the Job names no queue (Kueue never makes one) or is gone."""
    group, version = API.split("/")
    items = read(lambda: client(api, "CustomObjectsApi").list_namespaced_custom_object(
        group, version, namespace, "workloads")["items"], "Workloads", namespace)
    owned = of_job(items, name=job)
    if owned:
        return owned[0]
    labels = read(lambda: client(api, "BatchV1Api").read_namespaced_job(job, namespace), f"Job {job!r}",
                  namespace).metadata.labels or {}
    if QUEUE_LABEL in labels:
        return {"metadata": {}, "spec": {}, "status": {"conditions": [{
            "type": "QuotaReserved", "status": "False",
            "message": f"Kueue has made no Workload for it (yet) in LocalQueue {labels[QUEUE_LABEL]!r}"}]}}
    raise Missing(f"Kueue made no Workload for Job {job!r}: the Job is not queued (no {QUEUE_LABEL} label)",
                  f"label the Job {QUEUE_LABEL}: <your team's LocalQueue> (kubectl get localqueues -n {namespace})")


def _settled_workload(api, job: str, namespace: str) -> dict:
    """The Job's Workload once Kueue has admitted it, or as it is after ADMIT_TIMEOUT s. For a check about to fail a
    static part (which ends its wait at once): its admission part then scores what Kueue decided, not how fast."""
    from .._k8s.poll import until

    def step():
        w = _workload(api, job, namespace)
        return _true(w, "Admitted"), w
    return until(step, ADMIT_TIMEOUT)


def _pods(api, job: str, namespace: str) -> list:
    core = client(api, "CoreV1Api")
    return read(lambda: core.list_namespaced_pod(namespace, label_selector=f"job-name={job}").items,
                f"the pods of Job {job!r}", namespace)


def _pending(pod) -> str | None:
    """The scheduler's message for a pod it could not place, None for a placed (or not yet considered) pod."""
    cond = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
    return (cond.message or "") if cond is not None and cond.status == "False" and cond.reason == "Unschedulable" else None


def _fits_empty(pod, nodes: list) -> bool:
    """The pod fits a node matching its nodeSelector (Kueue writes the flavor's labels there) as the node's
    allocatable stands, nothing else counted: it waits for capacity other workloads hold, not for a node that could
    never take it."""
    want: dict[str, float] = {}
    for c in pod.spec.containers:
        r = c.resources
        for name, q in {**((r and r.limits) or {}), **((r and r.requests) or {})}.items():
            want[name] = want.get(name, 0.0) + to_float(q)
    return any(all((n.metadata.labels or {}).get(k) == v for k, v in (pod.spec.node_selector or {}).items())
               and all(to_float((n.status.allocatable or {}).get(k, "0")) >= v for k, v in want.items())
               for n in nodes)


def _waiting_for_capacity(pods: list, nodes: list) -> bool:
    """Every pod not ready is one the scheduler left Pending for lack of free resources alone (Insufficient ...)
    while it fits an empty node of its flavor: the cluster is full of other tenants' pods (a class shares it),
    and Kueue's waitForPodsReady requeues the gang whole if it stays so."""
    waiting = [p for p in pods if not is_ready(p.status)]
    return bool(waiting) and all("Insufficient" in (_pending(p) or "") and _fits_empty(p, nodes) for p in waiting)


def _flavors(w: dict) -> set[str]:
    return {f for ps in ((w.get("status") or {}).get("admission") or {}).get("podSetAssignments") or []
            for f in (ps.get("flavors") or {}).values()}


def _queue(w: dict) -> str | None:
    return ((w.get("status") or {}).get("admission") or {}).get("clusterQueue")


def _admitted_parts(what: str, cluster_queue: str, namespace: str) -> list[Part]:
    return [Part(lambda o: _true(o.w, "Admitted") and _queue(o.w) == cluster_queue,
                 lambda o: (f"{what} was admitted by ClusterQueue {_queue(o.w)!r}, not {cluster_queue!r}"
                            if _true(o.w, "Admitted") else
                            f"{what} is not admitted: {_condition(o.w, 'QuotaReserved').get('message') or 'pending'}"),
                 f"queue it in the LocalQueue of ClusterQueue {cluster_queue} (kubectl get localqueues -n {namespace}), "
                 "and ask for no more than that queue may admit (kubectl describe clusterqueue)")]


def job_admitted(api, job: str, namespace: str, *, cluster_queue: str, flavor: str,
                 timeout: float = ADMIT_TIMEOUT) -> CheckResult:
    """Kueue admitted Job `job` through ClusterQueue `cluster_queue` (1), on ResourceFlavor `flavor` for its GPUs (1),
    and its pods ran on nodes of that flavor (the flavor's node labels; Running or Succeeded), none off them, and any
    still Pending wait only for GPUs other tenants hold on a flavor node they fit (1)."""
    what = f"Job {job!r}"

    def fetch():
        w = _workload(api, job, namespace)
        group, version = API.split("/")
        spec = read(lambda: client(api, "CustomObjectsApi").get_cluster_custom_object(
            group, version, "resourceflavors", flavor), f"ResourceFlavor {flavor!r}")["spec"]
        core = client(api, "CoreV1Api")
        every = _pods(api, job, namespace)
        pods = [p for p in every if p.status.phase in ("Running", "Succeeded")]
        node_list = core.list_node().items
        labels = {n.metadata.name: n.metadata.labels or {} for n in node_list}
        flavor_nodes = [n for n in node_list if all(labels[n.metadata.name].get(k) == v
                                                    for k, v in (spec.get("nodeLabels") or {}).items())]
        # the rest wait only for GPUs other tenants hold, on the flavor's nodes (Kueue wrote its labels as selector)
        waiting = [p for p in every if p.status.phase == "Pending"]
        full = bool(waiting) and all("Insufficient" in (_pending(p) or "") and _fits_empty(p, flavor_nodes)
                                     for p in waiting)
        # a node gone since (consolidated) is judged by the node selector the pod was admitted with
        nodes = {p.spec.node_name: labels.get(p.spec.node_name, p.spec.node_selector or {}) for p in pods}
        want = spec.get("nodeLabels") or {}
        gpu_flavor = {(ps.get("flavors") or {}).get(GPU) for ps in
                      ((w.get("status") or {}).get("admission") or {}).get("podSetAssignments") or []}
        return SimpleNamespace(w=w, gpu_flavor=gpu_flavor, pods=pods, full=full,
                               on_flavor=[p for p in pods if all(nodes[p.spec.node_name].get(k) == v
                                                                 for k, v in want.items())])

    parts = _admitted_parts(what, cluster_queue, namespace) + [
        Part(lambda o: o.gpu_flavor == {flavor},
             lambda o: f"{what}'s GPUs were given flavor {', '.join(sorted(map(str, o.gpu_flavor - {None}))) or 'none'}, "
                       f"not {flavor!r}",
             f"Kueue picks the first flavor of the queue whose nodes the pods may use and whose quota fits, and it "
             f"matches a pod's nodeSelector or required node affinity only against the labels its flavors name: select "
             f"the label of flavor {flavor} (kubectl get resourceflavor {flavor} -o yaml: spec.nodeLabels)"),
        Part(lambda o: (bool(o.pods) or o.full) and len(o.on_flavor) == len(o.pods),
             lambda o: (f"{len(o.pods) - len(o.on_flavor)} of {len(o.pods)} pod(s) of {what} ran off the {flavor} nodes"
                        if o.pods else f"no pod of {what} runs or ran"),
             f"kubectl get pods -n {namespace} -l job-name={job} -o wide; kubectl describe pod (its events)"),
    ]
    return run("job_admitted", fetch, parts, f"{what} admitted by {cluster_queue} on flavor {flavor}, pods on its nodes",
               timeout=timeout)


def job_gang_admitted(api, job: str, namespace: str, *, pods: int, cluster_queue: str,
                      timeout: float = GANG_TIMEOUT) -> CheckResult:
    """Job `job` runs `pods` pods at once (parallelism) (1), admitted by `cluster_queue` as one Workload of `pods`
    pods (all or nothing) (1), and Kueue saw all of them ready (PodsReady, waitForPodsReady's condition), or all of
    them succeeded (pods with no simulated run time can finish before Kueue records PodsReady), or those not ready wait
    only for GPUs other tenants hold (the scheduler's Insufficient, on a flavor node they fit) (1)."""
    what = f"Job {job!r}"

    began = time.monotonic()

    def fetch():
        batch = client(api, "BatchV1Api")
        j = read(lambda: batch.read_namespaced_job(job, namespace), what, namespace)
        parallelism = j.spec.parallelism or 1
        # a wrong parallelism (static) ends the check at once: let Kueue decide the admission first
        w = _workload(api, job, namespace) if parallelism == pods else _settled_workload(api, job, namespace)
        gang = _pods(api, job, namespace) if _true(w, "Admitted") and not _true(w, "PodsReady") else []
        full = len(gang) >= pods and _waiting_for_capacity(gang, client(api, "CoreV1Api").list_node().items)
        # the long wait is for an admitted gang's pods to become ready; Kueue admits within seconds or not at all
        # pods that finish within a second (no simulated run time) may all succeed before Kueue records PodsReady:
        # the Job controller's count of succeeded pods says they ran
        done = (j.status.succeeded or 0) >= pods
        return SimpleNamespace(w=w, parallelism=parallelism, gang=gang, full=full, done=done,
                               count=sum(ps.get("count", 1) for ps in w["spec"].get("podSets") or []),
                               settled=not _true(w, "Admitted") and time.monotonic() - began > ADMIT_TIMEOUT)

    parts = [
        Part(lambda o: o.parallelism == pods, lambda o: f"{what} runs {o.parallelism} pod(s) at once, not {pods}",
             f"set spec.parallelism (and completions) to {pods}: one Job whose pods start together", static=True),
        *_admitted_parts(what, cluster_queue, namespace),
        # the learner's part is a gang its flavor's nodes can run: graded the same when other tenants hold the GPUs
        Part(lambda o: o.count == pods and (_true(o.w, "PodsReady") or o.done or o.full),
             lambda o: (f"{what}'s Workload admits {o.count} pod(s), not {pods}" if o.count != pods else
                        f"Kueue has not seen all {pods} pods of {what} ready: "
                        f"{_condition(o.w, 'PodsReady').get('message') or 'no PodsReady condition'}"
                        + "".join(f"; pod {p.metadata.name} is {p.status.phase}"
                                  + (f" ({_pending(p)[:160]})" if _pending(p) else "") for p in o.gang[:4])),
             "all pods of the gang must fit the nodes the flavor offers at once: kubectl get pods -o wide, "
             "kubectl describe workload"),
    ]
    return run("job_gang_admitted", fetch, parts, f"{what} admitted whole: {pods} pods together", timeout=timeout)


def job_node_provisioned(api, job: str, namespace: str, *, node_pool: str, cluster_queue: str,
                         timeout: float = PROVISION_TIMEOUT) -> CheckResult:
    """Job `job`, admitted by `cluster_queue` (1); NodePool `node_pool` exists (1); the Job ran to completion on a
    node Karpenter made for it (Kueue's flavor put karpenter.sh/nodepool in the pods' node selector; the node carried
    it) (1), and that node is gone once empty while the NodePool stays (consolidation, not deletion of the pool) (1)."""
    what = f"Job {job!r}"

    def fetch():
        core, batch = client(api, "CoreV1Api"), client(api, "BatchV1Api")
        j = read(lambda: batch.read_namespaced_job_status(job, namespace), what, namespace)
        pool = read(lambda: client(api, "CustomObjectsApi").list_cluster_custom_object(
            "karpenter.sh", "v1", "nodepools")["items"], "NodePools")
        # a missing NodePool (static) ends the check at once: let Kueue decide the admission first
        w = (_workload(api, job, namespace) if any(p["metadata"]["name"] == node_pool for p in pool)
             else _settled_workload(api, job, namespace))
        pods = _pods(api, job, namespace)
        ran = [p for p in pods if p.status.phase == "Succeeded"]
        nodes = {n.metadata.name: n.metadata.labels or {} for n in core.list_node().items}
        limit = next((((p.get("spec") or {}).get("limits") or {}).get(GPU) for p in pool
                      if p["metadata"]["name"] == node_pool), None)
        needs = max((to_float(((c.resources and c.resources.limits) or {}).get(GPU) or 0)
                     for p in pods for c in p.spec.containers), default=0)
        return SimpleNamespace(
            # a node must fit the pool's GPU limit whole: below one pod's GPUs, Karpenter can never make one (unless
            # one was made before the limit was lowered: a pod already placed keeps the wait)
            settled=limit is not None and needs > to_float(limit) and not any(p.spec.node_name for p in pods),
            w=w, complete=(j.status.succeeded or 0) >= (j.spec.completions or 1), ran=ran,
            on_pool=[p for p in ran if (p.spec.node_selector or {}).get(NODEPOOL_LABEL) == node_pool
                     and nodes.get(p.spec.node_name, {NODEPOOL_LABEL: node_pool}).get(NODEPOOL_LABEL) == node_pool],
            left=sorted({p.spec.node_name for p in ran if p.spec.node_name in nodes}),
            pool=any(p["metadata"]["name"] == node_pool for p in pool),
            # Karpenter writes a NodePool's conditions as soon as it sees it: none at all means it is not running
            seen=any((p.get("status") or {}).get("conditions") for p in pool if p["metadata"]["name"] == node_pool))

    parts = _admitted_parts(what, cluster_queue, namespace) + [
        # static: with no NodePool of that name Karpenter makes no node for the Job, however long one waits
        Part(lambda o: o.pool, f"NodePool {node_pool!r} does not exist (or is gone: its nodes went with it)",
             f"create NodePool {node_pool} (start from cluster/karpenter/gpu-nodepool.yaml) with room for the Job's "
             "GPUs in spec.limits, and keep it", static=True),
        Part(lambda o: o.complete and bool(o.ran) and len(o.on_pool) == len(o.ran),
             lambda o: (f"Karpenter has not looked at NodePool {node_pool!r} (it has no status): is Karpenter running? "
                        "(`kubelab cluster status` lists kubelab-karpenter; `kubelab cluster up` starts it)"
                        if o.pool and not o.seen else f"{what} has not completed" if not o.complete else
                        f"{what}'s pods did not run on nodes of NodePool {node_pool!r}"),
             f"the queue's autoscaled flavor sends the Job to NodePool {node_pool}; its limits and instance types must "
             f"fit the Job's pod (kubectl get nodeclaims; kubectl describe nodepool {node_pool})"),
        Part(lambda o: bool(o.ran) and not o.left,
             lambda o: (f"node(s) {', '.join(o.left)} still exist after {what} ended" if o.ran
                        else f"{what} ran no pod"),
             f"give NodePool {node_pool} disruption.consolidationPolicy WhenEmpty (or WhenEmptyOrUnderutilized) "
             "and a short consolidateAfter, so Karpenter removes the empty node"),
    ]
    return run("job_node_provisioned", fetch, parts,
               f"{what} ran on a node of NodePool {node_pool}, removed once empty", timeout=timeout)


def job_borrowed(api, job: str, namespace: str, *, cluster_queue: str, flavor: str,
                 timeout: float = ADMIT_TIMEOUT) -> CheckResult:
    """Kueue admitted Job `job` through `cluster_queue` (1) with its GPUs on ResourceFlavor `flavor` (1), and that
    queue now uses more of the flavor's GPUs than its nominal quota: it borrowed from its cohort (its status's
    flavorsUsage `borrowed` > 0) (1). Read while the Job runs: borrowed quota is given back when it ends."""
    what = f"Job {job!r}"
    group, version = API.split("/")

    def fetch():
        w = _workload(api, job, namespace)
        cq = read(lambda: client(api, "CustomObjectsApi").get_cluster_custom_object(
            group, version, "clusterqueues", cluster_queue), f"ClusterQueue {cluster_queue!r}")
        rows = quotas_frame([cq])
        row = rows[rows["flavor"] == flavor]
        return SimpleNamespace(w=w, gpu_flavor={(ps.get("flavors") or {}).get(GPU) for ps in
                                                ((w.get("status") or {}).get("admission") or {}).get("podSetAssignments") or []},
                               nominal=row["nominal"].iloc[0] if len(row) else "0",
                               used=row["used"].iloc[0] if len(row) else "0",
                               borrowed=float(row["borrowed"].iloc[0]) if len(row) else 0.0)

    parts = _admitted_parts(what, cluster_queue, namespace) + [
        Part(lambda o: o.gpu_flavor == {flavor},
             lambda o: f"{what}'s GPUs were given flavor {', '.join(sorted(map(str, o.gpu_flavor - {None}))) or 'none'}, "
                       f"not {flavor!r}",
             f"let Kueue pick flavor {flavor}: select its node labels (kubectl get resourceflavor {flavor} -o yaml)"),
        Part(lambda o: o.borrowed > 0,
             lambda o: f"ClusterQueue {cluster_queue!r} uses {o.used} of flavor {flavor!r}'s GPUs, within its nominal "
                       f"{o.nominal}: nothing is borrowed",
             f"the queue borrows only when its own quota is used up: run enough on {flavor} that the Job needs its "
             f"cohort's unused quota (kubectl describe clusterqueue {cluster_queue}: borrowingLimit; the lender's "
             "lendingLimit)"),
    ]
    return run("job_borrowed", fetch, parts, f"{what} admitted by {cluster_queue} on {flavor} with quota borrowed "
               "from its cohort", timeout=timeout)


RECLAIM_REASONS = ("InCohortReclamation", "InCohortReclaimWhileBorrowing")   # observe.queues._PREEMPTION_WORDS


def job_reclaimed(api, job: str, namespace: str, *, timeout: float = ADMIT_TIMEOUT) -> CheckResult:
    """Kueue preempted Job `job`'s Workload to give lent quota back to its owner in the cohort (the Preempted
    condition's reason, or its "Previously:" message once re-admitted: InCohortReclamation or
    InCohortReclaimWhileBorrowing) (1), and the reclaimed Job was put back in its queue, not ended: its Workload is
    not Finished (1)."""
    what = f"Job {job!r}"

    def fetch():
        w = _workload(api, job, namespace)
        return SimpleNamespace(w=w, reason=last_preemption(w))

    parts = [
        Part(lambda o: o.reason in RECLAIM_REASONS,
             lambda o: (f"Kueue preempted {what} for {o.reason}, not to reclaim lent quota" if o.reason else
                        f"Kueue has not preempted {what}"),
             "reclaim happens when the lender needs its quota back: while the Job runs on borrowed quota, submit work "
             "to the lending team's queue (its ClusterQueue's preemption.reclaimWithinCohort lets it evict borrowers)"),
        # requeued counts only for a Job that was reclaimed: one never preempted is "not Finished" too
        Part(lambda o: o.reason in RECLAIM_REASONS and not _true(o.w, "Finished"),
             lambda o: (f"{what}'s Workload is Finished: {_condition(o.w, 'Finished').get('message', '')}"
                        if _true(o.w, "Finished") else f"{what} was not reclaimed, so not requeued either"),
             "a reclaimed Job goes back to its queue and runs again later; do not delete or fail it"),
    ]
    return run("job_reclaimed", fetch, parts, f"{what} was preempted to reclaim its cohort's lent quota, and requeued",
               timeout=timeout)
