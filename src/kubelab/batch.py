"""The ML batch platform on a cluster that runs Kueue (and, for new GPU nodes, Karpenter): what a platform team sets
up so that teams share GPUs through queues instead of racing for them.

Cluster-wide (`install`, idempotent):
    ResourceFlavors     one per whole-GPU node pool (its pool label, the GPU taint, the toleration Kueue adds to the
                        pods it admits there) and one per CPU pool; shared GPUs (time-slicing, MIG) are left to
                        pods outside the queues
    WorkloadPriorityClasses   batch-low and batch-high: the order within a queue, and whom preemption may evict
    a ValidatingAdmissionPolicy   in a namespace labelled QUEUE_REQUIRED, a Job must name a LocalQueue (else it would
                        run outside every quota, since Kueue manages only Jobs with the queue label)

Per tenancy (a namespace N: a learner's sandbox or a lesson's namespace; `team_queues`; its cluster-scoped objects
are dependents of the Namespace, deleted with it):
    ClusterQueues N-training and N-inference, in cohort N: nominal GPU quotas per flavor; training may borrow what
                        inference lends; each preempts lower priority in its own queue and reclaims its nominal quota
                        from a borrower in the cohort; fair-sharing weight 1 each
    ResourceFlavor N-autoscaled   nodes of the NodePool N-gpu (Karpenter's karpenter.sh/nodepool label): a queue
                        that admits onto it makes Karpenter provision for the admitted pods, and only that NodePool
    LocalQueues training and inference in N, and the namespace labelled QUEUE_REQUIRED

Kueue's names and fields: sigs.k8s.io/kueue v0.17.0, apis/kueue/v1beta2 (the storage version).
"""
from __future__ import annotations

from ._k8s.apierrors import call, typed_errors
from ._k8s.names import GPU_TAINT, POOL_LABEL, SANDBOX_LABEL
from ._k8s.poll import until
from ._k8s.raw import is_ready
from .cluster.karpenter import AUTOSCALED_TAINT
from .cluster.kueue import QUEUE_LABEL
from .errors import ClusterUnavailable, ConfigError, KubelabError, UsageError

__all__ = ["API", "COHORT_LABEL", "GPU", "NODEPOOL_LABEL", "PRIORITIES", "QUEUE_LABEL", "QUEUE_POLICY",
           "QUEUE_REQUIRED", "QUOTAS", "TEAMS", "TEAM_ROLES", "autoscaled_flavor", "flavors", "install", "model_server",
           "node_pool_name", "priorities", "queue_policy", "remove", "serve_on_pool", "serving_pool", "team_queues", "wait_active"]

API = "kueue.x-k8s.io/v1beta2"
GPU = "nvidia.com/gpu"
NODEPOOL_LABEL = "karpenter.sh/nodepool"      # Karpenter labels each node it makes with its NodePool's name
QUEUE_REQUIRED = "kubelab.io/queue-required"  # namespace label: its Jobs must name a LocalQueue
QUEUE_POLICY = "kubelab-queue-required"
COHORT_LABEL = "kubelab.io/cohort"
TEAMS = ("training", "inference")
# a lab's team namespaces (access.yaml `teams:`) by the batch team whose queue admits from them
TEAM_ROLES = {"training": "training", "inference": "inference", "serving": "inference"}
PRIORITIES = {"batch-low": 100, "batch-high": 1000}
RESOURCES = ("cpu", "memory", GPU)   # one resource group: a GPU pod's CPU and memory come from its GPU flavor
# Per team and flavor: nominal (cpu, memory, GPUs), and the GPU borrowing/lending limits. The training team owns few
# GPUs and may borrow what the inference team lends; CPU and memory are generous, so GPUs are what binds.
QUOTAS = {
    "training": {"cpu": ("16", "64Gi", 0, {}),
                 "a100": ("64", "512Gi", 2, {"borrowingLimit": 2}),
                 "h100": ("64", "512Gi", 0, {"borrowingLimit": 2}),
                 "autoscaled": ("192", "2Ti", 8, {"lendingLimit": 0})},   # new nodes are for training alone
    "inference": {"cpu": ("16", "64Gi", 0, {}),
                  "a100": ("64", "512Gi", 2, {"lendingLimit": 2}),
                  "h100": ("64", "512Gi", 2, {"lendingLimit": 2})},
}


