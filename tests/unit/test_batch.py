"""The batch platform's objects (kubelab.batch), pure: flavors from the node-pool file, a tenancy's queues."""
from __future__ import annotations

from kubelab import batch
from kubelab._k8s.names import GPU_TAINT, POOL_LABEL


def test_a_flavor_per_cpu_pool_and_whole_gpu_pool_with_the_gpu_taint_tolerated():
    flavors = {f["metadata"]["name"]: f["spec"] for f in batch.flavors()}
    assert set(flavors) == {"cpu", "a100", "h100"}          # t4-shared (time-slicing) and a100-mig are not units
    assert flavors["cpu"] == {"nodeLabels": {POOL_LABEL: "cpu"}}
    assert flavors["h100"]["nodeLabels"] == {POOL_LABEL: "h100"}
    assert flavors["h100"]["nodeTaints"] == [GPU_TAINT]
    assert flavors["h100"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_a_tenancy_has_two_team_queues_in_one_cohort_that_lend_and_borrow_gpus():
    objs = batch.team_queues("ann-lab3")
    cqs = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "ClusterQueue"}
    assert set(cqs) == {"ann-lab3-training", "ann-lab3-inference"}
    assert {s["cohortName"] for s in cqs.values()} == {"ann-lab3"}
    for spec in cqs.values():
        assert spec["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "ann-lab3"}}
        assert spec["preemption"] == {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": "Any"}
        group, = spec["resourceGroups"]
        # every flavor lists every covered resource, in the same order (Kueue's validation)
        assert all([r["name"] for r in f["resources"]] == group["coveredResources"] for f in group["flavors"])

    def gpu(cq, flavor):
        group, = cqs[cq]["resourceGroups"]
        return next(r for f in group["flavors"] if f["name"] == flavor for r in f["resources"] if r["name"] == batch.GPU)

    assert gpu("ann-lab3-training", "a100") == {"name": batch.GPU, "nominalQuota": 2, "borrowingLimit": 2}
    assert gpu("ann-lab3-inference", "a100") == {"name": batch.GPU, "nominalQuota": 2, "lendingLimit": 2}
    assert gpu("ann-lab3-training", "ann-lab3-autoscaled")["lendingLimit"] == 0
    group, = cqs["ann-lab3-training"]["resourceGroups"]
    assert [f["name"] for f in group["flavors"]] == ["cpu", "a100", "h100", "ann-lab3-autoscaled"]
    flavor = next(o for o in objs if o["kind"] == "ResourceFlavor")
    assert flavor["spec"]["nodeLabels"] == {"karpenter.sh/nodepool": "ann-lab3-gpu"}
    lqs = {o["metadata"]["name"]: o for o in objs if o["kind"] == "LocalQueue"}
    assert {n: o["spec"]["clusterQueue"] for n, o in lqs.items()} == {"training": "ann-lab3-training",
                                                                     "inference": "ann-lab3-inference"}
    assert all(o["metadata"]["namespace"] == "ann-lab3" for o in lqs.values())


def test_the_queue_policy_binds_only_to_namespaces_that_require_a_queue():
    policy, binding = batch.queue_policy()
    assert binding["spec"]["matchResources"] == {"namespaceSelector": {"matchLabels": {batch.QUEUE_REQUIRED: "true"}}}
    assert batch.QUEUE_LABEL in policy["spec"]["variables"][0]["expression"]
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["operations"] == ["CREATE", "UPDATE"]


def test_the_last_preemption_is_read_while_true_and_after_kueue_re_admits_the_workload():
    from kubelab.observe.queues import last_preemption

    def wl(status: str, reason: str, message: str) -> dict:
        return {"status": {"conditions": [{"type": "Preempted", "status": status, "reason": reason, "message": message}]}}

    said = ("Preempted to accommodate a workload (UID: u, JobUID: j) due to reclamation within the cohort{}; "
            "preemptor path: /c/a; preemptee path: /c/b")
    assert last_preemption(wl("True", "InCohortReclamation", said.format(""))) == "InCohortReclamation"
    # Kueue's reset on re-admission: status False, reason QuotaReserved, the old message kept after "Previously: "
    assert last_preemption(wl("False", "QuotaReserved", "Previously: " + said.format(""))) == "InCohortReclamation"
    assert last_preemption(wl("False", "QuotaReserved", "Previously: " + said.format(" while borrowing"))) \
        == "InCohortReclaimWhileBorrowing"
    assert last_preemption(wl("False", "QuotaReserved", "Previously: evicted for another reason")) == ""
    assert last_preemption({"status": {}}) == "" and last_preemption({}) == ""


def test_the_workloads_of_a_job_are_found_by_its_uid_or_its_name_newest_first():
    from kubelab.observe.queues import of_job

    def wl(name: str, owner: dict, created: str) -> dict:
        return {"metadata": {"name": name, "creationTimestamp": created, "ownerReferences": [owner]}}

    first = wl("job-train-1", {"kind": "Job", "name": "train", "uid": "u1"}, "2026-12-06T10:00:00Z")
    again = wl("job-train-2", {"kind": "Job", "name": "train", "uid": "u2"}, "2026-12-06T11:00:00Z")
    other = wl("job-eval-1", {"kind": "Job", "name": "eval", "uid": "u3"}, "2026-12-06T12:00:00Z")
    pod_owned = wl("pod-train", {"kind": "Pod", "name": "train", "uid": "u4"}, "2026-12-06T13:00:00Z")
    items = [first, other, again, pod_owned]
    assert of_job(items, name="train") == [again, first]    # the recreated Job's first
    assert of_job(items, uid="u1") == [first]
    assert of_job(items, uid="nope") == [] and of_job(items, name="nope") == []


def test_a_tenancy_of_team_namespaces_admits_each_team_from_its_own_namespace_and_makes_no_localqueue():
    import pytest

    from kubelab.errors import UsageError

    objs = batch.team_queues("ann-cap", teams={"training": "ann-cap-training", "inference": "ann-cap-serving"})
    cqs = {o["metadata"]["name"]: o["spec"] for o in objs if o["kind"] == "ClusterQueue"}
    assert {n: s["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for n, s in cqs.items()} == {
        "ann-cap-training": "ann-cap-training", "ann-cap-inference": "ann-cap-serving"}
    assert {s["cohortName"] for s in cqs.values()} == {"ann-cap"}   # one cohort: borrowing and reclaim between them
    assert not [o for o in objs if o["kind"] == "LocalQueue"]      # the teams write theirs
    only = batch.team_queues("ann-cap", teams={"training": "ann-cap-training"})
    assert [o["metadata"]["name"] for o in only if o["kind"] == "ClusterQueue"] == ["ann-cap-training"]
    with pytest.raises(UsageError, match="no batch team serving"):
        batch.team_queues("ann-cap", teams={"serving": "ann-cap-serving"})
