"""A model server's simulated load, as the per-pod queue metric the real server exports. The embedded cluster's pods
run nothing, so the load is set, not measured: the learner (or a test) sets the number of waiting requests of a
Deployment, and the cluster exports it split over the Deployment's ready pods, so scaling out lowers each pod's value
(and not their sum). The metric is the one the Deployment's model server exports:

- vLLM (the default): `vllm:num_requests_waiting` (a gauge, "Number of requests waiting to be processed.", labels
  model_name and engine; vllm-project/vllm, vllm/v1/metrics/loggers.py). model_name is the Deployment's name.
- Triton Inference Server (an image `.../tritonserver`): `nv_inference_pending_request_count` (a gauge,
  "Instantaneous number of pending requests awaiting execution per-model.", labels model and version; Triton's
  metrics endpoint, as printed in triton-inference-server/tensorrtllm_backend README.md). model is the model the
  container loads (`--load-model=NAME`), else the Deployment's name; version "1".

    set_load(api, "serving", "llm", 12)     # annotation kubelab.io/simulated-load: "12" on the Deployment
    # 3 ready pods -> vllm:num_requests_waiting{namespace="serving", pod="llm-...-a", model_name="llm", engine="0",
    #                 job="model-server", simulated="true"} 4   (one series per ready pod)
    # no ready pod -> one series without a pod label, value 12: the requests wait in front of the model server
    #                 (at its gateway), so a scaler still sees them at zero replicas
    set_load(api, "serving", "llm", None)   # the annotation removed: no series

Every series carries simulated="true" and job="model-server" (the exporter that serves it is scraped with
honor_labels). `sum(vllm:num_requests_waiting{namespace=..., model_name=...})` is the set load whatever the replicas;
`avg(...)` falls as replicas become ready.

`LoadSource` keeps what the series need in watch caches: the Deployments that carry the annotation (a watch of all
Deployments that keeps only those), and, for each of them, a watch of its own pods (its namespace and selector), cut
to name and readiness. Pods of other workloads are never held, so the cost on a 10,000-pod cluster is that of the
annotated Deployments' pods. The GPU exporter's process serves it (kubelab.daemons.gpu_exporter), scraped every 2 s.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from .._k8s.raw import label_selector
from .images import parse_reference

__all__ = ["ANNOTATION", "HELP", "JOB", "LABELS", "METRIC", "SERVERS", "TRITON_METRIC", "LoadCollector", "LoadSource",
           "Server", "parse_load", "series", "set_load", "slim_deployment", "slim_pod"]

ANNOTATION = "kubelab.io/simulated-load"   # on a Deployment: its requests waiting, in total (a number >= 0)
METRIC = "vllm:num_requests_waiting"
HELP = ("Number of requests waiting to be processed. (simulated by kubelab: the Deployment's "
        "kubelab.io/simulated-load split over its ready pods)")
JOB = "model-server"
LABELS = ("namespace", "pod", "model_name", "engine", "job", "simulated")
TRITON_METRIC = "nv_inference_pending_request_count"


@dataclass(frozen=True)
class Server:
    """A model server's queue metric: its name, help, and the labels that name the model."""
    metric: str
    help: str
    model_label: str
    extra: tuple[tuple[str, str], ...]   # constant labels, e.g. (("engine", "0"),)

    @property
    def labels(self) -> tuple[str, ...]:
        return ("namespace", "pod", self.model_label, *(k for k, _ in self.extra), "job", "simulated")


SERVERS = {
    "vllm": Server(METRIC, HELP, "model_name", (("engine", "0"),)),
    "triton": Server(TRITON_METRIC, "Instantaneous number of pending requests awaiting execution per-model. "
                     "(simulated by kubelab: the Deployment's kubelab.io/simulated-load split over its ready pods)",
                     "model", (("version", "1"),)),
}

log = logging.getLogger("kubelab.model_load")


def parse_load(value) -> float | None:
    """The annotation's value as a number of waiting requests; None when absent or not a number >= 0 (pure)."""
    try:
        load = float(value)
    except (TypeError, ValueError):
        return None
    return load if load >= 0 and load == load and load != float("inf") else None


def _server(template: dict, name: str) -> tuple[str, str]:
    """(server, model) of a pod template (pure): Triton when a container runs a `tritonserver` image (its model from
    `--load-model`), else vLLM with the Deployment's name as the model."""
    for c in (template.get("spec") or {}).get("containers") or []:
        if parse_reference(str(c.get("image", "")))[1].rsplit("/", 1)[-1] == "tritonserver":
            words = [str(w) for w in (c.get("command") or []) + (c.get("args") or [])]
            for i, w in enumerate(words):
                if w.startswith("--load-model="):
                    return "triton", w.split("=", 1)[1]
                if w == "--load-model" and i + 1 < len(words):
                    return "triton", words[i + 1]
            return "triton", name
    return "vllm", name


