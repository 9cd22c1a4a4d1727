"""Exercises of notebooks/08-batch-platform.ipynb: a team's own LocalQueue, a queued Job on H100s, a gang Job admitted
whole, priority preemption within a queue, a Karpenter NodePool with a GPU limit, and a node pool's upgrade (Karpenter
replaces the drifted nodes) without downtime, graded from Prometheus's record of the Service's ready endpoints.

Every check grades what Kueue (and Karpenter) decided: the Workload's conditions and
status.admission.podSetAssignments[].flavors (sigs.k8s.io/kueue v0.17.0, apis/kueue/v1beta2), the pods, the nodes.
Each setup installs the platform for the namespace (kl.batch.install: its cluster-scoped objects are dependents of
the namespace, deleted with it; the evaluation queue of 08.priority is made so too)."""
from __future__ import annotations

from types import SimpleNamespace

from .. import batch
from .._k8s.poll import until
from .._k8s.quantity import to_float
from ..grading.upgrades import pool_upgraded
from ..grading.engine import CheckResult, Missing, Part, client, read, run
from ..manifests import apply
from ..observe.queues import GROUP, VERSION, condition, last_preemption, of_job
from . import all_of, exercise, outcome

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

QUICK = 8.0      # seconds a check waits for what Kueue or the scheduler has not decided yet
NODE_WAIT = 25.0  # Karpenter makes a node 3-12 s after a pending pod (cluster/karpenter/README.md)
LONG_RUN = {"pod-complete.stage.kwok.x-k8s.io/delay": "20m",
            "pod-complete.stage.kwok.x-k8s.io/jitter-delay": "21m"}   # simulated run time: the pods stay Running


def _owned_by(api, ns: str) -> list[dict]:
    uid = read(lambda: client(api, "CoreV1Api").read_namespace(ns), f"namespace {ns!r}").metadata.uid
    return [{"apiVersion": "v1", "kind": "Namespace", "name": ns, "uid": uid}]


def _platform(api, ns: str) -> None:
    """The platform for `ns` (idempotent; its cluster-scoped parts go with the namespace)."""
    batch.install(api, ns)


def _workload(api, ns: str, job: str) -> dict:
    """The Workload Kueue made for Job `job` (owner reference), or Missing that says why there is none."""
    jobs = client(api, "BatchV1Api")
    try:
        j = read(lambda: jobs.read_namespaced_job(job, ns), f"Job {job!r}", ns)
    except Missing:
        raise Missing(f"Job {job!r} not found in namespace {ns!r}",
                      f"create it: `kubectl apply -f {job}.yaml -n {ns}` (a Job refused by the API server is not "
                      "there: read the error of your apply)") from None
    if batch.QUEUE_LABEL not in (j.metadata.labels or {}):
        raise Missing(f"Job {job!r} names no LocalQueue (label {batch.QUEUE_LABEL}): Kueue does not manage it",
                      f"add metadata.labels {{{batch.QUEUE_LABEL}: <queue>}} (kubectl get localqueues -n {ns})")
    custom = client(api, "CustomObjectsApi")

    def mine():   # Kueue makes the Workload a moment after the Job: wait that moment, not more
        items = read(lambda: custom.list_namespaced_custom_object(GROUP, VERSION, ns, "workloads")["items"],
                     "Workloads", ns)
        found = of_job(items, uid=j.metadata.uid)
        return bool(found), found
    mine = until(mine, 3, every=0.2)
    if not mine:
        raise Missing(f"Kueue made no Workload for Job {job!r} (yet)",
                      f"`kubectl describe job {job} -n {ns}`: its events say what Kueue did; does the LocalQueue "
                      f"{j.metadata.labels[batch.QUEUE_LABEL]!r} exist?")
    return mine[0]


def _true(wl: dict, type_: str) -> bool:
    c = condition(wl, type_)
    return bool(c) and c.get("status") == "True"


def _flavors(wl: dict) -> set[str]:
    return {f for a in ((wl.get("status") or {}).get("admission") or {}).get("podSetAssignments") or []
            for r, f in (a.get("flavors") or {}).items() if r == batch.GPU}


