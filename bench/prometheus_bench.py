"""Figures for the embedded cluster's monitoring (Prometheus, the GPU exporter, the state metrics): what they cost on
the idle cluster (memory, CPU), `up` with them against without them and against bare kwokctl (one run, interleaved),
and the latency of a 1-hour range query.

    python bench/prometheus_bench.py [--runs 3] [--idle 30] [--history 600]

--history runs a small workload (20 CPU pods with simulated memory, 8 GPU pods) for that many seconds before the
range queries, so they read that much data (a 1-hour range over a TSDB that holds only seconds says little).

The `up` goal is 1.2x bare kwokctl for the whole cluster: each run also times `kwokctl create cluster` of a bare
cluster (see bare_config) from the same locally built binaries, to its API server's /readyz, against kubelab's `up`
of a new cluster (to every node Ready, the kubelet synced, the registry and Prometheus answering).
"""
from __future__ import annotations

import argparse
import importlib
import os
import shutil
import statistics
import subprocess
import time

import psutil
import yaml

import kubelab as kl
from kubelab.cluster import LocalCluster, build
from kubelab.cluster.local import MONITORING

POD = """
apiVersion: v1
kind: Pod
metadata: {name: $name, annotations: {kwok.x-k8s.io/usage-memory: $mem}}
spec:
  containers: [{name: web, image: "nginx:1.27", resources: {limits: {memory: 1Gi}}}]
"""
GPU_POD = """
apiVersion: v1
kind: Pod
metadata: {name: $name, annotations: {kubelab.io/gpu-utilization: "40-90"}}
spec:
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  containers: [{name: train, image: "registry.example/ml/trainer:1.0", resources: {limits: {nvidia.com/gpu: 1}}}]
"""
QUERIES = {
    "API server request rate by verb": "sum by (verb) (rate(apiserver_request_total[1m]))",
    "API server p99 latency by verb": "histogram_quantile(0.99, sum by (le, verb) "
                                      "(rate(apiserver_request_duration_seconds_bucket[1m])))",
    "every container's working set": "container_memory_working_set_bytes",
    "every GPU's utilization": "DCGM_FI_DEV_GPU_UTIL",
}


def timed(fn) -> float:
    start = time.monotonic()
    fn()
    return time.monotonic() - start


def median(xs: list[float]) -> str:
    return f"median {statistics.median(xs):.2f} s (runs: {', '.join(f'{x:.2f}' for x in xs)})"


def bare_config(bins: dict, ports: dict[str, int]) -> str:
    """'Bare kwokctl': the control plane `kwokctl create cluster` starts by default (etcd, kube-apiserver,
    kube-controller-manager, kube-scheduler, kwok-controller) with kwokctl's default options: no nodes, no Stages,
    no metrics-server, none of kubelab's extras (scheduler profile, patches, CRDs, logs, kubelet, registry,
    monitoring). Set only what the binary runtime needs offline, as kubelab sets it: each binary's local path,
    127.0.0.1, the Kubernetes version of those binaries, and ports picked as kubelab picks them (not a stopped
    cluster's)."""
    options = {"runtime": "binary", "bindAddress": "127.0.0.1", **ports, "kubeVersion": build.kube_version(),
               **{f"{key}Binary": str(bins[b]) for key, b in (
                   ("kubeApiserver", "kube-apiserver"), ("kubeControllerManager", "kube-controller-manager"),
                   ("kubeScheduler", "kube-scheduler"), ("kubectl", "kubectl"), ("etcd", "etcd"),
                   ("kwokController", "kwok"))}}
    options.pop("metricsServerPort", None)  # no metrics-server
    return yaml.safe_dump({"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokctlConfiguration",
                           "options": options}, sort_keys=False)


