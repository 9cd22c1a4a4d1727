"""A DCGM-format GPU exporter: one /metrics endpoint (prometheus_client) with dcgm-exporter's metric and label
names, fed by the telemetry sources kubelab has (NVML on a machine with a GPU, otherwise the embedded cluster's
simulated GPUs). Prometheus scrapes it as it scrapes NVIDIA's dcgm-exporter on a real cluster, so the same
PromQL works on both. Every series of a simulated GPU carries simulated="true".

The embedded cluster runs it as the `kubelab-gpu-exporter` component:

    kubelab-gpu-exporter --kubeconfig K --context C --port 9400   (kubelab.daemons.gpu_exporter)

Each scrape samples the source once (values at scrape time). As dcgm-exporter does with pod mapping, a GPU
used by several pods (time-slicing) is one series per pod with the same value; an idle GPU is one series
without pod labels (empty values, which Prometheus drops). A MIG GPU's instances are series of their own with
GPU_I_PROFILE and GPU_I_ID labels, and no DCGM_FI_DEV_GPU_UTIL (dcgm-exporter does not report it under MIG).
"""
from __future__ import annotations

from .schema import METRICS

__all__ = ["HELP", "LABELS", "series"]

# dcgm-exporter's help strings (default-counters.csv) and label names
HELP = {"DCGM_FI_DEV_GPU_UTIL": "GPU utilization (in %).",
        "DCGM_FI_DEV_FB_USED": "Framebuffer memory used (in MiB).",
        "DCGM_FI_DEV_FB_FREE": "Framebuffer memory free (in MiB).",
        "DCGM_FI_DEV_POWER_USAGE": "Power draw (in W).",
        "DCGM_FI_DEV_GPU_TEMP": "GPU temperature (in C).",
        # dcp-metrics-included.csv
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE": "Ratio of time the graphics engine is active.",
        "DCGM_FI_PROF_SM_ACTIVE": "The ratio of cycles an SM has at least 1 warp assigned.",
        "DCGM_FI_PROF_SM_OCCUPANCY": "The ratio of number of warps resident on an SM.",
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": "Ratio of cycles the tensor (HMMA) pipe is active.",
        "DCGM_FI_PROF_DRAM_ACTIVE": "Ratio of cycles the device memory interface is active sending or receiving data."}
LABELS = ("gpu", "UUID", "device", "modelName", "GPU_I_PROFILE", "GPU_I_ID", "Hostname", "container", "namespace", "pod",
          "simulated")


def series(rows: list[dict]) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Telemetry rows (schema.COLUMNS) as {metric: [(labels, value)]} with dcgm-exporter's labels (pure).
    A shared GPU's row (comma-separated pods) becomes one series per pod."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {m: [] for m in METRICS}
    for row in rows:
        pods = [p for p in str(row.get("pod") or "").split(",")]
        spaces = str(row.get("namespace") or "").split(",")
        containers = str(row.get("container") or "").split(",")
        for i, pod in enumerate(pods):
            labels = {"gpu": str(row["gpu"]), "UUID": row["UUID"], "device": f"nvidia{row['gpu']}",
                      "modelName": row["modelName"], "GPU_I_PROFILE": str(row.get("GPU_I_PROFILE") or ""),
                      "GPU_I_ID": str(row.get("GPU_I_ID") or ""), "Hostname": row["Hostname"],
                      "container": containers[i] if pod and i < len(containers) else "",
                      "namespace": spaces[i] if pod and i < len(spaces) else "", "pod": pod,
                      "simulated": "true" if row.get("simulated") else ""}
            for metric in METRICS:
                value = row.get(metric)
                if value is not None and value == value:  # NaN: a field this GPU does not support
                    out[metric].append((labels, float(value)))
    return out
