"""Exercises of notebooks/00-start-here.ipynb: warm-ups that read the cluster and write to it, from the notebook
or from a terminal with kubectl (a label, a ConfigMap, a number read from the API, a pod replaced by its
Deployment, the node a pod runs on)."""
from __future__ import annotations

import json
from types import SimpleNamespace

from .._k8s.names import is_gpu_resource
from .._k8s.quantity import qty
from .._k8s.raw import is_ready
from ..grading.engine import Missing, Part, client, evaluate, read, run
from ..manifests import apply
from ..wait import pod_ready, rollout
from . import exercise

__all__: list[str] = []  # exercises register themselves; nothing here is called by name

IMAGE = "nginx:1.27-alpine"


@exercise("00.label-namespace", "Label your namespace for the cost report", objectives=(1,), hints=(
    "a label is a key=value pair in metadata.labels; the report selects with `kubectl get namespaces -l team=fine-tuning`",
    "`kubectl label namespace <ns> team=fine-tuning` (add --overwrite to change a label that is already there)",
))
def label_namespace(api, ns):
    what = f"Namespace {ns!r}"
    fetch = lambda: read(lambda: client(api, "CoreV1Api").read_namespace(ns).metadata, what)

    def problem(meta) -> str:
        labels, notes = meta.labels or {}, meta.annotations or {}
        if "team" in labels:
            return f"{what} is labelled team={labels['team']}, not team=fine-tuning"
        if "team" in notes:   # the look-alike: `kubectl annotate` stores the same words where no selector looks
            return f"{what} has an annotation team, not a label: `kubectl get namespaces -l team=fine-tuning` does not find it"
        return f"{what} has no label team (its labels: {', '.join(sorted(labels)) or 'none'})"

    parts = [Part(lambda meta: (meta.labels or {}).get("team") == "fine-tuning", problem,
                  f"`kubectl label namespace {ns} team=fine-tuning`", static=True)]
    return evaluate("label-namespace", fetch, parts, f"{what} is labelled team=fine-tuning")


SETTINGS = {"EPOCHS": "3", "LEARNING_RATE": "0.001"}


@exercise("00.configmap-kubectl", "Store the trainer's settings in a ConfigMap, with kubectl", objectives=(1, 2),
          hints=(
    "one `--from-literal=KEY=VALUE` per key: `--from-literal=EPOCHS=3 --from-literal=LEARNING_RATE=0.001`",
    "`kubectl create configmap trainer-settings --from-literal=EPOCHS=3 --from-literal=LEARNING_RATE=0.001 -n <ns>`; "
    "to start over: `kubectl delete configmap trainer-settings -n <ns>`",
))
def configmap_kubectl(api, ns):
    what = "ConfigMap 'trainer-settings'"
    fetch = lambda: read(lambda: client(api, "CoreV1Api").read_namespaced_config_map("trainer-settings", ns).data
                         or {}, what, ns)

    def problem(data) -> str:   # ConfigMap values are configuration, never secret: they may be shown
        missing = [k for k in SETTINGS if k not in data]
        wrong = [f"{k}={data[k]!r}" for k in SETTINGS if k in data and data[k] != SETTINGS[k]]
        said = [f"no key {', '.join(missing)} (keys: {', '.join(sorted(data)) or 'none'})"] if missing else []
        return f"{what} has " + "; ".join(said + ([f"{', '.join(wrong)}"] if wrong else []))

    parts = [Part(lambda data: all(data.get(k) == v for k, v in SETTINGS.items()), problem,
                  "two keys, each with its own --from-literal: EPOCHS=3 and LEARNING_RATE=0.001", static=True)]
    return evaluate("configmap-kubectl", fetch, parts, f"{what} holds EPOCHS=3 and LEARNING_RATE=0.001")


def gpu_nodes(api) -> int:
    """The API's count: nodes whose allocatable resources include a GPU (nvidia.com/gpu or a MIG device) above 0."""
    nodes = client(api, "CoreV1Api").list_node().items
    return sum(any(is_gpu_resource(k) and qty(v) > 0 for k, v in (n.status.allocatable or {}).items()) for n in nodes)


