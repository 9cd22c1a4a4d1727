"""Figures for the batch platform (Kueue + Karpenter on the embedded cluster): a queued GPU Job's seconds to admission
and to Running; a pending GPU Job's seconds to a Karpenter node Ready and to Running there; the memory and CPU the
two components cost on the idle cluster; and `up` of a stopped cluster.

    python bench/batch_bench.py [--runs 5]

It starts its own cluster (bench-batch) and deletes it at the end. Seconds are wall-clock on this machine.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import psutil
from kubernetes import client

from kubelab import batch
from kubelab.cluster import LocalCluster, karpenter

RUN = {"pod-complete.stage.kwok.x-k8s.io/delay": "30m", "pod-complete.stage.kwok.x-k8s.io/jitter-delay": "31m"}


def job(name: str, gpus: int, selector: dict | None = None) -> dict:
    spec = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 0,
            "containers": [{"name": "train", "image": "nvcr.io/nvidia/pytorch:26.08-py3",
                            "resources": {"requests": {"cpu": "1", "memory": "4Gi"},
                                          "limits": {"nvidia.com/gpu": str(gpus)}}}]}
    if selector:
        spec["nodeSelector"] = selector
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "labels": {batch.QUEUE_LABEL: "training"}},
            "spec": {"template": {"metadata": {"annotations": RUN}, "spec": spec}}}


def wait(pred, timeout: float = 120, every: float = 0.05) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(every)
    raise TimeoutError("condition not reached")


def admitted(custom, ns: str, name: str) -> bool:
    for w in custom.list_namespaced_custom_object("kueue.x-k8s.io", "v1beta2", ns, "workloads")["items"]:
        if w["metadata"]["ownerReferences"][0]["name"] == name:
            return any(c["type"] == "Admitted" and c["status"] == "True" for c in (w.get("status") or {}).get("conditions") or [])
    return False


def running(core, ns: str, name: str) -> bool:
    return any(p.status.phase == "Running" for p in core.list_namespaced_pod(ns, label_selector=f"job-name={name}").items)


def node_ready(core, pool: str) -> bool:
    return any(c.type == "Ready" and c.status == "True" for n in core.list_node(label_selector=f"karpenter.sh/nodepool={pool}").items
               for c in n.status.conditions or [])


def component_cost(cluster: LocalCluster, seconds: float = 30) -> dict[str, tuple[float, float]]:
    """(RSS MiB, CPU %) of each batch component over `seconds` of an idle cluster."""
    procs = {c.name: psutil.Process(c.pid) for c in cluster.components()
             if c.name in ("kubelab-kueue", "kubelab-karpenter") and c.running and c.pid}
    for p in procs.values():
        p.cpu_percent(None)
    time.sleep(seconds)
    return {n: (p.memory_info().rss / 2**20, p.cpu_percent(None)) for n, p in procs.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB")
    cluster = LocalCluster("bench-batch", progress=False)
    start = time.monotonic()
    cluster.up()
    print(f"up (new cluster, Kueue and Karpenter included): {time.monotonic() - start:.1f} s")
    try:
        api = cluster.connect()
        core, jobs, custom = client.CoreV1Api(api), client.BatchV1Api(api), client.CustomObjectsApi(api)
        for name, (rss, cpu) in component_cost(cluster).items():
            print(f"{name} idle: {rss:.0f} MiB RSS, {cpu:.1f} % of one core (30 s)")
        to_admit, to_run, to_node, to_run_there = [], [], [], []
        for i in range(args.runs):
            ns = f"bench-batch-{i}"
            core.create_namespace({"metadata": {"name": ns}})
            wait(lambda: core.list_namespaced_service_account(ns, field_selector="metadata.name=default").items)
            batch.install(api, ns)
            created = time.monotonic()
            jobs.create_namespaced_job(ns, job("queued", 2))
            wait(lambda: admitted(custom, ns, "queued"))
            to_admit.append(time.monotonic() - created)
            wait(lambda: running(core, ns, "queued"))
            to_run.append(time.monotonic() - created)
            pool = karpenter.node_pool()
            pool["metadata"]["name"] = batch.node_pool_name(ns)
            pool["spec"]["disruption"] = {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "1s"}
            custom.create_cluster_custom_object("karpenter.sh", "v1", "nodepools", pool)
            created = time.monotonic()
            jobs.create_namespaced_job(ns, job("burst", 8, {"karpenter.sh/nodepool": pool["metadata"]["name"]}))
            wait(lambda: node_ready(core, pool["metadata"]["name"]))
            to_node.append(time.monotonic() - created)
            wait(lambda: running(core, ns, "burst"))
            to_run_there.append(time.monotonic() - created)
            batch.remove(api, ns)
            core.delete_namespace(ns)
            wait(lambda: not core.list_node(label_selector=f"karpenter.sh/nodepool={pool['metadata']['name']}").items,
                 timeout=180, every=0.5)

        def line(what, xs):
            print(f"{what}: median {statistics.median(xs):.2f} s, max {max(xs):.2f} s ({len(xs)} runs)")
        line("queued GPU Job: created -> admitted", to_admit)
        line("queued GPU Job: created -> Running", to_run)
        line("GPU Job on the autoscaled flavor: created -> Karpenter node Ready", to_node)
        line("GPU Job on the autoscaled flavor: created -> Running on it", to_run_there)
        cluster.down()
        start = time.monotonic()
        cluster.up()
        print(f"up (stopped cluster restarted, Kueue and Karpenter included): {time.monotonic() - start:.1f} s")
    finally:
        cluster.down(delete=True)


if __name__ == "__main__":
    main()
