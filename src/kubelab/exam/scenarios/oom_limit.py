"""A memory limit below the working set: OOMKilled, exit 137, restarts."""
from ..._k8s.quantity import qty
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container, get
from ..scenario_registry import register

__all__ = ["OomLimit"]

BUDGET = """
apiVersion: v1
kind: LimitRange
metadata: {name: memory-budget}
spec:
  limits:
  - type: Container
    max: {memory: 4Gi}
    default: {memory: 4Gi}        # a container without a limit gets the whole budget
    defaultRequest: {memory: 64Mi}
---
"""
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: embedder}
spec:
  replicas: 1
  selector: {matchLabels: {app: embedder}}
  template:
    metadata: {labels: {app: embedder}}
    spec:
      containers:
      - name: embedder
        image: nvcr.io/nvidia/pytorch:26.08-py3
        resources:
          requests: {cpu: 500m, memory: $request}
          limits: {memory: $limit}
"""


@register
class OomLimit(DeploymentScenario):
    name = "oom-limit"
    title = "The embedding worker is OOMKilled at start"
    category = "resources"
    needs = frozenset({"limits"})              # the LimitRange
    makes = frozenset({"LimitRange"})          # it bounds every container of the namespace
    difficulty = 1
    ticket = ("The embedding worker (`embedder`) restarts constantly since we 'right-sized' its resources. "
              "The namespace's LimitRange `memory-budget` (4Gi per container) is policy and stays.")
    evidence = ("OOMKilled", "137", "spec.template.spec.containers[0].resources.limits.memory")
    cause = ("the memory limit (512Mi) is below what PyTorch with its CUDA libraries needs (about 1Gi): the "
             "kernel kills the process (OOMKilled, exit code 137) and the kubelet restarts it")
    fix = "raise limits.memory above the working set and within the budget (e.g. 2Gi, request 1Gi)"
    deployment = "embedder"
    manifests = BUDGET + DEPLOYMENT.replace("$request", "256Mi").replace("$limit", "512Mi")
    fixed = BUDGET + DEPLOYMENT.replace("$request", "1Gi").replace("$limit", "2Gi")
    own_wrong = {"remove-limit": "without a limit of its own the container takes the namespace's whole "
                                 "budget (the LimitRange default, 4Gi): right-sizing gone, not fixed",
                 "remove-budget": "deleting the LimitRange and the limit removes the namespace's guard rail",
                 "limit-still-low": "a limit raised, but still below the working set (768Mi): killed again"}
    alternatives = {"limit-in-gi": "a limit written another way (1536Mi, request 1Gi): above the working set, "
                                   "within the budget"}

    def wrong_limit_still_low(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(self.manifests, namespace).replace("{memory: 512Mi}", "{memory: 768Mi}"),
                        namespace=namespace)

    def alt_limit_in_gi(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.render(self.fixed, namespace).replace("{memory: 2Gi}", "{memory: 1536Mi}"),
                        namespace=namespace)

    def more_state(self, api, namespace):
        from kubernetes import client
        return {"budget": get(client.CoreV1Api(api).read_namespaced_limit_range, "memory-budget", namespace,
                              what="LimitRange 'memory-budget'")}

    def guard_parts(self, namespace):
        def budget_kept(s):
            lim = next((x for x in s.budget["spec"].get("limits") or [] if x.get("type") == "Container"), {})
            return qty(str((lim.get("max") or {}).get("memory", "0"))) == qty("4Gi")
        def limited(s):
            mem = ((container(s.deployment, "embedder").get("resources") or {}).get("limits") or {}).get("memory")
            return bool(mem) and qty(str(mem)) <= qty("4Gi")
        return [Part(budget_kept, "the LimitRange memory-budget no longer caps containers at 4Gi",
                     "the budget is policy: keep it"),
                Part(limited, "the embedder container has no memory limit (or one above the budget)",
                     "set resources.limits.memory above the working set, within 4Gi")]

    def wrong_remove_limit(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("          limits: {memory: 512Mi}\n", ""), namespace=namespace)

    def wrong_remove_budget(self, api, namespace):
        from ... import manifests, tools
        tools.kubectl(api, "delete", "limitrange", "memory-budget", "-n", namespace)
        manifests.apply(api, DEPLOYMENT.replace("$request", "256Mi").replace("          limits: {memory: $limit}\n", ""),
                        namespace=namespace)
