"""Exercises of notebooks/06-gpu-workloads.ipynb: a training Job on the right GPU pool, a DRA claim chosen by
product, a notebook on a MIG slice, a namespace quota that DRA cannot walk past, and preemption by priority."""
from __future__ import annotations

from types import SimpleNamespace

import yaml

from .. import grading
from .._k8s.names import DRA_DRIVER, GPU_RESOURCE, GPU_TAINT, MIG_PREFIX, POOL_LABEL
from .._k8s.quantity import to_float
from ..grading.engine import CheckResult, Missing, Part, client, evaluate, read, run
from ..grading.workloads import READY_TIMEOUT
from ..cluster.pools import Gpu, Pool
from ..cluster.simulated import add_nodes
from ..manifests import apply
from ..wait import rollout
from . import all_of, exercise

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

A100 = "NVIDIA-A100-SXM4-80GB"      # GPU Feature Discovery's product label (NVML's name, spaces made dashes)
MIG_SLICE = "nvidia.com/mig-1g.10gb"
BIG_SLICE = "nvidia.com/mig-3g.40gb"
BAD_CONFIG_EXIT = 42                # the training script's exit code for a configuration it cannot use
QUICK = 6.0                         # seconds a check waits for what the cluster has not decided yet


def team_namespace(namespace: str) -> str:
    """The team namespace of section 7 (and of exercise 06.gpu-quota): `<namespace>-team-a`."""
    return f"{namespace}-team-a"


def _tolerates_gpu_taint(pod_spec) -> bool:
    """A toleration matches the GPU taint (the API server's rule: an empty key with Exists matches every taint)."""
    def matches(t) -> bool:
        if t.effect and t.effect != GPU_TAINT["effect"]:
            return False
        if not t.key:
            return t.operator == "Exists"
        return t.key == GPU_TAINT["key"] and (t.operator == "Exists" or (t.value or "") == GPU_TAINT["value"])
    return any(matches(t) for t in pod_spec.tolerations or [])


def _job_pod(api, job: str, namespace: str):
    """The newest pod of Job `job` (the Job controller labels its pods job-name=<job>), or Missing."""
    _read_job(api, job, namespace)   # not there, or a bare Pod: say so
    pods = read(lambda: client(api, "CoreV1Api").list_namespaced_pod(namespace, label_selector=f"job-name={job}").items,
                f"the pods of Job {job!r}", namespace)
    if not pods:
        raise Missing(f"Job {job!r} has no pod (yet)", f"`kubectl describe job {job} -n {namespace}` shows why "
                      "(its events: FailedCreate?)")
    return max(pods, key=lambda p: p.metadata.creation_timestamp)


def _on_job_pod(name: str, api, job: str, namespace: str, check) -> CheckResult:
    """check(pod name) on the newest pod of Job `job`, or a failed result that says why there is none."""
    try:
        pod = _job_pod(api, job, namespace)
    except Missing as m:
        return CheckResult(name, False, 0, 1, m.problem, m.hint)
    return check(pod.metadata.name)


def _read_job(api, name: str, namespace: str):
    """The Job `name`; a bare Pod of that name is named for what it is (nothing retries it)."""
    batch, core = client(api, "BatchV1Api"), client(api, "CoreV1Api")
    try:
        return read(lambda: batch.read_namespaced_job(name, namespace), f"Job {name!r}", namespace)
    except Missing:
        try:
            read(lambda: core.read_namespaced_pod(name, namespace), f"Pod {name!r}", namespace)
        except Missing:
            raise Missing(f"Job {name!r} not found in namespace {namespace!r}",
                          f"create it: `kubectl apply -f job.yaml -n {namespace}` (kind: Job, apiVersion: batch/v1)")
        raise Missing(f"{name!r} is a bare Pod, not a Job: nothing retries it when it fails and nothing records that "
                      "it completed", f"delete the Pod and run the same pod template as a Job: "
                      f"`kubectl delete pod {name} -n {namespace}`, then kind: Job with spec.template") from None


def _policy_action(job, exit_code: int) -> str:
    """What the Job controller does when a container exits with `exit_code`: the action of the first
    podFailurePolicy rule whose onExitCodes match (rules are tried in order), "Count" when none does."""
    policy = job.spec.pod_failure_policy
    containers = {c.name for c in job.spec.template.spec.containers}
    for rule in (policy.rules if policy else None) or []:
        codes = rule.on_exit_codes
        if not codes or (codes.container_name and codes.container_name not in containers):
            continue
        if (exit_code in (codes.values or [])) == (codes.operator == "In"):
            return rule.action
    return "Count"


