"""notebooks/05-helm.ipynb."""
import shutil
import tempfile
from pathlib import Path

CHART = Path(__file__).parents[2] / "notebooks" / "charts" / "model-server"
DEV, STAGING = str(CHART / "values-dev.yaml"), str(CHART / "values-staging.yaml")


def chart_copy(env: str, secret_template: str = "") -> str:
    """A working copy of the lesson's chart with `env` lines put before the server's envFrom (and a Secret
    template), as the learner makes one in the notebook."""
    copy = Path(tempfile.mkdtemp()) / "model-server"
    shutil.copytree(CHART, copy)
    deployment = copy / "templates" / "deployment.yaml"
    deployment.write_text(deployment.read_text().replace("        envFrom:\n", env + "        envFrom:\n", 1))
    if secret_template:
        (copy / "templates" / "secret.yaml").write_text(secret_template)
    return str(copy)


def values_file(text: str) -> str:
    path = Path(tempfile.mkdtemp()) / "values.yaml"
    path.write_text(text)
    return str(path)


def token(api, namespace) -> str:
    """The token, read the way a careless script would (to pass it on with --set)."""
    import base64

    from kubernetes import client
    data = client.CoreV1Api(api).read_namespaced_secret("hf-token", namespace).data
    return base64.b64decode(data["token"]).decode()


BY_NAME = """\
        {{- if .Values.existingSecret }}
        env:
        - name: HF_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ required "existingSecret names the Secret" .Values.existingSecret | quote }}
              key: token
        {{- end }}
"""

