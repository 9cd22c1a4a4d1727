"""A Helm release whose upgrade failed (it changed the Deployment's selector, which is immutable): the
release is `failed`, the old revision's objects still run."""
from __future__ import annotations

import tempfile
from pathlib import Path

from ...grading.engine import Part
from ..checks import State, current_pods, deployment_parts, get, verify
from ..scenario_registry import Scenario, register

__all__ = ["HelmFailedUpgrade"]

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: chat-api\nversion: 0.1.0\nappVersion: \"1.0\"\n",
    "values.yaml": "replicas: 2\ntrack: stable\nimage: python:3.12-slim\n",
    "templates/deployment.yaml": """apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels: {app: {{ .Release.Name }}}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}, track: {{ .Values.track }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}, track: {{ .Values.track }}}
    spec:
      containers:
      - name: api
        image: {{ .Values.image }}
        command: [python, -m, http.server, "8000"]
        ports: [{name: http, containerPort: 8000}]
        readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 2}
""",
    "templates/service.yaml": """apiVersion: v1
kind: Service
metadata: {name: {{ .Release.Name }}}
spec:
  selector: {app: {{ .Release.Name }}}
  ports: [{name: http, port: 80, targetPort: http}]
""",
}
RELEASE = "chat-api"


def chart_dir() -> Path:
    """The scenario's chart, written to a fresh temporary folder (the chart is part of the scenario)."""
    root = Path(tempfile.mkdtemp(prefix="kubelab-exam-chart-")) / "chat-api"
    for name, text in CHART.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def _record(secret: dict) -> dict:
    """What Helm itself reads from one release Secret: its body (data.release: base64 of Helm's base64 of gzipped
    JSON) gives the revision and its status; the labels are only Helm's index, which anyone may write (a
    Secret relabelled or copied by hand). {"version", "status", "label"}: the body's, and the label's version."""
    import base64
    import gzip
    import json
    label = (secret["metadata"].get("labels") or {}).get("version", "")
    try:
        blob = base64.b64decode(base64.b64decode((secret.get("data") or {}).get("release", "")))
        body = json.loads(gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob)
        return {"version": str(body.get("version", "")), "status": (body.get("info") or {}).get("status", ""),
                "label": label}
    except (ValueError, TypeError, OSError):
        return {"version": "", "status": "unreadable", "label": label}


def _revisions(api, namespace: str) -> list[dict]:
    """The release's revisions as Helm records them (each Secret's body, not its labels), oldest first."""
    from kubernetes import client

    from ..._k8s import raw
    secrets = raw.items(client.CoreV1Api(api).list_namespaced_secret, namespace,
                        label_selector=f"owner=helm,name={RELEASE}")
    records = [_record(s) for s in secrets]
    return sorted(records, key=lambda r: (int(r["version"]) if r["version"].isdigit() else 0, r["label"]))