def slim_deployment(obj: dict) -> dict | None:
    """A Deployment cut to what the series need; None (not kept) without a valid load annotation (pure)."""
    meta = obj.get("metadata") or {}
    load = parse_load((meta.get("annotations") or {}).get(ANNOTATION))
    if load is None:
        return None
    spec = obj.get("spec") or {}
    server, model = _server(spec.get("template") or {}, meta["name"])
    return {"namespace": meta.get("namespace", ""), "name": meta["name"], "load": load,
            "selector": label_selector(spec.get("selector")) or "", "server": server, "model": model}


def slim_pod(obj: dict) -> dict:
    """A pod cut to its name and whether it takes requests: Ready, and not being deleted (pure)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    return {"name": meta["name"], "ready": ready and not meta.get("deletionTimestamp")}


def series(deployments: list[dict], pods: dict[tuple[str, str], list[dict]]) -> list[tuple[str, dict[str, str], float]]:
    """[(metric, labels, value)] of each Deployment's queue metric for slim Deployments and {(namespace, name): their
    slim pods} (pure): the load split evenly over the ready pods, or one pod-less series holding all of it when none
    is ready."""
    out = []
    for dep in sorted(deployments, key=lambda d: (d["namespace"], d["name"])):
        server = SERVERS[dep.get("server", "vllm")]
        base = {"namespace": dep["namespace"], server.model_label: dep.get("model", dep["name"]), **dict(server.extra),
                "job": JOB, "simulated": "true"}
        ready = sorted(p["name"] for p in pods.get((dep["namespace"], dep["name"])) or [] if p["ready"])
        if not ready:
            out.append((server.metric, {**base, "pod": ""}, dep["load"]))
        for name in ready:
            out.append((server.metric, {**base, "pod": name}, dep["load"] / len(ready)))
    return out


def set_load(api, namespace: str, deployment: str, value: float | None) -> None:
    """Set the simulated load of `deployment` (its requests waiting, in total); None removes it (no series)."""
    from ..errors import UsageError
    if value is not None and parse_load(value) is None:
        raise UsageError(f"a load is a number of waiting requests >= 0, not {value!r}", "pass e.g. 12, 0 or None")
    from kubernetes import client

    from .._k8s.apierrors import call
    annotation = None if value is None else f"{float(value):g}"
    call(client.AppsV1Api(api).patch_namespaced_deployment, deployment, namespace,
         {"metadata": {"annotations": {ANNOTATION: annotation}}}, what=f"Deployment {namespace}/{deployment}",
         action="update")


class LoadSource:
    """The watch caches `series` reads: annotated Deployments, and one pod watch per annotated Deployment."""

    def __init__(self, api, start: bool = True):
        from .._k8s.informer import Informer
        self.api, self.lock = api, threading.RLock()
        self.pod_watches: dict[tuple[str, str], tuple[str, Informer]] = {}   # (ns, name) -> (selector, its pods)
        self.deployments = Informer(api, "/apis/apps/v1/deployments", name="loaded-deployments",
                                    transform=slim_deployment, lock=self.lock, on_add=self._watch,
                                    on_update=lambda _, dep: self._watch(dep), on_delete=self._unwatch, log=log)
        if start:
            self.deployments.start()

    def _watch(self, dep: dict) -> None:
        from .._k8s.informer import Informer
        key = (dep["namespace"], dep["name"])
        current = self.pod_watches.get(key)
        if current and current[0] == dep["selector"]:
            return
        if current:
            current[1].stop()
        pods = Informer(self.api, f"/api/v1/namespaces/{dep['namespace']}/pods", name=f"pods-{dep['name']}",
                        params={"labelSelector": dep["selector"]}, transform=slim_pod, lock=self.lock, log=log)
        self.pod_watches[key] = (dep["selector"], pods.start())

    def _unwatch(self, dep: dict) -> None:
        current = self.pod_watches.pop((dep["namespace"], dep["name"]), None)
        if current:
            current[1].stop()

    def synced(self) -> bool:
        return self.deployments.synced.is_set() and all(w.synced.is_set() for _, w in self.pod_watches.values())

    def sample(self) -> list[tuple[str, dict[str, str], float]]:
        """The series now, from the caches (no API call)."""
        with self.lock:
            deployments = self.deployments.snapshot()
            pods = {key: w.snapshot() for key, (_, w) in self.pod_watches.items()}
        return series(deployments, pods)

    def stop(self) -> None:
        self.deployments.stop()
        with self.lock:
            for _, w in self.pod_watches.values():
                w.stop()


class LoadCollector:
    """A prometheus_client collector of `source`'s series (each scrape reads the caches)."""

    def __init__(self, source: LoadSource):
        self.source = source

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily
        families = {s.metric: (s, GaugeMetricFamily(s.metric, s.help, labels=s.labels)) for s in SERVERS.values()}
        for metric, labels, value in self.source.sample():
            server, family = families[metric]
            family.add_metric([labels[k] for k in server.labels], value)
        for _, family in families.values():
            yield family
