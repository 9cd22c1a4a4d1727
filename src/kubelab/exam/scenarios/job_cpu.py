"""A Job whose pod asks for more CPU than any node has: Pending, Insufficient cpu; the Job never starts."""
from ...grading.engine import Part
from ..base import JobScenario
from ..checks import container
from ..registry import register

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
    fix = "recreate the Job requesting what it needs (cpu: 4); it runs to completion"
    job = "nightly-eval"
    manifests = JOB.replace("$cpu", "64")
    fixed = JOB.replace("$cpu", "4")
    own_wrong = {}

    def guard_parts(self, namespace):
        def requests_cpu(s):
            return bool(((container(s.job, "eval").get("resources") or {}).get("requests") or {}).get("cpu"))
        return [Part(requests_cpu, "the eval container no longer requests CPU",
                     "request what the evaluation needs (about 4 cores)")]
