"""dcgm-exporter: GPU metrics as NVIDIA's DCGM measures them on a real GPU node, read as Prometheus text
from its /metrics endpoint (directly, or through the API server's Service proxy)."""
from __future__ import annotations

import math
import urllib.error
import urllib.request
from datetime import datetime

from ..errors import KubelabError
from .schema import METRICS, now, pod_columns

__all__ = ["DcgmExporterSource", "parse_dcgm"]

def parse_dcgm(text: str, at: datetime | None = None) -> list[dict]:
    """Rows (one per GPU and host, and per MIG instance) from dcgm-exporter's Prometheus text; metrics other than METRICS are ignored."""
    from prometheus_client.parser import text_string_to_metric_families

    at = at or now()
    rows: dict[tuple, dict] = {}
    try:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name not in METRICS:
                    continue
                key = (s.labels.get("Hostname", ""), s.labels.get("UUID") or s.labels.get("gpu", ""),
                       s.labels.get("GPU_I_ID", ""))
                row = rows.setdefault(key, {
                    "time": at, "gpu": int(s.labels.get("gpu", -1)), "UUID": s.labels.get("UUID", ""),
                    "modelName": s.labels.get("modelName", ""), "Hostname": key[0],
                    "GPU_I_PROFILE": s.labels.get("GPU_I_PROFILE", ""), "GPU_I_ID": key[2], "_pods": [],
                    **{m: math.nan for m in METRICS}, "source": "dcgm-exporter",
                    # kubelab's exporter marks simulated GPUs (a real dcgm-exporter has no such label)
                    "simulated": s.labels.get("simulated") == "true"})
                row[s.name] = s.value
                row["_pods"].append(tuple(s.labels.get(k, "") for k in ("pod", "namespace", "container")))
    except ValueError as err:
        raise KubelabError(f"the dcgm-exporter metrics are not valid Prometheus text: {err}",
                           "point the source at a dcgm-exporter /metrics endpoint") from None
    for row in rows.values():
        row.update(pod_columns(row.pop("_pods")))
    return list(rows.values())


def _http_get(url: str, timeout: float) -> str:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read().decode()
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", None) or err
        raise KubelabError(f"cannot read dcgm-exporter metrics at {url}: {reason}",
                           "check the URL (dcgm-exporter serves http://<host>:9400/metrics) "
                           "and that it is reachable from here") from None


class DcgmExporterSource:
    """GPU metrics as a dcgm-exporter measures them (NVIDIA's DCGM, on a real GPU node)."""

    name = "dcgm-exporter"
    simulated = False

    def __init__(self, url: str, timeout: float = 5.0, fetch=None):
        self.url = url
        self._fetch = fetch or (lambda: _http_get(url, timeout))

    @classmethod
    def via_api_server(cls, api, namespace: str, service: str, port: int | str = 9400,
                       timeout: float = 5.0) -> "DcgmExporterSource":
        """A dcgm-exporter Service reached through the API server's service proxy (works from outside the cluster)."""
        from kubernetes import client

        def fetch() -> str:
            try:
                resp = client.CoreV1Api(api).connect_get_namespaced_service_proxy_with_path(
                    f"{service}:{port}", namespace, "metrics", _preload_content=False, _request_timeout=timeout)
            except Exception as err:  # ApiException or a connection error: the service is not reachable
                raise KubelabError(f"cannot reach the dcgm-exporter Service {namespace}/{service} through the "
                                   f"API server: {getattr(err, 'reason', None) or err}",
                                   "check that its pods are ready (kubectl get endpointslices)") from None
            return resp.data.decode()

        url = f"{api.configuration.host}/api/v1/namespaces/{namespace}/services/{service}:{port}/proxy/metrics"
        return cls(url, fetch=fetch)

    def sample(self) -> list[dict]:
        return parse_dcgm(self._fetch())

    def describe(self) -> str:
        return f"GPU telemetry from dcgm-exporter at {self.url}: measured by DCGM, not simulated"
