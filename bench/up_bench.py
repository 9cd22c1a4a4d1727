"""`kubelab cluster up` against its fair peer, alternated in one run: bare kwokctl from the same local binaries,
with metrics-server on, plus the same simulated nodes Ready.

    python bench/up_bench.py [--pairs 5]

Each pair times, in turn:
- the peer: `kwokctl create cluster` (kwokctl's default options, metrics-server enabled with kubelab's manifests,
  ports picked as kubelab picks them), then the node pools' nodes created through the API, to every node Ready and
  metrics-server running; then `kwokctl stop cluster` and `kwokctl start cluster` to the same again (resume);
- kubelab: `LocalCluster.up()` of a new cluster (every node Ready, every one of kubelab's own components answering:
  the simulated kubelet synced, the registry, the exporters, Prometheus, and the batch and serving platform: Kueue,
  Karpenter, Envoy Gateway and KEDA with their CRDs established), then `down()` and `up()` again (resume).
The goals (issue 22): new cluster <= 1.5x the peer, resume <= 1.2x; medians over the pairs.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

from kubelab.cluster import LocalCluster, build, pools as pools_mod
from kubelab.cluster.paths import repo_root

sys.path.insert(0, str(Path(__file__).parent))
from prometheus_bench import BareKwokctl, bare_config, median, timed  # noqa: E402  (the same bare peer and timers)


class Peer(BareKwokctl):
    """BareKwokctl with metrics-server and the node pools' nodes."""

    def _config(self, bins: dict) -> str:
        import yaml
        ports = self.local._pick_ports()
        doc = yaml.safe_load(bare_config(bins, ports))
        doc["options"].update(enableMetricsServer=True, metricsServerPort=ports["metricsServerPort"],
                              metricsServerBinary=str(bins["metrics-server"]),
                              metricsServerManifests=[str(repo_root() / "cluster" / "metrics-server")])
        return yaml.safe_dump(doc, sort_keys=False)

    def _nodes_ready(self) -> None:
        from kubernetes import client

        api = self.local.api_client()
        core = client.CoreV1Api(api)
        wanted = pools_mod.nodes(pools_mod.load(None), build.kube_version())
        existing = {n.metadata.name for n in core.list_node().items}
        for node in wanted:
            if node["metadata"]["name"] not in existing:
                core.create_node(node)
        names = {n["metadata"]["name"] for n in wanted}
        ms = next((c for c in self.local.components() if c.name == "metrics-server"), None)
        if ms and not ms.running:  # it exits when the API server was not up yet: started again, as `up` does
            self._start_stop("start")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = {n.metadata.name for n in core.list_node().items
                     if any(c.type == "Ready" and c.status == "True" for c in n.status.conditions or [])}
            ms = next((c for c in self.local.components() if c.name == "metrics-server"), None)
            if names <= ready and ms and ms.running:
                return
            time.sleep(0.05)
        raise RuntimeError(f"peer {self.name}: nodes or metrics-server not ready after 60 s")

    def create_full(self) -> float:
        bins = build.binaries(require=("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler",
                                       "kubectl", "kwok", "kwokctl", "metrics-server"))
        start = time.monotonic()
        with self.local._start_lock():
            self.config.parent.mkdir(parents=True, exist_ok=True)
            self.config.write_text(self._config(bins))
            self._kwokctl("create", "cluster", "--config", str(self.config))
        if not self.local._api_ready(wait=60):
            raise RuntimeError(f"peer {self.name}: /readyz does not answer after 60 s")
        self._nodes_ready()
        return time.monotonic() - start

    def _start_stop(self, verb: str) -> None:
        """`kwokctl start|stop cluster` (they take no --kubeconfig, unlike create)."""
        bins = build.binaries(require=("kwokctl",))
        proc = subprocess.run([str(bins["kwokctl"]), verb, "cluster", "--name", self.name], env=self.local.env(),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise RuntimeError(f"kwokctl {verb} cluster --name {self.name} failed:\n{(proc.stderr or proc.stdout)[-2000:]}")

    def resume(self) -> float:
        self._start_stop("stop")
        start = time.monotonic()
        self._start_stop("start")
        if not self.local._api_ready(wait=60):
            raise RuntimeError(f"peer {self.name}: /readyz does not answer after 60 s")
        self._nodes_ready()
        return time.monotonic() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=5)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, load average "
          f"{os.getloadavg()[0]:.1f} at the start (other work on the machine shows in these figures)")
    build.ensure_built(progress=False)
    subprocess.run([sys.executable, "-c", "import kubernetes.client"], check=True)  # warm the page cache
    pid = os.getpid()
    peer, ours = Peer(f"kubelab-ub-k-{pid}"), LocalCluster(f"kubelab-ub-m-{pid}", progress=False)
    times = {k: [] for k in ("peer new", "peer resume", "up new", "up resume")}
    try:
        for i in range(args.pairs):
            order = [("peer", peer), ("up", ours)] if i % 2 == 0 else [("up", ours), ("peer", peer)]
            for who, c in order:
                if who == "peer":
                    try:
                        times["peer new"].append(c.create_full())
                        times["peer resume"].append(c.resume())
                    finally:
                        c.delete()
                else:
                    try:
                        times["up new"].append(timed(c.up))
                        c.down()
                        times["up resume"].append(timed(c.up))
                    finally:
                        c.down(delete=True)
            print(f"pair {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
        for k, v in times.items():
            print(f"{k:12} {median(v)}")
        for what, goal in (("new", 1.5), ("resume", 1.2)):
            ratio = statistics.median(times[f"up {what}"]) / statistics.median(times[f"peer {what}"])
            per_pair = [u / p for u, p in zip(times[f"up {what}"], times[f"peer {what}"])]
            print(f"`up` {what} / peer: {ratio:.2f} on the medians (per pair {min(per_pair):.2f}-{max(per_pair):.2f}); "
                  f"goal <= {goal}: {'met' if ratio <= goal else 'missed'}")
    finally:
        ours.down(delete=True)
        peer.delete()


if __name__ == "__main__":
    main()