def _cluster_queue(wl: dict) -> str:
    return ((wl.get("status") or {}).get("admission") or {}).get("clusterQueue", "")


def _why_pending(wl: dict) -> str:
    c = condition(wl, "QuotaReserved") or {}
    return c.get("message") or "no decision yet"


def _admitted(name: str, job: str) -> Part:
    return Part(lambda wl: _true(wl, "Admitted"),
                lambda wl: f"the Workload of Job {job!r} is not admitted: {_why_pending(wl)}",
                f"`kubectl describe workload -n <ns>` (the Workload of {job}) says why; "
                "`kubectl get clusterqueues` shows what is used")


def _running_pods(api, ns: str, job: str, count: int, name: str) -> CheckResult:
    core = client(api, "CoreV1Api")
    fetch = lambda: read(lambda: core.list_namespaced_pod(ns, label_selector=f"batch.kubernetes.io/job-name={job}").items,
                         f"the pods of Job {job!r}", ns)
    running = lambda pods: sum(p.status.phase == "Running" and not p.metadata.deletion_timestamp for p in pods)
    parts = [Part(lambda pods: running(pods) >= count,
                  lambda pods: f"{running(pods)} of the {count} pods of Job {job!r} run",
                  f"`kubectl get pods -l batch.kubernetes.io/job-name={job} -n {ns} -o wide` and `kubectl describe` a "
                  "Pending one")]
    return run(name, fetch, parts, f"the {count} pods of Job {job!r} run", timeout=QUICK)


# -- 08.local-queue --------------------------------------------------------------------------------------------------
@exercise("08.local-queue", "Give the research group its own LocalQueue on the training team's quota",
          objectives=(4,), setup=_platform, hints=(
    "a LocalQueue (apiVersion kueue.x-k8s.io/v1beta2) named research in your namespace with spec.clusterQueue: "
    "<namespace>-training; `kubectl get localqueues -n <ns>` shows whether it is active",
    "then a Job prep-research with metadata.labels {kueue.x-k8s.io/queue-name: research} (CPU only: "
    "resources.requests {cpu: 500m})",
))
def local_queue(api, ns):
    name, team = "research", f"{ns}-training"
    custom = client(api, "CustomObjectsApi")
    fetch_lq = lambda: read(lambda: custom.get_namespaced_custom_object(GROUP, VERSION, ns, "localqueues", name),
                            f"LocalQueue {name!r}", ns)
    lq_parts = [
        Part(lambda lq: (lq.get("spec") or {}).get("clusterQueue") == team,
             lambda lq: f"LocalQueue {name!r} points at ClusterQueue {(lq.get('spec') or {}).get('clusterQueue')!r}, "
                        f"not the training team's {team!r}",
             f"spec.clusterQueue: {team} (`kubectl get clusterqueues`); a LocalQueue's clusterQueue cannot be changed: "
             f"delete and re-create it", static=True),
        Part(lambda lq: _true(lq, "Active"),
             lambda lq: f"Kueue reports LocalQueue {name!r} inactive: {(condition(lq, 'Active') or {}).get('message', 'no status yet')}",
             f"`kubectl describe localqueue {name} -n {ns}`"),
    ]
    job = "prep-research"
    fetch_wl = lambda: _workload(api, ns, job)
    wl_parts = [
        Part(lambda wl: (wl.get("spec") or {}).get("queueName") == name,
             lambda wl: f"Job {job!r} was queued in {(wl.get('spec') or {}).get('queueName')!r}, not in {name!r}",
             f"label the Job {{{batch.QUEUE_LABEL}: {name}}} (re-create it: the queue of a Job cannot change once "
             "admitted)", static=True),
        _admitted("local-queue", job),
    ]
    return all_of("local-queue",
                  lambda: run("local-queue", fetch_lq, lq_parts, f"LocalQueue {name!r} serves {team!r} and is active",
                              timeout=QUICK),
                  lambda: run("local-queue", fetch_wl, wl_parts, f"Job {job!r} was admitted through {name!r}",
                              timeout=QUICK))


