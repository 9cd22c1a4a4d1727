"""postgres without POSTGRES_PASSWORD: the entrypoint exits 1, CrashLoopBackOff."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..registry import register

__all__ = ["MissingEnv"]

SECRET = """
apiVersion: v1
kind: Secret
metadata: {name: feature-store-db}
stringData: {password: "exam-only-not-a-real-password"}
---
"""
DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: feature-store}
spec:
  replicas: 1
  selector: {matchLabels: {app: feature-store}}
  template:
    metadata: {labels: {app: feature-store}}
    spec:
      containers:
      - name: postgres
        image: postgres:16
        ports: [{containerPort: 5432}]
        env:
        - {name: POSTGRES_USER, value: features}
        - {name: POSTGRES_DB, value: features}$more
"""
PASSWORD = """
        - name: POSTGRES_PASSWORD
          valueFrom: {secretKeyRef: {name: feature-store-db, key: password}}"""


@register
class MissingEnv(DeploymentScenario):
    name = "missing-env-var"
    title = "The feature store's database crashes on start"
    category = "startup"
    difficulty = 1
    ticket = ("The feature store (`feature-store`, a PostgreSQL) restarts over and over since we moved it to "
              "this namespace. Its password is in the Secret `feature-store-db` as before.")
    evidence = ("CrashLoopBackOff", "BackOff", "POSTGRES_PASSWORD", "spec.template.spec.containers[0].env",
                "superuser password is not specified")
    cause = ("the postgres entrypoint needs POSTGRES_PASSWORD to initialise the database; the Deployment "
             "does not set it, so it exits 1 (its log says so) and the kubelet backs off")
    fix = "add POSTGRES_PASSWORD from secretKeyRef feature-store-db/password to the container's env"
    deployment = "feature-store"
    manifests = SECRET + DEPLOYMENT.replace("$more", "")
    fixed = SECRET + DEPLOYMENT.replace("$more", PASSWORD)
    own_wrong = {"trust-auth": "POSTGRES_HOST_AUTH_METHOD=trust starts the database by switching off "
                               "authentication: anyone in the cluster may connect as any user"}

    def guard_parts(self, namespace):
        def no_trust(s):
            env = container(s.deployment, "postgres").get("env") or []
            return not any(e.get("name") == "POSTGRES_HOST_AUTH_METHOD" and e.get("value") == "trust" for e in env)
        return [Part(no_trust, "the database starts with POSTGRES_HOST_AUTH_METHOD=trust: no password at all",
                     "give it the password from the Secret, keep authentication on")]

    def wrong_trust_auth(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace(
            "value: features}", "value: features}\n        - {name: POSTGRES_HOST_AUTH_METHOD, value: trust}", 1),
            namespace=namespace)
