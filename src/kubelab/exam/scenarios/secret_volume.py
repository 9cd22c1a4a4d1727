"""A Secret volume naming a Secret that does not exist: FailedMount, ContainerCreating."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..scenario_registry import register

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


TOKEN_DIR = "/var/run/secrets/huggingface"   # where the downloader reads its token file


def _volume(s):
    """The volume the downloader container mounts at TOKEN_DIR (whatever its name), or {}."""
    spec = s.deployment["spec"]["template"].get("spec") or {}
    mounted = next((m.get("name") for c in spec.get("containers") or [] if c.get("name") == "downloader"
                    for m in c.get("volumeMounts") or [] if (m.get("mountPath") or "").rstrip("/") == TOKEN_DIR), None)
    return next((v for v in spec.get("volumes") or [] if mounted and v.get("name") == mounted), {})


def _secrets(volume: dict) -> list[dict]:
    """The Secrets a volume is made of: a secret volume's, or each secret source of a projected volume
    ({"name", "optional"})."""
    if volume.get("secret"):
        sec = volume["secret"]
        return [{"name": sec.get("secretName"), "optional": sec.get("optional")}]
    return [src["secret"] for src in (volume.get("projected") or {}).get("sources") or [] if src.get("secret")]


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
                                    "token and fails on the first private model",
                 "token-as-env": "the token given as an env var (secretKeyRef) and the volume dropped: the downloader "
                                 "reads its token file, which is not there",
                 "token-in-configmap": "the token copied into a ConfigMap mounted at the token path: it starts, and "
                                       "the credential now lies in a ConfigMap anyone who reads config can read",
                 "empty-dir": "an emptyDir at the token path: the mount succeeds, the token file is missing"}
    alternatives = {"projected-volume": "a projected volume with the Secret huggingface-token as its source, mounted "
                                        "at the same path (Kubernetes' projected volumes docs)"}

    def guard_parts(self, namespace):
        def required_secret(s):
            secrets = _secrets(_volume(s))
            return bool(secrets) and all(sec.get("name") and not sec.get("optional") for sec in secrets)
        return [Part(required_secret, f"no required Secret volume is mounted at {TOKEN_DIR} any more (gone, optional, "
                                      "or another kind of volume)",
                     "keep the Secret volume required and mounted; name the Secret that exists")]

    def _volume_source(self, api, namespace, source: str, extra: str = "") -> None:
        from ... import manifests
        manifests.apply(api, extra + DEPLOYMENT.replace("secret: {secretName: $secret}", source), namespace=namespace)

    def wrong_token_as_env(self, api, namespace):
        from ... import manifests
        manifests.apply(api, DEPLOYMENT.replace("      volumes:\n      - name: hf-token\n        secret: {secretName: $secret}\n",
                                                "").replace(
            "        volumeMounts:\n        - {name: hf-token, mountPath: /var/run/secrets/huggingface, readOnly: true}\n",
            "        env:\n        - name: HF_TOKEN\n"
            "          valueFrom: {secretKeyRef: {name: huggingface-token, key: token}}\n"), namespace=namespace)

    def wrong_token_in_configmap(self, api, namespace):
        self._volume_source(api, namespace, "configMap: {name: hf-token}",
                            'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: hf-token}\n'
                            'data: {token: "exam-only-not-a-real-token"}\n---\n')

    def wrong_empty_dir(self, api, namespace):
        self._volume_source(api, namespace, "emptyDir: {}")

    def alt_projected_volume(self, api, namespace):
        self._volume_source(api, namespace, "projected:\n          sources:\n"
                                            "          - secret: {name: huggingface-token}")

    def wrong_optional_volume(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("{secretName: hf-token}", "{secretName: hf-token, optional: true}"),
                        namespace=namespace)
