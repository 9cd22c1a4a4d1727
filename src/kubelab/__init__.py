"""kubelab: the embedded Kubernetes cluster and the library the Kubernetes-for-ML course notebooks use.

    import kubelab as kl
    api = kl.connect()                              # the embedded cluster, or any kubeconfig context
    kl.lesson.start(api, "lesson-02")               # a fresh namespace + one line on what is simulated
    kl.apply(api, kl.render(TEMPLATE, replicas=3), namespace="lesson-02")
    kl.rollout(api, "Deployment", "web", "lesson-02")
    kl.pods(api, "lesson-02")                       # a pandas DataFrame

The learner's verbs live at the top level; the packages hold the rest, by role (see ARCHITECTURE.md):
cluster (the embedded cluster), observe (DataFrames), gpu (telemetry), viz (plots, widgets, timelines),
grading (checks, partial credit), course (lessons, sandboxes, the runner), cli. Everything loads on
first use, so the `kubelab` command starts fast.
"""
import importlib

from .connect import connect
from .errors import (ApiError, BinaryMissing, BuildError, CheckFailed, ClusterUnavailable, ConfigError, Conflict,
                     Forbidden, KubelabError, ManifestError, NotFound, PortInUse, RolloutFailed, UsageError, WaitTimeout)

# name -> module: the packages and modules a notebook reaches as kl.<name>
_MODULES = {
    "cluster": "cluster", "observe": "observe", "gpu": "gpu", "viz": "viz", "grading": "grading",
    "course": "course", "exam": "exam", "manifests": "manifests", "wait": "wait", "tools": "tools",
    "plots": "viz.plots", "widgets": "viz.widgets", "timeline": "viz.timeline", "metrics": "observe.metrics",
    "lesson": "course.learner.lesson", "sandbox": "course.isolation.sandbox", "pools": "cluster.pools", "practice": "practice", "batch": "batch",
}
# name -> (module, attribute): the learner's verbs
_SHORTCUTS = {
    "LocalCluster": ("cluster", "LocalCluster"),
    "apply": ("manifests", "apply"), "delete": ("manifests", "delete"), "render": ("manifests", "render"),
    "wait_for": ("wait", "wait_for"), "rollout": ("wait", "rollout"), "job_complete": ("wait", "job_complete"),
    "pod_ready": ("wait", "pod_ready"),
    "pods": ("observe", "pods"), "nodes": ("observe", "nodes"), "events": ("observe", "events"),
    "logs": ("observe", "logs"), "rollout_history": ("observe", "rollout_history"),
    "telemetry": ("gpu", "telemetry"), "promql": ("observe.prometheus", "promql"),
    "dashboard": ("viz.widgets", "dashboard"), "replica_slider": ("viz.widgets", "replica_slider"),
    "Timeline": ("viz.timeline", "Timeline"),
    "kubectl": ("tools", "kubectl"), "helm": ("tools", "helm"), "registry": ("tools", "registry"),
}


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f".{_MODULES[name]}", __name__)
    if name in _SHORTCUTS:
        module, attr = _SHORTCUTS[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'kubelab' has no attribute {name!r}")


__all__ = sorted(["connect", "ApiError", "BinaryMissing", "BuildError", "CheckFailed", "ClusterUnavailable",
                  "ConfigError", "Conflict", "Forbidden", "KubelabError", "ManifestError", "NotFound", "PortInUse",
                  "RolloutFailed", "UsageError", "WaitTimeout", *_MODULES, *_SHORTCUTS])


def __dir__():
    return __all__
