"""notebooks/08-batch-platform.ipynb."""
LONG = {"pod-complete.stage.kwok.x-k8s.io/delay": "20m",
            "pod-complete.stage.kwok.x-k8s.io/jitter-delay": "21m"}   # simulated run time: the pods stay Running


def job(name, labels=None, gpus=1, pods=1, pod_spec=None, suspend=None, cpu=None) -> dict:
    """A Job whose `pods` pods each ask for `gpus` nvidia.com/gpu (or `cpu` alone); `pod_spec`: more of the pod spec."""
    resources = {"requests": {"cpu": cpu}} if cpu else {"limits": {"nvidia.com/gpu": gpus}}
    spec = {"parallelism": pods, "completions": pods, "backoffLimit": 0, "template": {
        "metadata": {"annotations": LONG},
        "spec": {"restartPolicy": "Never", **(pod_spec or {}), "containers": [
            {"name": "main", "image": "nvcr.io/nvidia/pytorch:26.08-py3", "resources": resources}]}}}
    if suspend is not None:
        spec["suspend"] = suspend
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}


def queue(name, cluster_queue) -> dict:
    return {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "LocalQueue", "metadata": {"name": name},
            "spec": {"clusterQueue": cluster_queue}}


def q(name, **more):
    return {"kueue.x-k8s.io/queue-name": name, **more}


def owned(api, namespace) -> dict:
    """metadata that makes a cluster-scoped object of a form go with the test's namespace (test hygiene only)."""
    from kubernetes import client
    uid = client.CoreV1Api(api).read_namespace(namespace).metadata.uid
    return {"ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": namespace, "uid": uid}]}


def node_pool(name, limit="8", types=("p5.48xlarge", "a2-ultragpu-4g"), meta=None):
    import kubelab as kl
    np = kl.cluster.karpenter.node_pool()
    np["metadata"] = {"name": name, **(meta or {})}
    np["spec"]["template"]["spec"]["requirements"][0]["values"] = list(types)
    np["spec"]["disruption"] = {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "1s"}
    if limit is None:
        np["spec"].pop("limits", None)
    else:
        np["spec"]["limits"] = {"nvidia.com/gpu": limit}
    return np


def pdb(**spec) -> dict:
    """A PodDisruptionBudget of exercise 08.upgrade's model server (minAvailable or maxUnavailable)."""
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "model-server"},
            "spec": {**spec, "selector": {"matchLabels": {"app": "model-server"}}}}


def to_v2(api, pool) -> None:
    """NodePool `pool`'s node template labelled kubelab.io/node-image: v2, in place (`kubectl patch --type=merge`)."""
    import kubelab as kl
    kl.kubectl(api, "patch", "nodepool", pool, "--type=merge", "-p",
               '{"spec":{"template":{"metadata":{"labels":{"kubelab.io/node-image":"v2"}}}}}')


def ready(api, namespace, count, name="model-server", timeout=90) -> None:
    """Wait until `count` pods of the model server are ready and none is terminating (as `kubectl rollout status`)."""
    import time

    from kubernetes import client
    core, deadline = client.CoreV1Api(api), time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = core.list_namespaced_pod(namespace, label_selector=f"app={name}").items
        if len(pods) == count and all(any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
                                      and not p.metadata.deletion_timestamp for p in pods):
            return
        time.sleep(0.5)


def replaced(api, pool, timeout=120) -> None:
    """Wait until Karpenter has replaced every v1 node of NodePool `pool` (`kubectl get nodes -L` until none)."""
    import time

    from kubernetes import client
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = client.CoreV1Api(api).list_node(label_selector=f"karpenter.sh/nodepool={pool}").items
        if nodes and all(n.metadata.labels.get("kubelab.io/node-image") == "v2" for n in nodes):
            return
        time.sleep(0.5)


H100_POOL = {"nodeSelector": {"kubelab.io/pool": "h100"}}
H100_AFFINITY = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "kubelab.io/pool", "operator": "In", "values": ["h100"]}]}]}}}}
H100_PRODUCT = {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}}

