"""How fast `observe.pods` turns a namespace of many pods into a DataFrame (goal: 10,000 pods <= 2 s),
and how long one refresh of the live dashboard takes for a 1,000-pod namespace (goal <= 1 s).

    python bench/library_bench.py              # 1,000 then 10,000 pods, median of 3 runs each

Starts its own embedded cluster (a bench-specific name, deleted at the end), adds simulated nodes with
room for the pods, and creates the pods bound directly to those nodes (spec.nodeName), so the figure
measures listing and converting, not the scheduler. KWOK then moves them to Running.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import psutil
from kubernetes import client

from kubelab import observe
from kubelab._k8s import raw
from kubelab.cluster import pools
from kubelab.viz import widgets
from kubelab.cluster import LocalCluster

NAMESPACE = "bench"


def bench_nodes(count: int, pods_per_node: int) -> list[dict]:
    """Node objects shaped like the default cpu pool, named bench-N, in pool "bench"."""
    pool = pools.Pool(name="bench", count=count, cpu="256", memory="1Ti", pods=pods_per_node)
    return pools.nodes([pool])


def pod(i: int, node: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"bench-{i:05d}", "labels": {"app": "bench"}},
            "spec": {"nodeName": node, "containers": [{
                "name": "main", "image": "registry.example/ml/worker:1.0",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "256Mi"}}}]}}


def create_pods(core, start: int, stop: int, nodes: list[str]) -> float:
    def create(i):
        # _preload_content=False: do not build a client model of each reply (that is the slow part).
        core.create_namespaced_pod(NAMESPACE, pod(i, nodes[i % len(nodes)]), _preload_content=False)
    began = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(create, range(start, stop)))
    return time.monotonic() - began


def count_running(core) -> int:
    items = json.loads(core.list_namespaced_pod(NAMESPACE, field_selector="status.phase=Running",
                                                _preload_content=False).data)["items"]
    return len(items)


def wait_running(core, want: int, timeout: float) -> tuple[int, float]:
    began = time.monotonic()
    while (running := count_running(core)) < want and time.monotonic() - began < timeout:
        time.sleep(2)
    return running, time.monotonic() - began


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def split(api, core, nodes_by_name) -> tuple[float, float]:
    """One run split into its two halves: the list call + JSON parse, and the conversion to rows."""
    gc.disable()
    try:
        t0 = time.perf_counter()
        items = json.loads(core.list_namespaced_pod(NAMESPACE, _preload_content=False).data)["items"]
        t1 = time.perf_counter()
        observe.pods_frame(items, nodes_by_name, [])
        return t1 - t0, time.perf_counter() - t1
    finally:
        gc.enable()


def prepare(core, most: int) -> list[str]:
    """Ten bench nodes with room for `most` pods, and NAMESPACE with its default ServiceAccount; the nodes' names."""
    node_objs = bench_nodes(count=10, pods_per_node=most // 10 + 100)
    for n in node_objs:
        core.create_node(n, _preload_content=False)
    core.create_namespace({"metadata": {"name": NAMESPACE}})
    while not core.list_namespaced_service_account(NAMESPACE).items:
        time.sleep(0.2)  # the default ServiceAccount appears asynchronously; pods need it
    return [n["metadata"]["name"] for n in node_objs]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    cluster = LocalCluster(f"kubelab-bench-lib-{os.getpid()}", progress=False)
    try:
        print(cluster.up())
        api = cluster.api_client()
        core = client.CoreV1Api(api)
        names = prepare(core, max(sizes))
        made = 0
        for size in sizes:
            secs = create_pods(core, made, size, names)
            print(f"created {size - made:,} pods in {secs:.1f} s ({(size - made) / secs:.0f}/s)")
            made = size
            running, waited = wait_running(core, size, timeout=300)
            print(f"{running:,} of {size:,} pods Running after {waited:.1f} s more")
            by_name = raw.nodes_by_name(api)
            runs = timed(lambda: observe.pods(api, NAMESPACE), args.runs)
            df = observe.pods(api, NAMESPACE)
            assert len(df) == size, len(df)
            listing, frame = split(api, core, by_name)
            print(f"pods -> DataFrame, {size:,} pods: {statistics.median(runs):.2f} s (goal <= 2 s) "
                  f"(runs: {', '.join(f'{s:.2f}' for s in runs)}; one run split: list+JSON {listing:.2f} s, "
                  f"rows+DataFrame {frame:.2f} s)")
            if size == 1000:
                dash = widgets.Dashboard(api, NAMESPACE)
                refresh = timed(lambda: widgets._png(dash.figure(dash.snapshot())), args.runs)
                print(f"dashboard refresh (pods + nodes + GPU telemetry + chart PNG), {size:,} pods: "
                      f"{statistics.median(refresh):.2f} s (goal <= 1 s) "
                      f"(runs: {', '.join(f'{s:.2f}' for s in refresh)})")
    finally:
        print(cluster.down(delete=True))


if __name__ == "__main__":
    main()
