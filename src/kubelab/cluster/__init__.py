"""The embedded cluster and everything it is made of: building the pinned tools from their Go modules
(`build`), where things live on disk (`paths`), the node-pool file and the Node/ResourceSlice objects it
becomes (`pools`), the running cluster (`local.LocalCluster`: up, down, status, logs) and kubelab's own processes
beside the control plane (`components`: one declaration each, one supervisor), extra simulated
nodes added through the API (`simulated`), and the simulated kubelet that judges pod specs: its image
catalogue (`images`, cluster/images.yaml) and its rules (`kubelet`; the controller is kubelab.daemons.kubelet),
the OCI chart registry (`registry`) and Prometheus (`prometheus`). A new process of the cluster is one entry in
`components.DECLARED`.
The kwok Stages and the Go modules themselves live in the repository's cluster/ folder."""
import importlib

from .local import DEFAULT_NAME, LocalCluster

__all__ = ["DEFAULT_NAME", "LocalCluster", "build", "components", "images", "kubelet", "local", "paths", "pools",
           "prometheus", "registry", "simulated"]


def __getattr__(name):  # submodules on first use: pools loads pydantic, which `kubelab cluster env` never needs
    if name in ("build", "components", "images", "kubelet", "local", "paths", "pools", "prometheus", "registry",
                "simulated"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'kubelab.cluster' has no attribute {name!r}")


def __dir__():
    return __all__
