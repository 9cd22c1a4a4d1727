"""kubelab: the embedded Kubernetes cluster and helpers for the Kubernetes-for-ML course.

    import kubelab as kl
    api = kl.connect()          # the embedded cluster, or any kubeconfig context
"""
from .cluster import LocalCluster
from .connect import connect
from .errors import BinaryMissing, BuildError, ClusterUnavailable, ConfigError, KubelabError, PortInUse

__all__ = ["connect", "LocalCluster", "KubelabError", "ClusterUnavailable", "BinaryMissing",
           "BuildError", "PortInUse", "ConfigError"]
