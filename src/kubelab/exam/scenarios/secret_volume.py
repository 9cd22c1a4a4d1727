"""A Secret volume naming a Secret that does not exist: FailedMount, ContainerCreating."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..registry import register

__all__ = ["SecretVolume"]

SECRET = """
apiVersion: v1
kind: Secret
metadata: {name: huggingface-token}
stringData: {token: "exam-only-not-a-real-token"}
---
"""
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: model-downloader}
spec:
  replicas: 1
  selector: {matchLabels: {app: model-downloader}}
  template:
    metadata: {labels: {app: model-downloader}}
    spec:
      volumes:
      - name: hf-token
        secret: {secretName: $secret}
      containers:
      - name: downloader
        image: python:3.12-slim
        command: [python, -m, http.server, "8080"]
        volumeMounts:
        - {name: hf-token, mountPath: /var/run/secrets/huggingface, readOnly: true}
"""


def _volume(s):
    vols = ((s.deployment["spec"]["template"].get("spec") or {}).get("volumes")) or []
    return next((v for v in vols if v.get("name") == "hf-token"), {})


@register
class SecretVolume(DeploymentScenario):
    name = "secret-volume"
    title = "The model downloader is stuck in ContainerCreating: its token Secret volume cannot mount"
    category = "config-reference"
    difficulty = 2
    ticket = ("`model-downloader` has been in ContainerCreating for an hour. The Hugging Face token is in the "
              "namespace (we renamed the Secret to `huggingface-token` last week, as the wiki says).")
    evidence = ("FailedMount", 'secret "hf-token" not found', "spec.template.spec.volumes[0].secret.secretName")
    cause = ("the volume hf-token mounts Secret `hf-token`, which does not exist (it is `huggingface-token`): "
             "the kubelet cannot mount it, so the container is never created")
    fix = "set the volume's secretName to huggingface-token"
    deployment = "model-downloader"
    manifests = SECRET + DEPLOYMENT.replace("$secret", "hf-token")
    fixed = SECRET + DEPLOYMENT.replace("$secret", "huggingface-token")
    own_wrong = {"optional-volume": "an optional Secret volume mounts empty: the downloader starts without its "
                                    "token and fails on the first private model"}

    def guard_parts(self, namespace):
        def required_secret(s):
            sec = _volume(s).get("secret") or {}
            mounted = any(m.get("name") == "hf-token" for c in s.deployment["spec"]["template"]["spec"]["containers"]
                          for m in c.get("volumeMounts") or [])
            return bool(sec.get("secretName")) and not sec.get("optional") and mounted
        return [Part(required_secret, "the token volume is gone, optional or not mounted",
                     "keep the Secret volume required and mounted; name the Secret that exists")]

    def wrong_optional_volume(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("{secretName: hf-token}", "{secretName: hf-token, optional: true}"),
                        namespace=namespace)
