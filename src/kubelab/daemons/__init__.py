"""The embedded cluster's Python processes, each a console script that `kubelab.cluster.components` names by its
executable: `kubelet` (kubelab-kubelet, the simulated kubelet's controller), `state_metrics`
(kubelab-state-metrics) and `gpu_exporter` (kubelab-gpu-exporter). The top floor: a daemon may import any package
of the library, and nothing imports a daemon. Each one reads the cluster through watches, never a full list per
request."""

from __future__ import annotations

import argparse
import logging
import sys
import time

__all__ = ["exporter_arguments", "gpu_exporter", "kubelet", "sleep_forever", "state_metrics"]


def exporter_arguments(prog: str, description: str, port: int, argv: list[str] | None) -> argparse.Namespace:
    """An exporter's command line (--kubeconfig, --context, --port, --address), with logging to stderr set up."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--kubeconfig")
    parser.add_argument("--context")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(message)s")
    return args


def sleep_forever() -> None:
    """The main thread's part once the server and the watches run in theirs."""
    while True:
        time.sleep(3600)
