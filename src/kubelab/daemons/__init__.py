"""The embedded cluster's Python processes, each a console script that `kubelab.cluster.components` names by its
executable: `kubelet` (kubelab-kubelet, the simulated kubelet's controller), `state_metrics`
(kubelab-state-metrics) and `gpu_exporter` (kubelab-gpu-exporter). The top floor: a daemon may import any package
of the library, and nothing imports a daemon. Each one reads the cluster through watches, never a full list per
request."""

__all__ = ["gpu_exporter", "kubelet", "state_metrics"]