def _toleration(taint: dict) -> dict:
    return {"key": taint["key"], "operator": "Exists", "effect": taint["effect"]}


def flavors(pools=None) -> list[dict]:
    """A ResourceFlavor per CPU pool and per whole-GPU pool of the node pools file (the default one when None)."""
    from .cluster import pools as pool_file
    out = []
    for pool in pool_file.load(pools):
        if pool.gpu is not None and pool.gpu.sharing != "exclusive":
            continue   # a shared GPU is a slice or a time share: not a unit a training queue hands out
        spec: dict = {"nodeLabels": {POOL_LABEL: pool.name}}
        if pool.gpu is not None:
            spec |= {"nodeTaints": [GPU_TAINT], "tolerations": [_toleration(GPU_TAINT)]}
        out.append({"apiVersion": API, "kind": "ResourceFlavor", "metadata": {"name": pool.name}, "spec": spec})
    return out


def node_pool_name(namespace: str) -> str:
    """The NodePool a tenancy's autoscaled flavor selects (a learner may write it: the sandbox's name rule)."""
    return f"{namespace}-gpu"


IMAGE_LABEL = "kubelab.io/node-image"   # a serving pool's node template label: the node image (AMI) it stands for
SERVING_TYPE = "a2-ultragpu-4g"        # 4 GPUs a node (cluster/karpenter/instance-types.json)
MODEL_IMAGE = "vllm/vllm-openai:v0.30.0"
MODEL_ARGS = ["--model", "Qwen/Qwen2.5-0.5B-Instruct"]   # serves /health on 8000 ~10 s after start (cluster/images.yaml)


def serving_pool(name: str, image: str = "v1", gpus: int = 8) -> dict:
    """A NodePool for a model server: the reference pool (cluster/karpenter/gpu-nodepool.yaml) with one 4-GPU shape,
    its nodes labelled IMAGE_LABEL=`image` (on a real cluster the node image is the EC2NodeClass's AMI; the label
    stands for it here: a change of the template makes Karpenter find the nodes Drifted and replace them) and a
    disruption budget of one node at a time. A learner may write it: named `<namespace>-<word>`, with the
    autoscaled taint and a GPU limit."""
    from .cluster.karpenter import node_pool
    np = node_pool()
    np["metadata"] = {"name": name}
    template = np["spec"]["template"]
    template["metadata"]["labels"] = {IMAGE_LABEL: image}
    template["spec"]["requirements"][0]["values"] = [SERVING_TYPE]
    np["spec"]["limits"] = {GPU: str(gpus)}
    np["spec"]["disruption"] = {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "30s",
                                "budgets": [{"nodes": "1"}]}
    return np


def model_server(pool: str, name: str = "model-server", replicas: int = 2) -> list[dict]:
    """A vLLM model server (one GPU a replica) on the nodes of NodePool `pool`, with a readiness probe on /health,
    and its Service: [Deployment, Service]."""
    labels = {"app": name}
    # the served name is the Deployment's: vLLM labels its metrics (vllm:num_requests_waiting) model_name with it
    container = {"name": "vllm", "image": MODEL_IMAGE, "args": [*MODEL_ARGS, "--served-model-name", name],
                 "ports": [{"containerPort": 8000}],
                 "resources": {"limits": {GPU: 1}},
                 "readinessProbe": {"httpGet": {"path": "/health", "port": 8000}, "periodSeconds": 2},
                 "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}}
    # the restricted Pod Security profile's fields: it runs in a team namespace that enforces it (the capstone)
    pod = {"nodeSelector": {NODEPOOL_LABEL: pool}, "tolerations": [_toleration(GPU_TAINT), _toleration(AUTOSCALED_TAINT)],
           "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
           "containers": [container]}
    return [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
             "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels}, "spec": pod}}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": labels},
             "spec": {"selector": labels, "ports": [{"name": "http", "port": 8000, "targetPort": 8000}]}}]


RECORD_WAIT = 30.0   # seconds to wait for Prometheus to record the ready endpoints (scraped every 5 s)


