"""The batch platform (kubelab.batch) on the session cluster's real Kueue: a learner's sandbox with the "batch" right
gets its team queues; Jobs are admitted by quota and flavor, the training team borrows the inference team's idle
GPUs and the inference team reclaims them by preemption, a gang Job is admitted whole or not at all; and the learner
may use their LocalQueues and NodePool, and nothing of another team or tenancy."""
from __future__ import annotations

import copy
import json
import uuid

import pytest
from kubernetes import client

import kubelab as kl
from kubelab import batch
from kubelab.cluster import karpenter
from kubelab.errors import CheckFailed
from kubelab.course import sandbox
from kubelab.observe.queues import last_preemption
from tests.helpers import eventually

KUEUE = ("kueue.x-k8s.io", "v1beta2")
RUNS = {"pod-complete.stage.kwok.x-k8s.io/delay": "30m", "pod-complete.stage.kwok.x-k8s.io/jitter-delay": "31m"}


def job(name: str, queue: str | None, gpus: int, parallelism: int = 1, pool: str | None = None) -> dict:
    spec = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "train", "image": "nvcr.io/nvidia/pytorch:26.08-py3", "command": ["torchrun", "t.py"],
                            "resources": {"requests": {"cpu": "1", "memory": "4Gi"},
                                          "limits": {"nvidia.com/gpu": str(gpus)}}}]}
    if pool:
        spec["nodeSelector"] = {"kubelab.io/pool": pool}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": {batch.QUEUE_LABEL: queue} if queue else {}},
            "spec": {"parallelism": parallelism, "completions": parallelism,
                     "template": {"metadata": {"annotations": RUNS}, "spec": spec}}}


def workloads(api, namespace: str) -> dict[str, dict]:
    items = client.CustomObjectsApi(api).list_namespaced_custom_object(*KUEUE, namespace, "workloads")["items"]
    return {w["metadata"]["ownerReferences"][0]["name"]: w for w in items}


