"""postgres without POSTGRES_PASSWORD: the entrypoint exits 1, CrashLoopBackOff."""
from ...grading.engine import Part
from ..base import DeploymentScenario
from ..checks import container
from ..scenario_registry import register

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
                               "authentication: anyone in the cluster may connect as any user",
                 "md5-auth": "an auth method without a password: the entrypoint still refuses to initialise "
                             "(it starts without a password only with trust)",
                 "literal-password": "a password written into the manifest: anyone who reads the Deployment "
                                     "reads it, and it is not the one in the Secret"}
    alternatives = {"password-file": "POSTGRES_PASSWORD_FILE pointing at the Secret mounted as a file (the "
                                     "image's documented alternative: its entrypoint's file_env reads it)"}

    def guard_parts(self, namespace):
        def env(s):
            return container(s.deployment, "postgres").get("env") or []

        def no_trust(s):
            return not any(e.get("name") == "POSTGRES_HOST_AUTH_METHOD" and e.get("value") == "trust" for e in env(s))

        def from_the_secret(s):
            # the password is the ticket's Secret: by secretKeyRef, or as a file of a volume made from it
            spec = s.deployment["spec"]["template"]["spec"]
            volumes = {v.get("name") for v in spec.get("volumes") or []
                       if (v.get("secret") or {}).get("secretName") == "feature-store-db"}
            mounts = [m.get("mountPath", "").rstrip("/") for m in container(s.deployment, "postgres").get("volumeMounts")
                      or [] if m.get("name") in volumes]
            for e in env(s):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef") or {}
                if e.get("name") == "POSTGRES_PASSWORD" and ref.get("name") == "feature-store-db":
                    return True
                if e.get("name") == "POSTGRES_PASSWORD_FILE" and any(
                        str(e.get("value", "")).startswith(m + "/") for m in mounts):
                    return True
            return False

        return [Part(no_trust, "the database starts with POSTGRES_HOST_AUTH_METHOD=trust: no password at all",
                     "give it the password from the Secret, keep authentication on"),
                Part(from_the_secret, "the database's password does not come from Secret feature-store-db (by "
                     "secretKeyRef, or as a mounted file named by POSTGRES_PASSWORD_FILE)",
                     "env POSTGRES_PASSWORD valueFrom secretKeyRef {name: feature-store-db, key: password}")]

    def wrong_trust_auth(self, api, namespace):
        from ... import manifests
        manifests.apply(api, self.manifests.replace(
            "value: features}", "value: features}\n        - {name: POSTGRES_HOST_AUTH_METHOD, value: trust}", 1),
            namespace=namespace)

    def _with(self, api, namespace, env: str, extra: str = ""):
        from ... import manifests
        last = "{name: POSTGRES_DB, value: features}"   # the container's last line: env, mounts and volumes follow
        manifests.apply(api, self.render(self.manifests, namespace).replace(last, last + env, 1) + extra,
                        namespace=namespace)

    def wrong_md5_auth(self, api, namespace):
        self._with(api, namespace, "\n        - {name: POSTGRES_HOST_AUTH_METHOD, value: md5}")

    def wrong_literal_password(self, api, namespace):
        self._with(api, namespace, "\n        - {name: POSTGRES_PASSWORD, value: typed-into-the-manifest}")

    def alt_password_file(self, api, namespace):
        self._with(api, namespace, "\n        - {name: POSTGRES_PASSWORD_FILE, value: /run/secrets/db/password}"
                   "\n        volumeMounts: [{name: db, mountPath: /run/secrets/db, readOnly: true}]"
                   "\n      volumes: [{name: db, secret: {secretName: feature-store-db}}]")