@exercise("06.training-job", "Run the LoRA fine-tune as a Job on one A100 that fails fast on a bad config",
          objectives=(4, 5), hints=(
    "kind: Job (batch/v1) named lora-a100 with spec.backoffLimit: 2 and, in spec.template.spec, restartPolicy: Never, "
    "the GPU toleration, nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB} and limits: {nvidia.com/gpu: 1}",
    "spec.podFailurePolicy: {rules: [{action: FailJob, onExitCodes: {containerName: train, operator: In, "
    "values: [42]}}]}; "
    "exit codes that match no rule count against backoffLimit and are retried",
))
def training_job(api, ns):
    name = "lora-a100"
    fetch = lambda: _read_job(api, name, ns)
    parts = [
        Part(lambda j: j.spec.backoff_limit is not None and j.spec.backoff_limit <= 2,
             lambda j: f"Job {name!r} retries a failed pod up to {j.spec.backoff_limit} times (backoffLimit; 6 when "
                       "not set): each retry holds an A100", "set spec.backoffLimit: 2", static=True),
        Part(lambda j: _policy_action(j, BAD_CONFIG_EXIT) == "FailJob",
             lambda j: f"when the trainer exits with {BAD_CONFIG_EXIT} (bad config) Job {name!r} does "
                       f"{_policy_action(j, BAD_CONFIG_EXIT)!r}, not FailJob: the retries would fail the same way",
             f"add spec.podFailurePolicy with a rule {{action: FailJob, onExitCodes: {{operator: In, "
             f"values: [{BAD_CONFIG_EXIT}]}}}}", static=True),
        Part(lambda j: _policy_action(j, 1) == "Count",
             lambda j: f"an ordinary crash (exit code 1) makes Job {name!r} do {_policy_action(j, 1)!r}: it should be "
                       "retried (counted against backoffLimit)",
             f"fail the Job only on exit code {BAD_CONFIG_EXIT} (operator: In), not on every non-zero exit",
             static=True),
    ]
    return all_of("training-job",
                  lambda: evaluate("training-job", fetch, parts, f"Job {name!r} retries twice, fails at once on "
                                   f"exit code {BAD_CONFIG_EXIT}"),
                  lambda: grading.pod_requests_gpu(api, name, ns, count=1, product=A100, kind="Job"),
                  lambda: _on_job_pod("training-job", api, name, ns, lambda pod: grading.pod_scheduled_on_pool(
                      api, pod, ns, pool="a100", timeout=QUICK)))


def _products_of_pool(api, pool: str) -> set[str]:
    """The productName the DRA driver publishes for the GPUs of `pool`'s nodes (read, not assumed: it is
    NVML's name, e.g. "NVIDIA A100-SXM4-80GB")."""
    from ..observe import dra

    nodes = {n.metadata.name for n in client(api, "CoreV1Api").list_node(label_selector=f"{POOL_LABEL}={pool}").items}
    devices = dra.devices(api)
    return set(devices[devices["node"].isin(nodes)]["productName"]) if len(devices) else set()


@exercise("06.dra-a100", "Give the evaluation notebook one A100 through DRA, chosen by product name",
          objectives=(4,), hints=(
    "a ResourceClaimTemplate (resource.k8s.io/v1) whose spec.spec.devices.requests[0].exactly has deviceClassName: "
    "gpu.nvidia.com, count: 1 and selectors: [{cel: {expression: 'device.attributes[\"gpu.nvidia.com\"].productName "
    "== \"...\"'}}]: copy the productName from the devices table (`kubectl get resourceslices -o yaml`)",
    "the Pod eval-notebook lists it in spec.resourceClaims: [{name: gpu, resourceClaimTemplateName: <template>}], "
    "its container in resources.claims: [{name: gpu}], and it tolerates the GPU taint",
))
def dra_a100(api, ns):
    pod = "eval-notebook"
    products = _products_of_pool(api, "a100")
    product = next(iter(products), "an A100")

    def fetch():
        from .._k8s.raw import list_dra
        p = read(lambda: client(api, "CoreV1Api").read_namespaced_pod(pod, ns), f"Pod {pod!r}", ns)
        mine = {s.resource_claim_name for s in (p.status.resource_claim_statuses or [])} | {
            rc.resource_claim_name for rc in p.spec.resource_claims or [] if rc.resource_claim_name}
        claims = [c for c in read(lambda: list_dra(api, "resourceclaims", ns), "ResourceClaims", ns)
                  if c["metadata"]["name"] in mine]
        requests = [r.get("exactly") or {} for c in claims for r in c["spec"]["devices"].get("requests") or []]
        return SimpleNamespace(claims=claims, requests=requests)

    def count(o) -> int:
        return sum(int(r.get("count", 1)) for r in o.requests if r.get("allocationMode", "ExactCount") == "ExactCount")

    def by_product(o) -> bool:
        return bool(o.requests) and all(any("productName" in (s.get("cel") or {}).get("expression", "")
                                            for s in r.get("selectors") or []) for r in o.requests)

    parts = [
        Part(lambda o: bool(o.claims), f"Pod {pod!r} has no ResourceClaim (yet)",
             "add spec.resourceClaims with resourceClaimTemplateName, and resources.claims in the container"),
        Part(lambda o: bool(o.requests) and count(o) == 1 and all(r.get("allocationMode", "ExactCount") == "ExactCount"
                                                                   for r in o.requests),
             lambda o: f"the claim of Pod {pod!r} asks for {count(o)} device(s) (or for all of them), "
                       "expected exactly 1",
             "exactly: {deviceClassName: gpu.nvidia.com, allocationMode: ExactCount, count: 1}"),
        Part(by_product, f"the claim of Pod {pod!r} does not select devices by their productName",
             f"selectors: [{{cel: {{expression: 'device.attributes[\"{DRA_DRIVER}\"].productName == "
             f"\"{product}\"'}}}}]"),
    ]
    return all_of("dra-a100",
                  lambda: evaluate("dra-a100", fetch, parts, f"Pod {pod!r} claims one device by productName"),
                  lambda: grading.claim_allocated(api, pod, ns, product=product))


