"""A GPU ResourceQuota that the Deployment's pods exceed: the ReplicaSet cannot create its second pod."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container, get
from ..registry import register

__all__ = ["GpuQuota"]

QUOTA = """
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata:
  name: $namespace-inference   # cluster-scoped: named <namespace>-<word>
  labels: {kubelab.io/exam-namespace: $namespace}
value: 1000
description: the inference team's pods (their GPU quota counts these)
---
apiVersion: v1
kind: ResourceQuota
metadata: {name: team-gpus}
spec:
  hard: {requests.nvidia.com/gpu: "2"}
  scopeSelector:
    matchExpressions:
    - {scopeName: PriorityClass, operator: In, values: [$namespace-inference]}
---
"""
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: inference}
spec:
  replicas: 2
  strategy: {type: Recreate}   # no spare GPU to surge onto
  selector: {matchLabels: {app: inference}}
  template:
    metadata: {labels: {app: inference}}
    spec:
      priorityClassName: $namespace-inference
      nodeSelector: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}
      tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
      containers:
      - name: server
        image: nvcr.io/nvidia/pytorch:26.08-py3
        resources:
          requests: {cpu: "1", memory: 1Gi, nvidia.com/gpu: $gpus}
          limits: {memory: 2Gi, nvidia.com/gpu: $gpus}
"""


@register
class GpuQuota(DeploymentScenario):
    name = "gpu-quota"
    title = "Only one of two inference replicas exists: the team's GPU quota refuses the other"
    category = "quota"
    needs = frozenset({"cluster", "limits"})   # a PriorityClass <namespace>-inference; the ResourceQuota
    makes = frozenset({"ResourceQuota"})
    difficulty = 2
    ticket = ("`inference` should run 2 replicas, one GPU each, within our team quota of 2 GPUs (the quota is "
              "set by the platform team and stays). Since the last change only one pod exists, and no "
              "Pending pod either.")
    evidence = ("FailedCreate", "exceeded quota", "requests.nvidia.com/gpu",
                "spec.template.spec.containers[0].resources.requests.nvidia.com/gpu")
    cause = ("each replica now asks for 2 GPUs; the quota allows 2 in all, so admission refuses the second pod "
             "(the ReplicaSet's FailedCreate event: exceeded quota) and no pod even pends")
    fix = "ask for 1 GPU per replica (requests and limits), as the design says; keep the quota"
    deployment, replicas = "inference", 2
    check_timeout = 30.0
    gpu_pool = "a100"
    manifests = QUOTA + DEPLOYMENT.replace("$gpus", "2")
    fixed = QUOTA + DEPLOYMENT.replace("$gpus", "1")
    own_wrong = {"raise-quota": "raising the quota takes GPUs the team was not given",
                 "delete-quota": "deleting the quota removes the guard rail that shares the GPUs between teams",
                 "drop-gpus": "replicas without a GPU fit the quota and serve nothing on a GPU"}

    def more_state(self, api, namespace):
        from kubernetes import client
        return {"quota": get(client.CoreV1Api(api).read_namespaced_resource_quota, "team-gpus", namespace,
                             what="ResourceQuota 'team-gpus'")}

    def guard_parts(self, namespace):
        def kept(s):
            return str((s.quota["spec"].get("hard") or {}).get("requests.nvidia.com/gpu")) == "2"
        def asks(s):
            req = (container(s.deployment, "server").get("resources") or {}).get("requests") or {}
            return str(req.get("nvidia.com/gpu", "0")) not in ("0", "")
        return [Part(kept, "the quota team-gpus no longer caps requests.nvidia.com/gpu at 2",
                     "the quota is the platform team's: keep it"),
                Part(asks, "the inference replicas no longer ask for a GPU", "one GPU per replica"),
                Part(lambda s: s.deployment["spec"]["template"]["spec"].get("priorityClassName")
                     == f"{namespace}-inference", "the inference pods left the team's priority class (and so "
                     "its quota)", "keep priorityClassName: the quota counts the team's pods by it")]

    def cleanup(self, api, namespace):
        from ... import manifests
        # by its name, not a label: a label is anyone's to copy
        manifests.delete(api, [{"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                                "metadata": {"name": f"{namespace}-inference"}}])

    def remove(self, api, namespace):
        from ... import manifests
        manifests.delete(api, self.render(self.manifests, namespace).split("---", 1)[1], namespace=namespace, wait=True)

    def wrong_raise_quota(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(QUOTA, namespace).replace('"2"', '"4"'), namespace=namespace)

    def wrong_delete_quota(self, api, namespace):
        from ... import tools
        tools.kubectl(api, "delete", "resourcequota", "team-gpus", "-n", namespace)

    def wrong_drop_gpus(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(self.manifests, namespace).replace(", nvidia.com/gpu: 2", ""), namespace=namespace)