def serve_on_pool(api, namespace: str, pool: str, name: str = "model-server", replicas: int = 2, *,
                  owner: list[dict] | None = None, field_manager: str = "kubelab", timeout: float = 120) -> None:
    """NodePool `pool` (node image v1, `owner`: its ownerReferences) and the model server `name` on it, in `namespace`;
    waits until only v1 nodes are left with `replicas` ready pods on them, and until Prometheus has recorded those
    ready endpoints: a check of availability from a later moment on then reads a record that starts whole."""
    from .manifests import apply
    from .observe.prometheus import promql
    from .observe.state_metrics import READY_ENDPOINTS

    nodepool = serving_pool(pool, "v1")
    if owner:
        nodepool["metadata"]["ownerReferences"] = owner
    apply(api, [nodepool, *model_server(pool, name, replicas)], namespace=namespace, field_manager=field_manager)
    core = _core(api)

    def settled():   # a restart after an upgrade: Karpenter replaces the v2 nodes first
        nodes = {n.metadata.name: (n.metadata.labels or {}).get(IMAGE_LABEL)
                 for n in core.list_node(label_selector=f"{NODEPOOL_LABEL}={pool}").items}
        pods = [p for p in core.list_namespaced_pod(namespace, label_selector=f"app={name}").items
                if not p.metadata.deletion_timestamp]
        return (set(nodes.values()) == {"v1"} and len(pods) == replicas
                and all(is_ready(p.status) and nodes.get(p.spec.node_name) == "v1" for p in pods)), None
    until(settled, timeout, every=0.5)
    query = READY_ENDPOINTS.format(namespace=namespace, service=name)

    def recorded():
        try:
            answer = promql(api, query)
        except KubelabError:   # no Prometheus: the checks say so themselves
            return True, None
        return len(answer) > 0 and float(answer["value"].iloc[0]) >= replicas, None
    until(recorded, RECORD_WAIT, every=1)


def _core(api):
    from kubernetes import client
    return client.CoreV1Api(api)


def autoscaled_flavor(namespace: str) -> dict:
    """The flavor of the nodes Karpenter makes for the NodePool node_pool_name(namespace)."""
    taints = [GPU_TAINT, AUTOSCALED_TAINT]
    return {"apiVersion": API, "kind": "ResourceFlavor", "metadata": {"name": f"{namespace}-autoscaled"},
            "spec": {"nodeLabels": {NODEPOOL_LABEL: node_pool_name(namespace)}, "nodeTaints": taints,
                     "tolerations": [_toleration(t) for t in taints]}}


def priorities() -> list[dict]:
    return [{"apiVersion": API, "kind": "WorkloadPriorityClass", "metadata": {"name": name}, "value": value,
             "description": f"batch Jobs, {name.removeprefix('batch-')} priority"}
            for name, value in PRIORITIES.items()]


