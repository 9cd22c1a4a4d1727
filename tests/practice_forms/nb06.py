"""notebooks/06-gpu-workloads.ipynb."""
FAIL_ON_42 = {"action": "FailJob", "onExitCodes": {"containerName": "train", "operator": "In", "values": [42]}}
A100 = {"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}}
A100_AFFINITY = {"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"matchExpressions": [{"key": "nvidia.com/gpu.product", "operator": "In", "values": ["NVIDIA-A100-SXM4-80GB"]}]}]}}}}


def lora(kind="Job", backoff=2, rules=(FAIL_ON_42,), placement=A100) -> dict:
    """The LoRA fine-tune as a Job (or, kind="Pod", its pod spec as a bare Pod); `placement`: the pod spec's
    nodeSelector or affinity."""
    spec = {"restartPolicy": "Never", **placement,
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "train", "image": "nvcr.io/nvidia/pytorch:26.08-py3",
                            "command": ["torchrun", "--nproc-per-node=1", "finetune.py", "--method=lora"],
                            "resources": {"limits": {"nvidia.com/gpu": 1}}}]}
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lora-a100"}, "spec": spec}
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "lora-a100"},
           "spec": {"backoffLimit": backoff, "template": {"spec": spec}}}
    if rules:
        job["spec"]["podFailurePolicy"] = {"rules": list(rules)}
    return job


DRA_NOTEBOOK = '''
apiVersion: resource.k8s.io/v1
kind: ResourceClaimTemplate
metadata: {name: eval-gpu}
spec:
  spec:
    devices:
      requests:
      - name: gpu
        exactly: $request
---
apiVersion: v1
kind: Pod
metadata: {name: eval-notebook}
spec:
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  resourceClaims: [{name: gpu, resourceClaimTemplateName: eval-gpu}]
  containers:
  - name: jupyter
    image: quay.io/jupyter/pytorch-notebook:2024-05-27
    resources: {claims: [{name: gpu}]}
'''


MIG_NOTEBOOK = '''
apiVersion: v1
kind: Pod
metadata: {name: mig-notebook, labels: {app: mig-notebook}}
spec:
  tolerations: $tolerations
  nodeSelector: $selector
  containers:
  - name: jupyter
    image: quay.io/jupyter/pytorch-notebook:2024-05-27
    resources: {limits: $limits}
'''
GPU_TOLERATION = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]

INCIDENT = '''
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: $ns-incident}
value: $value
preemptionPolicy: $policy
---
apiVersion: batch/v1
kind: Job
metadata: {name: incident-eval}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      priorityClassName: $ns-incident
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      nodeSelector: {kubelab.io/pool: $ns-mig}
      containers:
      - name: eval
        image: nvcr.io/nvidia/pytorch:26.08-py3
        resources: {limits: {nvidia.com/mig-3g.40gb: 1}}
'''