@exercise("06.mig-notebook", "Put the data scientist's notebook on one 1g.10gb MIG slice", objectives=(4,), hints=(
    "the a100-mig node offers no whole nvidia.com/gpu: its allocatable lists nvidia.com/mig-1g.10gb and "
    "nvidia.com/mig-3g.40gb (`kubectl describe node a100-mig-0`)",
    "the container's resources.limits: {nvidia.com/mig-1g.10gb: 1}, plus the toleration of nvidia.com/gpu: the MIG "
    "node carries the same taint as every GPU node",
))
def mig_notebook(api, ns):
    pod = "mig-notebook"
    fetch = lambda: read(lambda: client(api, "CoreV1Api").read_namespaced_pod(pod, ns), f"Pod {pod!r}", ns)

    def gpu_limits(p) -> dict:
        limits = [(c.resources and c.resources.limits) or {} for c in p.spec.containers]
        return {k: to_float(v) for lim in limits for k, v in lim.items()
                if k == GPU_RESOURCE or k.startswith(MIG_PREFIX)}

    parts = [
        Part(lambda p: gpu_limits(p) == {MIG_SLICE: 1},
             lambda p: f"Pod {pod!r} asks for {gpu_limits(p) or 'no GPU'}, expected exactly {{{MIG_SLICE}: 1}}",
             f"resources.limits: {{{MIG_SLICE}: 1}} and no other GPU resource", static=True),
        Part(lambda p: _tolerates_gpu_taint(p.spec), f"Pod {pod!r} does not tolerate the GPU taint",
             "tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]", static=True),
    ]
    ready = [Part(lambda p: any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or []),
                  f"Pod {pod!r} is not Ready", f"`kubectl describe pod {pod} -n {ns}` (Events) shows why")]
    return all_of("mig-notebook",
                  lambda: evaluate("mig-notebook", fetch, parts, f"Pod {pod!r} asks for one {MIG_SLICE}"),
                  lambda: grading.pod_scheduled_on_pool(api, pod, ns, pool="a100-mig", timeout=QUICK),
                  lambda: run("mig-notebook", fetch, ready, f"Pod {pod!r} is Ready", timeout=READY_TIMEOUT))


def _owned_by(api, ns: str) -> str:
    """ownerReferences (as YAML flow) that make a cluster-scoped object of a setup a dependent of the namespace
    `ns`: the garbage collector deletes it with the namespace, so a practice namespace leaves nothing behind."""
    uid = read(lambda: client(api, "CoreV1Api").read_namespace(ns), f"namespace {ns!r}").metadata.uid
    return f"[{{apiVersion: v1, kind: Namespace, name: {ns}, uid: {uid}}}]"


def _team(api, ns):
    team = team_namespace(ns)
    apply(api, f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {team}, ownerReferences: {_owned_by(api, ns)}}}
---
apiVersion: v1
kind: ResourceQuota
metadata: {{name: gpu-quota, namespace: {team}}}
spec:
  hard:
    requests.nvidia.com/gpu: "4"
