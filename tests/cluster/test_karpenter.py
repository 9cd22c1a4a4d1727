"""Karpenter (its KWOK cloud provider, a component of the session cluster) with the reference GPU NodePool: a pending
GPU pod that opts in gets a node with our GPU labels and taint and runs there; the empty node is consolidated away; a
pod that does not tolerate the NodePool's opt-in taint gets no node. The NodePool is deleted at the end, so the
cluster is left with its fixed pools only."""
from __future__ import annotations

from kubernetes import client

from kubelab._k8s.names import GPU_TAINT, POOL_LABEL, SIMULATED_LABEL
from kubelab.cluster import karpenter
from kubelab.cluster.components import KARPENTER
from tests.helpers import eventually as wait_for

KARPENTER_API = ("karpenter.sh", "v1")
NODEPOOL_LABEL = "karpenter.sh/nodepool"
H100 = "NVIDIA-H100-80GB-HBM3"


def gpu_pod(name, tolerate_autoscaled: bool, product: str | None = None):
    taints = [GPU_TAINT, karpenter.AUTOSCALED_TAINT] if tolerate_autoscaled else [GPU_TAINT]
    selector = {POOL_LABEL: "kubelab-gpu", **({"nvidia.com/gpu.product": product} if product else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 0, "nodeSelector": selector,
                     "tolerations": [{"key": t["key"], "operator": "Exists", "effect": t["effect"]} for t in taints],
                     "containers": [{"name": "main", "image": "registry.example/ml/trainer:1.0",
                                     "resources": {"limits": {"nvidia.com/gpu": "1"}}}]}}


def listed(custom, plural, pool: str | None = None):
    """NodePools or NodeClaims; with `pool`, only that NodePool or its claims (other tests of the run, and a class,
    make NodePools and nodes of their own on the same cluster)."""
    items = custom.list_cluster_custom_object(*KARPENTER_API, plural)["items"]
    if pool is None:
        return items
    if plural == "nodepools":
        return [i for i in items if i["metadata"]["name"] == pool]
    return [i for i in items if (i["metadata"].get("labels") or {}).get(NODEPOOL_LABEL) == pool]


def test_a_gpu_pod_that_opts_in_gets_a_karpenter_node_which_is_consolidated_when_empty(api, namespace, local_cluster):
    core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
    assert next(p for p in local_cluster.components() if p.name == KARPENTER).running
    pool = karpenter.node_pool()
    name = pool["metadata"]["name"]
    # `up` makes none (nothing is provisioned until the course asks): the other NodePools are other tests' own
    assert listed(custom, "nodepools", name) == []

    def fixed_nodes() -> set[str]:   # the node pools' nodes (not Karpenter's)
        return {n.metadata.name for n in core.list_node().items if NODEPOOL_LABEL not in (n.metadata.labels or {})}
    fixed = fixed_nodes()

    pool["spec"]["disruption"]["consolidateAfter"] = "1s"  # the test's only change to the reference NodePool
    custom.create_cluster_custom_object(*KARPENTER_API, "nodepools", pool)
    try:
        core.create_namespaced_pod(namespace, gpu_pod("train", tolerate_autoscaled=True, product=H100))
        core.create_namespaced_pod(namespace, gpu_pod("not-opted-in", tolerate_autoscaled=False))
        pod = wait_for(lambda: (lambda p: p if p.status.phase == "Running" else None)(
            core.read_namespaced_pod("train", namespace)), timeout=60, what="pod train to run on a new node")
        node = core.read_node(pod.spec.node_name)
        labels = node.metadata.labels
        assert node.metadata.name not in fixed and labels[NODEPOOL_LABEL] == "kubelab-gpu"
        assert labels[POOL_LABEL] == "kubelab-gpu" and labels[SIMULATED_LABEL] == "true"
        assert labels["node.kubernetes.io/instance-type"] == "p5.48xlarge"  # the H100 shape, as the pod selected
        assert {k: labels[k] for k in ("nvidia.com/gpu.present", "nvidia.com/gpu.product", "nvidia.com/gpu.count",
                                       "nvidia.com/gpu.memory", "nvidia.com/mig.strategy")} == {
            "nvidia.com/gpu.present": "true", "nvidia.com/gpu.product": H100, "nvidia.com/gpu.count": "8",
            "nvidia.com/gpu.memory": "81559", "nvidia.com/mig.strategy": "none"}
        taints = [{"key": t.key, "value": t.value, "effect": t.effect} for t in node.spec.taints]
        assert GPU_TAINT in taints and karpenter.AUTOSCALED_TAINT in taints
        assert node.status.allocatable["nvidia.com/gpu"] == "8"
        claims = listed(custom, "nodeclaims", name)
        assert [c["status"].get("nodeName") for c in claims] == [node.metadata.name]  # one claim: train's

        # the pod without the opt-in toleration: Karpenter says why it makes no node for it, and it stays Pending
        def karpenter_refusal():
            for ev in core.list_namespaced_event(namespace, field_selector="involvedObject.name=not-opted-in").items:
                if ev.source.component == "karpenter" and "kubelab.io/autoscaled" in ev.message:
                    return ev.message
        wait_for(karpenter_refusal, timeout=30, what="Karpenter's event on the pod that did not opt in")
        assert core.read_namespaced_pod("not-opted-in", namespace).status.phase == "Pending"
        assert len(listed(custom, "nodeclaims", name)) == 1

        for pod_name in ("train", "not-opted-in"):
            core.delete_namespaced_pod(pod_name, namespace, grace_period_seconds=0)
        # consolidation: consolidateAfter, then Karpenter's 10 s disruption poll and its 15 s re-check, then drain
        wait_for(lambda: not listed(custom, "nodeclaims", name) and node.metadata.name not in
                 {n.metadata.name for n in core.list_node().items}, timeout=90,
                 what="the empty node to be consolidated away")
    finally:
        custom.delete_cluster_custom_object(*KARPENTER_API, "nodepools", name)
        # its finalizer goes once Karpenter has deleted the pool's claims and nodes
        wait_for(lambda: not listed(custom, "nodepools", name) and not listed(custom, "nodeclaims", name)
                 and not core.list_node(label_selector=f"{NODEPOOL_LABEL}={name}").items, timeout=90,
                 what="the NodePool, its claims and nodes to be gone")
    assert fixed_nodes() == fixed


def test_up_restarts_a_stopped_karpenter_and_applies_its_crds_again(api, local_cluster):
    local_cluster.supervisor.stop([KARPENTER])
    assert not local_cluster.supervisor.process(KARPENTER).running
    assert local_cluster.up().endswith("restarted Karpenter")
    assert local_cluster.supervisor.process(KARPENTER).running and local_cluster.karpenter.answering()
    names = {c.metadata.name for c in client.ApiextensionsV1Api(api).list_custom_resource_definition().items}
    assert {c["metadata"]["name"] for c in karpenter.crds()} <= names
    assert client.CustomObjectsApi(api).get_cluster_custom_object("karpenter.kwok.sh", "v1alpha1", "kwoknodeclasses",
                                                                  "default")
