"""GPU telemetry read from Prometheus: the DCGM_FI_DEV_* series that dcgm-exporter (a real cluster's, through
kube-prometheus-stack) or kubelab's GPU exporter (the embedded cluster's) left there. The same path on a laptop
and on a production cluster; rows say source="prometheus" and are simulated where the series say
simulated="true"."""
from __future__ import annotations

import math

from ..errors import KubelabError
from .schema import METRICS, now, pod_columns

__all__ = ["PrometheusSource", "QUERY"]

QUERY = '{__name__=~"%s"}' % "|".join(METRICS)


class PrometheusSource:
    """The GPUs that Prometheus at `url` has DCGM series for (one instant query per sample)."""

    name = "prometheus"

    def __init__(self, url: str):
        self.url = url
        self._simulated: bool | None = None

    def _frame(self):
        from ..observe.prometheus import promql
        return promql(self.url, QUERY)

    def available(self) -> bool:
        """Prometheus answers and has DCGM series (not older than its 5-minute lookback)."""
        try:
            return not self._frame().empty
        except KubelabError:
            return False

    @property
    def simulated(self) -> bool:
        if self._simulated is None:
            self.sample()
        return bool(self._simulated)

    def sample(self) -> list[dict]:
        df = self._frame()
        at = now()
        rows: dict[tuple, dict] = {}
        for r in df.to_dict("records"):
            instance = r.get("GPU_I_ID") if isinstance(r.get("GPU_I_ID"), str) else ""
            key = (r.get("Hostname", ""), r.get("UUID") or r.get("gpu", ""), instance)
            profile = r.get("GPU_I_PROFILE") if isinstance(r.get("GPU_I_PROFILE"), str) else ""
            row = rows.setdefault(key, {
                "time": at, "gpu": int(r.get("gpu") or -1), "UUID": r.get("UUID", ""),
                "modelName": r.get("modelName", ""), "Hostname": key[0], "GPU_I_PROFILE": profile,
                "GPU_I_ID": instance, "_pods": [],
                **{m: math.nan for m in METRICS}, "source": self.name, "simulated": bool(r["simulated"])})
            row[r["__name__"]] = r["value"]
            # every metric's series name the pod (a MIG instance has no DCGM_FI_DEV_GPU_UTIL); pod_columns dedupes
            row["_pods"].append(tuple(r.get(k) if isinstance(r.get(k), str) else "" for k in ("pod", "namespace", "container")))
        for row in rows.values():
            row.update(pod_columns(row.pop("_pods")))
        out = sorted(rows.values(), key=lambda r: (r["Hostname"], r["gpu"], r["GPU_I_ID"].zfill(4)))
        self._simulated = any(r["simulated"] for r in out)
        return out

    def describe(self) -> str:
        sim = self.simulated
        return (f"GPU telemetry from Prometheus at {self.url} (DCGM series): "
                + ("SIMULATED GPUs (series labelled simulated=\"true\" by kubelab's GPU exporter), not measured"
                   if sim else "as dcgm-exporter measured it, not simulated"))