# -- 08.h100-job -----------------------------------------------------------------------------------------------------
@exercise("08.h100-job", "Queue the long-context fine-tune on the training team's H100s", objectives=(4,),
          setup=_platform, hints=(
    "Kueue tries the flavors of the ClusterQueue in order (cpu, a100, h100, autoscaled) and takes the first with "
    "room: without a selector an A100 job it is. A pod's nodeSelector (or required node affinity) on a flavor's "
    "nodeLabels key rules the other flavors out: `kubectl get resourceflavors h100 -o yaml`",
    "labels {kueue.x-k8s.io/queue-name: training} and, in the pod template, nodeSelector {kubelab.io/pool: h100}; "
    "one or two nvidia.com/gpu (the training team may borrow 2 H100s)",
))
def h100_job(api, ns):
    job, team = "longctx-h100", f"{ns}-training"
    parts = [
        Part(lambda wl: (wl.get("spec") or {}).get("queueName") != "inference",
             f"Job {job!r} went to the inference team's queue: it would take the GPUs that serve production",
             f"queue it in training ({batch.QUEUE_LABEL}: training)", static=True),
        _admitted("h100-job", job),
        Part(lambda wl: _cluster_queue(wl) == team,
             lambda wl: f"the Workload of Job {job!r} was admitted by {_cluster_queue(wl)!r}, not {team!r}",
             f"queue it in the LocalQueue training, which points at {team}"),
        Part(lambda wl: _flavors(wl) == {"h100"},
             lambda wl: f"Kueue admitted Job {job!r} on flavor {', '.join(sorted(_flavors(wl))) or 'none'} for "
                        f"{batch.GPU}, not h100",
             "select the flavor's node label in the pod template: nodeSelector {kubelab.io/pool: h100}; a Job's pod "
             "template cannot change: delete the Job and apply it again"),
    ]
    return run("h100-job", lambda: _workload(api, ns, job), parts,
               f"Kueue admitted Job {job!r} in {team} on flavor h100", timeout=QUICK)


# -- 08.gang ---------------------------------------------------------------------------------------------------------
GANG_PODS = 4


@exercise("08.gang", "Run the 4-worker data-parallel job as one gang", objectives=(4,), setup=_platform, hints=(
    "one Job, not four: parallelism: 4 and completions: 4, one nvidia.com/gpu per pod; Kueue makes one Workload "
    "whose pod set counts 4 and admits it only when quota for all 4 is free",
    "labels {kueue.x-k8s.io/queue-name: training}; 4 GPUs fit the training team's A100 quota (2 own + 2 borrowed): "
    "more would land on the autoscaled flavor, whose nodes do not exist yet",
))
def gang(api, ns):
    job = "ddp-gang"

    def count(wl) -> int:
        return sum(int(p.get("count", 1)) for p in (wl.get("spec") or {}).get("podSets") or [])

    def admitted_count(wl) -> int:
        return sum(int(a.get("count", 0)) for a in ((wl.get("status") or {}).get("admission") or {})
                   .get("podSetAssignments") or [])

    parts = [
        Part(lambda wl: count(wl) == GANG_PODS,
             lambda wl: f"the Workload of Job {job!r} has {count(wl)} pod(s) (spec.podSets[].count), expected "
                        f"{GANG_PODS}: a gang is one Job whose pods Kueue admits together",
             f"spec.parallelism: {GANG_PODS} and spec.completions: {GANG_PODS}", static=True),
        _admitted("gang", job),
        Part(lambda wl: admitted_count(wl) == GANG_PODS,
             lambda wl: f"Kueue admitted {admitted_count(wl)} pods of Job {job!r}, expected {GANG_PODS}",
             "an all-or-nothing job: parallelism = completions, no partial admission"),
    ]
    return all_of("gang",
                  lambda: run("gang", lambda: _workload(api, ns, job), parts,
                              f"Kueue admitted the {GANG_PODS} pods of Job {job!r} as one Workload", timeout=QUICK),
                  lambda: _running_pods(api, ns, job, GANG_PODS, "gang"))


