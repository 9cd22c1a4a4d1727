"""The embedded cluster and everything it is made of: building the pinned tools from their Go modules
(`build`), where things live on disk (`paths`), the node-pool file and the Node/ResourceSlice objects it
becomes (`pools`), the running cluster (`local.LocalCluster`: up, down, status, logs) and extra simulated
nodes added through the API (`simulated`). A new component of the cluster (say Prometheus) goes here.
The kwok Stages and the Go modules themselves live in the repository's cluster/ folder."""
from .local import DEFAULT_NAME, LocalCluster

__all__ = ["DEFAULT_NAME", "LocalCluster"]
