"""connect(): one ApiClient for the embedded cluster or any kubeconfig context (kind, minikube, cloud)."""
from __future__ import annotations

from pathlib import Path

from . import settings
from ._k8s.client import answering
from .errors import ClusterUnavailable

__all__ = ["connect"]


def connect(context: str | None = None, kubeconfig: str | Path | None = None,
            cluster: str | None = None, timeout: float = 5):
    """Return a `kubernetes.client.ApiClient` for a live cluster, checked with a /version call.

    Which cluster, first match wins:
      1. `kubeconfig` and/or `context` arguments (any cluster: kind, minikube, EKS/GKE/AKS...);
      2. environment KUBELAB_KUBECONFIG / KUBELAB_CONTEXT (so notebooks run unchanged elsewhere);
      3. the embedded cluster named `cluster`, or KUBELAB_CLUSTER, or "kubelab".
    """
    from kubernetes import config

    from .cluster.local import DEFAULT_NAME, LocalCluster

    env = settings.current()
    if not cluster:  # an explicit embedded cluster wins over the environment
        kubeconfig = kubeconfig or env.kubeconfig
        context = context or env.context
    if kubeconfig or context:
        where = f"context {context or '(current)'} of {kubeconfig or 'the default kubeconfig'}"
        fix = "check the context name with `kubectl config get-contexts` and that the cluster is up"
        try:
            api = config.new_client_from_config(str(kubeconfig) if kubeconfig else None, context=context)
        except Exception as err:
            raise ClusterUnavailable(f"cannot load {where}: {err}", fix) from None
        api.kubelab_kubeconfig, api.kubelab_context = (str(kubeconfig) if kubeconfig else None), context
        return answering(api, where, fix, timeout)
    local = LocalCluster(cluster or env.cluster or DEFAULT_NAME)
    if not local.kubeconfig.is_file():
        flag = "" if local.name == DEFAULT_NAME else f" --name {local.name}"
        raise ClusterUnavailable(f"cluster not running: the embedded cluster {local.name!r} has not been started",
                                 f"run `kubelab cluster up{flag}` (or pass context=... to use another cluster)")
    return local.connect(timeout)
