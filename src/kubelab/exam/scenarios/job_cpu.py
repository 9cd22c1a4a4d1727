"""A Job whose pod asks for more CPU than any node has: Pending, Insufficient cpu; the Job never starts."""
from ..._k8s.quantity import to_float
from ...grading.engine import Part
from ..base import JobScenario
from ..checks import container
from ..scenario_registry import register

__all__ = ["JobCpu"]

JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: nightly-eval}
spec:
  backoffLimit: 1
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: eval
        image: python:3.12-slim
        command: [python, -c, "print('evaluating')"]
        resources:
          requests: {cpu: "$cpu", memory: 1Gi}
          limits: {memory: 1Gi}
"""


@register
class JobCpu(JobScenario):
    name = "job-cpu-request"
    title = "The nightly evaluation Job never starts: no node has the CPU it asks for"
    category = "scheduling"
    difficulty = 1
    ticket = ("The nightly evaluation (`nightly-eval`) has not produced a report for three days. It shows 0/1 "
              "completions and its pod has no node. It needs about 4 cores.")
    evidence = ("FailedScheduling", "Insufficient cpu", "spec.template.spec.containers[0].resources.requests.cpu")
    cause = "the pod requests 64 CPUs; the largest node has 16 allocatable: the scheduler finds no node (Insufficient cpu)"
    fix = ("recreate the Job requesting what it needs (cpu: 4; the check takes 2 to 8 cores, within a factor of two "
           "of the ticket's 4) on a CPU node; it runs to completion")
    job = "nightly-eval"
    manifests = JOB.replace("$cpu", "64")
    fixed = JOB.replace("$cpu", "4")
    own_wrong = {"drop-request": "no CPU request at all: the pod schedules anywhere and gets whatever CPU is left "
                                 "(BestEffort for CPU), not the 4 cores it needs",
                 "token-request": "a token request (250m) schedules at once and starves the 4-core evaluation",
                 "onto-gpu-nodes": "64 CPUs kept, the GPU taint tolerated: the pod lands on a GPU node's 96-192 cores "
                                   "and hogs a GPU server's CPUs for a CPU job"}
    alternatives = {"limit-only": "cpu: 4 given as a limit alone (the API server copies a limit as the request "
                                  "when no request is set)"}

    def guard_parts(self, namespace):
        def cores(s) -> float:
            # a limit without a request is the request too (the API server defaults it on the pod)
            res = container(s.job, "eval").get("resources") or {}
            cpu = (res.get("requests") or {}).get("cpu") or (res.get("limits") or {}).get("cpu")
            return to_float(str(cpu)) if cpu else 0.0
        return [Part(lambda s: 2 <= cores(s) <= 8,
                     lambda s: f"the eval container requests {cores(s):g} CPU(s), not about the 4 it needs"
                               if cores(s) else "the eval container no longer requests CPU",
                     "request what the evaluation needs (about 4 cores: 2 to 8)")]

    def _resources(self, api, namespace, resources: str) -> None:
        before = '        resources:\n          requests: {cpu: "$cpu", memory: 1Gi}\n          limits: {memory: 1Gi}\n'
        self.recreate(api, namespace, JOB.replace(before, resources))

    def wrong_drop_request(self, api, namespace):
        self._resources(api, namespace, "        resources:\n          requests: {memory: 1Gi}\n          limits: {memory: 1Gi}\n")

    def wrong_token_request(self, api, namespace):
        self.recreate(api, namespace, JOB.replace("$cpu", "250m"))

    def wrong_onto_gpu_nodes(self, api, namespace):
        self.recreate(api, namespace, JOB.replace("$cpu", "64").replace(
            "      restartPolicy: Never\n", "      restartPolicy: Never\n      tolerations:\n"
            "      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}\n"))

    def alt_limit_only(self, api, namespace):
        self._resources(api, namespace, "        resources:\n          requests: {memory: 1Gi}\n"
                                        '          limits: {cpu: "4", memory: 1Gi}\n')
