"""Exercises of notebooks/05-helm.ipynb: install with values, upgrade with a values file, roll back, hand a
release a Secret by reference, make a failing `helm test` pass.

The checks read what Helm recorded (`helm history`, `helm get values/manifest`: status and revision numbers,
never the free-text description) next to what runs on the cluster, so a repair made with kubectl behind
Helm's back (the release still says otherwise) fails, and every helm command that leaves the right release
passes. Setups install the notebook's chart, notebooks/charts/model-server.
"""
from __future__ import annotations

import json
import secrets
from types import SimpleNamespace

import yaml

from .. import grading
from .._k8s import raw
from ..cluster.paths import repo_root
from ..errors import KubelabError
from ..grading.engine import Missing, Part, client, evaluate, read
from ..manifests import apply
from ..tools import helm
from . import all_of, exercise

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

WAIT_S = 8   # a failing check answers within this (a rollout of simulated pods takes a second or two)
BAD_IMAGE = ("--set", "image.repository=registry.invalid/ml/model-server", "--set", "image.tag=0.0",
             "--set-string", r"podAnnotations.kubelab\.io/simulate=ImagePullBackOff")


def _chart() -> str:
    return str(repo_root() / "notebooks" / "charts" / "model-server")


def _install(api, ns: str, release: str, *args: str, wait: bool = True) -> None:
    """`helm upgrade --install` of the lesson's chart (a revision more when the release exists)."""
    values = lambda env: ("-f", f"{_chart()}/values-{env}.yaml")
    args = tuple(a for x in args for a in (values(x[1:]) if x.startswith("@") else (x,)))  # "@dev": values-dev.yaml
    helm(api, "upgrade", "--install", release, _chart(), "--namespace", ns, *args,
         *(("--wait", "--timeout", "90s") if wait else ()))


def _history(api, ns: str, release: str) -> list[dict]:
    """`helm history` as records, oldest first: [] when the release does not exist."""
    try:
        out = helm(api, "history", release, "--namespace", ns, "-o", "json")
    except KubelabError:
        return []
    return sorted(json.loads(out or "[]"), key=lambda r: r["revision"])


def _release(api, ns: str, release: str) -> list[dict]:
    hist = _history(api, ns, release)
    if not hist:
        raise Missing(f"Helm release {release!r} not found in namespace {ns!r}",
                      f"`helm list -n {ns}`; install it: `helm install {release} charts/model-server -n {ns} ...`")
    return hist


def _manifest(api, ns: str, release: str, revision: int) -> str:
    return helm(api, "get", "manifest", release, "--namespace", ns, "--revision", str(revision))


def _values(api, ns: str, release: str, revision: int) -> dict:
    """The computed values of a revision (chart defaults merged with what it was given)."""
    return json.loads(helm(api, "get", "values", release, "--namespace", ns, "--revision", str(revision),
                           "--all", "-o", "json") or "{}")


def _deployment_in(manifest: str) -> dict:
    return next((d for d in yaml.safe_load_all(manifest) if isinstance(d, dict) and d.get("kind") == "Deployment"), {})


def _shape(dep: dict) -> tuple:
    """(replicas, images, environment label) of a Deployment as a dict."""
    spec = dep.get("spec") or {}
    tpl = spec.get("template") or {}
    return (spec.get("replicas"), [c.get("image") for c in (tpl.get("spec") or {}).get("containers") or []],
            ((tpl.get("metadata") or {}).get("labels") or {}).get("kubelab.io/environment"))


def _live(api, ns: str, name: str) -> dict:
    return raw.plain(read(lambda: client(api, "AppsV1Api").read_namespaced_deployment(name, ns),
                          f"Deployment {name!r}", ns))


# -- 05.install-values -----------------------------------------------------------------------------------
@exercise("05.install-values", "Install the embedder: staging values, 3 replicas, Python 3.13", objectives=(1, 3),
          hints=(
    "one command: `helm install embedder charts/model-server -n <ns> -f charts/model-server/values-staging.yaml "
    "--set replicaCount=3 --set image.tag=3.13-slim --wait` (--set wins over -f)",
    "a change made with kubectl after the install (scale, set image) is not in the release: Helm's next upgrade "
    "undoes it, or (Helm 4's server-side apply) refuses with a conflict; `helm upgrade` the release instead",
))
def install_values(api, ns):
    want = (3, ["python:3.13-slim"], "staging")
    name = "embedder-model-server"

    def fetch():
        hist = _release(api, ns, "embedder")
        last = hist[-1]
        rendered = _deployment_in(_manifest(api, ns, "embedder", last["revision"]))
        return SimpleNamespace(last=last, rendered=_shape(rendered), live=_shape(_live(api, ns, name)))

    said = lambda s: f"{s[0]} replica(s) of {', '.join(map(str, s[1]))}, environment {s[2]}"
    parts = [
        Part(lambda o: o.last["status"] == "deployed", lambda o: f"revision {o.last['revision']} of release "
             f"'embedder' is {o.last['status']}", "`helm status embedder -n <ns>` says why", static=True),
        Part(lambda o: o.rendered == want, lambda o: f"release 'embedder' renders {said(o.rendered)}; asked: "
             f"{said(want)}", "-f values-staging.yaml --set replicaCount=3 --set image.tag=3.13-slim", static=True),
        Part(lambda o: o.live == o.rendered, lambda o: f"Deployment {name!r} runs {said(o.live)} but the release "
             f"says {said(o.rendered)}: a change made behind Helm's back", "change the release, not the Deployment: "
             "`helm upgrade embedder ...`", static=True),
    ]
    return all_of("install-values",
                  lambda: evaluate("install-values", fetch, parts, f"release 'embedder' runs {said(want)}"),
                  lambda: grading.deployment_ready(api, name, ns, replicas=3, timeout=WAIT_S))


