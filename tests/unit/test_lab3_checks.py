"""Lab 3's checks without a cluster (issue 24, the red team): the namespace's GPU cap is the lowest of the quotas
that count every pod, a DRA claim holds as many devices as the task gives, and a queued Job whose Workload Kueue has
not made yet is waited for (not scored 0 at once). The API is a stand-in that answers the calls each check makes."""
from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from kubelab.errors import CheckFailed
from kubelab.grading import engine, queues, scheduling


def quota(name: str, hard: dict, scoped: bool = False, used: dict | None = None):
    return NS(metadata=NS(name=name), spec=NS(hard=hard, scopes=["NotBestEffort"] if scoped else None,
                                              scope_selector=None), status=NS(used=used or {}))


def gpu_pod(gpus: int):
    container = NS(resources=NS(limits={"nvidia.com/gpu": str(gpus)}, requests=None))
    return NS(spec=NS(containers=[container]), status=NS(phase="Running"))


class Core:
    def __init__(self, quotas, pods):
        self.quotas, self.pods = quotas, pods

    def list_namespaced_resource_quota(self, namespace):
        return NS(items=self.quotas)

    def list_namespaced_pod(self, namespace):
        return NS(items=self.pods)


def caps(monkeypatch, *quotas, pods=(gpu_pod(4),)) -> float:
    """The points quota_caps_gpus(gpus=16) earns of its 1 part (the extended resource only)."""
    monkeypatch.setattr(scheduling, "client", lambda api, group: Core(list(quotas), list(pods)))
    try:
        return scheduling.quota_caps_gpus(None, "ns", gpus=16).points
    except CheckFailed as failed:
        return failed.result.points


def test_the_gpu_cap_is_the_lowest_quota_that_counts_every_pod(monkeypatch):
    key = "requests.nvidia.com/gpu"
    assert caps(monkeypatch, quota("team", {key: "16"})) == 1
    assert caps(monkeypatch, quota("team", {key: "16"}), quota("loose", {key: "100"})) == 1   # 16 binds
    # a second quota of 4 caps the namespace at 4: the team does not get its 16
    assert caps(monkeypatch, quota("team", {key: "16"}), quota("tight", {key: "4"})) == 0
    # a scoped quota that counts every pod's GPUs binds like an unscoped one; one that leaves pods out does not
    assert caps(monkeypatch, quota("team", {key: "16"}, scoped=True, used={key: "4"})) == 1
    assert caps(monkeypatch, quota("team", {key: "16"}, scoped=True, used={key: "0"})) == 0
    assert caps(monkeypatch, quota("team", {key: "16"}), quota("few", {key: "2"}, scoped=True, used={key: "0"})) == 1
    # limits.<extended resource> is no quota key the API server counts (only requests.* is, for extended resources)
    assert caps(monkeypatch, quota("team", {"limits.nvidia.com/gpu": "16"})) == 0


def claim_check(monkeypatch, results: int, devices: int | None):
    """claim_allocated's parts for a pod whose claim was allocated `results` H100s."""
    state = NS(allocated=True, classes=["gpu.nvidia.com"], products=["NVIDIA H100 80GB HBM3"] * results)
    monkeypatch.setattr(scheduling, "run", lambda name, fetch, parts, success, timeout=0: [p.ok(state) for p in parts])
    return scheduling.claim_allocated(None, "evaluator", "ns", product="NVIDIA H100 80GB HBM3", devices=devices)


def test_a_claim_holds_as_many_devices_as_the_task_gives(monkeypatch):
    assert claim_check(monkeypatch, 1, devices=1) == [True, True, True, True]
    assert claim_check(monkeypatch, 8, devices=1) == [True, True, True, False]   # allocationMode: All
    assert claim_check(monkeypatch, 8, devices=None) == [True, True, True]      # no count asked: 3 parts


class Kueue:
    def __init__(self, workloads, labels):
        self.workloads, self.labels = workloads, labels

    def list_namespaced_custom_object(self, group, version, namespace, plural):
        return {"items": self.workloads}

    def read_namespaced_job(self, name, namespace):
        return NS(metadata=NS(labels=self.labels))


def workload(monkeypatch, workloads, labels):
    monkeypatch.setattr(queues, "client", lambda api, group: Kueue(workloads, labels))
    return queues._workload(None, "pretrain", "ns")


def test_a_queued_job_waits_for_its_workload_and_an_unqueued_one_fails_at_once(monkeypatch):
    made = {"metadata": {"ownerReferences": [{"kind": "Job", "name": "pretrain"}], "creationTimestamp": "t"},
            "spec": {}, "status": {}}
    assert workload(monkeypatch, [made], {queues.QUEUE_LABEL: "training"}) is made
    # named a LocalQueue, no Workload yet: not admitted (so the check polls), with what it waits for
    pending = workload(monkeypatch, [], {queues.QUEUE_LABEL: "training"})
    assert not queues._true(pending, "Admitted") and queues._queue(pending) is None
    assert "no Workload" in queues._condition(pending, "QuotaReserved")["message"]
    # no queue label (an annotation is not read): Kueue never makes one, the check ends at once
    with pytest.raises(engine.Missing, match="not queued"):
        workload(monkeypatch, [], {})


def test_a_check_about_to_fail_a_static_part_first_lets_kueue_admit(monkeypatch):
    seen = iter([{"status": {}}, {"status": {}}, {"status": {"conditions": [{"type": "Admitted", "status": "True"}]}}])
    monkeypatch.setattr(queues, "_workload", lambda api, job, namespace: next(seen))
    assert queues._true(queues._settled_workload(None, "allreduce", "ns"), "Admitted")