""")


@exercise("06.gpu-quota", "Close the DRA hole in team-a's GPU quota", objectives=(4,), setup=_team, hints=(
    "a DRA ResourceClaim is not counted by requests.nvidia.com/gpu; ResourceQuota counts claimed devices per "
    "DeviceClass under the key <deviceclass>.deviceclass.resource.k8s.io/devices",
    "add `gpu.nvidia.com.deviceclass.resource.k8s.io/devices: \"4\"` to spec.hard of gpu-quota (keep "
    "requests.nvidia.com/gpu: \"4\"): `kubectl edit resourcequota gpu-quota -n <ns>-team-a`",
))
def gpu_quota(api, ns):
    team = team_namespace(ns)
    key = f"{DRA_DRIVER}.deviceclass.resource.k8s.io/devices"
    # admission enforces what the quota controller has written to status.hard: wait for it to take the cap in
    enforced = [Part(lambda quotas: any(to_float((q.status.hard or {}).get(key, -1)) == 4 for q in quotas),
                     f"no ResourceQuota in namespace {team!r} enforces {key} = 4 yet (status.hard)",
                     f"`kubectl describe resourcequota -n {team}` shows what is enforced")]
    fetch = lambda: read(lambda: client(api, "CoreV1Api").list_namespaced_resource_quota(team).items,
                         "ResourceQuotas", team)
    return all_of("gpu-quota",
                  lambda: grading.quota_caps_gpus(api, team, gpus=4, device_class=DRA_DRIVER),
                  lambda: run("gpu-quota", fetch, enforced, f"the quota controller enforces {key} = 4", timeout=QUICK),
                  lambda: grading.admission_refuses(api, team, grading.dryrun.claim("five-gpus", devices=5),
                                                    because="exceeded quota"))


def team_pool(namespace: str) -> str:
    """The pool of the team's own MIG node in exercise 06.preemption: `<namespace>-mig` (one node, two 3g.40gb)."""
    return f"{namespace}-mig"


def _backfill(api, ns):
    # The team's own MIG node, so that the backfill holds every 3g.40gb slice there whatever else runs on the
    # cluster (other namespaces, the lesson's pods): owned by the namespace, it goes with it.
    pool = team_pool(ns)
    add_nodes(api, Pool(name=pool, count=1, cpu="32", memory="256Gi", instance_type="a2-highgpu-1g",
                        gpu=Gpu(product=A100, count=1, memory_mib=81920, sharing="mig", mig={"3g.40gb": 2})),
              timeout=60)
    core = client(api, "CoreV1Api")
    owner = yaml.safe_load(_owned_by(api, ns))
    for node in core.list_node(label_selector=f"{POOL_LABEL}={pool}").items:
        core.patch_node(node.metadata.name, {"metadata": {"ownerReferences": owner}})
    apply(api, f"""
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {{name: {ns}-backfill, ownerReferences: {_owned_by(api, ns)}}}
value: 1000
description: "Embedding backfill: best effort, first to be preempted."
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: backfill, namespace: {ns}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: backfill}}}}
  template:
    metadata: {{labels: {{app: backfill}}}}
    spec:
      priorityClassName: {ns}-backfill
      tolerations: [{{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}}]
      nodeSelector: {{{POOL_LABEL}: {pool}}}
      containers:
      - name: embed
        image: nvcr.io/nvidia/pytorch:26.08-py3
        resources: {{limits: {{{BIG_SLICE}: 1}}}}
""")
    rollout(api, "Deployment", "backfill", ns, timeout=60, progress=False)   # both slices taken before the task


@exercise("06.preemption", "Let the incident evaluation preempt the backfill for a 3g.40gb slice", objectives=(4, 5),
          setup=_backfill, hints=(
    "both nvidia.com/mig-3g.40gb slices of the team's node (pool <namespace>-mig) are held by backfill (priority "
    "1000): a pod of the same or lower priority waits; one of higher priority makes the scheduler evict a backfill pod",
    "a PriorityClass with a value above 1000 (preemptionPolicy left at PreemptLowerPriority; name it <namespace>-...: "
    "it is cluster-scoped), and the Job incident-eval with priorityClassName set to it, nodeSelector "
    "{kubelab.io/pool: <namespace>-mig}, limits {nvidia.com/mig-3g.40gb: 1} and the GPU toleration",
))
def preemption(api, ns):
    def check(pod: str) -> CheckResult:
        return all_of("preemption",
                      lambda: grading.pod_scheduled_on_pool(api, pod, ns, pool=team_pool(ns), timeout=QUICK),
                      lambda: grading.preempted(api, ns, by=pod, victims="backfill", timeout=QUICK))
    return _on_job_pod("preemption", api, "incident-eval", ns, check)
