"""The gang check's rule for a cluster full of other tenants' pods (kubelab.grading.queues), on plain objects: pods
not ready count as waiting for capacity only when the scheduler said Insufficient and an empty node of their flavor
takes them."""
from kubernetes.client import (V1Container, V1Node, V1NodeStatus, V1ObjectMeta, V1Pod, V1PodCondition, V1PodSpec,
                               V1PodStatus, V1ResourceRequirements)

from kubelab.grading.queues import _fits_empty, _waiting_for_capacity

A100 = V1Node(metadata=V1ObjectMeta(name="a100-0", labels={"kubelab.io/pool": "a100"}),
              status=V1NodeStatus(allocatable={"cpu": "96", "memory": "1Ti", "nvidia.com/gpu": "8"}))
CPU = V1Node(metadata=V1ObjectMeta(name="cpu-0", labels={"kubelab.io/pool": "cpu"}),
             status=V1NodeStatus(allocatable={"cpu": "16", "memory": "64Gi"}))
FULL = "0/9 nodes are available: 2 Insufficient nvidia.com/gpu, 7 node(s) didn't match Pod's node affinity/selector."
NO_MATCH = "0/9 nodes are available: 9 node(s) didn't match Pod's node affinity/selector."


def pod(ready=False, unschedulable: str | None = None, gpus="1", cpu="1", pool="a100", in_requests=False) -> V1Pod:
    conditions = [V1PodCondition(type="Ready", status="True")] if ready else []
    if unschedulable is not None:
        conditions.append(V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable",
                                         message=unschedulable))
    resources = {"cpu": cpu, "memory": "4Gi", **({"nvidia.com/gpu": gpus} if in_requests else {})}
    return V1Pod(metadata=V1ObjectMeta(name="w"),
                 spec=V1PodSpec(node_selector={"kubelab.io/pool": pool}, containers=[V1Container(
                     name="w", resources=V1ResourceRequirements(requests=resources, limits={"nvidia.com/gpu": gpus}))]),
                 status=V1PodStatus(phase="Running" if ready else "Pending", conditions=conditions))


def test_pods_that_wait_only_for_gpus_others_hold_count_as_waiting_for_capacity():
    nodes = [CPU, A100]
    assert _waiting_for_capacity([pod(ready=True), pod(ready=True), pod(unschedulable=FULL), pod(unschedulable=FULL)],
                                 nodes)
    assert _waiting_for_capacity([pod(unschedulable=FULL, in_requests=True)] * 4, nodes)   # GPUs in requests too
    assert _waiting_for_capacity([pod(unschedulable=FULL, gpus="8")], nodes)               # a whole node's worth


def test_pods_that_no_node_could_take_or_that_are_not_judged_yet_do_not():
    nodes = [CPU, A100]
    assert not _waiting_for_capacity([pod(ready=True)] * 4, nodes)                       # nothing waits: PodsReady decides
    assert not _waiting_for_capacity([pod(ready=True), pod(unschedulable=NO_MATCH)], nodes)   # a selector no node has
    assert not _waiting_for_capacity([pod(unschedulable=FULL), pod()], nodes)             # one not yet judged
    assert not _waiting_for_capacity([pod(unschedulable=FULL, gpus="9")], nodes)          # more GPUs than a node has
    assert not _waiting_for_capacity([pod(unschedulable=FULL, cpu="97")], nodes)          # more CPU than a node has
    assert not _waiting_for_capacity([pod(unschedulable=FULL, pool="h100")], nodes)       # its flavor's nodes are gone
    assert not _waiting_for_capacity([pod(unschedulable=FULL)], [CPU])


def test_fits_empty_reads_requests_and_limits():
    assert _fits_empty(pod(gpus="8", cpu="96"), [A100])
    assert not _fits_empty(pod(gpus="8", cpu="96.5"), [A100])
    assert not _fits_empty(pod(gpus="1", pool="cpu"), [CPU])   # a CPU node has no GPUs to give