@exercise("00.count-gpu-nodes", "Count the GPU nodes and write the number where the check reads it",
          objectives=(4,), hints=(
    "a GPU node offers a GPU to pods: its allocatable resources list nvidia.com/gpu or a MIG device "
    "(nvidia.com/mig-...) above 0; `kl.nodes(api)` has them in the column gpu_allocatable; "
    "`kubectl get nodes -L nvidia.com/gpu.count` shows the GPUs per node",
    "count nodes, not GPUs or pools; then `kubectl create configmap answers --from-literal=gpu-nodes=<the number> -n <ns>` "
    "(to change it: `kubectl delete configmap answers -n <ns>` and create it again)",
))
def count_gpu_nodes(api, ns):
    what = "ConfigMap 'answers'"

    def fetch():
        data = read(lambda: client(api, "CoreV1Api").read_namespaced_config_map("answers", ns).data or {}, what, ns)
        return SimpleNamespace(said=(data.get("gpu-nodes") or "").strip(), has=("gpu-nodes" in data),
                               keys=sorted(data), truth=read(lambda: gpu_nodes(api), "the cluster's nodes"))

    def problem(o) -> str:
        if not o.has:
            return f"{what} has no key gpu-nodes (keys: {', '.join(o.keys) or 'none'})"
        if not o.said.isdigit():
            return f"{what} says gpu-nodes is {o.said!r}, not a whole number"
        # The message must not give the number away: it says which way the count is off.
        return (f"{what} says gpu-nodes is {o.said}: too {'many' if int(o.said) > o.truth else 'few'} for the "
                "nodes that offer a GPU in the API")

    parts = [Part(lambda o: o.said.isdigit() and int(o.said) == o.truth, problem,
                  "count the nodes whose allocatable lists nvidia.com/gpu or nvidia.com/mig-... above 0",
                  static=True)]
    return evaluate("count-gpu-nodes", fetch, parts, f"{what} says gpu-nodes is the API's count")


ECHO = f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: echo, labels: {{app: echo}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: echo}}}}
  template:
    metadata: {{labels: {{app: echo}}}}
    spec:
      containers:
      - name: server
        image: {IMAGE}
        resources: {{requests: {{cpu: 100m, memory: 64Mi}}, limits: {{memory: 64Mi}}}}
"""
# What the pods were when the exercise started, on the Deployment itself (a Deployment made anew lacks it)
STARTED = "kubelab.io/practice-start"


def _current_replicaset(api, ns: str, dep):
    """The Deployment's ReplicaSet of its newest revision (the one its pods come from after a rollout)."""
    owned = [rs for rs in client(api, "AppsV1Api").list_namespaced_replica_set(ns).items
             if any(ref.uid == dep.metadata.uid for ref in rs.metadata.owner_references or [])]
    revision = lambda rs: int((rs.metadata.annotations or {}).get("deployment.kubernetes.io/revision", "0"))
    return max(owned, key=revision, default=None)


def _owned_pods(api, ns: str, rs_uid: str) -> list:
    pods = client(api, "CoreV1Api").list_namespaced_pod(ns, label_selector="app=echo").items
    return [p for p in pods if any(ref.uid == rs_uid for ref in p.metadata.owner_references or [])]


def _echo(api, ns):
    apply(api, ECHO, namespace=ns)
    rollout(api, "Deployment", "echo", ns, timeout=60, progress=False)
    apps = client(api, "AppsV1Api")
    rs = _current_replicaset(api, ns, apps.read_namespaced_deployment("echo", ns))
    pods = [p.metadata.name for p in _owned_pods(api, ns, rs.metadata.uid) if not p.metadata.deletion_timestamp]
    record = json.dumps({"replicaset": rs.metadata.name, "uid": rs.metadata.uid, "pods": sorted(pods)})
    apps.patch_namespaced_deployment("echo", ns, {"metadata": {"annotations": {STARTED: record}}})