# -- 08.priority -----------------------------------------------------------------------------------------------------
EVAL_QUEUE = "evaluation"


def eval_cluster_queue(ns: str) -> str:
    """The evaluation team's ClusterQueue of exercise 08.priority: `<namespace>-evaluation`, 2 A100s, no cohort."""
    return f"{ns}-{EVAL_QUEUE}"


def _evaluation(api, ns):
    _platform(api, ns)
    cq = eval_cluster_queue(ns)
    apply(api, [
        {"apiVersion": batch.API, "kind": "ClusterQueue",
         "metadata": {"name": cq, "ownerReferences": _owned_by(api, ns)},
         "spec": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}},
                  "resourceGroups": [{"coveredResources": ["cpu", "memory", batch.GPU], "flavors": [
                      {"name": "a100", "resources": [{"name": "cpu", "nominalQuota": "32"},
                                                     {"name": "memory", "nominalQuota": "256Gi"},
                                                     {"name": batch.GPU, "nominalQuota": 2}]}]}],
                  "preemption": {"withinClusterQueue": "LowerPriority"}}},
        {"apiVersion": batch.API, "kind": "LocalQueue", "metadata": {"name": EVAL_QUEUE, "namespace": ns},
         "spec": {"clusterQueue": cq}},
    ], field_manager="kubelab-practice")
    batch.wait_active(api, [cq])
    apply(api, {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "nightly-eval", "namespace": ns,
                             "labels": {batch.QUEUE_LABEL: EVAL_QUEUE, "kueue.x-k8s.io/priority-class": "batch-low"}},
                "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": LONG_RUN}, "spec": {
                    "restartPolicy": "Never", "containers": [{
                        "name": "eval", "image": "nvcr.io/nvidia/pytorch:26.08-py3",
                        "command": ["python", "eval.py", "--suite=nightly"],
                        "resources": {"limits": {batch.GPU: 2}}}]}}}}, namespace=ns)

    def nightly_admitted():
        try:
            return _true(_workload(api, ns, "nightly-eval"), "Admitted"), None
        except Missing:
            return False, None
    until(nightly_admitted, 30, every=0.3)   # the task begins with the nightly run holding both GPUs


@exercise("08.priority", "Let the urgent evaluation preempt the nightly run in the evaluation queue",
          objectives=(4, 5), setup=_evaluation, hints=(
    "within a ClusterQueue whose preemption.withinClusterQueue is LowerPriority, Kueue evicts admitted Workloads of "
    "lower priority to admit a pending one; nightly-eval runs at batch-low (100): "
    "`kubectl get workloadpriorityclasses`",
    "the Job urgent-eval with labels {kueue.x-k8s.io/queue-name: evaluation, kueue.x-k8s.io/priority-class: "
    "batch-high} and 2 nvidia.com/gpu",
))
def priority(api, ns):
    low, high, cq = "nightly-eval", "urgent-eval", eval_cluster_queue(ns)

    def fetch():
        return SimpleNamespace(high=_workload(api, ns, high), low=_workload(api, ns, low))

    def preempted_in_queue(o) -> bool:   # also once Kueue has requeued and re-admitted it
        return last_preemption(o.low) == "InClusterQueue"

    parts = [
        Part(lambda o: _cluster_queue(o.high) in ("", cq) and (o.high.get("spec") or {}).get("queueName") == EVAL_QUEUE,
             lambda o: f"Job {high!r} went to the queue {(o.high.get('spec') or {}).get('queueName')!r}, not "
                       f"{EVAL_QUEUE!r}: there it preempts nobody",
             f"{batch.QUEUE_LABEL}: {EVAL_QUEUE}", static=True),
        Part(lambda o: _true(o.high, "Admitted"),
             lambda o: f"Job {high!r} waits (priority {(o.high.get('spec') or {}).get('priority')}): {_why_pending(o.high)}",
             "give it a WorkloadPriorityClass above batch-low's: label kueue.x-k8s.io/priority-class: batch-high"),
        Part(preempted_in_queue,
             f"the Workload of {low!r} was not preempted in its ClusterQueue (no Preempted condition with reason "
             "InClusterQueue): the urgent run got its GPUs some other way",
             f"leave {low!r} alone: Kueue evicts it for you (`kubectl get workloads -n {ns}`)"),
    ]
    return run("priority", fetch, parts, f"Kueue admitted {high!r} by preempting {low!r} (InClusterQueue)",
               timeout=QUICK)


