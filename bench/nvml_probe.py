"""Sample this machine's real GPU(s) through kubelab.gpu's NVML source and print the rows.

    .venv/bin/python bench/nvml_probe.py [--seconds 10] [--every 1]

Exits 0 with one line when there is no local GPU (no driver, no device): that is an answer, not a crash.
"""
from __future__ import annotations

import argparse

import pandas as pd

from kubelab.gpu import GpuTelemetry, NvmlSource


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to sample (default 10)")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between samples (default 1)")
    args = parser.parse_args()

    source = NvmlSource()
    if not source.available():
        print(source.reason)
        return 0
    tel = GpuTelemetry(source)
    print(tel.describe())
    df = tel.collect(every=args.every, duration=args.seconds)
    with pd.option_context("display.width", 250, "display.max_columns", None, "display.max_rows", None):
        print(df.to_string(index=False))
        print("\nper GPU over the run:")
        print(df.groupby(["gpu", "UUID", "modelName"])[["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED",
                                                         "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP"]]
              .agg(["min", "max"]).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