def queue_policy() -> list[dict]:
    """The policy (and binding) that refuses a Job without the queue label in a namespace labelled QUEUE_REQUIRED."""
    admission = "admissionregistration.k8s.io/v1"
    meta = {"name": QUEUE_POLICY, "labels": {"app.kubernetes.io/part-of": "kubelab"}}
    return [
        {"apiVersion": admission, "kind": "ValidatingAdmissionPolicy", "metadata": meta, "spec": {
            "failurePolicy": "Fail",
            # UPDATE too: a suspended Job whose label is removed and then unsuspended would run outside every queue
            "matchConstraints": {"resourceRules": [{"apiGroups": ["batch"], "apiVersions": ["*"],
                                                    "resources": ["jobs"], "operations": ["CREATE", "UPDATE"]}]},
            "variables": [{"name": "queued", "expression":
                           f"has(object.metadata.labels) && '{QUEUE_LABEL}' in object.metadata.labels"},
                          {"name": "was_queued", "expression": "request.operation == 'UPDATE' && "
                           f"has(oldObject.metadata.labels) && '{QUEUE_LABEL}' in oldObject.metadata.labels"}],
            "validations": [{
                # a new Job names a queue; an update may not take the queue away (a Job made before the namespace
                # required queues may still be updated)
                "expression": "variables.queued || (request.operation == 'UPDATE' && !variables.was_queued)",
                "reason": "Forbidden", "messageExpression":
                    f"'Job ' + object.metadata.name + ' names no LocalQueue: in namespace ' + "
                    f"object.metadata.namespace + ' batch Jobs are admitted by Kueue; add the label {QUEUE_LABEL}: "
                    f"<queue> (kubectl get localqueues -n ' + object.metadata.namespace + ')'"}]}},
        {"apiVersion": admission, "kind": "ValidatingAdmissionPolicyBinding", "metadata": meta, "spec": {
            "policyName": QUEUE_POLICY, "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {QUEUE_REQUIRED: "true"}}}}},
    ]


def _flavor_quota(flavor: str, quota: tuple) -> dict:
    cpu, memory, gpus, limits = quota
    resources = [{"name": "cpu", "nominalQuota": cpu}, {"name": "memory", "nominalQuota": memory},
                 {"name": GPU, "nominalQuota": gpus, **limits}]
    return {"name": flavor, "resources": resources}


def team_queues(namespace: str, gpu_flavors: tuple[str, ...] = ("a100", "h100"), *,
                teams: dict[str, str] | None = None) -> list[dict]:
    """A tenancy's ClusterQueues (cohort `namespace`), its autoscaled flavor and LocalQueues, in apply order.
    `teams` ({team of TEAMS: namespace}): each team's ClusterQueue admits from its own namespace alone, and no
    LocalQueue is made (each team writes its own); by default both admit from `namespace`, through LocalQueues made
    there."""
    out: list[dict] = [autoscaled_flavor(namespace)]
    order = ["cpu", *gpu_flavors, "autoscaled"]   # Kueue tries a group's flavors in this order
    names = {"autoscaled": f"{namespace}-autoscaled"}
    admits = teams if teams is not None else dict.fromkeys(TEAMS, namespace)
    unknown = sorted(set(admits) - set(TEAMS))
    if unknown:
        raise UsageError(f"no batch team {', '.join(unknown)}: the teams are {', '.join(TEAMS)}",
                         f"map the namespaces to {' or '.join(TEAMS)}")
    for team in (t for t in TEAMS if t in admits):
        quota = QUOTAS[team]
        out.append({"apiVersion": API, "kind": "ClusterQueue",
                    "metadata": {"name": f"{namespace}-{team}", "labels": {COHORT_LABEL: namespace}},
                    "spec": {
                        "cohortName": namespace,
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": admits[team]}},
                        "queueingStrategy": "BestEffortFIFO",
                        "resourceGroups": [{"coveredResources": list(RESOURCES), "flavors": [
                            _flavor_quota(names.get(f, f), quota[f]) for f in order if f in quota]}],
                        "preemption": {"withinClusterQueue": "LowerPriority", "reclaimWithinCohort": "Any"},
                        "fairSharing": {"weight": "1"}}})
    if teams is not None:
        return out
    # labelled as the sandbox's own: emptying a learner's namespace keeps them (the learner may delete LocalQueues)
    out += [{"apiVersion": API, "kind": "LocalQueue",
             "metadata": {"name": team, "namespace": namespace, "labels": {SANDBOX_LABEL: "true"}},
             "spec": {"clusterQueue": f"{namespace}-{team}"}} for team in TEAMS]
    return out


def _served(api) -> None:
    """One clear error when Kueue's API is not on this cluster."""
    from kubernetes import client
    groups = {g.name for g in call(client.ApisApi(api).get_api_versions).groups}
    if "kueue.x-k8s.io" not in groups:
        raise ClusterUnavailable("this cluster does not serve Kueue's API (kueue.x-k8s.io): the batch platform needs "
                                 "Kueue", "on the embedded cluster run `kubelab cluster up` (it starts Kueue; "
                                 "`kubelab cluster status` shows kubelab-kueue); on another cluster install Kueue "
                                 "v0.17")


@typed_errors
def install(api, namespace: str | None = None, pools=None, timeout: float = 60, *,
            require_queue: bool = True, teams: dict[str, str] | None = None) -> list[dict]:
    """Apply the cluster-wide parts and, for `namespace`, its tenancy; wait until its ClusterQueues are active.
    `require_queue`: label the namespace (the teams' namespaces) so that a Job without a LocalQueue is refused;
    `teams`: see team_queues. Returns the objects applied."""
    from . import manifests
    from kubernetes import client
    _served(api)
    objs = [*flavors(pools), *priorities(), *queue_policy()]
    if namespace:
        # the tenancy's cluster-scoped objects are dependents of its Namespace (itself cluster-scoped): the garbage
        # collector deletes them with it, whoever deletes the namespace
        uid = call(client.CoreV1Api(api).read_namespace, namespace).metadata.uid
        owner = [{"apiVersion": "v1", "kind": "Namespace", "name": namespace, "uid": uid}]
        objs += [{**o, "metadata": {**o["metadata"], "ownerReferences": owner}}
                 if o["kind"] in ("ClusterQueue", "ResourceFlavor") else o
                 for o in team_queues(namespace, teams=teams)]
    manifests.apply(api, objs, field_manager="kubelab-batch")
    if namespace:
        if require_queue:
            for name in sorted(set((teams or {namespace: namespace}).values())):
                call(client.CoreV1Api(api).patch_namespace, name, {"metadata": {"labels": {QUEUE_REQUIRED: "true"}}})
        wait_active(api, [f"{namespace}-{team}" for team in TEAMS if teams is None or team in teams], timeout)
    return objs


def wait_active(api, cluster_queues: list[str], timeout: float = 60) -> None:
    """Wait until each ClusterQueue's Active condition is True; else one error with Kueue's reason (e.g. a flavor
    that does not exist) and the fix."""
    from kubernetes import client
    custom = client.CustomObjectsApi(api)
    group, version = API.split("/")

    def inactive():
        left = {}
        for name in cluster_queues:
            cq = call(custom.get_cluster_custom_object, group, version, "clusterqueues", name)
            cond = next((c for c in (cq.get("status") or {}).get("conditions") or [] if c["type"] == "Active"), None)
            if not cond or cond["status"] != "True":
                left[name] = f"{cond['reason']}: {cond['message']}" if cond else "no status yet"
        return not left, left

    def not_active(left):
        why = "; ".join(f"{n}: {m}" for n, m in left.items())
        if "FlavorNotFound" in why:
            return ConfigError(f"ClusterQueue not active after {timeout:.0f} s ({why})",
                               "create the ResourceFlavor it names (kubectl get resourceflavors) or name an existing one")
        return ClusterUnavailable(f"ClusterQueue not active after {timeout:.0f} s ({why})",
                                  "check that Kueue runs: `kubelab cluster status`, `kubelab cluster logs kubelab-kueue`")

    until(inactive, timeout, every=0.3, timeout_error=not_active)


def _listed(api, group: str, version: str, plural: str) -> list[dict]:
    """The cluster-scoped objects of a kind; [] where the kind is not served or not readable."""
    from kubernetes import client

    from .errors import Forbidden, NotFound
    try:
        return call(client.CustomObjectsApi(api).list_cluster_custom_object, group, version, plural)["items"]
    except (NotFound, Forbidden):
        return []


@typed_errors
def remove(api, namespace: str, *, tenancy: bool = True) -> list[str]:
    """Delete the NodePools named `<namespace>-<word>` (a learner's; Karpenter then removes their nodes) and, with
    `tenancy`, the tenancy's ClusterQueues and autoscaled flavor (the platform's: an admin's call). Returns
    "Kind/name" of each deleted. The ClusterQueues go once their Workloads are gone (Kueue's finalizer), i.e. with
    the namespace."""
    from . import manifests
    group, version = API.split("/")
    mine = [] if not tenancy else [{"apiVersion": API, "kind": "ClusterQueue", "metadata": {"name": o["metadata"]["name"]}}
            for o in _listed(api, group, version, "clusterqueues")
            if (o["metadata"].get("labels") or {}).get(COHORT_LABEL) == namespace]
    mine += [{"apiVersion": API, "kind": "ResourceFlavor", "metadata": {"name": o["metadata"]["name"]}}
             for o in _listed(api, group, version, "resourceflavors") if tenancy
             and o["metadata"]["name"] == autoscaled_flavor(namespace)["metadata"]["name"]]
    mine += [{"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": o["metadata"]["name"]}}
             for o in _listed(api, "karpenter.sh", "v1", "nodepools")
             if o["metadata"]["name"].rpartition("-")[0] == namespace]
    return manifests.delete(api, mine)