# -- 08.node-pool ----------------------------------------------------------------------------------------------------
AUTOSCALE_GPUS = 4


def _pending_autoscaled(api, ns):
    """The Job autoscale-train: 4 GPUs on the tenancy's autoscaled flavor, admitted, Pending until NodePool N-gpu."""
    _platform(api, ns)
    pool = batch.node_pool_name(ns)
    apply(api, {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "autoscale-train", "namespace": ns, "labels": {batch.QUEUE_LABEL: "training"}},
                "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": LONG_RUN}, "spec": {
                    "restartPolicy": "Never", "nodeSelector": {batch.NODEPOOL_LABEL: pool},
                    "containers": [{"name": "train", "image": "nvcr.io/nvidia/pytorch:26.08-py3",
                                    "command": ["torchrun", "--nproc-per-node=4", "train.py"],
                                    "resources": {"limits": {batch.GPU: AUTOSCALE_GPUS}}}]}}}}, namespace=ns)


def _node_pool(api, name: str) -> dict:
    custom = client(api, "CustomObjectsApi")
    return read(lambda: custom.get_cluster_custom_object("karpenter.sh", "v1", "nodepools", name),
                f"NodePool {name!r}")


@exercise("08.node-pool", "Give the training team's autoscaled flavor a NodePool, capped at 8 GPUs",
          objectives=(1, 4), setup=_pending_autoscaled, hints=(
    "Karpenter makes nodes only for a NodePool; the flavor <namespace>-autoscaled selects karpenter.sh/nodepool: "
    "<namespace>-gpu, so the NodePool must have exactly that name (cluster-scoped): start from "
    "cluster/karpenter/gpu-nodepool.yaml (kl.cluster.karpenter.node_pool())",
    "metadata.name: <namespace>-gpu, spec.limits: {nvidia.com/gpu: \"8\"}, keep the two taints (nvidia.com/gpu and "
    "kubelab.io/autoscaled) and the nodeClassRef; `kubectl get nodeclaims` shows what Karpenter decided",
))
def node_pool(api, ns):
    name = batch.node_pool_name(ns)

    def limit(np) -> float | None:
        v = ((np.get("spec") or {}).get("limits") or {}).get(batch.GPU)
        return to_float(v) if v is not None else None

    np_parts = [
        Part(lambda np: limit(np) is not None,
             f"NodePool {name!r} has no GPU limit (spec.limits): a burst of pending pods would buy GPU nodes without end",
             f"spec.limits: {{{batch.GPU}: \"8\"}}", static=True),
        Part(lambda np: limit(np) is None or AUTOSCALE_GPUS <= limit(np) <= 16,
             lambda np: f"NodePool {name!r} caps GPUs at {limit(np):g}: expected at least the pending Job's "
                        f"{AUTOSCALE_GPUS} and at most 16",
             f"spec.limits: {{{batch.GPU}: \"8\"}}", static=True),
    ]
    core = client(api, "CoreV1Api")
    fetch_nodes = lambda: core.list_node(label_selector=f"{batch.NODEPOOL_LABEL}={name}").items
    node_parts = [Part(lambda nodes: bool(nodes), f"Karpenter made no node for NodePool {name!r} (yet)",
                       f"`kubectl get nodeclaims` and `kubectl describe nodepool {name}`; is the Workload of "
                       f"autoscale-train admitted? (`kubectl get workloads -n {ns}`)")]
    return all_of("node-pool",
                  lambda: run("node-pool", lambda: _node_pool(api, name), np_parts,
                              f"NodePool {name!r} caps GPUs at a limit", timeout=0),
                  lambda: run("node-pool", fetch_nodes, node_parts, f"Karpenter made a node for NodePool {name!r}",
                              timeout=NODE_WAIT),
                  lambda: _running_pods(api, ns, "autoscale-train", 1, "node-pool"))


