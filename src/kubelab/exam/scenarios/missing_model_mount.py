"""tritonserver --model-repository=/models with the model volume mounted elsewhere: exits 1, CrashLoopBackOff."""
import re

from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..scenario_registry import register

__all__ = ["MissingModelMount"]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: triton}
spec:
  replicas: 1
  selector: {matchLabels: {app: triton}}
  template:
    metadata: {labels: {app: triton}}
    spec:
      volumes:
      - name: model-store
        emptyDir: {}
      containers:
      - name: triton
        image: nvcr.io/nvidia/tritonserver:24.08-py3
        command: [tritonserver, --model-repository=/models]
        ports: [{name: http, containerPort: 8000}, {name: grpc, containerPort: 8001}]
        readinessProbe: {httpGet: {path: /v2/health/ready, port: http}, periodSeconds: 2}
        volumeMounts:
        - {name: model-store, mountPath: $path}
"""


@register
class MissingModelMount(DeploymentScenario):
    name = "missing-model-mount"
    title = "Triton crashes: the model repository is not mounted where it looks"
    category = "startup"
    difficulty = 2
    ticket = ("The Triton inference server (`triton`) restarts every few seconds and never serves. We only "
              "tidied up its volume definitions in the last change.")
    evidence = ("CrashLoopBackOff", "BackOff", "failed to stat file /models",
                "spec.template.spec.containers[0].volumeMounts", "--model-repository")
    cause = ("tritonserver is started with --model-repository=/models but the model volume is mounted at "
             "/model: the server cannot stat /models and exits 1")
    fix = ("mount the model-store volume at /models (or point --model-repository at the mount path); keep the "
           "model repository flag")
    deployment = "triton"
    check_timeout = 30.0    # Triton takes ~5 s to start
    manifests = DEPLOYMENT.replace("$path", "/model")
    fixed = DEPLOYMENT.replace("$path", "/models")
    own_wrong = {"drop-model-repository": "a Triton started without --model-repository serves no model: the crash "
                                          "is gone and so is the service",
                 "scratch-volume": "a new empty volume mounted at /models, the model store left at /model: Triton "
                                   "starts on an empty repository and serves none of the team's models",
                 "mask-the-exit": "`sh -c 'tritonserver ... || sleep infinity'`: the container stays up after Triton "
                                  "exits, and never serves",
                 "second-repository-flag": "a second --model-repository=/model beside the broken /models: Triton "
                                           "still fails to stat /models and exits"}

    alternatives = {"flag-to-the-mount": "point --model-repository at the mount path, /model"}

    def alt_flag_to_the_mount(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("--model-repository=/models]", "--model-repository=/model]"),
                        namespace=namespace)

    def guard_parts(self, namespace):
        def repos(s) -> list[str]:
            c = container(s.deployment, "triton")
            line = " ".join(str(a) for a in (c.get("command") or []) + (c.get("args") or []))
            return re.findall(r"--model-repository[= ](\S+)", line)

        def holding(s, path: str) -> str | None:
            """The volume whose mount is at or above `path` (the deepest), as the container sees it."""
            best = None
            for m in container(s.deployment, "triton").get("volumeMounts") or []:
                at = (m.get("mountPath") or "").rstrip("/") or "/"
                if path == at or path.startswith(at.rstrip("/") + "/"):
                    if best is None or len(at) > len(best[0]):
                        best = (at, m.get("name"))
            return best and best[1]

        def from_the_store(s) -> bool:
            return bool(repos(s)) and all(holding(s, r.rstrip("/") or "/") == "model-store" for r in repos(s))
        return [Part(lambda s: bool(repos(s)), "tritonserver runs without --model-repository: it serves no model",
                     "keep the flag; mount the volume where it points"),
                Part(from_the_store, "the model repository Triton reads is not on the model-store volume",
                     "mount the model-store volume where --model-repository points (or point the flag at its mount)")]

    def _triton(self, api, namespace, text: str) -> None:
        from ... import manifests
        manifests.apply(api, text, namespace=namespace)

    def wrong_scratch_volume(self, api, namespace):
        self._triton(api, namespace, self.manifests.replace(
            "      - name: model-store\n        emptyDir: {}\n",
            "      - name: model-store\n        emptyDir: {}\n      - name: scratch\n        emptyDir: {}\n").replace(
            "        - {name: model-store, mountPath: /model}\n",
            "        - {name: model-store, mountPath: /model}\n        - {name: scratch, mountPath: /models}\n"))

    def wrong_mask_the_exit(self, api, namespace):
        self._triton(api, namespace, self.manifests.replace(
            "[tritonserver, --model-repository=/models]",
            '[sh, -c, "tritonserver --model-repository=/models || sleep infinity"]'))

    def wrong_second_repository_flag(self, api, namespace):
        self._triton(api, namespace, self.manifests.replace(
            "[tritonserver, --model-repository=/models]",
            "[tritonserver, --model-repository=/models, --model-repository=/model]"))

    def wrong_drop_model_repository(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("[tritonserver, --model-repository=/models]", "[tritonserver]"),
                        namespace=namespace)