def status(w: dict, kind: str) -> str | None:
    return next((c["status"] for c in (w.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def gpu_flavor(w: dict) -> str | None:
    assignments = ((w.get("status") or {}).get("admission") or {}).get("podSetAssignments") or [{}]
    return (assignments[0].get("flavors") or {}).get("nvidia.com/gpu")


def admitted(api, namespace: str, name: str) -> dict:
    return eventually(lambda: (w := workloads(api, namespace).get(name)) and status(w, "Admitted") == "True" and w,
                      timeout=30, what=f"Job {name} admitted")


@pytest.fixture
def tenancy(api):
    learner = f"b{uuid.uuid4().hex[:6]}"
    box = sandbox.sandbox(api, "batch", learner, manage=("batch",))
    yield box
    sandbox.discard(api, box.namespace)
    sandbox.cleanup(api, learner)


def test_quota_flavor_borrowing_reclaim_and_a_gang_admitted_whole(api, tenancy):
    ns, jobs = tenancy.namespace, client.BatchV1Api(api)
    # training owns 2 A100s and borrows up to 2 more of the inference team's; a pool selector picks the flavor
    jobs.create_namespaced_job(ns, job("first", "training", 2))
    assert gpu_flavor(admitted(api, ns, "first")) == "a100"
    training = f"{ns}-training"
    with pytest.raises(CheckFailed, match="within its nominal 2: nothing is borrowed"):   # its own 2 A100s
        kl.grading.job_borrowed(api, "first", ns, cluster_queue=training, flavor="a100", timeout=2)
    jobs.create_namespaced_job(ns, job("borrower", "training", 2))
    assert gpu_flavor(admitted(api, ns, "borrower")) == "a100"
    def a100_gpus():   # the ClusterQueue's status follows the admissions a moment later
        cq = client.CustomObjectsApi(api).get_cluster_custom_object(*KUEUE, "clusterqueues", f"{ns}-training")
        usage = {f["name"]: {r["name"]: r for r in f["resources"]} for f in cq["status"].get("flavorsUsage") or []}
        return usage.get("a100", {}).get("nvidia.com/gpu")
    eventually(lambda: a100_gpus() == {"name": "nvidia.com/gpu", "total": "4", "borrowed": "2"}, timeout=15,
               what="4 A100s used by training, 2 of them borrowed")
    kl.grading.job_borrowed(api, "borrower", ns, cluster_queue=training, flavor="a100")
    with pytest.raises(CheckFailed, match="not 'h100'"):
        kl.grading.job_borrowed(api, "borrower", ns, cluster_queue=training, flavor="h100", timeout=1)
    jobs.create_namespaced_job(ns, job("on-h100", "training", 1, pool="h100"))
    assert gpu_flavor(admitted(api, ns, "on-h100")) == "h100"
    # the inference team takes its A100s back: a training Job is preempted (reclaim within the cohort)
    jobs.create_namespaced_job(ns, job("serving-eval", "inference", 2, pool="a100"))
    assert gpu_flavor(admitted(api, ns, "serving-eval")) == "a100"
    # Kueue sets Preempted False when it re-admits the victim (here at once, on the autoscaled flavor)
    evicted = eventually(lambda: [n for n, w in workloads(api, ns).items() if n in ("first", "borrower")
                                  and last_preemption(w) == "InCohortReclamation"],
                         timeout=30, what="a training Job preempted")
    assert len(evicted) == 1
    kl.grading.job_reclaimed(api, evicted[0], ns)
    spared = ({"first", "borrower"} - set(evicted)).pop()
    for name in (spared, "on-h100"):
        with pytest.raises(CheckFailed, match="Kueue has not preempted") as failed:
            kl.grading.job_reclaimed(api, name, ns, timeout=1)
        assert failed.value.result.points == 0   # a Job never preempted earns nothing for "not ended" either
    # a gang of 4 one-GPU pods where at most 2 A100s are left to training: nothing of it is admitted, no pod made
    jobs.create_namespaced_job(ns, job("gang", "training", 1, parallelism=4, pool="a100"))
    pending = eventually(lambda: (w := workloads(api, ns).get("gang")) and status(w, "QuotaReserved") == "False" and w,
                         timeout=30, what="the gang's Workload evaluated")
    assert pending["spec"]["podSets"][0]["count"] == 4 and status(pending, "Admitted") != "True"
    assert "insufficient" in json.dumps(pending["status"]["conditions"]).lower()
    assert not client.CoreV1Api(api).list_namespaced_pod(ns, label_selector="job-name=gang").items
    assert jobs.read_namespaced_job("gang", ns).spec.suspend is True


def test_the_learner_uses_their_queues_and_nodepool_and_nothing_of_another_tenancy(api, tenancy):
    other = sandbox.sandbox(api, "batch", f"o{uuid.uuid4().hex[:6]}", manage=("batch",))
    try:
        me, ns = client.CustomObjectsApi(tenancy.client()), tenancy.namespace

        def refused(call) -> int:
            with pytest.raises(client.ApiException) as err:
                call()
            return err.value.status

        lq = {"apiVersion": "/".join(KUEUE), "kind": "LocalQueue", "metadata": {"name": "research"},
              "spec": {"clusterQueue": f"{ns}-training"}}
        me.create_namespaced_custom_object(*KUEUE, ns, "localqueues", lq)
        assert {q["metadata"]["name"] for q in me.list_namespaced_custom_object(*KUEUE, ns, "localqueues")["items"]} \
            == {"training", "inference", "research"}
        assert me.list_namespaced_custom_object(*KUEUE, ns, "workloads")["items"] == []
        assert {f"{ns}-training", f"{other.namespace}-training"} <= {
            q["metadata"]["name"] for q in me.list_cluster_custom_object(*KUEUE, "clusterqueues")["items"]}
        # another tenancy's namespace, and any ClusterQueue or flavor: 403
        assert refused(lambda: me.create_namespaced_custom_object(*KUEUE, other.namespace, "localqueues", lq)) == 403
        assert refused(lambda: me.patch_cluster_custom_object(*KUEUE, "clusterqueues", f"{ns}-training",
                                                              {"spec": {"cohortName": "mine"}})) == 403
        assert refused(lambda: me.delete_cluster_custom_object(*KUEUE, "resourceflavors", "h100")) == 403
        # a NodePool named after the namespace, with the opt-in taint and a GPU limit: yes; other names or shapes: no
        pool = karpenter.node_pool()
        pool["metadata"]["name"] = batch.node_pool_name(ns)
        pool["spec"]["limits"] = {"nvidia.com/gpu": 16}   # the bound, written as a number (a quantity either way)
        me.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", pool)
        theirs = copy.deepcopy(pool)
        theirs["metadata"]["name"] = batch.node_pool_name(other.namespace)
        untainted = copy.deepcopy(pool)
        untainted["metadata"]["name"] = f"{ns}-open"
        untainted["spec"]["template"]["spec"]["taints"] = untainted["spec"]["template"]["spec"]["taints"][:1]
        unlimited = copy.deepcopy(pool)
        unlimited["metadata"]["name"] = f"{ns}-unlimited"
        del unlimited["spec"]["limits"]
        oversized = copy.deepcopy(pool)
        oversized["metadata"]["name"] = f"{ns}-oversized"
        oversized["spec"]["limits"] = {"nvidia.com/gpu": "17"}
        for bad in (theirs, untainted, unlimited, oversized):
            assert refused(lambda: me.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", bad)) == 403
        # in this namespace a Job must name a queue only where the platform requires it (the lab's does not)
        batch.install(api, ns)   # now it does
        plain = job("plain", None, 0)
        assert refused(lambda: client.BatchV1Api(tenancy.client()).create_namespaced_job(ns, plain)) == 403
        # release deletes the tenancy's cluster-scoped objects, the learner's NodePool among them
        sandbox.discard(api, ns)
        names = {p["metadata"]["name"] for p in client.CustomObjectsApi(api).list_cluster_custom_object(
            "karpenter.sh", "v1", "nodepools")["items"]}
        assert batch.node_pool_name(ns) not in names
    finally:
        sandbox.discard(api, other.namespace)
        sandbox.cleanup(api, other.learner)


def test_a_clusterqueue_naming_a_missing_flavor_is_one_clear_error(api, namespace):
    from kubelab import manifests
    from kubelab.errors import ConfigError
    # the tenancy's ClusterQueue without its flavor <namespace>-autoscaled
    manifests.apply(api, [o for o in batch.team_queues(namespace) if o["kind"] == "ClusterQueue"][:1])
    name = f"{namespace}-training"
    try:
        with pytest.raises(ConfigError) as err:
            batch.wait_active(api, [name], timeout=5)
        assert "FlavorNotFound" in str(err.value) and "ResourceFlavor" in err.value.fix
    finally:
        client.CustomObjectsApi(api).delete_cluster_custom_object(*KUEUE, "clusterqueues", name)


def test_up_restarts_a_stopped_kueue_and_the_queues_keep_their_state(api, local_cluster, tenancy):
    from kubelab.cluster.components import KUEUE

    ns, jobs = tenancy.namespace, client.BatchV1Api(api)
    jobs.create_namespaced_job(ns, job("before", "training", 1))
    uid = admitted(api, ns, "before")["metadata"]["uid"]
    local_cluster.supervisor.stop([KUEUE])
    assert not local_cluster.supervisor.process(KUEUE).running
    assert "Kueue" in local_cluster.up()
    assert local_cluster.supervisor.process(KUEUE).running and local_cluster.kueue.answering()
    # the admitted Workload is the same one, still admitted; a new Job is admitted by the restarted Kueue
    w = admitted(api, ns, "before")
    assert w["metadata"]["uid"] == uid
    jobs.create_namespaced_job(ns, job("after", "training", 1))
    assert gpu_flavor(admitted(api, ns, "after")) == "a100"


def test_jobs_waiting_only_for_gpus_others_hold_keep_their_points_and_a_gang_fitting_no_node_fails(
        api, tenancy, namespace):
    """The class shares the GPUs: a right Job or gang whose pods wait only because other tenants hold the A100s is
    graded as one that ran (the scheduler's Insufficient, on a node it fits); a gang no node of its flavor takes is not."""
    ns, core, jobs = tenancy.namespace, client.CoreV1Api(api), client.BatchV1Api(api)
    training = f"{ns}-training"
    # a gang with no simulated run time: its pods succeed within a second, often before Kueue records PodsReady
    quick = job("quick", "training", 1, parallelism=4, pool="a100")
    del quick["spec"]["template"]["metadata"]["annotations"]
    jobs.create_namespaced_job(ns, quick)
    eventually(lambda: (jobs.read_namespaced_job("quick", ns).status.succeeded or 0) == 4, timeout=60,
               what="the quick gang's 4 pods succeeded")
    assert kl.grading.job_gang_admitted(api, "quick", ns, pods=4, cluster_queue=training, timeout=5).passed
    jobs.delete_namespaced_job("quick", ns, propagation_policy="Foreground")
    node = "a100-0"
    # another tenant takes all but 2 of the node's free GPUs; the learner's gang of 4 is pinned to that node by a
    # label Kueue does not match flavors on (hostname), so 2 of its pods run and 2 wait for GPUs
    def free() -> int:
        held = sum(int(((c.resources.limits or {}) if c.resources else {}).get("nvidia.com/gpu", 0))
                   for p in core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
                   if p.status.phase in ("Pending", "Running") for c in p.spec.containers)
        return int(core.read_node(node).status.allocatable["nvidia.com/gpu"]) - held
    hog = free() - 2
    assert hog >= 0, f"{node} has fewer than 2 free GPUs: the test needs them"
    if hog:
        core.create_namespaced_pod(namespace, {
            "metadata": {"name": "other-tenant", "annotations": RUNS},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "terminationGracePeriodSeconds": 0,
                     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                     "containers": [{"name": "x", "image": "nvcr.io/nvidia/pytorch:26.08-py3",
                                     "resources": {"limits": {"nvidia.com/gpu": str(hog)}}}]}})
        eventually(lambda: core.read_namespaced_pod("other-tenant", namespace).spec.node_name == node, timeout=30,
                   what="the other tenant's pod placed")
    # one pod of 3 GPUs where 2 are free: admitted on the a100 flavor, waiting for GPUs, graded as placed there
    solo = job("solo", "training", 3, pool="a100")
    solo["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"] = node
    jobs.create_namespaced_job(ns, solo)
    assert kl.grading.job_admitted(api, "solo", ns, cluster_queue=training, flavor="a100", timeout=60).passed
    assert [p.status.phase for p in core.list_namespaced_pod(ns, label_selector="job-name=solo").items] == ["Pending"]
    jobs.delete_namespaced_job("solo", ns, propagation_policy="Foreground")
    eventually(lambda: not core.list_namespaced_pod(ns, label_selector="job-name=solo").items, timeout=30,
               what="the solo Job's pod gone")
    pinned = job("gang", "training", 1, parallelism=4, pool="a100")
    pinned["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"] = node
    jobs.create_namespaced_job(ns, pinned)
    passed = kl.grading.job_gang_admitted(api, "gang", ns, pods=4, cluster_queue=training, timeout=60)
    assert passed.passed
    phases = sorted(p.status.phase for p in core.list_namespaced_pod(ns, label_selector="job-name=gang").items)
    assert "Pending" in phases, phases   # graded while the 2 pods still waited, not after they ran
    # the same gang pinned to a node that does not exist: admitted by Kueue, never placed
    nowhere = job("nowhere", "training", 1, parallelism=4, pool="a100")
    nowhere["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/hostname"] = "no-such-node"
    jobs.delete_namespaced_job("gang", ns, propagation_policy="Foreground")
    jobs.create_namespaced_job(ns, nowhere)
    with pytest.raises(CheckFailed, match=r"Kueue has not seen all 4 pods .*Pending .*didn't match"):
        kl.grading.job_gang_admitted(api, "nowhere", ns, pods=4, cluster_queue=training, timeout=45)


def test_a_pool_upgrade_not_begun_or_of_a_missing_pool_scores_nothing_at_once(api, namespace):
    """pool_upgraded's static part: the node template not changed ends the check at once with 0 of 4 (the upgrade
    itself, right and wrong, is proven through exercise 08.upgrade's forms in test_practice)."""
    import time

    name = f"{namespace}-serving"
    pool = batch.serving_pool(name, "v1")
    pool["metadata"]["ownerReferences"] = [{"apiVersion": "v1", "kind": "Namespace", "name": namespace,
                                            "uid": client.CoreV1Api(api).read_namespace(namespace).metadata.uid}]
    kl.apply(api, [pool])
    began = time.monotonic()
    with pytest.raises(CheckFailed, match="still makes nodes with kubelab.io/node-image=v1, not v2") as failed:
        kl.grading.pool_upgraded(api, name, "model-server", namespace)
    assert failed.value.result.points == 0 and failed.value.result.max_points == 4
    assert time.monotonic() - began < 10
    with pytest.raises(CheckFailed, match="NodePool 'nowhere-serving' not found"):
        kl.grading.pool_upgraded(api, "nowhere-serving", "model-server", namespace)
    client.CustomObjectsApi(api).delete_cluster_custom_object("karpenter.sh", "v1", "nodepools", name)