class BareKwokctl:
    """A bare kwokctl cluster named `name`, in kubelab's kwok workdir (so kubelab's port picking, here and in other
    sessions, keeps off its ports while it exists) with its kubeconfig beside kubelab's (never ~/.kube/config)."""

    def __init__(self, name: str):
        self.name = name
        self.local = LocalCluster(name, progress=False)  # only for its paths, port picking, lock and /readyz poll
        self.config = self.local.kubeconfig.with_name(f"{name}.bare-kwokctl.yaml")

    def _kwokctl(self, *args: str) -> None:
        bins = build.binaries(require=("kwokctl",))
        proc = subprocess.run([str(bins["kwokctl"]), *args, "--name", self.name,
                               "--kubeconfig", str(self.local.kubeconfig)],
                              env=self.local.env(), capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"kwokctl {' '.join(args)} --name {self.name} failed:\n"
                               f"{(proc.stderr or proc.stdout)[-2000:]}")

    def create(self) -> float:
        """Seconds from `kwokctl create cluster` to the API server answering /readyz."""
        bins = build.binaries(require=("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                       "kubectl", "kwok", "kwokctl"))
        start = time.monotonic()
        with self.local._start_lock():  # as kubelab's `up`: no other start picks the same ports meanwhile
            self.config.parent.mkdir(parents=True, exist_ok=True)
            self.config.write_text(bare_config(bins, self.local._pick_ports()))
            self._kwokctl("create", "cluster", "--config", str(self.config))
        if not self.local._api_ready(wait=60):
            raise RuntimeError(f"bare kwokctl cluster {self.name}: /readyz does not answer after 60 s")
        return time.monotonic() - start

    def delete(self) -> None:
        """`kwokctl delete cluster`; whatever it leaves (a failed create) is stopped and removed."""
        try:
            if self.local.workdir.exists():
                self._kwokctl("delete", "cluster")
        finally:
            if self.local.workdir.exists():
                self.local.down(delete=True)
            shutil.rmtree(self.local.workdir, ignore_errors=True)
            self.local.kubeconfig.unlink(missing_ok=True)
            self.config.unlink(missing_ok=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--idle", type=float, default=30, help="seconds of idle cluster to measure CPU over")
    ap.add_argument("--history", type=float, default=0, help="seconds of workload before the range queries")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"load average {os.getloadavg()[0]:.1f} (other work on the machine shows in these figures)")

    pid = os.getpid()
    with_m = LocalCluster(f"kubelab-pbench-m-{pid}", progress=False, monitoring=True)
    without = LocalCluster(f"kubelab-pbench-b-{pid}", progress=False, monitoring=False)
    bare = BareKwokctl(f"kubelab-pbench-k-{pid}")
    importlib.import_module("kubernetes.client")  # loaded once before any timing: `up` and the /readyz poll use it
    try:
        bare_s = []
        fresh = {True: [], False: []}
        resumed = {True: [], False: []}
        for _ in range(args.runs):  # interleaved, so a busy moment on the machine hits all three
            try:
                bare_s.append(bare.create())
            finally:
                bare.delete()
            for cluster in (without, with_m):
                cluster.down(delete=True)
                fresh[cluster.monitoring].append(timed(cluster.up))
                cluster.down()
                resumed[cluster.monitoring].append(timed(cluster.up))
        without.down(delete=True)
        for label, times in (("new cluster", fresh), ("stopped cluster", resumed)):
            ratio = statistics.median(times[True]) / statistics.median(times[False])
            print(f"`up` {label}: with monitoring {median(times[True])}; without {median(times[False])}; "
                  f"ratio {ratio:.2f}")
        med_bare = statistics.median(bare_s)
        print(f"bare `kwokctl create cluster` (control plane only, to /readyz): {median(bare_s)}")
        for label, on in (("with monitoring", True), ("without monitoring", False)):
            ratio = statistics.median(fresh[on]) / med_bare
            print(f"kubelab `up` of a new cluster {label} / bare kwokctl: {ratio:.2f} "
                  f"({'meets' if ratio <= 1.2 else 'misses'} the 1.2x goal)")

        time.sleep(10)  # first scrapes done
        procs = {c.name: psutil.Process(c.pid) for c in with_m.components() if c.name in MONITORING}
        before = {n: p.cpu_times() for n, p in procs.items()}
        time.sleep(args.idle)
        total_rss = total_cpu = 0.0
        for name, proc in procs.items():
            t0, t1 = before[name], proc.cpu_times()
            cpu = (t1.user + t1.system - t0.user - t0.system) / args.idle
            rss = proc.memory_info().rss / 2**20
            total_rss, total_cpu = total_rss + rss, total_cpu + cpu
            print(f"  idle {name:24} RSS {rss:6.0f} MiB   CPU {cpu * 100:5.1f} % of a core")
        print(f"monitoring on the idle cluster: {total_rss:.0f} MiB RSS, {total_cpu * 100:.1f} % of a core "
              f"(over {args.idle:.0f} s, scrapes every 5 s, the GPU exporter every 2 s)")
        # monitoring's own share of `up`, measured directly: `up` of the running cluster with nothing to start,
        # against `up` after its three processes were killed (it starts them again and waits for /-/ready)
        noop, restart = [], []
        for _ in range(args.runs):
            noop.append(timed(with_m.up))
            victims = [psutil.Process(c.pid) for c in with_m.components() if c.name in MONITORING]
            for proc in victims:
                proc.kill()
            psutil.wait_procs(victims, timeout=10)
            restart.append(timed(with_m.up))
        print(f"`up` of the running cluster: nothing to start {median(noop)}; starting monitoring {median(restart)}: "
              f"monitoring's start costs {statistics.median(restart) - statistics.median(noop):.2f} s")
        series = kl.promql(with_m.prometheus.url, "prometheus_tsdb_head_series").value.iloc[0]
        print(f"Prometheus head series: {series:.0f}")

        url = with_m.prometheus.url
        if args.history:
            api = with_m.connect()
            kl.lesson.start(api, "pbench")
            pods = [kl.render(POD, name=f"web-{i}", mem=f"{100 + 10 * i}Mi") for i in range(20)]
            pods += [kl.render(GPU_POD, name=f"train-{i}") for i in range(8)]
            kl.apply(api, "\n---\n".join(pods), namespace="pbench")
            print(f"workload: 20 CPU pods, 8 GPU pods; collecting {args.history:.0f} s of history ...", flush=True)
            time.sleep(args.history)
        # how much data there is: one `up` sample per 5 s scrape
        held = kl.promql(url, 'count_over_time(up{job="prometheus"}[1h])').value.iloc[0] * 5
        for title, query in QUERIES.items():
            lat = []
            for _ in range(5):
                start = time.monotonic()
                df = kl.promql(url, query, start="-1h", step="15s")
                lat.append(time.monotonic() - start)
            print(f"1-hour range query, step 15 s ({title}): {median(lat)}; {len(df)} points, "
                  f"{df.drop(columns=['time', 'value']).drop_duplicates().shape[0]} series")
        print(f"(the TSDB held {held / 60:.1f} min of data: a full hour of history costs more)")
    finally:
        with_m.down(delete=True)
        without.down(delete=True)
        bare.delete()


if __name__ == "__main__":
    main()
