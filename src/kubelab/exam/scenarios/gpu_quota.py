"""A GPU ResourceQuota that the Deployment's pods exceed: the ReplicaSet cannot create its second pod."""
from ..._k8s.quantity import to_float
from ...gpu.simulated import container_gpu_requests
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container, get
from ..scenario_registry import register

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
                 "drop-gpus": "replicas without a GPU fit the quota and serve nothing on a GPU",
                 "rescope-quota": "the same limit under a scope that misses the team's pods caps nothing",
                 "priority-elsewhere": "pods moved out of the team's priority class escape its quota"}
    alternatives = {"limits-only": "1 GPU per replica given in limits alone (Kubernetes' GPU scheduling page: the limit "
                                   "is used as the request), which the quota counts as requested"}

    def alt_limits_only(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(self.manifests, namespace).split("---\n", 2)[2].replace(
            "          requests: {cpu: \"1\", memory: 1Gi, nvidia.com/gpu: 2}\n", "          requests: {cpu: \"1\", memory: 1Gi}\n")
            .replace("nvidia.com/gpu: 2}", "nvidia.com/gpu: 1}"), namespace=namespace)

    def inject(self, api, namespace):
        # the quota admission plugin enforces only what the quota controller has put in status.hard: pods created
        # before that sync are admitted whatever the quota says, so the Deployment comes once the quota is live
        from kubernetes import client

        from ... import manifests
        from ..._k8s.poll import until
        deployment = self.render(self.manifests, namespace).split("---\n", 2)[2]
        manifests.apply(api, self.render(QUOTA, namespace), namespace=namespace)
        until(lambda: (bool((client.CoreV1Api(api).read_namespaced_resource_quota("team-gpus", namespace).status.hard
                             or {}).get("requests.nvidia.com/gpu")), None), 30, every=0.1)
        manifests.apply(api, deployment, namespace=namespace)

    def more_state(self, api, namespace):
        from kubernetes import client
        return {"quota": get(client.CoreV1Api(api).read_namespaced_resource_quota, "team-gpus", namespace,
                             what="ResourceQuota 'team-gpus'")}

    def guard_parts(self, namespace):
        def kept(s):
            hard = (s.quota["spec"].get("hard") or {}).get("requests.nvidia.com/gpu")
            return hard is not None and to_float(hard) <= 2
        def asks(s):
            # requests or limits: a GPU given in limits alone is requested too (the API server copies the limit)
            return container_gpu_requests(container(s.deployment, "server")).get("nvidia.com/gpu", 0) >= 1
        return [Part(kept, "the quota team-gpus no longer caps requests.nvidia.com/gpu at 2",
                     "the quota is the platform team's: keep it"),
                Part(asks, "the inference replicas no longer ask for a GPU", "one GPU per replica"),
                Part(lambda s: s.deployment["spec"]["template"]["spec"].get("priorityClassName")
                     == f"{namespace}-inference", "the inference pods left the team's priority class (and so "
                     "its quota)", "keep priorityClassName: the quota counts the team's pods by it")]

    def live_parts(self, namespace):
        # the quota must still count the team's pods: what the quota controller counted (status.used) is every GPU
        # the running replicas ask for, so a quota recreated with the same limit and a scope that misses them fails
        def counted(s):
            used = to_float(((s.quota.get("status") or {}).get("used") or {}).get("requests.nvidia.com/gpu", "0"))
            asked = sum(container_gpu_requests(c).get("nvidia.com/gpu", 0)
                        for p in s.pods for c in p["spec"].get("containers") or [])
            return asked > 0 and used == asked
        return [Part(counted, lambda s: "the quota team-gpus does not count the inference pods' GPUs (its scope "
                              f"misses them): it counts {((s.quota.get('status') or {}).get('used') or {})}",
                     "keep the quota's scope (PriorityClass In [<namespace>-inference]): it is the platform team's")]

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

    def wrong_rescope_quota(self, api, namespace):
        from ... import manifests
        quota = self.render(QUOTA, namespace).split("---", 1)[1]
        manifests.delete(api, quota, namespace=namespace, wait=True)
        manifests.apply(api, quota.replace(f"values: [{namespace}-inference]", "values: [batch-only]"),
                        namespace=namespace)

    def wrong_priority_elsewhere(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(self.manifests, namespace).split("---\n", 2)[2].replace(
            f"      priorityClassName: {namespace}-inference\n", "").replace("nvidia.com/gpu: 2", "nvidia.com/gpu: 1"),
            namespace=namespace)