FORMS = {
    "05.install-values": {
        "right": [  # the overrides in a values file of their own, after staging's; upgrade --install
            'kl.helm(api, "upgrade", "--install", "embedder", str(CHART), "-n", namespace, "-f", STAGING, "-f", '
            'values_file("replicaCount: 3\\nimage: {tag: 3.13-slim}\\n"), "--wait", "--timeout", "60s")',
        ],
        "wrong": [  # installed as staging, then changed with kubectl: the release still says 2 x python:3.12-slim
            'kl.helm(api, "install", "embedder", str(CHART), "-n", namespace, "-f", STAGING, "--wait", "--timeout", "60s")\n'
            'kl.kubectl(api, "scale", "deployment/embedder-model-server", "--replicas=3", "-n", namespace)\n'
            'kl.kubectl(api, "set", "image", "deployment/embedder-model-server", "server=python:3.13-slim", "-n", namespace)',
            # python:3.13, not the slim image asked
            'kl.helm(api, "install", "embedder", str(CHART), "-n", namespace, "-f", STAGING, "--set", "replicaCount=3", '
            '"--set", "image.tag=3.13", "--wait", "--timeout", "60s")',
            # rendered and applied with kubectl: the right objects, but no release to upgrade or roll back
            'out = kl.helm(None, "template", "embedder", str(CHART), "-n", namespace, "-f", STAGING, "--set", '
            '"replicaCount=3", "--set", "image.tag=3.13-slim")\n'
            'kl.apply(api, out, namespace=namespace)',
        ],
    },
    "05.upgrade-values": {
        "right": [  # --reuse-values with the new file
            'kl.helm(api, "upgrade", "ranker", str(CHART), "-n", namespace, "--reuse-values", "-f", values_file('
            '"model:\\n  version: \\"3\\"\\n  uri: s3://models/sentiment-classifier/3/\\n"), "--wait", "--timeout", "60s")',
            # --reset-then-reuse-values with --set-string (a string, as the schema wants)
            'kl.helm(api, "upgrade", "ranker", str(CHART), "-n", namespace, "--reset-then-reuse-values", '
            '"--set-string", "model.version=3", "--set", "model.uri=s3://models/sentiment-classifier/3/", "--wait")',
        ],
        "wrong": [  # only the new values: the upgrade starts again from the chart's defaults (environment default)
            'kl.helm(api, "upgrade", "ranker", str(CHART), "-n", namespace, "-f", values_file('
            '"model:\\n  version: \\"3\\"\\n  uri: s3://models/sentiment-classifier/3/\\n"), "--wait", "--timeout", "60s")',
            # version: 3 unquoted is a number: the schema refuses the upgrade
            'kl.helm(api, "upgrade", "ranker", str(CHART), "-n", namespace, "-f", DEV, "-f", values_file('
            '"model:\\n  version: 3\\n  uri: s3://models/sentiment-classifier/3/\\n"), "--wait", "--timeout", "60s")',
            # the ConfigMap edited behind Helm's back
            'kl.kubectl(api, "patch", "configmap", "ranker-model-server", "-n", namespace, "-p", '
            '\'{"data": {"MODEL_URI": "s3://models/sentiment-classifier/3/", "MODEL_VERSION": "3"}}\')',
        ],
    },
    "05.rollback": {
        "right": [  # rollback with no revision: the previous one, 2
            'kl.helm(api, "rollback", "translator", "-n", namespace, "--wait", "--timeout", "60s")',
            # rolled forward: an upgrade with staging's values renders revision 2's manifest again
            'kl.helm(api, "upgrade", "translator", str(CHART), "-n", namespace, "-f", STAGING, "--wait", "--timeout", "60s")',
        ],
        "wrong": [  # the Deployment undone with kubectl: Helm still records revision 3 as deployed
            'kl.kubectl(api, "rollout", "undo", "deployment/translator-model-server", "-n", namespace)',
            # back to revision 1 (dev), not the staging release that worked
            'kl.helm(api, "rollback", "translator", "1", "-n", namespace, "--wait", "--timeout", "60s")',
            # uninstalled and installed again: history gone
            'kl.helm(api, "uninstall", "translator", "-n", namespace, "--wait")\n'
            'kl.helm(api, "install", "translator", str(CHART), "-n", namespace, "-f", STAGING, "--wait", "--timeout", "60s")',
        ],
    },
    "05.existing-secret": {
        "right": [  # the Secret's name in a values file, `required` in the template
            'kl.helm(api, "install", "reranker", chart_copy(BY_NAME), "-n", namespace, "-f", '
            'values_file("existingSecret: hf-token\\n"), "--wait", "--timeout", "60s")',
        ],
        "wrong": [  # the token read and passed with --set: a literal env value, kept in the release
            'kl.helm(api, "install", "reranker", chart_copy("        env: [{name: HF_TOKEN, value: {{ .Values.hfToken | '
            'quote }}}]\\n"), "-n", namespace, "--set", f"hfToken={token(api, namespace)}", "--wait", "--timeout", "60s")',
            # the right template, and the token passed along "just in case": the pods read the Secret, the values keep it
            'kl.helm(api, "install", "reranker", chart_copy(BY_NAME), "-n", namespace, "--set", "existingSecret=hf-token", '
            '"--set-string", f"hfToken={token(api, namespace)}", "--wait", "--timeout", "60s")',
            # a Secret the chart makes from --set-string: the pods read a Secret, the release keeps the value
            'kl.helm(api, "install", "reranker", chart_copy("        env: [{name: HF_TOKEN, valueFrom: {secretKeyRef: '
            '{name: reranker-token, key: token}}}]\\n", "apiVersion: v1\\nkind: Secret\\nmetadata: {name: reranker-token}\\n'
            'stringData: {token: {{ .Values.hfToken | quote }}}\\n"), "-n", namespace, "--set-string", '
            'f"hfToken={token(api, namespace)}", "--wait", "--timeout", "60s")',
        ],
    },
    "05.helm-test": {
        "right": [  # dev's values again (replicaCount 1), then the test
            'kl.helm(api, "upgrade", "classifier", str(CHART), "-n", namespace, "-f", DEV, "--wait", "--timeout", "60s")\n'
            'kl.helm(api, "test", "classifier", "-n", namespace, "--timeout", "60s")',
        ],
        "wrong": [  # scaled with kubectl: the test passes, the release still says 0 replicas
            'kl.kubectl(api, "scale", "deployment/classifier-model-server", "--replicas=1", "-n", namespace)\n'
            'kl.rollout(api, "Deployment", "classifier-model-server", namespace, timeout=30)\n'
            'kl.helm(api, "test", "classifier", "-n", namespace, "--timeout", "60s")',
            # the test run again without a repair: it fails
            'kl.helm(api, "test", "classifier", "-n", namespace, "--timeout", "60s", check=False)',
        ],
    },
}
