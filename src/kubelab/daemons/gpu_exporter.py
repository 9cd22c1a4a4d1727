"""A DCGM-format GPU exporter, served as the `kubelab-gpu-exporter` process (console script): NVML on a machine with
a GPU, otherwise the embedded cluster's simulated GPUs, in dcgm-exporter's names (`kubelab.gpu.exporter.series`).
The simulated GPUs are read from watch caches of the nodes, the GPU pods, the ResourceClaims and ResourceSlices
(`watch_caches`), never listed per scrape."""
from __future__ import annotations

import logging
import sys

from ..gpu.exporter import HELP, LABELS, series
from . import exporter_arguments, sleep_forever

__all__ = ["GpuCollector", "main", "watch_caches"]

log = logging.getLogger("kubelab.gpu_exporter")


class GpuCollector:
    """A prometheus_client collector that samples `source` (an NvmlSource or SimulatedSource) on each scrape."""

    def __init__(self, source):
        self.source = source

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        try:
            rows = self.source.sample()
        except Exception as err:  # the API server restarting: this scrape has no GPU series, the next one will
            print(f"sampling {self.source.name} failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            rows = []
        for metric, points in series(rows).items():
            family = GaugeMetricFamily(metric, HELP[metric], labels=LABELS)
            for labels, value in points:
                family.add_metric([labels[k] for k in LABELS], value)
            yield family


def watch_caches(api) -> dict:
    """One watch cache (an Informer, started) of each of what the simulated GPUs read (gpu.simulated.WATCHES), each
    keeping only its fields: a sample reads them, not the API."""
    from .._k8s.informer import Informer
    from ..gpu.simulated import WATCHES

    return {name: Informer(api, path, name=name, params=params, transform=transform,
                           absent_ok=name.startswith("resource"), log=log).start()   # DRA may not be served
            for name, (path, params, transform) in WATCHES.items()}


def _source(kubeconfig: str | None, context: str | None):
    from ..gpu.nvml import NvmlSource

    nvml = NvmlSource()
    if nvml.available():
        return nvml
    from kubernetes import config

    from ..gpu.simulated import SimulatedSource
    api = config.new_client_from_config(kubeconfig, context=context)
    return SimulatedSource(api, watch_caches(api))


def main(argv: list[str] | None = None) -> int:
    from prometheus_client import start_http_server
    from prometheus_client.core import REGISTRY

    args = exporter_arguments("kubelab-gpu-exporter", __doc__.split("\n")[0], 9400, argv)
    source = _source(args.kubeconfig, args.context)
    REGISTRY.register(GpuCollector(source))
    if args.kubeconfig:  # the embedded cluster's simulated model-server load (kubelab.cluster.model_load), beside it
        from kubernetes import config

        from ..cluster.model_load import LoadCollector, LoadSource
        REGISTRY.register(LoadCollector(LoadSource(config.new_client_from_config(args.kubeconfig,
                                                                                 context=args.context))))
    start_http_server(args.port, addr=args.address)
    print(f"serving {source.name} GPU telemetry in dcgm-exporter format on http://{args.address}:{args.port}/metrics",
          flush=True)
    sleep_forever()


if __name__ == "__main__":
    sys.exit(main())
