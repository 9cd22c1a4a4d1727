"""A Job asking for more GPUs than any node has: Pending, Insufficient nvidia.com/gpu."""
from ...grading.engine import Part
from ..base import JobScenario
from ..checks import container
from ..scenario_registry import register
from .gpu_toleration import pinned_to

__all__ = ["GpuInsufficient"]

H100 = "NVIDIA-H100-80GB-HBM3"

JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: pretrain}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}
      tolerations:
      - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
      containers:
      - name: train
        image: nvcr.io/nvidia/pytorch:26.08-py3
        resources:
          requests: {cpu: "1", memory: 2Gi}
          limits: {memory: 4Gi, nvidia.com/gpu: $gpus}
"""


def gpus(s) -> int:
    limits = (container(s.job, "train").get("resources") or {}).get("limits") or {}
    try:
        return int(limits.get("nvidia.com/gpu", 0))
    except ValueError:
        return 0


@register
class GpuInsufficient(JobScenario):
    name = "gpu-insufficient"
    title = "The pre-training Job pends: it asks for more GPUs than one node has"
    category = "scheduling"
    difficulty = 2
    ticket = ("`pretrain` (one worker on the H100 pool) has been Pending since we 'scaled it up' to 16 GPUs. "
              "The H100 nodes have 8 GPUs each; a single worker cannot span nodes.")
    evidence = ("FailedScheduling", "Insufficient nvidia.com/gpu",
                "spec.template.spec.containers[0].resources.limits.nvidia.com/gpu")
    cause = ("one pod asks for 16 nvidia.com/gpu but the largest H100 node has 8: no node fits, the scheduler "
             "reports Insufficient nvidia.com/gpu")
    fix = "recreate the Job asking for at most 8 GPUs per pod (the reference asks for 2); it then runs to completion"
    job = "pretrain"
    gpu_pool = "h100"
    manifests = JOB.replace("$gpus", "16")
    fixed = JOB.replace("$gpus", "2")
    own_wrong = {"drop-gpus": "without a GPU request the pod runs on a CPU node: pre-training without GPUs",
                 "a100-pool": "8 GPUs on the A100 pool (the selector changed to the A100 product): it runs, but not "
                              "on the H100 pool the ticket names",
                 "no-pin": "the node selector dropped, 8 GPUs kept: the pod may land on an A100 node"}
    alternatives = {"requests-and-limits": "4 GPUs given in requests and limits, equal (Kubernetes' GPU scheduling "
                                           "page: both may be set if they are equal)"}

    def guard_parts(self, namespace):
        return [Part(lambda s: gpus(s) >= 1, "the pretrain pod no longer asks for a GPU",
                     "ask for as many GPUs as one node has, or fewer"),
                Part(lambda s: pinned_to(s.job, H100), f"the pretrain pod is no longer pinned to the H100 pool ({H100})",
                     f"keep nodeSelector nvidia.com/gpu.product: {H100} (or a required node affinity In [{H100}])")]

    def wrong_a100_pool(self, api, namespace):
        self.recreate(api, namespace, JOB.replace("$gpus", "8").replace(H100, "NVIDIA-A100-SXM4-80GB"))

    def wrong_no_pin(self, api, namespace):
        self.recreate(api, namespace, JOB.replace("$gpus", "8").replace(
            f"      nodeSelector: {{nvidia.com/gpu.product: {H100}}}\n", ""))

    def alt_requests_and_limits(self, api, namespace):
        self.recreate(api, namespace, JOB.replace("$gpus", "4").replace(
            'requests: {cpu: "1", memory: 2Gi}', 'requests: {cpu: "1", memory: 2Gi, nvidia.com/gpu: 4}'))

    def wrong_drop_gpus(self, api, namespace):
        self.recreate(api, namespace, JOB.replace(", nvidia.com/gpu: $gpus", "").replace(
            "      nodeSelector: {nvidia.com/gpu.product: NVIDIA-H100-80GB-HBM3}\n", ""))