FORMS = {
    "06.training-job": {
        "right": [  # required node affinity instead of nodeSelector; a DisruptionTarget rule first; backoffLimit 1
            'kl.apply(api, lora(backoff=1, placement=A100_AFFINITY, rules=({"action": "Ignore", "onPodConditions": '
            '[{"type": "DisruptionTarget"}]}, {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42, 43]}})),'
            ' namespace=namespace)',
        ],
        "wrong": [
            # the same pod spec as a bare Pod: nothing retries it, nothing records that it completed
            'kl.apply(api, lora(kind="Pod"), namespace=namespace)',
            # a look-alike policy: exit code 42 ignored, so a bad config is retried for ever
            'kl.apply(api, lora(rules=({"action": "Ignore", "onExitCodes": {"operator": "In", "values": [42]}},)), '
            'namespace=namespace)',
            # every non-zero exit fails the Job: an ordinary crash is never retried
            'kl.apply(api, lora(rules=({"action": "FailJob", "onExitCodes": {"operator": "NotIn", "values": [0]}},)), '
            'namespace=namespace)',
            # the right policy on the wrong GPU model
            'kl.apply(api, lora(placement={"nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}}), '
            'namespace=namespace)',
            # no policy, default retries
            'kl.apply(api, lora(backoff=6, rules=()), namespace=namespace)',
        ],
    },
    "06.dra-a100": {
        "right": [  # the product name read from the ResourceSlices, matched with startsWith; allocationMode left out
            'devices = kl.observe.dra.devices(api)\n'
            'a100 = devices[devices["node"].str.startswith("a100-") & ~devices["node"].str.contains("mig")]["productName"].iloc[0]\n'
            'kl.apply(api, kl.render(DRA_NOTEBOOK, request={"deviceClassName": "gpu.nvidia.com", "count": 1, "selectors": '
            '[{"cel": {"expression": f\'device.attributes["gpu.nvidia.com"].productName.startsWith("{a100[:11]}")\'}}]}), '
            'namespace=namespace)',
        ],
        "wrong": [
            # no selector: any GPU of the class, an H100 as likely as an A100
            'kl.apply(api, kl.render(DRA_NOTEBOOK, request={"deviceClassName": "gpu.nvidia.com", "count": 1}), '
            'namespace=namespace)',
            # the H100's product name
            'devices = kl.observe.dra.devices(api)\n'
            'h100 = devices[devices["node"].str.startswith("h100-")]["productName"].iloc[0]\n'
            'kl.apply(api, kl.render(DRA_NOTEBOOK, request={"deviceClassName": "gpu.nvidia.com", "count": 1, "selectors": '
            '[{"cel": {"expression": f\'device.attributes["gpu.nvidia.com"].productName == "{h100}"\'}}]}), '
            'namespace=namespace)',
            # two A100s for a notebook that needs one
            'devices = kl.observe.dra.devices(api)\n'
            'a100 = devices[devices["node"].str.startswith("a100-") & ~devices["node"].str.contains("mig")]["productName"].iloc[0]\n'
            'kl.apply(api, kl.render(DRA_NOTEBOOK, request={"deviceClassName": "gpu.nvidia.com", "count": 2, "selectors": '
            '[{"cel": {"expression": f\'device.attributes["gpu.nvidia.com"].productName == "{a100}"\'}}]}), '
            'namespace=namespace)',
        ],
    },
    "06.mig-notebook": {
        "right": [  # pinned to the MIG pool as well, toleration by key alone
            'kl.apply(api, kl.render(MIG_NOTEBOOK, tolerations=[{"key": "nvidia.com/gpu", "operator": "Exists"}], '
            'selector={"nvidia.com/mig.strategy": "mixed"}, limits={"nvidia.com/mig-1g.10gb": 1}), namespace=namespace)',
        ],
        "wrong": [
            # a whole GPU asked on the MIG node, which offers none: Pending
            'kl.apply(api, kl.render(MIG_NOTEBOOK, tolerations=GPU_TOLERATION, selector={"kubelab.io/pool": "a100-mig"}, '
            'limits={"nvidia.com/gpu": 1}), namespace=namespace)',
            # a time slice of the T4: a GPU, but no memory isolation
            'kl.apply(api, kl.render(MIG_NOTEBOOK, tolerations=GPU_TOLERATION, '
            'selector={"nvidia.com/gpu.product": "Tesla-T4-SHARED"}, limits={"nvidia.com/gpu": 1}), namespace=namespace)',
            # two slices for a notebook that fits in one
            'kl.apply(api, kl.render(MIG_NOTEBOOK, tolerations=GPU_TOLERATION, selector={}, '
            'limits={"nvidia.com/mig-1g.10gb": 2}), namespace=namespace)',
        ],
    },
    "06.gpu-quota": {
        "right": [  # a second ResourceQuota for the DRA key beside the existing one, made with kubectl
            'kl.kubectl(api, "create", "quota", "dra-gpus", "--hard=gpu.nvidia.com.deviceclass.resource.k8s.io/devices=4", '
            '"-n", f"{namespace}-team-a")',
        ],
        "wrong": [
            # a look-alike key: an extended-resource quota on a resource nothing requests
            'kl.kubectl(api, "create", "quota", "dra-gpus", "--hard=requests.gpu.nvidia.com/devices=4", '
            '"-n", f"{namespace}-team-a")',
            # the number of claims, not of devices: one claim for 8 GPUs passes
            'kl.kubectl(api, "create", "quota", "dra-gpus", "--hard=count/resourceclaims.resource.k8s.io=4", '
            '"-n", f"{namespace}-team-a")',
            # the DRA cap, with the device-plugin cap dropped
            'kl.kubectl(api, "delete", "quota", "gpu-quota", "-n", f"{namespace}-team-a")\n'
            'kl.kubectl(api, "create", "quota", "dra-gpus", "--hard=gpu.nvidia.com.deviceclass.resource.k8s.io/devices=4", '
            '"-n", f"{namespace}-team-a")',
            # the DRA cap at 8: the team's share is 4 GPUs in all
            'kl.kubectl(api, "patch", "quota", "gpu-quota", "-n", f"{namespace}-team-a", "--type=merge", "-p", '
            '\'{"spec": {"hard": {"gpu.nvidia.com.deviceclass.resource.k8s.io/devices": "8"}}}\')',
        ],
    },
    "06.preemption": {
        "right": [  # PreemptLowerPriority spelled out, a much higher value
            'kl.apply(api, kl.render(INCIDENT, ns=namespace, value=500000, policy="PreemptLowerPriority"), '
            'namespace=namespace)',
        ],
        "wrong": [
            # preemptionPolicy Never: first in the queue, but it evicts nobody and waits
            'kl.apply(api, kl.render(INCIDENT, ns=namespace, value=100000, policy="Never"), namespace=namespace)',
            # the same priority as the backfill: nobody to preempt
            'kl.apply(api, kl.render(INCIDENT, ns=namespace, value=1000, policy="PreemptLowerPriority"), '
            'namespace=namespace)',
            # the backfill scaled away by hand: the evaluation runs, nothing was preempted (and nothing is left)
            'kl.kubectl(api, "scale", "deployment/backfill", "--replicas=0", "-n", namespace)\n'
            'kl.apply(api, kl.render(INCIDENT, ns=namespace, value=1000, policy="PreemptLowerPriority"), '
            'namespace=namespace)',
        ],
    },
}
