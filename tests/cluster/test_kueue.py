"""Kueue (a component of the session cluster) admits queued Jobs against a ClusterQueue's quota, through its real
admission webhooks on 127.0.0.1: a labelled Job is suspended at create, then admitted (its Workload reserves quota),
unsuspended, and runs to completion on the simulated nodes; a Job asking for more than the quota stays suspended with
its Workload pending; a Job without the queue label is not touched. The cluster-scoped queue objects are deleted at
the end."""
from __future__ import annotations

from kubernetes import client

from kubelab._k8s.names import GPU_TAINT, SIMULATED_LABEL
from kubelab.cluster import kueue
from kubelab.cluster.components import KUEUE
from tests.helpers import eventually

KUEUE_API = ("kueue.x-k8s.io", "v1beta2")


def job(name, queue: str | None, cpu: str = "1", gpus: int = 1):
    labels = {kueue.QUEUE_LABEL: queue} if queue else {}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels},
            "spec": {"template": {"spec": {
                "restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
                "tolerations": [{"key": GPU_TAINT["key"], "operator": "Exists", "effect": GPU_TAINT["effect"]}],
                "containers": [{"name": "main", "image": "registry.example/ml/trainer:1.0",
                                "resources": {"requests": {"cpu": cpu},
                                              "limits": {"nvidia.com/gpu": str(gpus)}}}]}}}}


def condition(obj, kind):
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def test_a_queued_job_is_admitted_within_quota_and_one_over_quota_waits_suspended(api, namespace, local_cluster):
    batch, custom, core = client.BatchV1Api(api), client.CustomObjectsApi(api), client.CoreV1Api(api)
    assert next(p for p in local_cluster.components() if p.name == KUEUE).running
    flavor, cq = f"{namespace}-flavor", f"{namespace}-cq"
    custom.create_cluster_custom_object(*KUEUE_API, "resourceflavors",
                                        {"apiVersion": "/".join(KUEUE_API), "kind": "ResourceFlavor",
                                         "metadata": {"name": flavor}})
    custom.create_cluster_custom_object(*KUEUE_API, "clusterqueues", {
        "apiVersion": "/".join(KUEUE_API), "kind": "ClusterQueue", "metadata": {"name": cq},
        "spec": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                 "resourceGroups": [{"coveredResources": ["cpu", "nvidia.com/gpu"],
                                     "flavors": [{"name": flavor, "resources": [
                                         {"name": "cpu", "nominalQuota": "2"},
                                         {"name": "nvidia.com/gpu", "nominalQuota": "1"}]}]}]}})
    try:
        custom.create_namespaced_custom_object(*KUEUE_API, namespace, "localqueues", {
            "apiVersion": "/".join(KUEUE_API), "kind": "LocalQueue", "metadata": {"name": "team"},
            "spec": {"clusterQueue": cq}})

        # Kueue's mutating webhook suspends a queued Job in the create call itself
        created = batch.create_namespaced_job(namespace, job("fits", "team"))
        assert created.spec.suspend is True
        plain = batch.create_namespaced_job(namespace, job("plain", None, gpus=0))
        assert plain.spec.suspend is False  # no queue label: not Kueue's

        def workload(job_name):
            items = custom.list_namespaced_custom_object(*KUEUE_API, namespace, "workloads")["items"]
            owned = (w for w in items if any(o["name"] == job_name for o in w["metadata"].get("ownerReferences", [])))
            return next(owned, None)

        def admitted():
            w = workload("fits")
            return w if w and all((condition(w, c) or {}).get("status") == "True"
                                  for c in ("QuotaReserved", "Admitted")) else None

        w = eventually(admitted, timeout=30, what="the queued Job's Workload admitted")
        assert w["status"]["admission"]["clusterQueue"] == cq
        assert eventually(lambda: batch.read_namespaced_job("fits", namespace).spec.suspend is False,
                          timeout=15, what="the admitted Job unsuspended")
        eventually(lambda: (batch.read_namespaced_job_status("fits", namespace).status.succeeded or 0) >= 1,
                   timeout=30, what="the admitted Job complete")
        pods = core.list_namespaced_pod(namespace, label_selector="job-name=fits").items
        nodes = {n.metadata.name: n for n in core.list_node().items}
        assert pods and all(nodes[p.spec.node_name].metadata.labels.get(SIMULATED_LABEL) == "true" for p in pods)

        # two GPUs where the quota is one: the Workload is pending (no quota reserved) and the Job stays suspended
        batch.create_namespaced_job(namespace, job("too-big", "team", gpus=2))
        pending = eventually(lambda: (w := workload("too-big")) and condition(w, "QuotaReserved") and w,
                             timeout=30, what="the over-quota Workload evaluated")
        assert condition(pending, "QuotaReserved")["status"] == "False"
        assert "insufficient quota" in condition(pending, "QuotaReserved")["message"]
        assert (condition(pending, "Admitted") or {}).get("status") != "True"
        assert batch.read_namespaced_job("too-big", namespace).spec.suspend is True
        assert not core.list_namespaced_pod(namespace, label_selector="job-name=too-big").items

        # the unlabelled Job ran without Kueue: no Workload, never suspended
        eventually(lambda: (batch.read_namespaced_job_status("plain", namespace).status.succeeded or 0) >= 1,
                   timeout=30, what="the unlabelled Job complete")
        assert workload("plain") is None
    finally:
        custom.delete_cluster_custom_object(*KUEUE_API, "clusterqueues", cq)  # gone once its Workloads are
        custom.delete_cluster_custom_object(*KUEUE_API, "resourceflavors", flavor)
