"""tritonserver --model-repository=/models with the model volume mounted elsewhere: exits 1, CrashLoopBackOff."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..registry import register

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
                                          "is gone and so is the service"}

    alternatives = {"flag-to-the-mount": "point --model-repository at the mount path, /model"}

    def alt_flag_to_the_mount(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("--model-repository=/models]", "--model-repository=/model]"),
                        namespace=namespace)

    def guard_parts(self, namespace):
        def has_repo(s):
            c = container(s.deployment, "triton")
            return any("--model-repository" in str(a) for a in (c.get("command") or []) + (c.get("args") or []))
        return [Part(has_repo, "tritonserver runs without --model-repository: it serves no model",
                     "keep the flag; mount the volume where it points")]

    def wrong_drop_model_repository(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("[tritonserver, --model-repository=/models]", "[tritonserver]"),
                        namespace=namespace)
