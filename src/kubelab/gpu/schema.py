"""The one shape of GPU telemetry, whatever its source: DCGM exporter field names and units, and the
columns every source's rows have (each row says its `source` and whether it is `simulated`)."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

__all__ = ["COLUMNS", "METRICS", "PROFILING", "UNITS", "frame", "now", "pod_columns"]

# dcgm-exporter's profiling fields (its dcp-metrics-included.csv), ratios 0-1. GPU_UTIL says a kernel ran at some
# point of the sample period ("busy"); these say how much of the GPU it used: SM_ACTIVE is the share of cycles an SM
# had a warp at all, so a GPU can read 100 % utilization with its SMs mostly idle. NVML does not report them (NaN).
PROFILING = ["DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_SM_ACTIVE", "DCGM_FI_PROF_SM_OCCUPANCY",
             "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE"]
METRICS = ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
           "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP", *PROFILING]
COLUMNS = ["time", "gpu", "UUID", "modelName", "Hostname", *METRICS,
           "pod", "namespace", "container", "source", "simulated"]
UNITS = {"DCGM_FI_DEV_GPU_UTIL": "%", "DCGM_FI_DEV_FB_USED": "MiB", "DCGM_FI_DEV_FB_FREE": "MiB",
         "DCGM_FI_DEV_POWER_USAGE": "W", "DCGM_FI_DEV_GPU_TEMP": "C", **{m: "ratio" for m in PROFILING}}


def now() -> datetime:
    return datetime.now(timezone.utc)


def frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly COLUMNS (time as a UTC timestamp)."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df


def pod_columns(pods: list[tuple[str, str, str]]) -> dict:
    """pod, namespace and container columns for the (pod, namespace, container) users of one GPU.

    A GPU shared by several pods (time-slicing, MIG) keeps one row; its columns list each pod once,
    comma-separated, in the same order."""
    unique = list(dict.fromkeys(p for p in pods if p[0]))
    return {key: ",".join(p[i] for p in unique) for i, key in enumerate(("pod", "namespace", "container"))}