# -- 05.upgrade-values -----------------------------------------------------------------------------------
def _ranker(api, ns):
    _install(api, ns, "ranker", "@dev")


MODEL_URI = "s3://models/sentiment-classifier/3/"


@exercise("05.upgrade-values", "Upgrade the ranker to model version 3 with a values file, keeping dev's settings",
          objectives=(1, 3), setup=_ranker, hints=(
    "a values file holds only what changes: model: {version: \"3\", uri: \"s3://models/sentiment-classifier/3/\"} "
    "(quoted: the schema wants a string); `helm upgrade ranker charts/model-server -n <ns> "
    "-f charts/model-server/values-dev.yaml -f model-v3.yaml --wait`",
    "an upgrade that is given any values starts again from the chart's defaults: pass values-dev.yaml again, or "
    "--reuse-values (or --reset-then-reuse-values) with your file; `helm get values ranker --all -n <ns>` shows "
    "what the release has",
))
def upgrade_values(api, ns):
    name = "ranker-model-server"

    def fetch():
        last = _release(api, ns, "ranker")[-1]
        cm = read(lambda: client(api, "CoreV1Api").read_namespaced_config_map(name, ns), f"ConfigMap {name!r}", ns)
        return SimpleNamespace(last=last, values=_values(api, ns, "ranker", last["revision"]), live=cm.data or {})

    def kept(v: dict) -> list[str]:
        """dev's settings the upgrade lost."""
        return [f"{k} is {got!r}, dev has {want!r}" for k, got, want in (
            ("environment", v.get("environment"), "dev"), ("replicaCount", v.get("replicaCount"), 1),
            ("resources.requests.cpu", ((v.get("resources") or {}).get("requests") or {}).get("cpu"), "100m"))
            if got != want]

    model = lambda v: (str((v.get("model") or {}).get("version")), (v.get("model") or {}).get("uri"))
    parts = [
        Part(lambda o: o.last["revision"] >= 2 and o.last["status"] == "deployed",
             lambda o: f"release 'ranker' is at revision {o.last['revision']} ({o.last['status']}): not upgraded "
             "(yet)" if o.last["status"] == "deployed" else f"revision {o.last['revision']} of release 'ranker' is "
             f"{o.last['status']}", "`helm upgrade ranker ...`; `helm history ranker -n <ns>` shows what failed",
             static=True),
        Part(lambda o: model(o.values) == ("3", MODEL_URI), lambda o: "release 'ranker' has model version "
             f"{model(o.values)[0]} at {model(o.values)[1]}", f"model: {{version: \"3\", uri: {MODEL_URI}}}",
             static=True),
        Part(lambda o: not kept(o.values), lambda o: "the upgrade reset dev's values to the chart's defaults: "
             + "; ".join(kept(o.values)), "give values-dev.yaml again (before your file), or --reuse-values",
             static=True),
        Part(lambda o: o.live.get("MODEL_URI") == model(o.values)[1], lambda o: f"ConfigMap {name!r} has MODEL_URI "
             f"{o.live.get('MODEL_URI')}, the release {model(o.values)[1]}: a change made behind Helm's back",
             "upgrade with helm, not kubectl edit", static=True),
    ]
    return all_of("upgrade-values",
                  lambda: evaluate("upgrade-values", fetch, parts,
                                   "release 'ranker' serves model 3 with dev's settings"),
                  lambda: grading.deployment_ready(api, name, ns, replicas=1, timeout=WAIT_S))


# -- 05.rollback -----------------------------------------------------------------------------------------
def _translator(api, ns):
    _install(api, ns, "translator", "@dev")
    _install(api, ns, "translator", "@staging")
    _install(api, ns, "translator", "@staging", *BAD_IMAGE, wait=False)   # revision 3: an image that does not exist


