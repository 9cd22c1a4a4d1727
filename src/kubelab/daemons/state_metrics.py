"""kube-state-metrics' names for the embedded cluster, served as the `kubelab-state-metrics` process (console
script). The families are computed by `kubelab.observe.state_metrics` (pure); this module serves them."""
from __future__ import annotations

import argparse
import sys
import time

from ..observe.state_metrics import HELP, collect_families

__all__ = ["main"]


class _Collector:
    def __init__(self, api):
        self.api = api

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        try:
            families = collect_families(self.api)
        except Exception as err:  # the API server restarting: this scrape is empty, the next one will not be
            print(f"listing the API failed: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            return
        for name, points in families.items():
            keys = sorted({k for labels, _ in points for k in labels})
            if name.endswith("_total"):
                family = CounterMetricFamily(name.removesuffix("_total"), HELP[name], labels=keys)
            else:
                family = GaugeMetricFamily(name, HELP[name], labels=keys)
            for labels, value in points:
                family.add_metric([labels.get(k, "") for k in keys], value)
            yield family


def main(argv: list[str] | None = None) -> int:
    from kubernetes import config
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client import GC_COLLECTOR, PROCESS_COLLECTOR

    parser = argparse.ArgumentParser(prog="kubelab-state-metrics", description=__doc__.split("\n")[0])
    parser.add_argument("--kubeconfig")
    parser.add_argument("--context")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--address", default="127.0.0.1")
    args = parser.parse_args(argv)
    registry = CollectorRegistry()
    registry.register(PROCESS_COLLECTOR)
    registry.register(GC_COLLECTOR)
    registry.register(_Collector(config.new_client_from_config(args.kubeconfig, context=args.context)))
    start_http_server(args.port, addr=args.address, registry=registry)
    print(f"serving kube-state-metrics names on http://{args.address}:{args.port}/metrics", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
