"""The embedded cluster and everything it is made of: building the pinned tools from their Go modules
(`build`), where things live on disk (`paths`), the node-pool file and the Node/ResourceSlice objects it
becomes (`pools`), the running cluster (`local.LocalCluster`: up, down, status, logs), extra simulated
nodes added through the API (`simulated`), and the simulated kubelet that judges pod specs: its image
catalogue (`images`, cluster/images.yaml) and its marking controller (`kubelet`), and the OCI chart registry
(`registry`, the CNCF distribution registry). A new component of the cluster (say Prometheus) goes here.
The kwok Stages and the Go modules themselves live in the repository's cluster/ folder."""
import importlib

from .local import DEFAULT_NAME, LocalCluster

__all__ = ["DEFAULT_NAME", "LocalCluster", "build", "images", "kubelet", "local", "paths", "pools", "registry",
           "simulated"]


def __getattr__(name):  # submodules on first use: pools loads pydantic, which `kubelab cluster env` never needs
    if name in ("build", "images", "kubelet", "local", "paths", "pools", "registry", "simulated"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'kubelab.cluster' has no attribute {name!r}")


def __dir__():
    return __all__