@exercise("05.rollback", "The translator's last upgrade broke it: roll back to the staging release that worked",
          objectives=(3, 5), setup=_translator, hints=(
    "`helm history translator -n <ns>`: revision 2 is staging, revision 3 the bad image; "
    "`helm rollback translator 2 -n <ns> --wait` (or with no number: the previous revision)",
    "a rollback is a new revision with revision 2's manifest; `kubectl rollout undo` fixes the pods but leaves "
    "Helm's record on revision 3, which the next upgrade builds on",
))
def rollback(api, ns):
    name = "translator-model-server"

    def fetch():
        hist = _release(api, ns, "translator")
        last = hist[-1]
        good = _manifest(api, ns, "translator", 2) if any(r["revision"] == 2 for r in hist) else None
        return SimpleNamespace(last=last, deployed=[r["revision"] for r in hist if r["status"] == "deployed"],
                               same=good is not None and _manifest(api, ns, "translator", last["revision"]) == good,
                               live=_shape(_live(api, ns, name)))

    parts = [
        Part(lambda o: o.last["revision"] > 3 and o.deployed == [o.last["revision"]],
             lambda o: f"Helm's record: revision {o.last['revision']} is {o.last['status']}" + (
                 ", the bad upgrade" if o.last["revision"] == 3 else "") + (
                 " (release history begins again: it was uninstalled)" if o.last["revision"] < 3 else ""),
             "roll back with helm: `helm rollback translator 2 -n <ns> --wait`", static=True),
        Part(lambda o: o.same, lambda o: f"revision {o.last['revision']} does not run revision 2's manifest",
             "roll back to revision 2 (staging), the last one that worked", static=True),
        Part(lambda o: o.live[1] == ["python:3.12-slim"],
             lambda o: f"Deployment {name!r} runs {', '.join(map(str, o.live[1]))}",
             "roll back with helm so that the Deployment gets revision 2's image"),
    ]
    return all_of("rollback",
                  lambda: evaluate("rollback", fetch, parts, "release 'translator' is rolled back to revision 2"),
                  lambda: grading.deployment_ready(api, name, ns, replicas=2, timeout=WAIT_S))


# -- 05.existing-secret ----------------------------------------------------------------------------------
def _hf_token(api, ns):
    # A token nobody needs to see: the exercise is about never handing its value to Helm.
    apply(api, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hf-token"}, "type": "Opaque",
                "stringData": {"token": f"hf_{secrets.token_hex(16)}"}}, namespace=ns)


@exercise("05.existing-secret", "Give the reranker its Hugging Face token by naming the Secret, not by --set",
          objectives=(2, 3), setup=_hf_token, hints=(
    "in the copy's templates/deployment.yaml, under the server container: {{- with .Values.existingSecret }} "
    "env: [{name: HF_TOKEN, valueFrom: {secretKeyRef: {name: {{ . }}, key: token}}}] {{- end }}; "
    "then `helm install reranker <copy> -n <ns> --set existingSecret=hf-token --wait`",
    "the value Helm gets is the Secret's NAME; `helm get values reranker -n <ns>` shows all it keeps. A token "
    "given with --set stays in every revision's release Secret: if that happened, uninstall and rotate the token",
))
def existing_secret(api, ns):
    return all_of("existing-secret",
                  lambda: grading.helm_release_deployed(api, "reranker", ns),
                  lambda: grading.release_keeps_no_secret(api, "reranker", ns, secret="hf-token"),
                  lambda: grading.env_from(api, "reranker-model-server", ns, var="HF_TOKEN", kind="secret",
                                           name="hf-token", key="token", timeout=WAIT_S))


# -- 05.helm-test ----------------------------------------------------------------------------------------
def _classifier(api, ns):
    _install(api, ns, "classifier", "@dev", "--set", "replicaCount=0")   # someone "saved money" at night


@exercise("05.helm-test", "The classifier's helm test fails: repair the release until it passes", objectives=(3, 5),
          setup=_classifier, hints=(
    "`helm test classifier -n <ns>` fails, and `kubectl get pods,endpointslices -n <ns>` says why: the release "
    "runs 0 replicas, so its Service has no endpoint for the test's wget",
    "`helm upgrade classifier charts/model-server -n <ns> --reuse-values --set replicaCount=1 --wait`, then "
    "`helm test classifier -n <ns>` (the test result is recorded on the newest revision)",
))
def helm_test(api, ns):
    def fetch():
        last = _release(api, ns, "classifier")[-1]
        return SimpleNamespace(last=last, replicas=_shape(_deployment_in(
            _manifest(api, ns, "classifier", last["revision"])))[0] or 0)

    parts = [
        Part(lambda o: o.last["status"] == "deployed", lambda o: f"revision {o.last['revision']} of release "
             f"'classifier' is {o.last['status']}", "`helm history classifier -n <ns>`", static=True),
        Part(lambda o: o.replicas >= 1, lambda o: f"release 'classifier' (revision {o.last['revision']}) asks for "
             f"{o.replicas} replicas (a kubectl scale does not change the release, and Helm 4's next upgrade "
             "conflicts with it)", "scale with helm: `helm upgrade classifier ... --reuse-values --set replicaCount=1`",
             static=True),
    ]
    return all_of("helm-test",
                  lambda: evaluate("helm-test", fetch, parts, "release 'classifier' runs at least one replica"),
                  lambda: grading.helm_test_passed(api, "classifier", ns),
                  lambda: grading.deployment_ready(api, "classifier-model-server", ns, timeout=WAIT_S))
