"""Exercises of notebooks/02-core-resources.ipynb: configuration, secrets, rolling updates, roll-backs, Services."""
from __future__ import annotations

from types import SimpleNamespace

from .. import grading
from ..grading.engine import Part, client, evaluate, read, run
from ..manifests import apply
from ..wait import rollout
from . import all_of, deployment, exercise

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

GOOD, BAD = "nginx:1.27-alpine", "nginx:1.27-alpne"   # BAD: a typo in the tag, so the pull fails


def _deployment(name: str, image: str, replicas: int, **extra) -> str:
    return deployment(name, image, replicas, labels=f", tier: {extra.get('tier', 'serving')}",
                      extra=f"        ports: [{{name: http, containerPort: {extra.get('port', 80)}}}]\n"
                            "        resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 128Mi}}\n")


@exercise("02.config-env", "Give the embedder its batch size from a ConfigMap", objectives=(1, 2), hints=(
    "the ConfigMap holds BATCH_SIZE: \"64\" (a string: ConfigMap values are strings); the container takes it "
    "with env: [{name: BATCH_SIZE, valueFrom: {configMapKeyRef: {name: embedder-config, key: BATCH_SIZE}}}] "
    "or envFrom: [{configMapRef: {name: embedder-config}}]",
    "`kubectl create configmap embedder-config --from-literal=BATCH_SIZE=64 -n <ns>`, then "
    "`kubectl set env deployment/embedder --from=configmap/embedder-config -n <ns>`",
))
def config_env(api, ns):
    what = "ConfigMap 'embedder-config'"
    fetch = lambda: read(lambda: client(api, "CoreV1Api").read_namespaced_config_map("embedder-config", ns).data or {},
                         what, ns)
    parts = [Part(lambda d: d.get("BATCH_SIZE") == "64",
                  lambda d: f"{what} has BATCH_SIZE {d['BATCH_SIZE']!r}" if "BATCH_SIZE" in d
                  else f"{what} has no key BATCH_SIZE (keys: {sorted(d) or 'none'})",
                  'data: {BATCH_SIZE: "64"}', static=True)]
    return all_of("config-env", lambda: evaluate("config-env", fetch, parts, f"{what} sets BATCH_SIZE to 64"),
                  lambda: grading.env_from(api, "embedder", ns, var="BATCH_SIZE", kind="configMap",
                                           name="embedder-config", key="BATCH_SIZE"))


@exercise("02.secret-env", "Hand the reranker its API token from a Secret, never as a literal", objectives=(2,),
          hints=(
    "create the Secret without printing the token: `kubectl create secret generic hf-token "
    "--from-literal=token=$(openssl rand -hex 16) -n <ns>`, or string_data in Python",
    "in the container: env: [{name: HF_TOKEN, valueFrom: {secretKeyRef: {name: hf-token, key: token}}}]; "
    "a `value:` would put the token into the Deployment, where every reader of Deployments sees it",
))
def secret_env(api, ns):
    return all_of("secret-env", lambda: grading.secret_has_keys(api, "hf-token", ns, keys=["token"]),
                  lambda: grading.env_from(api, "reranker", ns, var="HF_TOKEN", kind="secret", name="hf-token",
                                           key="token"))


def _ranker(api, ns):
    apply(api, _deployment("ranker", GOOD, 3), namespace=ns)


@exercise("02.rolling-update", "Roll the ranker out to nginx:1.28-alpine without losing a ready replica",
          objectives=(1,), setup=_ranker, hints=(
    "set spec.strategy.rollingUpdate.maxUnavailable: 0 (and maxSurge: 1), the image to nginx:1.28-alpine, "
    "and annotate the change: metadata.annotations: {kubernetes.io/change-cause: \"...\"}",
    "`kubectl patch deployment ranker -n <ns> -p '{\"spec\":{\"strategy\":{\"rollingUpdate\":"
    "{\"maxUnavailable\":0}}}}'`, then `kubectl set image deployment/ranker server=nginx:1.28-alpine -n <ns>` "
    "and `kubectl annotate deployment ranker kubernetes.io/change-cause=\"v2\" -n <ns>`",
))
def rolling_update(api, ns):
    what = "Deployment 'ranker'"
    fetch = lambda: read(lambda: client(api, "AppsV1Api").read_namespaced_deployment("ranker", ns), what, ns)

    def unavailable(d):
        ru = d.spec.strategy.rolling_update if d.spec.strategy else None
        return str(ru.max_unavailable) if ru and ru.max_unavailable is not None else "25%"

    parts = [
        Part(lambda d: unavailable(d) in ("0", "0%"), lambda d: f"{what} lets a rollout take {unavailable(d)} of its "
             "replicas out of service (maxUnavailable)", "set spec.strategy.rollingUpdate.maxUnavailable: 0"),
        Part(lambda d: [c.image for c in d.spec.template.spec.containers] == ["nginx:1.28-alpine"],
             lambda d: f"{what} runs {[c.image for c in d.spec.template.spec.containers]}",
             "set the container's image to nginx:1.28-alpine"),
        Part(lambda d: bool((d.metadata.annotations or {}).get("kubernetes.io/change-cause")),
             f"{what} has no kubernetes.io/change-cause annotation: `kubectl rollout history` cannot say why",
             "`kubectl annotate deployment ranker kubernetes.io/change-cause=\"v2: new model\" -n <ns>`"),
    ]
    return all_of("rolling-update",
                  lambda: evaluate("rolling-update", fetch, parts, f"{what} runs nginx:1.28-alpine, maxUnavailable 0"),
                  lambda: grading.deployment_ready(api, "ranker", ns, replicas=3))