@register
class HelmFailedUpgrade(Scenario):
    name = "helm-failed-upgrade"
    title = "The model API's Helm release is `failed` after an upgrade"
    category = "helm"
    difficulty = 3
    ticket = ("`helm upgrade chat-api` to the canary track failed this morning and `helm list` shows the "
              "release as failed. The old pods still answer, but we cannot ship anything until the release "
              "is healthy again. Do not uninstall it: it serves traffic.")
    evidence = ("field is immutable", "spec.selector", "helm history", "UPGRADE FAILED")
    cause = ("revision 2 changed the Deployment's spec.selector (track: stable -> canary); a selector is "
             "immutable, so the API server refused the upgrade and Helm marked the revision failed")
    fix = ("`helm rollback chat-api 1` (a new revision, deployed, with the old selector); a fixed `helm upgrade` "
           "that keeps the selector works too")
    workload = ("deployment", RELEASE)
    wrong = {"delete-workload": "deleting the Deployment leaves a release that says deployed objects exist",
             "scale-to-zero": "zero replicas: no service, and the release is still failed",
             "uninstall": "uninstalling and installing again drops the history and the service in between",
             "delete-failed-revision": "deleting Helm's release Secret of revision 2 by hand hides the failure "
                                       "from `helm list` and rewrites history",
             "forged-revision": "a release Secret for revision 3 made by hand (revision 2's copied, labelled "
                                "deployed): `helm list` is fooled, Helm's record still says failed",
             "relabel-failed": "revision 2's Secret relabelled status=deployed with kubectl: the index lies, the "
                               "record does not",
             "force-replace": "`helm upgrade --force-replace` to the canary track: a replacement PUT still changes the "
                              "immutable selector, so revision 3 fails too"}
    check_timeout = 30.0
    manifests = ""   # a Helm release: inject installs the chart, then makes the failing upgrade

    def helm(self, api, *args: str, check: bool = True) -> str:
        from ... import tools
        return tools.helm(api, *args, check=check)

    def inject(self, api, namespace):
        chart = chart_dir()
        self.helm(api, "install", RELEASE, str(chart), "-n", namespace)
        # the failing upgrade, as the team ran it: refused by the API server (exit 1 is the point)
        self.helm(api, "upgrade", RELEASE, str(chart), "-n", namespace, "--set", "track=canary", check=False)

    def remove(self, api, namespace):
        self.helm(api, "uninstall", RELEASE, "-n", namespace, "--wait", "--ignore-not-found")

    def repair(self, api, namespace):
        self.helm(api, "rollback", RELEASE, "1", "-n", namespace)

    alternatives = {"fixed-upgrade": "`helm upgrade chat-api <chart> --set track=stable`: a new revision that keeps the selector"}

    def alt_fixed_upgrade(self, api, namespace):
        self.helm(api, "upgrade", RELEASE, str(chart_dir()), "-n", namespace, "--set", "track=stable")

    def wrong_uninstall(self, api, namespace):
        self.helm(api, "uninstall", RELEASE, "-n", namespace, "--wait")
        self.helm(api, "install", RELEASE, str(chart_dir()), "-n", namespace)

    def _secret(self, api, namespace, version: int) -> dict:
        import json

        from ... import tools
        return json.loads(tools.kubectl(api, "get", "secret", f"sh.helm.release.v1.{RELEASE}.v{version}", "-n",
                                        namespace, "-o", "json"))

    def wrong_forged_revision(self, api, namespace):
        from ... import manifests
        v2 = self._secret(api, namespace, 2)
        labels = {**v2["metadata"]["labels"], "status": "deployed", "version": "3"}
        manifests.apply(api, {"apiVersion": "v1", "kind": "Secret", "type": v2["type"], "data": v2["data"],
                              "metadata": {"name": f"sh.helm.release.v1.{RELEASE}.v3", "labels": labels}},
                        namespace=namespace)

    def wrong_relabel_failed(self, api, namespace):
        from ... import tools
        tools.kubectl(api, "label", "secret", f"sh.helm.release.v1.{RELEASE}.v2", "-n", namespace, "status=superseded",
                      "--overwrite")
        tools.kubectl(api, "label", "secret", f"sh.helm.release.v1.{RELEASE}.v1", "-n", namespace, "status=deployed",
                      "--overwrite")

    def wrong_force_replace(self, api, namespace):
        self.helm(api, "upgrade", RELEASE, str(chart_dir()), "-n", namespace, "--set", "track=canary",
                  "--force-replace", check=False)

    def wrong_delete_failed_revision(self, api, namespace):
        from ... import tools
        tools.kubectl(api, "delete", "secret", "-n", namespace, "-l", f"owner=helm,name={RELEASE},status=failed")

    def state(self, api, namespace):
        from kubernetes import client
        revs = _revisions(api, namespace)
        if not revs:
            from ...grading.engine import Missing
            raise Missing(f"Helm release {RELEASE!r} not found", "the release must stay installed: repair it")
        d = get(client.AppsV1Api(api).read_namespaced_deployment, RELEASE, namespace, what=f"Deployment {RELEASE!r}")
        return State(revisions=revs, deployment=d, pods=current_pods(api, namespace, d))

    def check(self, api, namespace):
        spec, live = deployment_parts(RELEASE, 2)
        def kept(s) -> bool:
            versions = [r["version"] for r in s.revisions]
            return (versions[:2] == ["1", "2"] and s.revisions[1]["status"] in ("failed", "superseded")
                    and len(set(versions)) == len(versions) and all(r["version"] == r["label"] for r in s.revisions))
        history = Part(kept, "the release's history no longer starts with revision 1 and the failed revision 2, "
                             "each recorded once by Helm (a Secret copied or relabelled by hand is not a revision)",
                       "repair the release with Helm (rollback or upgrade); do not delete, reinstall or edit its records")
        deployed = Part(lambda s: len(s.revisions) >= 3 and s.revisions[-1].get("status") == "deployed",
                        lambda s: f"the newest revision ({s.revisions[-1].get('version')}) is "
                                  f"{s.revisions[-1].get('status')!r}, not a new deployed revision",
                        "`helm history chat-api` shows the failure; `helm rollback` or a fixed upgrade makes a new one")
        return verify(self.name, lambda: self.state(api, namespace), spec=spec + [history, deployed], live=live,
                      timeout=self.check_timeout, success="the release is deployed again, its history kept")
