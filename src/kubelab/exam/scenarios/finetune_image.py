"""A Job whose image tag does not exist: its pod waits in ImagePullBackOff, the Job never finishes."""
from ..base import JobScenario
from ..scenario_registry import register

__all__ = ["FinetuneImage"]

JOB = """
apiVersion: batch/v1
kind: Job
metadata: {name: finetune}
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: train
        image: nvcr.io/nvidia/pytorch:$tag
        resources: {requests: {cpu: 500m, memory: 2Gi}, limits: {memory: 2Gi}}
"""


@register
class FinetuneImage(JobScenario):
    name = "finetune-image-tag"
    title = "The fine-tuning Job never starts: its image tag does not exist"
    category = "image"
    difficulty = 1
    ticket = ("The nightly fine-tuning Job `finetune` has been 'running' for hours and never trained a step. "
              "We moved it to the NGC PyTorch release of December 2024.")
    evidence = ("ImagePullBackOff", "ErrImagePull", "spec.template.spec.containers[0].image", "failed to pull")
    cause = "nvcr.io/nvidia/pytorch:24.13-py3 does not exist (NGC tags are YY.MM: there is no month 13)"
    fix = "recreate the Job with nvcr.io/nvidia/pytorch:24.12-py3 (a Job's pod template cannot be changed in place)"
    job = "finetune"
    manifests = JOB.replace("$tag", "24.13-py3")
    fixed = JOB.replace("$tag", "24.12-py3")
    own_wrong = {"month-thirteen-again": "another tag that does not exist (25.13-py3): the pod still cannot pull",
                 "suspend": "a suspended Job shows no ImagePullBackOff, and trains nothing",
                 "cuda-base-image": "the Job recreated on an image that exists and exits 0 (nvcr.io/nvidia/cuda "
                                    "runtime): it succeeds and trains nothing, another program"}
    alternatives = {"newer-release": "a newer NGC release that exists (26.08-py3), the Job recreated"}

    def _recreate(self, api, namespace, tag: str, suspend: bool = False) -> None:
        text = JOB.replace("$tag", tag)
        self.recreate(api, namespace, text.replace("  backoffLimit: 2\n", "  backoffLimit: 2\n  suspend: true\n")
                      if suspend else text)

    def wrong_month_thirteen_again(self, api, namespace):
        self._recreate(api, namespace, "25.13-py3")

    def wrong_suspend(self, api, namespace):
        self._recreate(api, namespace, "24.12-py3", suspend=True)

    def wrong_cuda_base_image(self, api, namespace):
        self.recreate(api, namespace, JOB.replace("nvidia/pytorch:$tag", "nvidia/cuda:12.6.3-runtime-ubuntu24.04"))

    def alt_newer_release(self, api, namespace):
        self._recreate(api, namespace, "26.08-py3")
