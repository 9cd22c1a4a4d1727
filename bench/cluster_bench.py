"""Figures for the embedded cluster: start-up time, binary build time (warm and optionally cold), memory.

    python bench/cluster_bench.py            # up times, warm build, RSS
    python bench/cluster_bench.py --cold     # also a cold build in empty Go caches (tens of minutes)
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import psutil

from kubelab.cluster import build
from kubelab.cluster import LocalCluster


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def kubelab_build(env: dict | None = None) -> float:
    cmd = [sys.executable, "-m", "kubelab", "build", "--quiet"]
    return timed(lambda: subprocess.run(cmd, env={**os.environ, **(env or {})}, check=True,
                                        stdout=subprocess.DEVNULL))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cold", action="store_true", help="also time a cold build (empty Go module and build caches)")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"Kubernetes {build.kube_version()}")
    if args.cold:
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GOCACHE": f"{tmp}/gocache", "GOMODCACHE": f"{tmp}/gomod", "KUBELAB_CACHE_DIR": f"{tmp}/kubelab"}
            secs = kubelab_build(env)
            subprocess.run(["chmod", "-R", "u+w", tmp])  # the module cache is read-only
        print(f"cold build of all binaries (empty module + build caches): {secs / 60:.1f} min (goal <= 25 min)")
    print(f"warm `kubelab build` (everything cached): {kubelab_build():.2f} s (goal <= 60 s)")

    cluster = LocalCluster(f"kubelab-bench-{os.getpid()}", progress=False)
    try:
        fresh, resumed = [], []
        for _ in range(args.runs):
            cluster.down(delete=True)
            fresh.append(timed(cluster.up))        # create: certs, etcd, control plane, nodes Ready
            cluster.down()
            resumed.append(timed(cluster.up))      # stopped -> all nodes Ready, data kept
        print(f"`up` new cluster -> all nodes Ready: median {statistics.median(fresh):.2f} s "
              f"(runs: {', '.join(f'{s:.2f}' for s in fresh)}) (goal <= 10 s)")
        print(f"`up` stopped cluster -> all nodes Ready: median {statistics.median(resumed):.2f} s "
              f"(runs: {', '.join(f'{s:.2f}' for s in resumed)}) (goal <= 10 s)")
        time.sleep(20)  # let the control plane settle before measuring memory
        total = 0
        for comp in cluster.components():
            rss = psutil.Process(comp.pid).memory_info().rss / 2**20
            total += rss
            print(f"  RSS {comp.name:24} {rss:7.0f} MiB")
        print(f"control plane RSS (all {len(cluster.components())} processes): {total:.0f} MiB")
    finally:
        cluster.down(delete=True)


if __name__ == "__main__":
    main()