FORMS = {
    "08.local-queue": {
        "right": [  # the Job with suspend: false written by hand: Kueue's webhook suspends it at create anyway
            'kl.apply(api, [queue("research", f"{namespace}-training"), '
            'job("prep-research", q("research"), cpu="500m", suspend=False)], namespace=namespace)',
        ],
        "wrong": [
            # the inference team's quota
            'kl.apply(api, [queue("research", f"{namespace}-inference"), job("prep-research", q("research"), cpu="1")], '
            'namespace=namespace)',
            # a ClusterQueue that does not exist: the LocalQueue is there but inactive, its Job waits
            'kl.apply(api, [queue("research", "training"), job("prep-research", q("research"), cpu="1")], '
            'namespace=namespace)',
            # the right queue, but the Job went through the team's own queue
            'kl.apply(api, [queue("research", f"{namespace}-training"), job("prep-research", q("training"), cpu="1")], '
            'namespace=namespace)',
        ],
    },
    "08.h100-job": {
        "right": [  # required node affinity on the pool label, two GPUs
            'kl.apply(api, job("longctx-h100", q("training"), gpus=2, pod_spec=H100_AFFINITY), namespace=namespace)',
        ],
        "wrong": [
            # no queue label: the policy refuses the Job (kl.apply raises; the check finds no Job)
            'kl.apply(api, job("longctx-h100", gpus=1, pod_spec=H100_POOL), namespace=namespace)',
            # the inference team's queue: admitted on h100, but on the GPUs that serve production
            'kl.apply(api, job("longctx-h100", q("inference"), gpus=1, pod_spec=H100_POOL), namespace=namespace)',
            # no selector: Kueue takes the first flavor with room, a100
            'kl.apply(api, job("longctx-h100", q("training"), gpus=1), namespace=namespace)',
            # GPU Feature Discovery's product label: no flavor has that key, so Kueue ignores it and picks a100
            'kl.apply(api, job("longctx-h100", q("training"), gpus=1, pod_spec=H100_PRODUCT), namespace=namespace)',
        ],
    },
    "08.gang": {
        "right": [  # indexed completion mode, suspend: false by hand (the webhook suspends it anyway)
            'j = job("ddp-gang", q("training"), gpus=1, pods=4, suspend=False)\n'
            'j["spec"]["completionMode"] = "Indexed"\n'
            'kl.apply(api, j, namespace=namespace)',
        ],
        "wrong": [
            # four Jobs of one pod: four Workloads, each admitted alone
            'for i in range(4):\n'
            '    kl.apply(api, job(f"ddp-gang{i}" if i else "ddp-gang", q("training"), gpus=1), namespace=namespace)',
            # 8 pods: more than the A100 quota, admitted whole on the autoscaled flavor whose nodes do not exist
            'kl.apply(api, job("ddp-gang", q("training"), gpus=1, pods=8), namespace=namespace)',
            # without the queue: refused by the policy
            'kl.apply(api, job("ddp-gang", gpus=1, pods=4), namespace=namespace)',
        ],
    },
    "08.priority": {
        "right": [  # a WorkloadPriorityClass of its own, above batch-low
            'kl.apply(api, {"apiVersion": "kueue.x-k8s.io/v1beta2", "kind": "WorkloadPriorityClass", '
            '"metadata": {"name": f"{namespace}-urgent", **owned(api, namespace)}, "value": 500})\n'
            'kl.apply(api, job("urgent-eval", q("evaluation", **{"kueue.x-k8s.io/priority-class": f"{namespace}-urgent"}), '
            'gpus=2), namespace=namespace)',
        ],
        "wrong": [
            # no priority: it waits behind the nightly run
            'kl.apply(api, job("urgent-eval", q("evaluation"), gpus=2), namespace=namespace)',
            # the training queue: admitted there, nobody preempted
            'kl.apply(api, job("urgent-eval", q("training", **{"kueue.x-k8s.io/priority-class": "batch-high"}), gpus=2), '
            'namespace=namespace)',
            # the symptom-hiding repair: delete the nightly run by hand, then queue the urgent one
            'kl.kubectl(api, "delete", "job", "nightly-eval", "-n", namespace, "--wait=true")\n'
            'kl.apply(api, job("urgent-eval", q("evaluation", **{"kueue.x-k8s.io/priority-class": "batch-high"}), '
            'gpus=2), namespace=namespace)',
        ],
    },
    "08.node-pool": {
        "right": [  # H100 shapes only, a limit of 16
            'kl.apply(api, node_pool(f"{namespace}-gpu", limit="16", types=("p5.48xlarge",), meta=owned(api, namespace)))',
        ],
        "wrong": [
            # the reference name: not the NodePool the flavor selects
            'kl.apply(api, node_pool(f"{namespace}-pool", meta=owned(api, namespace)))',
            # no limit: nodes are made, but nothing caps the bill
            'kl.apply(api, node_pool(f"{namespace}-gpu", limit=None, meta=owned(api, namespace)))',
            # a limit below the pending Job's 4 GPUs: Karpenter may not make the node
            'kl.apply(api, node_pool(f"{namespace}-gpu", limit="2", meta=owned(api, namespace)))',
        ],
    },
    "08.upgrade": {
        "right": [
            # a budget of one unavailable pod and the replicas spread over two nodes first (a rolling update: Karpenter
            # makes the second node), then the new image: one node at a time
            'kl.apply(api, pdb(maxUnavailable=1), namespace=namespace)\n'
            'kl.kubectl(api, "patch", "deployment", "model-server", "-n", namespace, "--type=merge", "-p", '
            '\'{"spec":{"template":{"spec":{"topologySpreadConstraints":[{"maxSkew":1,'
            '"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"DoNotSchedule",'
            '"labelSelector":{"matchLabels":{"app":"model-server"}}}]}}}}\')\n'
            'kl.kubectl(api, "rollout", "status", "deployment/model-server", "-n", namespace, "--timeout=90s")\n'
            'ready(api, namespace, 2)\n'
            'to_v2(api, f"{namespace}-serving")',
            # a third replica and a budget that keeps two
            'kl.kubectl(api, "scale", "deployment/model-server", "--replicas=3", "-n", namespace)\n'
            'ready(api, namespace, 3)\n'
            'kl.apply(api, pdb(minAvailable=2), namespace=namespace)\n'
            'to_v2(api, f"{namespace}-serving")',
        ],
        "wrong": [
            # the new image with nothing to protect the model server: both replicas evicted at once
            'to_v2(api, f"{namespace}-serving")',
            # the budget after the change, once Karpenter has replaced the node: too late, the outage is recorded
            'to_v2(api, f"{namespace}-serving")\n'
            'replaced(api, f"{namespace}-serving")\n'
            'kl.apply(api, pdb(minAvailable=1), namespace=namespace)',
            # more replicas but no budget: all four on the one 4-GPU node, evicted together
            'kl.kubectl(api, "scale", "deployment/model-server", "--replicas=4", "-n", namespace)\n'
            'ready(api, namespace, 4)\n'
            'to_v2(api, f"{namespace}-serving")',
            # the Deployment deleted, the pool changed, the Deployment created again: it served nobody meanwhile
            'kl.kubectl(api, "delete", "deployment", "model-server", "-n", namespace, "--wait=true")\n'
            'to_v2(api, f"{namespace}-serving")\n'
            'kl.apply(api, kl.batch.model_server(f"{namespace}-serving")[0], namespace=namespace)',
            # a new pool under another name, the old one deleted: not the upgrade of the pool
            'np = kl.batch.serving_pool(f"{namespace}-fresh", "v2")\n'
            'np["metadata"].update(owned(api, namespace))\n'
            'kl.apply(api, np)\n'
            'kl.kubectl(api, "patch", "deployment", "model-server", "-n", namespace, "--type=merge", "-p", '
            '\'{"spec":{"template":{"spec":{"nodeSelector":{"karpenter.sh/nodepool":"\' + namespace + \'-fresh"}}}}}\')\n'
            'kl.kubectl(api, "delete", "nodepool", f"{namespace}-serving")',
        ],
    },
}