@exercise("00.self-healing", "Delete a pod and watch its Deployment bring it back", objectives=(1, 5),
          setup=_echo, hints=(
    "the pod's name is in `kubectl get pods -l app=echo -n <ns>` (or kl.pods(api, namespace)); delete ONE pod, "
    "not the Deployment, and change nothing else",
    "`kubectl delete pod <one echo pod> -n <ns>`, then `kubectl get pods -l app=echo -n <ns> -w` "
    "(Ctrl-C ends the watch); if the Deployment was changed, run kl.practice.start(\"00.self-healing\", ...) again",
))
def self_healing(api, ns):
    what = "Deployment 'echo'"

    def fetch():
        dep = read(lambda: client(api, "AppsV1Api").read_namespaced_deployment("echo", ns), what, ns)
        note = (dep.metadata.annotations or {}).get(STARTED)
        if not note:
            raise Missing(f"{what} has no record of the exercise's start: it was made anew (deleted and created "
                          "again?), so no pod of it can be told apart as a replacement",
                          "run kl.practice.start(\"00.self-healing\", api, namespace) again, then delete one pod only")
        start = json.loads(note)
        current = _current_replicaset(api, ns, dep)
        pods = _owned_pods(api, ns, start["uid"])
        return SimpleNamespace(dep=dep, start=start, current=current.metadata.name if current else None,
                               current_uid=current.metadata.uid if current else None,
                               alive=[p for p in pods if not p.metadata.deletion_timestamp])

    kept = lambda o: [p.metadata.name for p in o.alive if p.metadata.name in o.start["pods"]]
    # a replacement is looked for only once a started pod was deleted and no rollout happened (parts 1 and 3)
    replacing = lambda o: o.current_uid == o.start["uid"] and len(kept(o)) < len(o.start["pods"])
    new_ready = lambda o: [p.metadata.name for p in o.alive if p.metadata.name not in o.start["pods"] and is_ready(p.status)]
    parts = [
        Part(lambda o: o.current_uid == o.start["uid"],
             lambda o: f"the pods of {what} now come from ReplicaSet {o.current}, not {o.start['replicaset']}: a rollout "
                       "(`rollout restart`, a changed template) replaced every pod, a restart rather than a repair",
             "run kl.practice.start(\"00.self-healing\", api, namespace) again and delete one pod only", static=True),
        Part(lambda o: o.dep.spec.replicas == 2,
             lambda o: f"{what} asks for {o.dep.spec.replicas} replicas, not 2", "leave spec.replicas at 2",
             static=True),
        Part(lambda o: len(kept(o)) < len(o.start["pods"]),
             lambda o: f"the pods of {what} are still the ones the exercise started ({', '.join(kept(o))}): none was "
                       "deleted", f"`kubectl get pods -l app=echo -n {ns}`, then `kubectl delete pod <one of them> -n {ns}`",
             static=True),
        Part(lambda o: not replacing(o) or (len(o.alive) == 2 and all(is_ready(p.status) for p in o.alive) and bool(new_ready(o))),
             lambda o: f"{sum(is_ready(p.status) for p in o.alive)} of 2 pods of ReplicaSet {o.start['replicaset']} are ready"
                       f" (new: {', '.join(new_ready(o)) or 'none yet'})",
             f"watch the ReplicaSet replace it: `kubectl get pods -l app=echo -n {ns} -w`"),
    ]
    return run("self-healing", fetch, parts, f"{what} replaced a deleted pod: same ReplicaSet, a new name, 2 ready",
               timeout=20)


SAMPLER = f"""
apiVersion: v1
kind: Pod
metadata: {{name: sampler, labels: {{app: sampler}}}}
spec:
  containers:
  - name: sampler
    image: {IMAGE}
    resources: {{requests: {{cpu: 100m, memory: 64Mi}}, limits: {{memory: 64Mi}}}}
"""


def _sampler(api, ns):
    apply(api, SAMPLER, namespace=ns)
    pod_ready(api, "sampler", ns, timeout=60, progress=False)


@exercise("00.pod-node", "Find the node the sampler runs on and label the pod with it", objectives=(5,),
          setup=_sampler, hints=(
    "the NODE column of `kubectl get pod sampler -o wide -n <ns>`, or the column node of kl.pods(api, namespace), "
    "or spec.nodeName of the Pod object",
    "`kubectl label pod sampler node=<that node> -n <ns>` (--overwrite to change it)",
))
def pod_node(api, ns):
    what = "Pod 'sampler'"
    fetch = lambda: read(lambda: client(api, "CoreV1Api").read_namespaced_pod("sampler", ns), what, ns)

    def problem(pod) -> str:
        labels, notes = pod.metadata.labels or {}, pod.metadata.annotations or {}
        if "node" in labels:   # the message never names the right node: the exercise is to find it
            return f"{what} is labelled node={labels['node']}, but it runs on another node"
        if "node" in notes:
            return f"{what} has an annotation node, not a label: `kubectl get pods -l node=...` does not find it"
        return f"{what} has no label node (its labels: {', '.join(f'{k}={v}' for k, v in sorted(labels.items()))})"

    parts = [
        Part(lambda pod: bool(pod.spec.node_name), f"{what} is not scheduled on a node yet",
             f"`kubectl describe pod sampler -n {ns}` shows why"),
        Part(lambda pod: (pod.metadata.labels or {}).get("node") == pod.spec.node_name, problem,
             f"`kubectl get pod sampler -o wide -n {ns}`, then `kubectl label pod sampler node=<NODE> -n {ns}`",
             static=True),
    ]
    return run("pod-node", fetch, parts, f"{what} is labelled with the node it runs on", timeout=5)

