"""How kubelab's daemons (the simulated kubelet, the state metrics, the GPU exporter), Prometheus and the API server
fare as a cluster grows to 0, 1,000 and 10,000 pods with monitoring on (goal for each daemon: < 300 MiB RSS and
< 10 % of a core at 10,000 pods, flat over 10 minutes), then how long `kl.pods(api)` of the 10,000 pods takes
against `kubectl get pods -A -o json`.

    python bench/scale_bench.py                   # 60 s windows at 0 and 1,000 pods, 10 minutes at 10,000
    python bench/scale_bench.py --minutes 3       # a quick run

Starts its own embedded cluster (a bench-specific name, deleted at the end); the pods are made as
bench/library_bench.py makes them (bound to simulated nodes, KWOK moves them to Running). At each size, once the
pods run and a settling pause has passed, each process's RSS and CPU are sampled (psutil, every 5 s): RSS at the
window's start and end and its peak, CPU as % of one core over the window and over its first and last thirds (flat
means the two agree). Prometheus's own view of the two exporters' scrapes (duration, samples) is printed too.
Figures are printed, not asserted.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import psutil
from kubernetes import client

import kubelab as kl
from kubelab import tools
from kubelab.cluster import LocalCluster
from library_bench import create_pods, prepare, wait_running  # bench/ is first on sys.path

WATCHED = ("kubelab-kubelet", "kubelab-state-metrics", "kubelab-gpu-exporter", "kubelab-prometheus", "kube-apiserver")
SHORT = {"kubelab-kubelet": "kubelet", "kubelab-state-metrics": "state-metrics", "kubelab-gpu-exporter": "gpu-exporter",
         "kubelab-prometheus": "prometheus", "kube-apiserver": "kube-apiserver"}
MIB = 2 ** 20


def processes(cluster: LocalCluster) -> dict[str, psutil.Process]:
    found = {c.name: c.pid for c in cluster.components() if c.name in WATCHED and c.pid and c.running}
    missing = set(WATCHED) - set(found)
    if missing:
        raise SystemExit(f"not running: {', '.join(sorted(missing))}")
    return {name: psutil.Process(pid) for name, pid in found.items()}


def cpu_seconds(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system + t.children_user + t.children_system


def sample(procs: dict[str, psutil.Process], seconds: float, every: float = 5.0) -> dict[str, dict]:
    """RSS (MiB) at the start, end and peak, and CPU (% of one core) over the window and its first and last thirds."""
    points: dict[str, list[tuple[float, float, float]]] = {n: [] for n in procs}   # (t, cpu s, rss MiB)
    began = time.monotonic()
    while True:
        now = time.monotonic()
        for name, p in procs.items():
            points[name].append((now, cpu_seconds(p), p.memory_info().rss / MIB))
        if now - began >= seconds:
            break
        time.sleep(min(every, max(0.0, began + seconds - time.monotonic())))
    out = {}
    for name, pts in points.items():
        def pct(a, b):
            return 100 * (b[1] - a[1]) / (b[0] - a[0]) if b[0] > a[0] else 0.0
        third = max(1, len(pts) // 3)
        out[name] = {"rss_start": pts[0][2], "rss_end": pts[-1][2], "rss_max": max(p[2] for p in pts),
                     "cpu": pct(pts[0], pts[-1]), "cpu_first": pct(pts[0], pts[third]),
                     "cpu_last": pct(pts[-1 - third], pts[-1])}
    return out


def scrapes(api) -> str:
    """Prometheus's own numbers of the two exporters' last scrapes."""
    lines = []
    for job in ("kube-state-metrics", "dcgm-exporter"):
        parts = []
        for metric in ("up", "scrape_duration_seconds", "scrape_samples_scraped"):
            try:
                df = kl.promql(api, f'{metric}{{job="{job}"}}')
                parts.append(f"{metric}={df['value'].iloc[0]:.3g}" if len(df) else f"{metric}=none")
            except Exception as err:  # Prometheus not answering: say so, keep measuring
                parts.append(f"{metric}=? ({type(err).__name__})")
        lines.append(f"  Prometheus on {job}: " + ", ".join(parts))
    return "\n".join(lines)


def table(rows: list[tuple[int, float, dict[str, dict]]]) -> str:
    head = (f"{'pods':>7} {'window':>7}  {'process':<15} {'RSS MiB start':>13} {'end':>7} {'peak':>7}  "
            f"{'CPU %':>6} {'1st 1/3':>7} {'last 1/3':>8}")
    out = [head, "-" * len(head)]
    for pods, window, stats in rows:
        for name in WATCHED:
            s = stats[name]
            out.append(f"{pods:>7,} {window / 60:>6.1f}m  {SHORT[name]:<15} {s['rss_start']:>13.0f} {s['rss_end']:>7.0f} "
                       f"{s['rss_max']:>7.0f}  {s['cpu']:>6.1f} {s['cpu_first']:>7.1f} {s['cpu_last']:>8.1f}")
    return "\n".join(out)


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="0,1000,10000")
    ap.add_argument("--window", type=float, default=60, help="seconds sampled at each size but the largest")
    ap.add_argument("--minutes", type=float, default=10, help="minutes sampled at the largest size")
    ap.add_argument("--settle", type=float, default=30, help="seconds waited once the pods run, before sampling")
    ap.add_argument("--runs", type=int, default=3, help="runs of kl.pods and of kubectl, median printed")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"load average {os.getloadavg()[0]:.1f} at start")
    cluster = LocalCluster(f"kubelab-bench-scale-{os.getpid()}", progress=False, monitoring=True)
    rows = []
    try:
        print(cluster.up())
        api = cluster.api_client()
        core = client.CoreV1Api(api)
        names = prepare(core, max(sizes))
        procs = processes(cluster)
        made = 0
        for size in sizes:
            if size > made:
                secs = create_pods(core, made, size, names)
                print(f"created {size - made:,} pods in {secs:.1f} s ({(size - made) / secs:.0f}/s)", flush=True)
                made = size
                running, waited = wait_running(core, size, timeout=900)
                print(f"{running:,} of {size:,} pods Running after {waited:.1f} s more", flush=True)
            time.sleep(args.settle)
            window = args.minutes * 60 if size == max(sizes) else args.window
            print(f"sampling {size:,} pods for {window / 60:.1f} min ...", flush=True)
            stats = sample(procs, window)
            rows.append((size, window, stats))
            print(table([rows[-1]]), flush=True)
            print(scrapes(api), flush=True)
        print("\n" + table(rows))

        biggest = max(sizes)
        if biggest:
            df = kl.pods(api)
            print(f"\nkl.pods(api): {len(df):,} rows")
            ours = timed(lambda: kl.pods(api), args.runs)
            kubectl = timed(lambda: tools.kubectl(api, "get", "pods", "-A", "-o", "json"), args.runs)
            m_ours, m_kubectl = statistics.median(ours), statistics.median(kubectl)
            print(f"kl.pods(api), {biggest:,} pods: {m_ours:.2f} s (runs: {', '.join(f'{s:.2f}' for s in ours)})")
            print(f"kubectl get pods -A -o json: {m_kubectl:.2f} s (runs: {', '.join(f'{s:.2f}' for s in kubectl)})")
            print(f"ratio kl.pods / kubectl: {m_ours / m_kubectl:.2f}")
    finally:
        print(cluster.down(delete=True))


if __name__ == "__main__":
    main()
