"""kubelab: the embedded Kubernetes cluster and the helpers the Kubernetes-for-ML course notebooks use.

    import kubelab as kl
    api = kl.connect()                       # the embedded cluster, or any kubeconfig context
    kl.lesson.start(api, "lesson-02")        # a fresh namespace + one line on what is simulated
    kl.apply(api, "manifests/", namespace="lesson-02")
    kl.rollout(api, "Deployment", "web", "lesson-02")
    kl.pods(api, "lesson-02")                # a pandas DataFrame

The data and plotting modules load on first use, so the `kubelab` command starts fast.
"""
import importlib

from .cluster import LocalCluster
from .connect import connect
from .errors import (BinaryMissing, BuildError, CheckFailed, ClusterUnavailable, ConfigError, Forbidden,
                     KubelabError, ManifestError, PortInUse, RolloutFailed, WaitTimeout)

_MODULES = {"manifests", "wait", "sandbox", "observe", "metrics", "plots", "gpu", "checks", "widgets",
            "lesson", "tools", "runner", "quantity", "pools", "build"}
_SHORTCUTS = {
    "apply": "manifests", "delete": "manifests",
    "wait_for": "wait", "rollout": "wait", "job_complete": "wait", "pod_ready": "wait",
    "pods": "observe", "nodes": "observe", "events": "observe", "logs": "observe",
    "rollout_history": "observe",
    "telemetry": "gpu",
    "dashboard": "widgets", "replica_slider": "widgets",
    "kubectl": "tools", "helm": "tools",
    "sandbox_for": ("sandbox", "sandbox"),
}


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f".{name}", __name__)
    target = _SHORTCUTS.get(name)
    if target:
        module, attr = target if isinstance(target, tuple) else (target, name)
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'kubelab' has no attribute {name!r}")


__all__ = ["connect", "LocalCluster", "KubelabError", "ClusterUnavailable", "BinaryMissing", "BuildError",
           "PortInUse", "ConfigError", "ManifestError", "Forbidden", "WaitTimeout", "RolloutFailed",
           "CheckFailed", *sorted(_MODULES), *sorted(_SHORTCUTS)]