def _scorer(api, ns):
    apply(api, _deployment("scorer", GOOD, 2), namespace=ns)
    rollout(api, "Deployment", "scorer", ns, timeout=60)
    apply(api, _deployment("scorer", BAD, 2), namespace=ns)


@exercise("02.rollback", "The scorer's new version does not start: roll it back", objectives=(1, 5),
          setup=_scorer, hints=(
    "look first: `kubectl rollout history deployment/scorer -n <ns>` and the new pods' events (the image)",
    "`kubectl rollout undo deployment/scorer -n <ns>` brings back the previous pod template as a new revision",
))
def rollback(api, ns):
    what = "Deployment 'scorer'"
    fetch = lambda: read(lambda: client(api, "AppsV1Api").read_namespaced_deployment("scorer", ns), what, ns)
    revision = lambda d: int((d.metadata.annotations or {}).get("deployment.kubernetes.io/revision", "0"))
    parts = [
        Part(lambda d: [c.image for c in d.spec.template.spec.containers] == [GOOD],
             lambda d: f"{what} runs {[c.image for c in d.spec.template.spec.containers]}",
             f"roll back to the revision that ran {GOOD}"),
        Part(lambda d: revision(d) >= 3, lambda d: f"{what} is at revision {revision(d)}: a roll-back is a new "
             "revision (3 here); a Deployment made anew starts again at 1 and has lost its history",
             "keep the Deployment and roll it back: `kubectl rollout undo`, not delete and create"),
    ]
    return all_of("rollback", lambda: evaluate("rollback", fetch, parts, f"{what} is back on {GOOD}"),
                  lambda: grading.deployment_ready(api, "scorer", ns, replicas=2))


def _tokenizer(api, ns):
    apply(api, _deployment("tokenizer", GOOD, 2, port=8080, tier="nlp"), namespace=ns)


@exercise("02.service", "Give the tokenizer's pods one stable address on port 80", objectives=(1, 2),
          setup=_tokenizer, hints=(
    "a Service `tokenizer` whose selector matches the pods' labels (app: tokenizer) and whose port 80 "
    "targets the containers' port: targetPort: http (the named port) or 8080",
    "`kubectl expose deployment tokenizer --name tokenizer --port 80 --target-port http -n <ns>`",
))
def service(api, ns):
    what = "Service 'tokenizer'"

    def fetch():
        svc = read(lambda: client(api, "CoreV1Api").read_namespaced_service("tokenizer", ns), what, ns)
        slices = client(api, "DiscoveryV1Api").list_namespaced_endpoint_slice(
            ns, label_selector="kubernetes.io/service-name=tokenizer").items
        ready = {e.addresses[0] for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready}
        ports = {(p.port, p.name) for s in slices for p in s.ports or []}
        return SimpleNamespace(svc=svc, ready=ready, ports={p for p, _ in ports})

    parts = [
        Part(lambda o: any(p.port == 80 for p in o.svc.spec.ports or []),
             lambda o: f"{what} listens on {[p.port for p in o.svc.spec.ports or []]}, not 80",
             "spec.ports: [{port: 80, targetPort: http}]", static=True),
        Part(lambda o: len(o.ready) == 2,
             lambda o: f"{what} has {len(o.ready)} ready endpoints; the tokenizer has 2 ready pods",
             "the selector must match the pods' labels: `kubectl get pods --show-labels -n <ns>`"),
        Part(lambda o: o.ports == {8080}, lambda o: f"the endpoints of {what} are on port(s) {sorted(o.ports)}; "
             "the pods listen on 8080", "targetPort: http (the container's named port) or 8080"),
    ]
    return run("service", fetch, parts, f"{what} sends port 80 to both tokenizer pods on 8080", timeout=10)

