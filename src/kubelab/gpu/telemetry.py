"""GPU telemetry through one interface, with DCGM exporter field names and units.

    tel = kl.gpu.telemetry(api)          # Prometheus's DCGM series, else NVML here, else a dcgm-exporter in
                                         # the cluster, else simulated
    tel.describe()                       # which source, and whether its numbers are simulated
    tel.sample()                         # one row per GPU (COLUMNS)
    tel.collect(every=2, duration=20)    # a bounded series of samples

Sources: `PrometheusSource` (the DCGM series in the cluster's Prometheus: what dcgm-exporter, or the embedded
cluster's GPU exporter, left there), `NvmlSource` (a local NVIDIA GPU, through nvidia-ml-py), `DcgmExporterSource` (the
Prometheus text of a dcgm-exporter /metrics endpoint) and `SimulatedSource` (the simulated GPU nodes
of the embedded cluster, driven by the pods actually scheduled on them). Every row carries `source`
and `simulated`, so a simulated number is never shown as if measured.

"""
from __future__ import annotations

import pandas as pd

from .._k8s.apierrors import typed_errors
from ..errors import KubelabError, UsageError
from .dcgm import DcgmExporterSource
from .nvml import NO_GPU_FIX, NvmlSource
from .prometheus import PrometheusSource
from .schema import frame
from .simulated import SIMULATED_GPU_NODES, SimulatedSource

__all__ = ["DCGM_NAMES", "GpuTelemetry", "SOURCES", "find_dcgm_exporter", "telemetry"]

class GpuTelemetry:
    """One GPU telemetry source, whichever it is, returning DataFrames with COLUMNS."""

    def __init__(self, source):
        self.source = source

    @property
    def simulated(self) -> bool:
        return self.source.simulated

    def sample(self) -> pd.DataFrame:
        return frame(self.source.sample())

    def collect(self, every: float = 2.0, duration: float = 20.0) -> pd.DataFrame:
        """Samples at t = 0, every, 2*every ... up to `duration` s (metrics.sample's loop), as one DataFrame."""
        from ..observe import metrics

        return metrics.sample(self.sample, every=every, duration=duration).drop(columns="t")

    def describe(self) -> str:
        return self.source.describe()

    def __repr__(self) -> str:
        return f"<GpuTelemetry: {self.describe()}>"


SOURCES = ("auto", "prometheus", "nvml", "dcgm-exporter", "simulated")
DCGM_NAMES = ("dcgm-exporter", "nvidia-dcgm-exporter")


@typed_errors
def find_dcgm_exporter(api) -> list[DcgmExporterSource]:
    """dcgm-exporter Services of the cluster (by name or app label), each reached through the API server."""
    from kubernetes import client

    found = []
    for svc in client.CoreV1Api(api).list_service_for_all_namespaces().items:
        labels = svc.metadata.labels or {}
        if not ({svc.metadata.name, labels.get("app"), labels.get("app.kubernetes.io/name")} & set(DCGM_NAMES)):
            continue
        ports = svc.spec.ports or []
        port = next((p.port for p in ports if p.name in ("metrics", "gpu-metrics")), ports[0].port if ports else 9400)
        found.append(DcgmExporterSource.via_api_server(api, svc.metadata.namespace, svc.metadata.name, port))
    return found


def _reachable(source: DcgmExporterSource) -> bool:
    try:
        return bool(source.sample())
    except KubelabError:
        return False


def _prometheus(api, prometheus: str | None) -> tuple[PrometheusSource | None, str]:
    """The Prometheus of the cluster (or `prometheus`, a URL) when it has DCGM series; else (None, why)."""
    from ..observe.prometheus import prometheus_url

    try:
        url = prometheus or prometheus_url(api)
    except KubelabError as err:
        return None, f"no Prometheus ({err.problem})"
    prom = PrometheusSource(url)
    return (prom, "") if prom.available() else (None, f"no DCGM series in Prometheus at {url}")


@typed_errors
def telemetry(api, source: str = "auto", url: str | None = None, prometheus: str | None = None) -> GpuTelemetry:
    """GPU telemetry from the best source there is (source="auto"), or the one named.

    auto: the DCGM series in Prometheus when the cluster has one (the embedded cluster's, `prometheus`, or
    $KUBELAB_PROMETHEUS: what production dashboards read); else NVML when this machine has a GPU; else a
    dcgm-exporter (`url`, or a dcgm-exporter Service in the cluster that answers through the API server);
    else the cluster's simulated GPU nodes, read directly.
    `api` is the cluster to look in (kl.connect()); None only with source="nvml", a `url` or `prometheus`.
    """
    if source not in SOURCES:
        raise UsageError(f"unknown telemetry source {source!r}", f"use one of {', '.join(SOURCES)}")
    if url and source in ("auto", "dcgm-exporter"):
        return GpuTelemetry(DcgmExporterSource(url))
    tried = []
    if source in ("auto", "prometheus") and (api is not None or prometheus):
        prom, why = _prometheus(api, prometheus)
        if prom:
            return GpuTelemetry(prom)
        if source == "prometheus":
            raise KubelabError(f"no GPU telemetry in Prometheus: {why}",
                               "start the embedded cluster with monitoring (`kubelab cluster up`), or set "
                               "KUBELAB_PROMETHEUS to a Prometheus that scrapes dcgm-exporter")
        tried.append(why)
    if source in ("auto", "nvml"):
        nvml = NvmlSource()
        if nvml.available():
            return GpuTelemetry(nvml)
        tried.append(nvml.reason)
        if source == "nvml":
            raise KubelabError(nvml.reason, NO_GPU_FIX)
    if api is None:
        raise UsageError(f"no GPU telemetry source: {'; '.join(tried)}; and no cluster was given to look in",
                         "pass the cluster: telemetry(kl.connect())")
    if source in ("auto", "dcgm-exporter"):
        exporters = find_dcgm_exporter(api)
        for exporter in exporters:
            if _reachable(exporter):
                return GpuTelemetry(exporter)
        tried.append(f"{len(exporters)} dcgm-exporter Service(s) found, none answering" if exporters
                     else "no dcgm-exporter Service in the cluster")
    if source in ("auto", "simulated"):
        sim = SimulatedSource(api)
        if sim.available():
            return GpuTelemetry(sim)
        tried.append(f"no simulated GPU nodes ({SIMULATED_GPU_NODES})")
    raise KubelabError(f"no GPU telemetry source: {'; '.join(tried)}",
                       "run on a GPU machine, deploy dcgm-exporter, or use the embedded cluster's simulated GPU pools")

