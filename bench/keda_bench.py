"""Figures for autoscaling on a model's own metric (KEDA on the embedded cluster): seconds from a load step to the new
replicas Ready, from load 0 to 0 replicas and from a load back to Ready replicas; the memory and CPU of KEDA's three
processes on the idle cluster; and KEDA's cold build time when its binaries are not built yet (otherwise the figure
measured once, in docs/serving-platform.md).

    python bench/keda_bench.py [--runs 3]

It starts its own cluster (bench-keda) and deletes it at the end. Seconds are wall-clock on this machine; they include
the ScaledObject's pollingInterval (2 s), the Prometheus scrape of the simulated load (2 s), the HPA controller's sync
period (5 s on this cluster) and the simulated kubelet's pod start.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import psutil
from kubernetes import client

from kubelab.cluster import LocalCluster, build, model_load
from kubelab.cluster.components import KEDA_ADAPTER, KEDA_OPERATOR, KEDA_WEBHOOKS

THRESHOLD = 5


def wait(pred, timeout: float = 180, every: float = 0.1) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(every)
    raise TimeoutError("condition not reached")


def at(apps, ns: str, n: int):
    def check():
        d = apps.read_namespaced_deployment("llm", ns)
        return d.spec.replicas == n and (d.status.ready_replicas or 0) == n
    return check


def component_cost(cluster: LocalCluster, seconds: float = 30) -> dict[str, tuple[float, float]]:
    """(RSS MiB, CPU %) of KEDA's processes over `seconds` of an idle cluster."""
    procs = {c.name: psutil.Process(c.pid) for c in cluster.components()
             if c.name in (KEDA_OPERATOR, KEDA_ADAPTER, KEDA_WEBHOOKS) and c.running and c.pid}
    for p in procs.values():
        p.cpu_percent(None)
    time.sleep(seconds)
    return {n: (p.memory_info().rss / 2**20, p.cpu_percent(None)) for n, p in procs.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB")
    tool = build.tool("keda")
    if build.is_built(tool):
        print(f"KEDA {build.module_version(tool)} is built: its cold build time is the figure measured once "
              f"(docs/serving-platform.md)")
    else:
        start = time.monotonic()
        build.build_tool(tool)
        print(f"KEDA {build.module_version(tool)} cold build: {time.monotonic() - start:.0f} s")
    cluster = LocalCluster("bench-keda", progress=False)
    start = time.monotonic()
    cluster.up()
    print(f"up (new cluster, KEDA included): {time.monotonic() - start:.1f} s")
    try:
        api = cluster.connect()
        core, apps, custom = client.CoreV1Api(api), client.AppsV1Api(api), client.CustomObjectsApi(api)
        for name, (rss, cpu) in component_cost(cluster).items():
            print(f"{name} idle: {rss:.0f} MiB RSS, {cpu:.1f} % of one core (30 s)")
        step_up, to_zero, from_zero = [], [], []
        behavior = {"stabilizationWindowSeconds": 0,
                    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 1}]}
        for i in range(args.runs):
            ns = f"bench-keda-{i}"
            core.create_namespace({"metadata": {"name": ns}})
            wait(lambda: core.list_namespaced_service_account(ns, field_selector="metadata.name=default").items)
            apps.create_namespaced_deployment(ns, {
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "llm"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "llm"}},
                         "template": {"metadata": {"labels": {"app": "llm"}}, "spec": {
                             "terminationGracePeriodSeconds": 0,
                             "containers": [{"name": "server", "image": "vllm/vllm-openai:v0.11.0",
                                             "resources": {"requests": {"cpu": "100m"}}}]}}}})
            model_load.set_load(api, ns, "llm", 1)
            custom.create_namespaced_custom_object("keda.sh", "v1alpha1", ns, "scaledobjects", {
                "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "llm"},
                "spec": {"scaleTargetRef": {"name": "llm"}, "pollingInterval": 2, "cooldownPeriod": 5,
                         "minReplicaCount": 0, "maxReplicaCount": 5,
                         "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {"scaleUp": behavior,
                                                                                     "scaleDown": behavior}}},
                         "triggers": [{"type": "prometheus", "metadata": {
                             "serverAddress": cluster.prometheus.url, "threshold": str(THRESHOLD),
                             "query": f'sum({model_load.METRIC}{{namespace="{ns}",model_name="llm"}})'}}]}})
            wait(at(apps, ns, 1))
            time.sleep(6)   # the HPA settled at 1
            model_load.set_load(api, ns, "llm", 4 * THRESHOLD)
            step_up.append(wait(at(apps, ns, 4)))
            model_load.set_load(api, ns, "llm", 0)
            to_zero.append(wait(at(apps, ns, 0)))
            model_load.set_load(api, ns, "llm", 2 * THRESHOLD)
            from_zero.append(wait(at(apps, ns, math.ceil(2 * THRESHOLD / THRESHOLD))))
            core.delete_namespace(ns)

        def line(what, xs):
            print(f"{what}: median {statistics.median(xs):.1f} s, max {max(xs):.1f} s ({len(xs)} runs)")
        line(f"load step 1 -> {4 * THRESHOLD} waiting requests: 1 -> 4 replicas Ready", step_up)
        line("load -> 0: 4 -> 0 replicas (cooldownPeriod 5 s)", to_zero)
        line(f"load 0 -> {2 * THRESHOLD}: 0 -> 2 replicas Ready", from_zero)
    finally:
        cluster.down(delete=True)


if __name__ == "__main__":
    main()
