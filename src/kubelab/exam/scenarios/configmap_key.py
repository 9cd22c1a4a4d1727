"""An env var from a ConfigMap key that does not exist: CreateContainerConfigError."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..scenario_registry import register

__all__ = ["ConfigMapKey"]

CONFIG = """
apiVersion: v1
kind: ConfigMap
metadata: {name: model-config}
data:
  model-name: bert-base-uncased
  max-length: "512"
---
"""
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: tokenizer}
spec:
  replicas: 2
  selector: {matchLabels: {app: tokenizer}}
  template:
    metadata: {labels: {app: tokenizer}}
    spec:
      containers:
      - name: tokenizer
        image: python:3.12-slim
        command: [python, -m, http.server, "8080"]
        env:
        - name: MODEL_NAME
          valueFrom: {configMapKeyRef: {name: model-config, key: $key}}
        - name: MAX_LENGTH
          valueFrom: {configMapKeyRef: {name: model-config, key: max-length}}
"""


def _env_ref(s):
    env = container(s.deployment, "tokenizer").get("env") or []
    return next((e for e in env if e.get("name") == "MODEL_NAME"), {})


@register
class ConfigMapKey(DeploymentScenario):
    name = "configmap-key"
    title = "The tokenizer cannot start: a ConfigMap key it reads does not exist"
    category = "config-reference"
    difficulty = 1
    ticket = ("The tokenizer service (`tokenizer`) never started after we switched it to read its model "
              "name from the shared ConfigMap `model-config`. The pods exist but no container runs.")
    evidence = ("CreateContainerConfigError", "couldn't find key", "configMapKeyRef",
                "spec.template.spec.containers[0].env[0].valueFrom.configMapKeyRef.key")
    cause = ("MODEL_NAME reads key MODEL_NAME of ConfigMap model-config, which has `model-name`: the kubelet "
             "cannot build the container's environment (CreateContainerConfigError)")
    fix = "reference the key that exists (key: model-name), or add the key MODEL_NAME to the ConfigMap"
    deployment, replicas = "tokenizer", 2
    manifests = CONFIG + DEPLOYMENT.replace("$key", "MODEL_NAME")
    fixed = CONFIG + DEPLOYMENT.replace("$key", "model-name")
    own_wrong = {"optional-ref": "optional: true starts the container WITHOUT its model name: the error is "
                                 "hidden, the bug ships",
                 "hard-coded": "a literal value bypasses the shared configuration the ticket asks for",
                 "look-alike-configmap": "a new ConfigMap model-config-v2 holding MODEL_NAME: the pod starts, but reads "
                                         "a private copy, not the shared model-config the ticket names"}

    alternatives = {"add-the-key": "add the key MODEL_NAME to the ConfigMap (the reference stays)"}

    def alt_add_the_key(self, api, namespace):
        from ... import manifests
        manifests.apply(api, CONFIG.replace("  max-length:", "  MODEL_NAME: bert-base-uncased\n  max-length:"),
                        namespace=namespace)

    def guard_parts(self, namespace):
        def from_configmap(s):
            ref = (_env_ref(s).get("valueFrom") or {}).get("configMapKeyRef") or {}
            return ref.get("name") == "model-config" and not ref.get("optional")
        return [Part(from_configmap, "MODEL_NAME no longer comes (required) from ConfigMap model-config",
                     "keep the reference required and point it at a key that exists")]

    def wrong_optional_ref(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace("key: MODEL_NAME}", "key: MODEL_NAME, optional: true}"),
                        namespace=namespace)

    def wrong_look_alike_configmap(self, api, namespace):
        from ... import manifests
        copy = CONFIG.replace("{name: model-config}", "{name: model-config-v2}").replace("  model-name:", "  MODEL_NAME:")
        manifests.apply(api, copy + DEPLOYMENT.replace("{name: model-config, key: $key}",
                                                       "{name: model-config-v2, key: MODEL_NAME}"), namespace=namespace)

    def wrong_hard_coded(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace(
            "valueFrom: {configMapKeyRef: {name: model-config, key: MODEL_NAME}}", "value: bert-base-uncased"),
            namespace=namespace)
