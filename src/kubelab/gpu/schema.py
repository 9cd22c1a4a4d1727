"""The one shape of GPU telemetry, whatever its source: DCGM exporter field names and units, and the
columns every source's rows have (each row says its `source` and whether it is `simulated`)."""
from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

__all__ = ["COLUMNS", "INSTANCE", "METRICS", "PROFILING", "UNITS", "busy_pct", "frame", "now", "pod_columns"]

# dcgm-exporter's profiling fields (its dcp-metrics-included.csv), ratios 0-1. GPU_UTIL says a kernel ran at some
# point of the sample period ("busy"); these say how much of the GPU it used: SM_ACTIVE is the share of cycles an SM
# had a warp at all, so a GPU can read 100 % utilization with its SMs mostly idle. NVML does not report them (NaN).
PROFILING = ["DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_SM_ACTIVE", "DCGM_FI_PROF_SM_OCCUPANCY",
             "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE"]
METRICS = ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
           "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP", *PROFILING]
# A MIG-enabled GPU is reported as dcgm-exporter reports it: one row for the GPU (power, temperature, memory and
# the profiling ratios of the whole GPU) and one per MIG instance, labelled GPU_I_PROFILE (e.g. "1g.10gb") and
# GPU_I_ID (the GPU instance id the driver gave it). DCGM_FI_DEV_GPU_UTIL is not supported on MIG-enabled GPUs
# (NaN in every such row): a slice's compute is DCGM_FI_PROF_GR_ENGINE_ACTIVE of its instance row. The pods of a
# MIG GPU are on its instance rows. Rows of GPUs without MIG have both instance columns empty.
INSTANCE = ["GPU_I_PROFILE", "GPU_I_ID"]
COLUMNS = ["time", "gpu", "UUID", "modelName", "Hostname", *INSTANCE, *METRICS,
           "pod", "namespace", "container", "source", "simulated"]
UNITS = {"DCGM_FI_DEV_GPU_UTIL": "%", "DCGM_FI_DEV_FB_USED": "MiB", "DCGM_FI_DEV_FB_FREE": "MiB",
         "DCGM_FI_DEV_POWER_USAGE": "W", "DCGM_FI_DEV_GPU_TEMP": "C", **{m: "ratio" for m in PROFILING}}


def now() -> datetime:
    return datetime.now(timezone.utc)


def frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with exactly COLUMNS (time as a UTC timestamp)."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    for column in INSTANCE:
        df[column] = df[column].astype(object).fillna("").astype(str)
    return df


def busy_pct(df: pd.DataFrame) -> pd.Series:
    """How busy each row's GPU or MIG instance is, in %: DCGM_FI_DEV_GPU_UTIL where the GPU reports it, else
    (MIG) 100 x DCGM_FI_PROF_GR_ENGINE_ACTIVE, the share of time its graphics engine was active."""
    util = pd.to_numeric(df["DCGM_FI_DEV_GPU_UTIL"], errors="coerce")
    engine = pd.to_numeric(df.get("DCGM_FI_PROF_GR_ENGINE_ACTIVE", pd.Series(index=df.index, dtype=float)),
                           errors="coerce") * 100
    return util.fillna(engine)


def pod_columns(pods: list[tuple[str, str, str]]) -> dict:
    """pod, namespace and container columns for the (pod, namespace, container) users of one GPU.

    A GPU shared by several pods (time-slicing, MIG) keeps one row; its columns list each pod once,
    comma-separated, in the same order."""
    unique = list(dict.fromkeys(p for p in pods if p[0]))
    return {key: ",".join(p[i] for p in unique) for i, key in enumerate(("pod", "namespace", "container"))}
