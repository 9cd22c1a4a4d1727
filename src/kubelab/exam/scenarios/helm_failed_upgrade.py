"""A Helm release whose upgrade failed (it changed the Deployment's selector, which is immutable): the
release is `failed`, the old revision's objects still run."""
from __future__ import annotations

import tempfile
from pathlib import Path

from ...grading.engine import Part
from ..checks import State, current_pods, deployment_parts, get, verify
from ..registry import Scenario, register

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


def _revisions(api, namespace: str) -> list[dict]:
    """Helm's release Secrets' labels (owner=helm, name, status, version); their data is never decoded."""
    from kubernetes import client

    from ..._k8s import raw
    secrets = raw.items(client.CoreV1Api(api).list_namespaced_secret, namespace,
                        label_selector=f"owner=helm,name={RELEASE}")
    return sorted((s["metadata"].get("labels") or {} for s in secrets), key=lambda lb: int(lb.get("version", "0")))


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
                                       "from `helm list` and rewrites history"}
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
        history = Part(lambda s: [r.get("version") for r in s.revisions][:2] == ["1", "2"]
                       and s.revisions[1].get("status") in ("failed", "superseded"),
                       "the release's history no longer starts with revision 1 and the failed revision 2",
                       "repair the release with Helm (rollback or upgrade); do not delete or reinstall it")
        deployed = Part(lambda s: len(s.revisions) >= 3 and s.revisions[-1].get("status") == "deployed",
                        lambda s: f"the newest revision ({s.revisions[-1].get('version')}) is "
                                  f"{s.revisions[-1].get('status')!r}, not a new deployed revision",
                        "`helm history chat-api` shows the failure; `helm rollback` or a fixed upgrade makes a new one")
        return verify(self.name, lambda: self.state(api, namespace), spec=spec + [history, deployed], live=live,
                      timeout=self.check_timeout, success="the release is deployed again, its history kept")