# -- 08.upgrade ------------------------------------------------------------------------------------------------------
SERVER = "model-server"
RESTART = ('start again: `kl.practice.start("08.upgrade", api, namespace)` puts the pool back to v1 and the model '
           "server to 2 replicas on one node, without a PodDisruptionBudget")


def serving_pool_name(ns: str) -> str:
    """The NodePool of exercise 08.upgrade (and of the notebook's section 6): `<namespace>-serving`."""
    return f"{ns}-serving"


def _serving(api, ns):
    """The v1 pool and the model server (2 ready replicas on one node, no PodDisruptionBudget): a restart resets both."""
    pool = serving_pool_name(ns)
    policy, apps = client(api, "PolicyV1Api"), client(api, "AppsV1Api")
    for pdb in policy.list_namespaced_pod_disruption_budget(ns).items:
        policy.delete_namespaced_pod_disruption_budget(pdb.metadata.name, ns)
    if apps.list_namespaced_deployment(ns, field_selector=f"metadata.name={SERVER}").items:
        apps.delete_namespaced_deployment(SERVER, ns, propagation_policy="Foreground")
        until(lambda: (not apps.list_namespaced_deployment(ns, field_selector=f"metadata.name={SERVER}").items, None),
              60, every=0.5)
    # the pool goes with the namespace
    batch.serve_on_pool(api, ns, pool, SERVER, owner=_owned_by(api, ns), field_manager="kubelab-practice")


@exercise("08.upgrade", "Upgrade the model server's node pool to the v2 node image without downtime",
          objectives=(1, 4), setup=_serving, hints=(
    "Karpenter drains a drifted node through the Eviction API, which honours PodDisruptionBudgets: with none, both "
    "replicas (on one node) are evicted at once and the Service has no ready endpoint until a new pod has loaded "
    "the model (~10 s)",
    "first a PodDisruptionBudget (policy/v1) selecting app: model-server with minAvailable: 1, then "
    "`kubectl patch nodepool <namespace>-serving --type=merge -p "
    "'{\"spec\":{\"template\":{\"metadata\":{\"labels\":{\"kubelab.io/node-image\":\"v2\"}}}}}'`",
))
def upgrade(api, ns):
    pool = serving_pool_name(ns)
    if not client(api, "CustomObjectsApi").list_cluster_custom_object(
            "karpenter.sh", "v1", "nodepools", field_selector=f"metadata.name={pool}")["items"]:
        return CheckResult("upgrade", False, 0, 1, f"NodePool {pool!r} not found: the model server's pool is gone, and "
                           "with it the nodes it ran on",
                           f"upgrade the pool in place (its node template), do not replace it; {RESTART}")
    result = outcome(pool_upgraded, api, pool, SERVER, ns)
    if result.passed or "ready endpoint" not in result.message:
        hint = f"{result.hint}; {RESTART}" if "not found" in result.message else result.hint
        return CheckResult("upgrade", result.passed, float(result.passed), 1, result.message, hint)
    # the outage is in the record: say whether the PodDisruptionBudget came too late
    first = min(n.metadata.creation_timestamp for n in client(api, "CoreV1Api").list_node(
        label_selector=f"{batch.NODEPOOL_LABEL}={pool}").items).timestamp()
    late = [b.metadata.name for b in client(api, "PolicyV1Api").list_namespaced_pod_disruption_budget(ns).items
            if b.metadata.creation_timestamp.timestamp() > first]
    why = f"; PodDisruptionBudget {', '.join(late)} came after Karpenter had begun to replace the nodes" if late else ""
    return CheckResult("upgrade", False, 0, 1, f"{result.message}, while Karpenter replaced the nodes{why}",
                       f"the outage is in Prometheus's record and stays there: {RESTART}; then protect the model "
                       "server first, and only then change the pool's node template")
