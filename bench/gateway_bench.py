"""Figures for the Gateway API on the embedded cluster (Envoy Gateway as a component): seconds from a Gateway's
creation to Programmed (its simulated Envoy proxy Ready) and from an HTTPRoute's creation to Accepted (and
ResolvedRefs); the memory and CPU of the Envoy Gateway process (and of its launcher) on the idle cluster; `up` of a
new cluster with and without the component, and of a stopped one restarted.

    python bench/gateway_bench.py [--runs 5] [--no-up] [--up-pairs 3]

It starts its own clusters (bench-gw, bench-gw-without) and deletes them at the end. Seconds are wall-clock on
this machine. The cold build of the tool is not re-measured (tens of minutes): COLD_BUILD records what was.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import psutil
from kubernetes import client

from kubelab.cluster import LocalCluster, gateway, local
from kubelab.cluster.components import ENVOY_GATEWAY

GW = ("gateway.networking.k8s.io", "v1")
# `kubelab build`'s one cold build of envoy-gateway v1.9.1 (2,102 Go packages), measured on 2026-12-06 on this
# machine (2 cores, shared with another Go build and a test run): see docs/serving-platform.md
COLD_BUILD = ("706 s wall (11.8 min; 249 s user + 64 s system CPU) on 2026-12-06, 2 cores shared with another Go "
              "build and a test run; the Go build cache already held the Kubernetes libraries the other tools share")


def wait(pred, timeout: float = 180, every: float = 0.05) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(every)
    raise TimeoutError("condition not reached")


def cond(obj: dict, kind: str, parent: bool) -> str | None:
    status = obj.get("status") or {}
    conds = ((status.get("parents") or [{}])[0].get("conditions") if parent else status.get("conditions")) or []
    return next((c["status"] for c in conds if c["type"] == kind), None)


def process_cost(cluster: LocalCluster, seconds: float = 30) -> dict[str, tuple[float, float]]:
    """(RSS MiB, CPU % of one core) over `seconds` of the idle cluster: the Envoy Gateway process, and its launcher
    (the two Python processes that relay its ports)."""
    outer = psutil.Process(cluster.supervisor.process(ENVOY_GATEWAY).pid)
    tree = [outer, *outer.children(recursive=True)]
    eg = [p for p in tree if p.name() == "envoy-gateway"]
    launcher = [p for p in tree if p not in eg and p.name() != "env"]
    for p in tree:
        p.cpu_percent(None)
    time.sleep(seconds)
    return {name: (sum(p.memory_info().rss for p in ps) / 2**20, sum(p.cpu_percent(None) for p in ps))
            for name, ps in (("envoy-gateway", eg), ("its launcher (2 Python relays)", launcher))}


def timed_up(name: str, with_gateway: bool) -> tuple[float, float]:
    """Seconds of `up` of a new cluster, and of `up` resuming it once stopped, with or without Envoy Gateway."""
    declared = local.DECLARED
    if not with_gateway:
        local.DECLARED = tuple(d for d in declared if d.name != ENVOY_GATEWAY)
    cluster = LocalCluster(name, progress=False)
    try:
        start = time.monotonic()
        cluster.up()
        new = time.monotonic() - start
        cluster.down()
        start = time.monotonic()
        cluster.up()
        return new, time.monotonic() - start
    finally:
        cluster.down(delete=True)
        local.DECLARED = declared


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-up", action="store_true", help="leave out the `up` timings")
    ap.add_argument("--up-pairs", type=int, default=3, help="alternated `up` pairs with and without it")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"cold build of envoy-gateway (recorded, not re-measured): {COLD_BUILD}")
    cluster = LocalCluster("bench-gw", progress=False)
    start = time.monotonic()
    cluster.up()
    print(f"up (new cluster, Envoy Gateway included): {time.monotonic() - start:.1f} s")
    try:
        api = cluster.connect()
        core, custom = client.CoreV1Api(api), client.CustomObjectsApi(api)
        for name, (rss, cpu) in process_cost(cluster).items():
            print(f"{name} on the idle cluster: {rss:.0f} MiB RSS, {cpu:.1f} % of one core (30 s)")
        to_programmed, to_accepted, to_resolved = [], [], []
        for i in range(args.runs):
            ns = f"bench-gw-{i}"
            core.create_namespace({"metadata": {"name": ns}})
            core.create_namespaced_service(ns, {"metadata": {"name": "v1"}, "spec": {
                "selector": {"app": "v1"}, "ports": [{"port": 80, "targetPort": 8080}]}})
            created = time.monotonic()
            custom.create_namespaced_custom_object(*GW, ns, "gateways", {
                "apiVersion": "/".join(GW), "kind": "Gateway", "metadata": {"name": "web"},
                "spec": {"gatewayClassName": gateway.GATEWAY_CLASS,
                         "listeners": [{"name": "http", "protocol": "HTTP", "port": 80}]}})
            wait(lambda: cond(custom.get_namespaced_custom_object(*GW, ns, "gateways", "web"), "Programmed", False)
                 == "True")
            to_programmed.append(time.monotonic() - created)
            created = time.monotonic()
            custom.create_namespaced_custom_object(*GW, ns, "httproutes", {
                "apiVersion": "/".join(GW), "kind": "HTTPRoute", "metadata": {"name": "r"},
                "spec": {"parentRefs": [{"name": "web"}], "rules": [{"backendRefs": [{"name": "v1", "port": 80}]}]}})
            route = lambda: custom.get_namespaced_custom_object(*GW, ns, "httproutes", "r")  # noqa: E731
            wait(lambda: cond(route(), "Accepted", True) == "True")
            to_accepted.append(time.monotonic() - created)
            wait(lambda: cond(route(), "ResolvedRefs", True) == "True")
            to_resolved.append(time.monotonic() - created)
            core.delete_namespace(ns)

        def line(what, xs):
            print(f"{what}: median {statistics.median(xs):.2f} s, max {max(xs):.2f} s ({len(xs)} runs)")
        line("Gateway: created -> Programmed (proxy pod Ready, ClusterIP address)", to_programmed)
        line("HTTPRoute: created -> Accepted", to_accepted)
        line("HTTPRoute: created -> ResolvedRefs", to_resolved)
        if not args.no_up:
            cluster.down()
            start = time.monotonic()
            cluster.up()
            print(f"up (stopped cluster restarted, Envoy Gateway included): {time.monotonic() - start:.1f} s")
    finally:
        cluster.down(delete=True)
    if not args.no_up:   # alternated, so both see the same load
        pairs = []
        for _ in range(args.up_pairs):
            pairs.append((timed_up("bench-gw-with", True), timed_up("bench-gw-without", False)))
            print(f"  pair: with (new, resumed) {pairs[-1][0][0]:.1f} s, {pairs[-1][0][1]:.1f} s; without "
                  f"{pairs[-1][1][0]:.1f} s, {pairs[-1][1][1]:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
        for i, what in ((0, "new cluster"), (1, "stopped cluster resumed")):
            w, wo = statistics.median(p[0][i] for p in pairs), statistics.median(p[1][i] for p in pairs)
            print(f"up ({what}): with Envoy Gateway median {w:.1f} s, without {wo:.1f} s "
                  f"({len(pairs)} alternated pairs, load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
